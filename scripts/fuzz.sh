#!/usr/bin/env bash
# Fuzzes the engine's readers (ONNX import and run, zips of class folders, images, .npy,
# labels) from the repository's own files: `scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]`.
# Findings land in fuzz/out/TARGET/{panics,crashes,hangs,wrong,slow}, each input with a .txt
# beside it saying what happened; fuzz/out/TARGET/summary.json has the counts. A finding that
# was fixed goes to tests/bad_inputs/fuzz/TARGET/ so that the tests replay it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(onnx zip image npy labels)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/unpic-target}"
cargo build --release -p unpic-fuzz
fuzz="$CARGO_TARGET_DIR/release/unpic-fuzz"
B=tests/bad_inputs
F=tests/fixtures
for target in "${targets[@]}"; do
  case "$target" in
    onnx) corpus=("$B"/{constant_of_shape_bomb,range_bomb,huge_input,tiny_control,nan_weights,lying_initializer,cycle,zero_channels,no_classes,map_output}.onnx
                  "$F"/unsupported_ops.onnx "$F"/one_feature.onnx "$F"/families/keras_style_nhwc.onnx
                  "$F"/families/keras_style_opset24.onnx "$F"/families/legacy_opset7.onnx
                  "$F"/onnx-light/light_squeezenet.onnx "$F"/exports/dynamic_hw.onnx
                  "$F"/families/regnet_grouped.onnx "$F"/oracle/models/smallcnn_fashion.onnx) ;;
    zip) corpus=("$B"/*.zip fuzz/seeds/small_set.zip fuzz/seeds/small_set_stored.zip) ;;
    image) corpus=("$B"/*.png "$B"/*.jpg "$B"/*.gif fuzz/seeds/seed* "$F"/oracle/cases/fashion_tshirt/image.png) ;;
    npy) corpus=("$B"/*.npy "$F"/cam-variants/gradcam.npy) ;;
    labels) corpus=(fuzz/seeds/labels.txt fuzz/seeds/labels_crlf.txt public/demo/labels.txt) ;;
    *) echo "unknown target $target" >&2; exit 1 ;;
  esac
  [ -d "$B/fuzz/$target" ] && corpus+=("$B/fuzz/$target")
  args=()
  for c in "${corpus[@]}"; do args+=(--corpus "$c"); done
  echo "== $target for $seconds s"
  "$fuzz" run --target "$target" --seconds "$seconds" --out "fuzz/out/$target" "${args[@]}"
done
