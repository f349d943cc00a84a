"""Weights between PyTorch and convkit, both ways, for the torchvision-layout models of the zoo.

Run by `npm run check:interop` (scripts/check-interop.ts) and test/io/interop.test.ts with Debian's
PyTorch (/usr/bin/python3, torch 1.13, torchvision 0.14). Its files go to a scratch folder and are
never committed (VGG's are half a gigabyte each).

  interop.py write --out DIR [--size S (64; AlexNet, VGG 224)] [--batch B] [--seed N] MODEL ...
    For each model, torchvision's builder with seeded random weights: every batch norm gets random
    affine parameters and running statistics calibrated on random batches (train mode, cumulative
    average), and every bias random values, so each tensor of the state dict matters to the output
    and activations keep a meaningful scale. Writes
      DIR/MODEL.pth          torch.save(model.state_dict())
      DIR/MODEL.safetensors  the same tensors, laid out byte for byte as the reference writer does
                             (written here: Debian does not package the safetensors library)
      DIR/MODEL.onnx         torch.onnx.export, opset 13, input "input", output "logits", dynamic batch
      DIR/MODEL.input.f32    a random input [B, 3, S, S], float32 little-endian
      DIR/MODEL.json         {model, torchvision, torch, seed, input: {shape, file}, output}: the
                             eval-mode logits torchvision computes for that input
  interop.py check --out DIR MODEL ...
    Loads convkit's DIR/MODEL.convkit.pth with torch.load(weights_only=True) and
    DIR/MODEL.convkit.safetensors (read here, per the specification) into torchvision's model with
    load_state_dict(strict=True), and prints one JSON line per file: {model, file, output}, the
    eval-mode logits for MODEL.json's input. The caller compares them with convkit's.

Exit status 3: torch or torchvision cannot be imported.
"""
import argparse
import json
import os
import struct
import sys
import warnings

try:
    import numpy as np
    import torch
    import torchvision
    from torchvision.models.resnet import BasicBlock, Bottleneck
except ImportError as err:
    print(f"torch/torchvision are not importable by {sys.executable}: {err}", file=sys.stderr)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import tensor_json  # noqa: E402
from safetensors_fixture import DTYPE_ORDER  # noqa: E402

CALIBRATION_BATCHES = 2
CALIBRATION_BATCH_SIZE = 4
# With it, resnet152's float32 logits agree with float64 to 1.3e-6 of the largest (see randomise).
RESIDUAL_BRANCH_SCALE = 0.3
# torch.onnx.export (1.13) writes adaptive average pooling only when the input's size is a multiple
# of the output's: AlexNet's features must be a multiple of 6x6 and VGG's of 7x7, which 224x224
# gives (64x64 gives 1x1 and 2x2).
MIN_SIZES = {"alexnet": 224, **{f"vgg{d}{bn}": 224 for d in (11, 13, 16, 19) for bn in ("", "_bn")}}
# safetensors dtype names of the tensors a torchvision state dict holds.
SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
NUMPY_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def builder_kwargs(name):
    # convkit's googlenet is torchvision's without the auxiliary heads; init_weights=False skips
    # scipy's slow truncated normal (the weights are drawn again below anyway).
    return {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}


def build(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(torchvision.models, name)(weights=None, **builder_kwargs(name))


def torchvision_call(name):
    args = ["weights=None"] + [f"{k}={v!r}" for k, v in builder_kwargs(name).items()]
    return f"torchvision.models.{name}({', '.join(args)})"


@torch.no_grad()
def randomise(model, size):
    """Random biases and batch-norm affine parameters, then running statistics measured on random
    batches, so a tensor loaded wrongly (or not at all) changes the logits; ResNets' residual
    branches scaled down after."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None:
            m.bias.uniform_(-0.1, 0.1)
    for bn in norms:
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.25, 0.25)
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over the calibration batches
    if norms:
        model.train()
        for _ in range(CALIBRATION_BATCHES):
            model(torch.randn(CALIBRATION_BATCH_SIZE, 3, size, size))
        for bn in norms:
            bn.momentum = 0.1
    for block in model.modules():
        # A ResNet's residual branches, at full size, make the stream grow block by block, and the
        # logits come out of sums that cancel: in resnet152 float32 then holds them only to 4e-4
        # (against float64), whatever computes them. Trained networks have small branches; so here.
        last = {BasicBlock: "bn2", Bottleneck: "bn3"}.get(type(block))
        if last is not None:
            getattr(block, last).weight.mul_(RESIDUAL_BRANCH_SCALE)
            getattr(block, last).bias.mul_(RESIDUAL_BRANCH_SCALE)
    model.eval()


def write_safetensors(path, state):
    """The reference writer's layout: tensors sorted by dtype alignment (largest first) and name,
    compact JSON with __metadata__ first, padded with spaces to a multiple of 8."""
    tensors = {k: t.detach().contiguous() for k, t in state.items()}
    order = sorted(tensors, key=lambda k: (-DTYPE_ORDER.index(SAFETENSORS_DTYPES[tensors[k].dtype]), k))
    header = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for key in order:
        t = tensors[key]
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[key] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                       "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path):
    """A state dict from a safetensors file, read per the specification (F32, F64, I64)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    data = memoryview(raw)[8 + n:]
    state = {}
    for key, entry in header.items():
        begin, end = entry["data_offsets"]
        values = np.frombuffer(data[begin:end], dtype=np.dtype(NUMPY_DTYPES[entry["dtype"]]).newbyteorder("<"))
        state[key] = torch.from_numpy(values.astype(values.dtype.newbyteorder("="))).reshape(entry["shape"])
    return state


def write_model(out, name, size, batch, seed):
    size = max(size, MIN_SIZES.get(name, 0))
    torch.manual_seed(seed)
    model = build(name)
    randomise(model, size)
    x = torch.randn(batch, 3, size, size)
    with torch.no_grad():
        y = model(x)
    state = model.state_dict()
    base = os.path.join(out, name)
    torch.save(state, base + ".pth")
    write_safetensors(base + ".safetensors", state)
    torch.onnx.export(
        model, x, base + ".onnx", input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13,
    )
    x.numpy().astype("<f4").tofile(base + ".input.f32")
    record = {"model": name, "torchvision": torchvision_call(name), "torch": torch.__version__, "seed": seed,
              "input": {"shape": list(x.shape), "file": name + ".input.f32"}, "output": tensor_json(y)}
    with open(base + ".json", "w", encoding="utf-8") as f:
        json.dump(record, f, separators=(",", ":"))
    print(f"  {name}: {len(state)} tensors, logits std {float(y.std()):.3g}, max |logit| "
          f"{float(y.abs().max()):.3g}", file=sys.stderr)


def check_model(out, name):
    base = os.path.join(out, name)
    with open(base + ".json", encoding="utf-8") as f:
        record = json.load(f)
    x = torch.from_numpy(np.fromfile(os.path.join(out, record["input"]["file"]), dtype="<f4"))
    x = x.reshape(record["input"]["shape"])
    for suffix, load in ((".convkit.pth", lambda p: torch.load(p, weights_only=True)),
                         (".convkit.safetensors", read_safetensors)):
        path = base + suffix
        state = load(path)
        counts = [k for k, t in state.items() if k.endswith("num_batches_tracked") and t.dtype != torch.int64]
        if suffix.endswith(".pth") and counts:
            raise SystemExit(f"{path}: num_batches_tracked is not int64 in {counts[0]}")
        model = build(name)
        model.load_state_dict(state, strict=True)
        model.eval()
        with torch.no_grad():
            y = model(x)
        print(json.dumps({"model": name, "file": os.path.basename(path), "output": tensor_json(y)},
                         separators=(",", ":")), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # One thread: the models are small, and idle OpenMP threads spin and burn CPU on a busy machine.
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for name in args.models:
        if args.command == "write":
            write_model(args.out, name, args.size, args.batch, args.seed)
        else:
            check_model(args.out, name)


if __name__ == "__main__":
    main()
