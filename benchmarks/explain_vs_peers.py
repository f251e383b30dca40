"""Explanations and t-SNE: UNPIC (CLI, Burn flex, native) next to the peers users trust, on the
same model, input and thread count. Prints a table and writes explain.json.

    cargo build --release -p unpic
    pip install torch torchvision captum grad-cam opentsne onnxruntime numpy
    python3 benchmarks/explain_vs_peers.py [--threads 2]

Model: torchvision ResNet-18 after torch.manual_seed(0) (weights=None), which is exactly the
oracle kit's resnet18_bn_unfused.onnx; input: the kit's resnet18_chelsea case. t-SNE: the
kit's 1,000 SmallCNN features, and the 10,000 test images' features (written by `unpic tsne
--save-features`).
"""

import argparse
import json
import os
import re
import subprocess
import tempfile
import time

import numpy as np
import torch
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORACLE = os.path.join(ROOT, "tests", "fixtures", "oracle")
UNPIC = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "unpic")
CASE = os.path.join(ORACLE, "cases", "resnet18_chelsea")
MODEL = os.path.join(ORACLE, "models", "resnet18_bn_unfused.onnx")
LAYER = "/layer4/layer4.1/relu_1/Relu_output_0"
TARGET = 238


def best_of(f, runs=3):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def unpic_ms(extra, threads, runs=3):
    """UNPIC's own compute time (model loading excluded), best of `runs`."""
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    best = float("inf")
    for _ in range(runs):
        out = tempfile.mktemp(suffix=".npy")
        r = subprocess.run([UNPIC, "explain", "--model", MODEL, "--input", os.path.join(CASE, "input.npy"),
                            "--target", str(TARGET), "--out", out] + extra,
                           env=env, check=True, capture_output=True, text=True)
        best = min(best, float(re.search(r"in ([\d.]+) ms", r.stderr).group(1)))
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-tsne", action="store_true", help="only the explanation rows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from captum.attr import IntegratedGradients, LayerGradCam, Occlusion, Saliency
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.tensor(np.load(os.path.join(CASE, "input.npy")))
    rows = []

    def row(name, peer, peer_ms, ours_ms):
        rows.append({"method": name, "peer": peer, "peer_ms": peer_ms, "unpic_ms": ours_ms,
                     "ratio": ours_ms / peer_ms})
        print(f"{name:<34} {peer:<26} {peer_ms:>9.1f} {ours_ms:>9.1f} {ours_ms / peer_ms:>6.2f}x")

    print(f"{'method':<34} {'peer':<26} {'peer ms':>9} {'unpic ms':>9} {'ratio':>7}")
    row("saliency", "Captum Saliency",
        best_of(lambda: Saliency(model).attribute(x.clone().requires_grad_(), target=TARGET, abs=True)),
        unpic_ms(["--method", "saliency"], args.threads))
    row("Grad-CAM (raw, layer4)", "Captum LayerGradCam",
        best_of(lambda: LayerGradCam(model, model.layer4[1]).attribute(x, target=TARGET)),
        unpic_ms(["--method", "gradcam", "--layer", LAYER, "--convention", "captum"], args.threads))
    cam = GradCAM(model=model, target_layers=[model.layer4[-1]])
    row("Grad-CAM (pytorch-grad-cam map)", "pytorch-grad-cam GradCAM",
        best_of(lambda: cam(input_tensor=x, targets=[ClassifierOutputTarget(TARGET)])),
        unpic_ms(["--method", "gradcam", "--layer", LAYER], args.threads))
    occlusion = Occlusion(model)
    peer = min(best_of(lambda: occlusion.attribute(x, sliding_window_shapes=(3, 32, 32), strides=(3, 16, 16),
                                                    baselines=0, target=TARGET, perturbations_per_eval=p), runs=1)
               for p in (1, 8, 32, 64))
    occlusion_args = ["--method", "occlusion", "--window", "3,32,32", "--stride", "3,16,16"]
    row("occlusion 3x32x32 / 16 (169 windows)", "Captum (best per-eval)", peer,
        unpic_ms(occlusion_args, args.threads, runs=1))
    row("occlusion, UNPIC's full recompute", "Captum (best per-eval)", peer,
        unpic_ms(occlusion_args + ["--full-recompute"], args.threads, runs=1))
    ig = IntegratedGradients(model)
    row("Integrated Gradients, 32 steps", "Captum IntegratedGradients",
        best_of(lambda: ig.attribute(x, baselines=0, target=TARGET, n_steps=32, method="riemann_trapezoid",
                                     internal_batch_size=8), runs=1),
        unpic_ms(["--method", "ig", "--steps", "32"], args.threads, runs=1))

    if args.no_tsne:
        return write(rows, args)
    # t-SNE at 1k and 10k points.
    from openTSNE import TSNE
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    f1k = os.path.join(ORACLE, "tsne", "features_1000x64.npy")
    f10k = tempfile.mktemp(suffix=".npy")
    subprocess.run([UNPIC, "tsne", "--model", os.path.join(ORACLE, "models", "smallcnn_fashion.onnx"),
                    "--data", os.path.join(ROOT, "tests", "fixtures", "fashion-mnist-test.zip"),
                    "--layer", "/relu3/Relu_output_0", "--preset", "unit", "--batch", "500",
                    "--save-features", f10k, "--out", tempfile.mktemp(suffix=".npy")], env=env, check=True,
                   capture_output=True)
    for name, path in (("t-SNE 1,000 points", f1k), ("t-SNE 10,000 points", f10k)):
        feats = np.load(path).astype(np.float64)
        start = time.perf_counter()
        TSNE(random_state=0, n_jobs=args.threads).fit(feats)
        peer_ms = (time.perf_counter() - start) * 1e3
        r = subprocess.run([UNPIC, "tsne", "--features", path, "--out", tempfile.mktemp(suffix=".npy"), "--json"],
                           env=env, check=True, capture_output=True, text=True)
        row(name, "openTSNE (n_jobs=threads)", peer_ms, json.loads(r.stdout)["seconds"] * 1e3)

    write(rows, args)


def write(rows, args):
    import captum
    import torch as t
    with open(os.path.join(ROOT, "benchmarks", "explain.json"), "w") as f:
        json.dump({"threads": args.threads, "torch": t.__version__, "captum": captum.__version__,
                   "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
