#!/usr/bin/env bash
# Installs what building and testing UNPIC needs, skipping whatever is already there.
# Usage: scripts/setup.sh [--browser]   (--browser: also Chromium and the e2e test's npm deps)
# Sourced by serve.sh and test.sh; exports PATH with the local tools.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${UNPIC_TOOLS:-$HOME/.cache/unpic-tools}"
TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132.0.0
mkdir -p "$TOOLS"
export PATH="$HOME/.cargo/bin:$TOOLS/node_modules/.bin:$PATH"

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || {
  say "adding the wasm32 target"; rustup target add wasm32-unknown-unknown; }
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

# The two tools are built without their fat LTO and single codegen unit (config overrides the
# manifest's profile): a cold CI machine builds them in about half the time, and neither does
# enough work for the difference in speed to show.
quick_install() { CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 cargo install "$@"; }

if [[ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]]; then
  say "installing trunk $TRUNK_VERSION (a few minutes, once)"
  quick_install --locked trunk --version "$TRUNK_VERSION"
fi

# wasm-bindgen-cli must be exactly the wasm-bindgen of Cargo.lock (Trunk.toml names it too).
WBG_VERSION="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' "$ROOT/Cargo.lock")"
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WBG_VERSION" ]]; then
  say "installing wasm-bindgen-cli $WBG_VERSION (a few minutes, once)"
  # --locked fails on crates.io (a locked dependency was yanked); the version pin is what matters.
  quick_install wasm-bindgen-cli --version "$WBG_VERSION"
fi
grep -q "wasm_bindgen = \"$WBG_VERSION\"" "$ROOT/Trunk.toml" || {
  echo "Trunk.toml's wasm_bindgen differs from Cargo.lock's $WBG_VERSION: update Trunk.toml" >&2; exit 1; }

# wasm-opt from npm's binaryen (Debian's is too old for current Rust wasm).
if [[ "$(wasm-opt --version 2>/dev/null)" != *"version_${BINARYEN_VERSION%%.*}"* ]]; then
  say "installing binaryen $BINARYEN_VERSION (wasm-opt) from npm"
  (cd "$TOOLS" && { [[ -f package.json ]] || npm init -y >/dev/null; } && npm install --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >/dev/null)
fi

if [[ "${1:-}" == "--browser" ]]; then
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    say "installing Debian's chromium and chromium-driver"
    SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
  if [[ ! -d "$ROOT/tests/e2e/node_modules/playwright-core" ]]; then
    say "installing the browser test's npm dependencies"
    (cd "$ROOT/tests/e2e" && npm ci --no-audit --no-fund >/dev/null)
  fi
fi
