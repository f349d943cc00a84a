"""Exports torchvision models to ONNX for `npm run bench` (the ONNX Runtime column), and their
weights as a PyTorch state dict beside them (MODEL.pth, what convkit loads in the bench's time to
first result, so both sides read the same weights).

Random weights (speed does not depend on their values), eval mode, one input named "input" with a
dynamic batch axis, opset 13. torch 1.13's exporter writes the protobuf itself, so the `onnx`
Python package is not needed. Pairs that already exist are kept (the bench caches them).

Usage: /usr/bin/python3 scripts/bench/export_onnx.py OUT_DIR MODEL [MODEL ...]
Prints one line per model on stderr; exit status 3 means torch cannot be imported.
"""
import os
import sys
import time

try:
    import torch
    import torchvision
except ImportError as err:
    print(f"torch/torchvision are not importable by {sys.executable}: {err}", file=sys.stderr)
    sys.exit(3)


def build(name):
    ctor = getattr(torchvision.models, name)
    if name == "googlenet":
        # convkit's googlenet is torchvision's layout without the auxiliary heads.
        return ctor(aux_logits=False, init_weights=False)
    return ctor()


def main():
    out_dir, names = sys.argv[1], sys.argv[2:]
    os.makedirs(out_dir, exist_ok=True)
    for name in names:
        path = os.path.join(out_dir, f"{name}.onnx")
        weights = os.path.join(out_dir, f"{name}.pth")
        if os.path.exists(path) and os.path.exists(weights):
            continue
        t0 = time.perf_counter()
        model = build(name).eval()
        tmp = path + ".tmp"
        with torch.no_grad():
            torch.onnx.export(
                model, torch.randn(1, 3, 224, 224), tmp, input_names=["input"], output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13,
            )
        torch.save(model.state_dict(), weights + ".tmp")
        os.replace(weights + ".tmp", weights)
        os.replace(tmp, path)  # a half-written file never looks cached
        print(f"  exported {name} to {path} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
