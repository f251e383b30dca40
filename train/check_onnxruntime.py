"""Checks the exported demo model against onnxruntime: the same logits as UNPIC's importer.

Usage: python3 train/check_onnxruntime.py public/demo/fashion-cnn.onnx
Runs `target/release/unpic predict --json` (build it with `cargo build --release -p unpic`) on the first 20 images of the demo sample and onnxruntime on the same
pixels, and prints the largest logit difference. Needs onnxruntime, numpy and Pillow (PyPI); CI
does not run it (the figure is written down in train/README.md).
"""
import io, json, subprocess, sys, tempfile, zipfile
import numpy as np
import onnxruntime as ort
from PIL import Image

model = sys.argv[1]
sample = model.replace("fashion-cnn.onnx", "fashion-mnist-sample.zip")
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
worst, scale = 0.0, 0.0
with zipfile.ZipFile(sample) as z:
    names = sorted(n for n in z.namelist() if n.endswith(".png"))[::100][:20]
    for name in names:
        pixels = np.asarray(Image.open(io.BytesIO(z.read(name))), dtype=np.float32) / 255.0
        with tempfile.NamedTemporaryFile(suffix=".png") as png:
            png.write(z.read(name))
            png.flush()
            ours = subprocess.run(
                ["target/release/unpic", "predict", "--model", model, "--image", png.name,
                 "--preset", "unit", "--json"], capture_output=True, check=True).stdout
        ours = np.array(json.loads(ours)["logits"], dtype=np.float32)
        theirs = session.run(None, {"image": pixels[None, None]})[0][0]
        worst = max(worst, float(np.abs(ours - theirs).max()))
        scale = max(scale, float(np.abs(theirs).max()))
print(f"{len(names)} images: max |logit difference| unpic vs onnxruntime {worst:.2e} (max |logit| {scale:.1f})")
