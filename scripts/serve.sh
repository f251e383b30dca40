#!/usr/bin/env bash
# Serves the app on http://127.0.0.1:8080 (it opens on the embedded demo): builds it (release)
# when a source changed since dist/ was built, then serves dist/ as any static host would. Once
# built it serves within seconds (`trunk serve` re-ran the worker's wasm-opt, minutes, at every
# start). For live reload while editing, run `trunk serve --release` instead.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${PORT:-8080}"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
if [[ ! -f dist/index.html || -n "$(find app worker explain-core public index.html Trunk.toml Cargo.toml \
      Cargo.lock scripts/precache.sh -newer dist/index.html -print -quit)" ]]; then
  say "building the app (release: about 20 minutes on a fresh machine, 1-8 after a change)"
  trunk build --release
fi
command -v python3 >/dev/null || { echo "serve.sh needs python3 (apt-get install python3)" >&2; exit 1; }
say "serving dist/ at http://127.0.0.1:$PORT (Ctrl-C stops)"
exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory dist
