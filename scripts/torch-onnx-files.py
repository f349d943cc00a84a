"""ONNX files written by torch.onnx.export, for test/io/onnx-import.test.ts.

Usage: /usr/bin/python3 scripts/torch-onnx-files.py OUT_DIR

Writes, for one small model of each family (torchvision's classes with small configurations, so
the test stays fast), NAME.onnx at the opset given below, NAME.x.f32 (a seeded input batch of 2,
float32 little-endian) and NAME.y.f32 (PyTorch's eval-mode output on it), and manifest.json
listing [name, opset, input shape]. Batch-norm statistics and affine parameters are randomised,
so the batch norm that torch.onnx.export folds into the convolutions is not an identity.
"""
import json
import os
import sys

import torch
import torchvision
from torch import nn
from torchvision.models import resnet, vgg


class VggView(vgg.VGG):
    """VGG whose forward flattens with x.view(x.size(0), -1): torch writes Shape/Gather/Unsqueeze/Concat/Reshape."""

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.view(x.size(0), -1))


def small_vgg():
    m = VggView(vgg.make_layers([8, "M", 16, "M", 32, 32, "M"], batch_norm=True), num_classes=10)
    m.avgpool = nn.AdaptiveAvgPool2d(2)
    m.classifier = nn.Sequential(
        nn.Linear(32 * 4, 64), nn.ReLU(True), nn.Dropout(), nn.Linear(64, 64), nn.ReLU(True), nn.Dropout(), nn.Linear(64, 10)
    )
    return m


def small_alexnet():
    m = torchvision.models.AlexNet(num_classes=10)
    m.avgpool = nn.AdaptiveAvgPool2d(3)  # 127x127 inputs give 3x3 features
    m.classifier = nn.Sequential(nn.Dropout(), nn.Linear(256 * 9, 32), nn.ReLU(True), nn.Linear(32, 10))
    return m


# name, constructor, input [C, H, W], opset
MODELS = [
    ("resnet", lambda: resnet.ResNet(resnet.BasicBlock, [1, 1, 1, 1], num_classes=10), [3, 32, 32], 11),
    # transform_input: torch writes x[:, 0] as Gather on the image, then Unsqueeze, Mul, Add, Concat.
    (
        "googlenet",
        lambda: torchvision.models.GoogLeNet(num_classes=10, aux_logits=False, init_weights=True, transform_input=True),
        [3, 32, 32],
        13,
    ),
    ("densenet", lambda: torchvision.models.DenseNet(8, (2, 2), 16, bn_size=2, num_classes=10), [3, 32, 32], 17),
    ("vgg_view", small_vgg, [3, 32, 32], 11),
    ("alexnet", small_alexnet, [3, 127, 127], 17),
]


def randomise_batch_norm(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    manifest = []
    for name, make, shape, opset in MODELS:
        model = make()
        randomise_batch_norm(model)
        model.eval()
        x = torch.randn(2, *shape)
        with torch.no_grad():
            y = model(x)
        torch.onnx.export(
            model,
            x,
            os.path.join(out, f"{name}.onnx"),
            opset_version=opset,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
        x.numpy().astype("<f4").tofile(os.path.join(out, f"{name}.x.f32"))
        y.numpy().astype("<f4").tofile(os.path.join(out, f"{name}.y.f32"))
        manifest.append([name, opset, [2, *shape]])
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f)


if __name__ == "__main__":
    main(sys.argv[1])
