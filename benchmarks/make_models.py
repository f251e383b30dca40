"""Writes the benchmark and robustness models that are not in the oracle kit: full-size
torchvision architectures with random weights (seed 0; speed does not depend on the values),
a dynamo export with a static batch of 1, and a model with dynamic height and width.
Nothing here is committed (benchmarks/models/ is git-ignored): it is made again with

    pip install torch torchvision onnx onnxscript
    python3 benchmarks/make_models.py [--only NAME ...]
"""

import argparse
import os

import torch
import torchvision

ROOT = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(ROOT, "models")

# name -> (constructor, input size)
TORCHVISION = {
    "efficientnet_b0": (torchvision.models.efficientnet_b0, 224),
    "regnet_x_400mf": (torchvision.models.regnet_x_400mf, 224),
    "googlenet": (lambda: torchvision.models.googlenet(aux_logits=False, init_weights=True), 224),
    "densenet121": (torchvision.models.densenet121, 224),
    "convnext_tiny": (torchvision.models.convnext_tiny, 224),
    "squeezenet1_1": (torchvision.models.squeezenet1_1, 224),
    "shufflenet_v2_x1_0": (torchvision.models.shufflenet_v2_x1_0, 224),
}


def export_legacy(model, size, path, dynamic_hw=False):
    x = torch.randn(1, 3, size, size)
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}}
    if dynamic_hw:
        axes["input"].update({2: "height", 3: "width"})
    torch.onnx.export(model, x, path, input_names=["input"], output_names=["logits"],
                      dynamic_axes=axes, opset_version=17, dynamo=False)


class SmallDynamic(torch.nn.Module):
    """A PaddleOCR-style text-direction classifier: any height and width, global pooling."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
            torch.nn.Conv2d(32, 32, 3, padding=1, groups=32), torch.nn.Conv2d(32, 64, 1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 4))

    def forward(self, x):
        return self.body(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    wanted = lambda name: not args.only or name in args.only
    for name, (make, size) in TORCHVISION.items():
        if wanted(name):
            model = make().eval()
            export_legacy(model, size, os.path.join(OUT, f"{name}.onnx"))
            print("wrote", name)
    if wanted("resnet18_dynamo_b1"):
        # torch.onnx.export(..., dynamo=True) writes a static batch of 1 and folds it into
        # Reshape constants: what many users' files look like.
        model = torchvision.models.resnet18().eval()
        torch.onnx.export(model, (torch.randn(1, 3, 224, 224),),
                          os.path.join(OUT, "resnet18_dynamo_b1.onnx"), dynamo=True,
                          external_data=False)
        print("wrote resnet18_dynamo_b1")
    if wanted("dynamic_hw"):
        model = SmallDynamic().eval()
        export_legacy(model, 48, os.path.join(OUT, "dynamic_hw.onnx"), dynamic_hw=True)
        print("wrote dynamic_hw")


if __name__ == "__main__":
    main()
