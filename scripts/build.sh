#!/usr/bin/env bash
# Builds the app for any static host: ./scripts/build.sh OUT_DIR (default dist/). Every URL in
# it is relative, so OUT_DIR works copied to a server's root or to any sub-path.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/dist}")"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
trunk build --release --dist "$OUT"
say "built $OUT: copy it to any static host (serve .wasm as application/wasm)"
