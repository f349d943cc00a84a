"""torchvision's logits for every torchvision-layout model of convkit's zoo, on formula weights.

Run with Debian's PyTorch 1.13 / torchvision 0.14: `/usr/bin/python3 scripts/golden/zoo_logits.py`
(or `npm run golden`). Writes test/golden/zoo-logits.json, read by test/models/zoo-logits.test.ts.

No weights are committed: both sides compute the same weights from a formula, exactly. For the k-th
floating-point tensor of state_dict() (k counts every entry in key order, num_batches_tracked
included, which keeps its value) and its element i (row-major):

    s_k = mix((k + 1) * 0x9E3779B9 mod 2^32)
    u   = mix(i XOR s_k) / 2^31 - 1                    (uniform in [-1, 1), exact in float64)
    mix(x): x ^= x >> 16; x *= 0x7FEB352D; x ^= x >> 15; x *= 0x846CA68B; x ^= x >> 16   (uint32)

and the value, computed in float64 and then rounded to float32 (numpy's astype, JS's Math.fround):

    conv / linear weight (2 or 4 dims):  u * sqrt(6 / fan_in) * gain   (fan_in = numel / shape[0])
    batch-norm weight (1 dim, '.weight'): 1 + 0.1 u
    any bias:                             0.1 u
    running_mean:                         0.1 u
    running_var:                          1 + 0.5 u                    (in [0.5, 1.5))

An integer hash, not sin(): integer arithmetic, one division by a power of two, sqrt, one multiply
and one add are exact or correctly rounded in IEEE float64 on both sides, so every weight is the
same float32 bit for bit (a libm sin may differ from V8's in the last bit). The input of a model
is the formula with k = 1_000_000 (uniform in [-1, 1)), shape [2, 3, S, S].

gain is 1 (uniform with std 1/sqrt(fan_in), i.e. LeCun's) for every weight except in the
ResNets' and DenseNets' deep stacks, where eval-mode batch norm normalises nothing (the running
statistics are formula values, not the batch's): there `gain` is chosen per family below so that
the logits have a standard deviation of order 1 (printed by this script; checked by it too). The
models have 10 classes (torchvision's num_classes=10, convkit's classes: 10), which keeps the
fixture a few KB; the 1000-class shapes are checked by model-keys.json.

The test checks each model on the ref or the native backend and one or two per family on both
(BOTH in the test; CONVKIT_ZOO_LOGITS=all runs every model on both), with a tolerance per logit of
2e-5 * max|logit| + 2e-5 * |logit|.

GoogLeNet: torchvision builds it with transform_input=False when no weights are given (0.14 sets
True only when loading ImageNet weights), which is convkit's default; aux_logits=False.
"""
import math
import os
import sys
import warnings

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import seed_everything, shortest_float32, tensor_json, write_fixture  # noqa: E402

GENERATOR = "scripts/golden/zoo_logits.py"
INPUT_TENSOR_INDEX = 1_000_000
CLASSES = 10
BATCH = 2

# registry name -> (torchvision builder, extra kwargs, input size, gain of conv/linear weights).
# Sizes: AlexNet needs at least 63; the others pool adaptively. The deepest nets (resnet101/152,
# densenet161/201) run at 32x32, a quarter of the work (their last stage then sees 1x1 maps, which
# their smaller siblings at 64x64 cover); VGG runs at 32x32 (its classifier sees 7x7 either way).
MODELS = {
    "alexnet": ("alexnet", {}, 64, 1.0),
    **{f"vgg{d}{bn}": (f"vgg{d}{bn}", {}, 32, 1.0) for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": False}, 64, 1.0),
    **{
        f"resnet{d}": (f"resnet{d}", {}, size, gain)
        for d, size, gain in ((18, 64, 0.8), (34, 64, 0.7), (50, 64, 0.7), (101, 32, 0.65), (152, 32, 0.6))
    },
    **{f"densenet{d}": (f"densenet{d}", {}, size, 1.0) for d, size in ((121, 64), (161, 32), (169, 64), (201, 32))},
}

M32 = np.uint32(0xFFFFFFFF)


def mix(x):
    """lowbias32 (Chris Wellons) on uint32 arrays; numpy wraps uint32 products mod 2^32."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    x = x ^ (x >> np.uint32(16))
    return x


def uniform(k, n):
    """u for tensor index k, elements 0..n-1, as float64."""
    with np.errstate(over="ignore"):
        s = mix(np.array([((k + 1) * 0x9E3779B9) & 0xFFFFFFFF], dtype=np.uint32))[0]
        h = mix(np.arange(n, dtype=np.uint32) ^ s)
    return h.astype(np.float64) / 2.0**31 - 1.0


def formula_value(key, shape, k, gain):
    """The float32 values of state-dict entry k (see the module docstring)."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniform(k, n)
    if key.endswith("running_mean") or key.endswith(".bias"):
        v = 0.1 * u
    elif key.endswith("running_var"):
        v = 1.0 + 0.5 * u
    elif key.endswith(".weight") and len(shape) == 1:
        v = 1.0 + 0.1 * u
    elif key.endswith(".weight") and len(shape) in (2, 4):
        fan_in = n // shape[0]
        v = u * (math.sqrt(6.0 / fan_in) * gain)
    else:
        raise ValueError(f"no formula for {key} {list(shape)}")
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def formula_state(model, gain):
    state = {}
    for k, (key, t) in enumerate(model.state_dict().items()):
        state[key] = t if not t.dtype.is_floating_point else formula_value(key, tuple(t.shape), k, gain)
    return state


def model_case(name, builder, kwargs, size, gain):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(torchvision.models, builder)(weights=None, num_classes=CLASSES, **kwargs)
    state = formula_state(model, gain)
    model.load_state_dict(state)
    first_key = next(iter(state))
    model.eval()
    x = torch.from_numpy(uniform(INPUT_TENSOR_INDEX, BATCH * 3 * size * size).astype(np.float32))
    x = x.reshape(BATCH, 3, size, size)
    with torch.no_grad():
        y = model(x)
    std = float(y.std())
    spread = float((y[0] - y[1]).abs().max())
    print(f"  {name} at {size}x{size}: logits std {std:.3g}, max |logit| {float(y.abs().max()):.3g}, "
          f"images differ by up to {spread:.3g}")
    # Meaningful activations: neither vanished nor exploded, and the two images are told apart.
    assert 0.05 < std < 50, (name, std)
    assert spread > 0.01 * std, (name, spread, std)
    return {
        "name": name,
        "torchvision": f"torchvision.models.{builder}(weights=None, num_classes={CLASSES}"
        + "".join(f", {k}={v!r}" for k, v in kwargs.items()) + ")",
        "input": [BATCH, 3, size, size],
        "gain": gain,
        # A few formula values, so a formula that differs between the two sides is named as such.
        "probe": {
            "input": [shortest_float32(v) for v in x.reshape(-1)[:3].tolist() + x.reshape(-1)[-1:].tolist()],
            "key": first_key,
            "weight": [shortest_float32(v) for v in state[first_key].reshape(-1)[:3].tolist()
                       + state[first_key].reshape(-1)[-1:].tolist()],
        },
        "logits": tensor_json(y),
    }


def main():
    seed_everything(0)
    only = set(sys.argv[1:])
    cases = []
    for name, (builder, kwargs, size, gain) in MODELS.items():
        if only and name not in only:
            continue
        cases.append(model_case(name, builder, kwargs, size, gain))
    if only:
        print("a subset was asked for: nothing written")
        return
    write_fixture("test/golden/zoo-logits.json", GENERATOR, cases)


if __name__ == "__main__":
    main()
