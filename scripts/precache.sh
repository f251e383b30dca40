#!/usr/bin/env bash
# Trunk's post_build hook (Trunk.toml): writes the build's service worker, sw.js, listing every
# file of the build for the offline cache and naming the cache by a hash of their contents, so
# any change to any file is a new version. Also runs by hand on a built folder:
#   TRUNK_STAGING_DIR=dist TRUNK_SOURCE_DIR=. scripts/precache.sh
set -euo pipefail
SOURCE="${TRUNK_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "${TRUNK_STAGING_DIR:?run by trunk, or with TRUNK_STAGING_DIR set to a built folder}"
mapfile -t files < <(find . -type f ! -name sw.js -printf '%P\n' | LC_ALL=C sort)
version="$(sha256sum "${files[@]}" | sha256sum | cut -c1-16)"
{
  echo "// Written by scripts/precache.sh for this build: do not edit."
  echo "const VERSION = '$version';"
  echo "const FILES = ["
  for f in "${files[@]}"; do
    [[ "$f" == *"'"* || "$f" == *'\'* ]] && { echo "precache.sh: odd file name '$f'" >&2; exit 1; }
    echo "  './$f',"
  done
  echo "];"
  cat "$SOURCE/public/service_worker.js"
} > sw.js
echo "precache.sh: sw.js lists ${#files[@]} files, version $version" >&2
