#!/usr/bin/env bash
# Runs every test: formatting, clippy (native and wasm), unit and parity tests, the release web
# build, and the end-to-end tests in headless Chromium (CPU and WebGPU).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" --browser
cd "$ROOT"

say "cargo fmt --check"
cargo fmt --all --check
say "cargo clippy (native)"
cargo clippy --workspace --all-targets -- -D warnings
say "cargo clippy (wasm page and worker)"
cargo clippy -p unpic-app -p unpic-worker --target wasm32-unknown-unknown --all-targets -- -D warnings
say "cargo test"
cargo test --workspace
say "trunk build --release"
trunk build --release
ls -l dist/*.wasm
say "browser end-to-end tests"
(cd tests/e2e && npm test)
say "all tests passed"
