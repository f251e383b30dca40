"""Forward-pass latency: UNPIC's engine (Burn flex, native) next to onnxruntime's CPU provider,
same model, batch, input and thread count. Prints a table and writes forward.json.

    cargo build --release -p unpic
    pip install onnxruntime numpy
    python3 benchmarks/forward_vs_onnxruntime.py [--threads 2] [--runs 10] [--rounds 3]

Models: the oracle kit's ResNet-18 (BatchNorm unfused), MobileNetV2 and SqueezeNet 1.1
(tests/fixtures/oracle), and, when `python3 benchmarks/make_models.py` has written them, full-size
torchvision architectures outside the kit (random weights: speed does not depend on them) and
a dynamo export with a static batch of 1. `--only SUBSTRING` keeps the matching rows.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "tests", "fixtures", "oracle", "models")
EXTRA = os.path.join(ROOT, "benchmarks", "models")
CASES = [(MODELS, "resnet18_bn_unfused.onnx", 1), (MODELS, "resnet18_bn_unfused.onnx", 16),
         (MODELS, "mobilenet_v2.onnx", 1), (MODELS, "squeezenet1_1.onnx", 1),
         (EXTRA, "efficientnet_b0.onnx", 1), (EXTRA, "regnet_x_400mf.onnx", 1),
         (EXTRA, "shufflenet_v2_x1_0.onnx", 1), (EXTRA, "googlenet.onnx", 1),
         (EXTRA, "densenet121.onnx", 1), (EXTRA, "convnext_tiny.onnx", 1),
         (EXTRA, "resnet18_dynamo_b1.onnx", 1), (EXTRA, "resnet18_dynamo_b1.onnx", 8)]


def same_input(shape):
    # unpic bench's input: ((i * 7919) % 1000) / 1000 in row-major order.
    n = int(np.prod(shape))
    return ((np.arange(n, dtype=np.int64) * 7919 % 1000) / 1000.0).astype(np.float32).reshape(shape)


def onnxruntime_ms(model, batch, threads, runs):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    shape = [batch] + [d for d in inp.shape[1:]]
    x = same_input(shape)
    # A file that fixes the batch (dynamo exports) takes the images in pieces of that size, as
    # UNPIC does.
    fixed = inp.shape[0] if isinstance(inp.shape[0], int) else batch
    pieces = [x[i:i + fixed] for i in range(0, batch, fixed)]
    times = []
    for i in range(runs + 2):
        start = time.perf_counter()
        for piece in pieces:
            session.run(None, {inp.name: piece})
        if i >= 2:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def unpic_ms(model, batch, threads, runs):
    exe = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "unpic")
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run([exe, "bench", "--model", model, "--batch", str(batch), "--runs", str(runs)],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["median_ms"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--only", default="")
    # This machine shares its cores with other tenants: each side is measured `rounds` times,
    # alternating, and its best median is kept, so a burst of outside load does not land on
    # one side only.
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    print(f"{'model':<24} {'batch':>5} {'unpic ms':>10} {'onnxruntime ms':>15} {'ratio':>7}")
    for folder, name, batch in CASES:
        model = os.path.join(folder, name)
        if args.only not in name or not os.path.exists(model):
            continue
        ours, theirs = float("inf"), float("inf")
        for _ in range(args.rounds):
            ours = min(ours, unpic_ms(model, batch, args.threads, args.runs))
            theirs = min(theirs, onnxruntime_ms(model, batch, args.threads, args.runs))
        rows.append({"model": name, "batch": batch, "unpic_ms": ours, "onnxruntime_ms": theirs,
                     "ratio": ours / theirs})
        print(f"{name:<24} {batch:>5} {ours:>10.1f} {theirs:>15.1f} {ours / theirs:>6.2f}x")
    result = {"threads": args.threads, "runs": args.runs, "rounds": args.rounds, "onnxruntime": ort.__version__,
              "machine": f"{platform.machine()} {os.cpu_count()} cpus", "rows": rows}
    with open(os.path.join(ROOT, "benchmarks", "forward.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
