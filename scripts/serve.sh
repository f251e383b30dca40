#!/usr/bin/env bash
# Serves the app on http://127.0.0.1:8080 (it opens on the embedded demo).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec trunk serve --release "$@"
