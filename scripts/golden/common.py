"""Small helpers shared by the golden-fixture generators in scripts/golden/.

Run the generators with Debian's PyTorch: `/usr/bin/python3 scripts/golden/<name>.py` (or
`npm run golden` for all of them). The tests read the JSON they write and never need PyTorch.

A tensor is written as {"shape": [...], "values": [...]} with the values flattened row-major.
Float values are the exact float32 values PyTorch computed with, printed in the shortest form that
reads back as the same float32 (numpy's repr), so JavaScript's Float32Array gets them bit for bit.
Integer tensors (class targets) carry "dtype": "int". JSON has no NaN or infinity: those values are
written as the strings "NaN", "Infinity" and "-Infinity" (test/helpers/golden.ts reads them back).
"""
import json
import os

import numpy as np
import torch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def seed_everything(seed):
    """Deterministic draws, and one thread so reductions always add in the same order."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)


def shortest_float32(value):
    """The shortest decimal that reads back as the same float32 (1e-05, not 9.99999974738e-06)."""
    f32 = np.float32(value)
    short = float(repr(f32).removeprefix("np.float32(").removesuffix(")"))
    # Readers parse to a double and then round to float32 (as JavaScript does); check that path.
    assert np.float32(short) == f32 or (np.isnan(f32) and np.isnan(short)), (value, short)
    return short


def json_float(value):
    """A float32 for JSON: the shortest decimal, or "NaN" / "Infinity" / "-Infinity"."""
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return shortest_float32(value)


def tensor_json(t):
    """{"shape", "values"} of a tensor; floats are rounded to float32 first."""
    t = t.detach().cpu()
    shape = list(t.shape)
    if t.dtype.is_floating_point:
        flat = t.to(torch.float32).reshape(-1).numpy()
        return {"shape": shape, "values": [json_float(v) for v in flat]}
    return {"shape": shape, "values": [int(v) for v in t.reshape(-1).tolist()], "dtype": "int"}


def write_fixture(relative_path, generator, cases):
    """Writes {"generator", "regenerate", "torch", "cases": [...]} with one case per line, so a
    regenerated file diffs case by case."""
    path = os.path.join(REPO_ROOT, relative_path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    header = {
        "generator": generator,
        "regenerate": f"/usr/bin/python3 {generator}",
        "torch": torch.__version__,
    }
    lines = [json.dumps(case, separators=(",", ":")) for case in cases]
    head = json.dumps(header, separators=(", ", ": "))[:-1]
    text = head + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {len(cases)} cases to {relative_path} ({len(text) / 1024:.0f} KiB)")
