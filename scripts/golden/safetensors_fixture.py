"""Writes test/golden/tensors.safetensors and its expected values, test/golden/tensors.safetensors.json.

Debian bookworm does not package the `safetensors` Python library, so the file is written here
byte by byte the way its reference writer (safetensors 0.4, Rust `serialize`) lays a file out:
an 8-byte little-endian header length N; N bytes of compact JSON, `__metadata__` first, then the
tensors sorted by dtype alignment (largest first) and then by name, padded with spaces to a
multiple of 8; then the tensors' little-endian bytes back to back from offset 0. The element
bytes come from PyTorch's own float16/bfloat16/int conversions, so the reader is checked against
PyTorch's rounding, not against convkit's.

Run with Debian's Python: /usr/bin/python3 scripts/golden/safetensors_fixture.py
"""
import json
import math
import os
import struct

import torch

from common import REPO_ROOT

# The reference crate's Dtype enum order (by alignment); the writer sorts by it, descending.
DTYPE_ORDER = ["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]
TORCH_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}

inf = math.inf
nan = math.nan

# name: (dtype, shape, values)
TENSORS = {
    "conv.weight": ("F32", [2, 3], [1.5, -0.0, 1e-45, 3.4028234663852886e38, -inf, 0.1]),
    "half": (
        "F16",
        [3, 4],
        # 2^-24 and 2^-14 - 2^-24 are the smallest and largest subnormals; 65504 the largest finite.
        [0.0, -0.0, 1.0, -2.0, 65504.0, 2**-24, 2**-14 - 2**-24, 2**-14, 0.1, inf, -inf, nan],
    ),
    "brain": ("BF16", [2, 3], [1.0, -2.5, 0.1, 1e-40, inf, nan]),
    "double": ("F64", [3], [math.pi, 1e-300, -2.0**60]),
    "bn.num_batches_tracked": ("I64", [], [7]),
    "long": ("I64", [4], [-5, 0, 2**40, -(2**53)]),
    "int": ("I32", [2], [-(2**31), 2**31 - 1]),
    "short": ("I16", [2], [-32768, 32767]),
    "byte": ("I8", [3], [-128, -1, 127]),
    "ubyte": ("U8", [2, 2], [0, 1, 128, 255]),
    "mask": ("BOOL", [3], [True, False, True]),
    "empty": ("F32", [0, 3], []),
}
METADATA = {"format": "pt", "source": "scripts/golden/safetensors_fixture.py"}


def raw_bytes(dtype, shape, values):
    t = torch.tensor(values, dtype=TORCH_DTYPES[dtype]).reshape(shape)
    if dtype in ("F16", "BF16"):
        t = t.view(torch.int16)
    data = t.contiguous().numpy().tobytes()
    assert len(data) == t.numel() * t.element_size()
    return data, t


def as_json_number(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def main():
    order = sorted(TENSORS, key=lambda n: (-DTYPE_ORDER.index(TENSORS[n][0]), n))
    header = {"__metadata__": METADATA}
    blobs = []
    expected = {}
    offset = 0
    for name in order:
        dtype, shape, values = TENSORS[name]
        data, t = raw_bytes(dtype, shape, values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
        # What PyTorch holds after its own rounding, widened exactly to float64.
        exact = torch.tensor(values, dtype=TORCH_DTYPES[dtype]).to(torch.float64).reshape(-1).tolist()
        expected[name] = {"dtype": dtype, "shape": shape, "values": [as_json_number(v) for v in exact]}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    out = struct.pack("<Q", len(text)) + text + b"".join(blobs)

    path = os.path.join(REPO_ROOT, "test", "golden", "tensors.safetensors")
    with open(path, "wb") as f:
        f.write(out)
    with open(path + ".json", "w", encoding="utf-8") as f:
        json.dump(
            {
                "generator": "scripts/golden/safetensors_fixture.py",
                "torch": torch.__version__,
                "order": order,
                "metadata": METADATA,
                "tensors": expected,
            },
            f,
            indent=1,
        )
        f.write("\n")
    print(f"wrote {len(out)} bytes to test/golden/tensors.safetensors ({len(order)} tensors)")


if __name__ == "__main__":
    main()
