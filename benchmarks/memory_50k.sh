#!/usr/bin/env bash
# Peak memory over 50,000 images (issue 12, point 5): the CLI's evaluation, max-activations and
# t-SNE (peak RSS from /usr/bin/time), then the browser's evaluation (Chromium's processes,
# summed). The set is the 10,000 Fashion-MNIST test images five times under other names
# (tests/fixtures/fashion-mnist-test.zip), made in a temporary folder.
# Run after `cargo build --release -p unpic` and a `trunk build --release`:
#   benchmarks/memory_50k.sh        -> benchmarks/memory_50k.json
# Each measurement is printed as it ends. t-SNE over all 50,000 points takes over 16 minutes
# on one core here; TSNE_IMAGES=10000 (the default) runs it on the 10,000 originals instead,
# TSNE_IMAGES=50000 on all.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/unpic-target}"
unpic="$CARGO_TARGET_DIR/release/unpic"
work="$(mktemp -d)"
zip="$work/fashion-50k.zip"
python3 - "$zip" <<'PY'
import sys, zipfile
src = zipfile.ZipFile("tests/fixtures/fashion-mnist-test.zip")
names = [n for n in src.namelist() if n.endswith(".png")]
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as out:
    for copy in range(5):
        for n in names:
            folder, file = n.rsplit("/", 1)
            out.writestr(f"{folder}/{copy}_{file}", src.read(n))
print(len(names) * 5, "images")
PY
model=public/demo/fashion-cnn.onnx
labels=public/demo/labels.txt
# Peak RSS (MiB) and seconds of one CLI command.
measure() {
  /usr/bin/time -f "%M %e" -o "$work/time" "$@" > /dev/null 2> "$work/err" || { cat "$work/err"; exit 1; }
  read -r kb seconds < "$work/time"
  echo "{\"peak_rss_mib\": $((kb / 1024)), \"seconds\": $seconds}"
}
# The last convolution's block for max-activations, the 128-wide dense layer for t-SNE.
layer=block3/relu
features=fc1/relu
eval_json=$(measure "$unpic" eval --model "$model" --data "$zip" --labels "$labels" --json)
echo "eval: $eval_json"
maxact_json=$(measure "$unpic" max-activations --model "$model" --data "$zip" --layer "$layer" --json)
echo "max-activations: $maxact_json"
# The harness registers node:test hooks, which print TAP around the one JSON line.
browser_json=$(node benchmarks/memory_50k_browser.mjs "$zip" | grep "^{")
echo "browser: $browser_json"
tsne_images="${TSNE_IMAGES:-10000}"
tsne_data="$zip"
[ "$tsne_images" = 50000 ] || tsne_data=tests/fixtures/fashion-mnist-test.zip
tsne_json=$(measure "$unpic" tsne --model "$model" --data "$tsne_data" --layer "$features" --out "$work/tsne.npy")
tsne_json="{\"images\": $tsne_images, ${tsne_json:1}"
echo "tsne: $tsne_json"
cat > benchmarks/memory_50k.json <<JSON
{"images": 50000, "model": "$model", "max_activations_layer": "$layer", "tsne_layer": "$features",
 "cli": {"eval": $eval_json, "max_activations": $maxact_json, "tsne": $tsne_json},
 "browser": $browser_json}
JSON
cat benchmarks/memory_50k.json
rm -rf "$work"
