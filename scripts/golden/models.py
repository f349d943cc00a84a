"""torchvision's state-dict keys and shapes for every torchvision-layout model in convkit's zoo.

Run with Debian's PyTorch 1.13 / torchvision 0.14: `/usr/bin/python3 scripts/golden/models.py` (or
`npm run golden`). Writes test/golden/model-keys.json, read by test/models/torchvision-keys.test.ts.

One case per model and line: the registry name, the torchvision call that built it, and its
state_dict() in order as [key, shape] pairs (parameters and persistent buffers, BatchNorm's
num_batches_tracked included, whose shape is []). Only names and shapes are recorded, so the
fixture stays small and needs no weights. GoogLeNet is built as its published parameter count
counts it (aux_logits=False); the extra case `googlenet+aux_logits` has the auxiliary heads, to
check where their keys go in the order.
"""
import os
import sys
import warnings

import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import seed_everything, write_fixture  # noqa: E402

GENERATOR = "scripts/golden/models.py"

# registry name -> keyword arguments of torchvision.models.<builder>(weights=None, ...).
# init_weights=False skips GoogLeNet's slow scipy initialisation; initialisation never changes keys.
MODELS = {
    "alexnet": ("alexnet", {}),
    **{f"vgg{depth}{bn}": (f"vgg{depth}{bn}", {}) for depth in (11, 13, 16, 19) for bn in ("", "_bn")},
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": False}),
    "googlenet+aux_logits": ("googlenet", {"aux_logits": True, "init_weights": False}),
    **{f"resnet{depth}": (f"resnet{depth}", {}) for depth in (18, 34, 50, 101, 152)},
    **{f"densenet{depth}": (f"densenet{depth}", {}) for depth in (121, 161, 169, 201)},
}


def call_text(builder, kwargs):
    args = ["weights=None"] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"torchvision.models.{builder}({', '.join(args)})"


def model_case(name, builder, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(torchvision.models, builder)(weights=None, **kwargs)
    keys = [[key, list(tensor.shape)] for key, tensor in model.state_dict().items()]
    params = sum(p.numel() for p in model.parameters())
    return {"name": name, "torchvision": call_text(builder, kwargs), "params": params, "keys": keys}


def main():
    seed_everything(0)
    cases = []
    for name, (builder, kwargs) in MODELS.items():
        cases.append(model_case(name, builder, kwargs))
        print(f"  {name}: {len(cases[-1]['keys'])} keys, {cases[-1]['params']:,} parameters")
    write_fixture("test/golden/model-keys.json", GENERATOR, cases)


if __name__ == "__main__":
    main()
