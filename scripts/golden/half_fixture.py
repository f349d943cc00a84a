"""Writes test/golden/half.json: PyTorch's own float32 -> float16 / bfloat16 conversions
(`.half()`, `.bfloat16()`), bit for bit, for the inputs that decide a rounding: ties between two
representable values (to even), one float32 ulp either side of each tie, the largest finite
values and the overflow threshold, subnormal results and the underflow to zero, ±0, ±infinity,
NaNs with payloads and signs, and seeded random float32 bit patterns. float64 inputs
(`double.half()`, which PyTorch rounds through float32, so twice) get their own list, with cases
where rounding once or twice differs. Bits are written as hex strings (float32 / float16 /
bfloat16 / float64 bit patterns), so NaN payloads are compared too.

Run with Debian's Python: /usr/bin/python3 scripts/golden/half_fixture.py
"""
import json
import os
import random
import struct

import torch

from common import REPO_ROOT

OUT = os.path.join(REPO_ROOT, "test", "golden", "half.json")


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f32_from_bits(b):
    return struct.unpack("<f", struct.pack("<I", b & 0xFFFFFFFF))[0]


def f64_from_bits(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def f16_bits_to_f32_bits(h):
    return f32_bits(torch.tensor([h], dtype=torch.int16).view(torch.float16).float().item())


def float32_inputs(rng):
    bits = set()
    # Special values: ±0, ±inf, NaNs (quiet, signalling, with payloads, negative).
    bits.update([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FA00000,
                 0x7FC00001, 0x7FFFFFFF, 0xFFFFFFFF, 0x7F802000, 0xFF812345])
    # Float16: the ties between consecutive halves (and an ulp each side) over every exponent,
    # including subnormal results, the smallest subnormal's half (ties to 0), the largest finite
    # value and the overflow tie 65520.
    for h in list(range(0, 12)) + [0x3FF, 0x400, 0x401, 0x3C00, 0x3C01, 0x3BFF, 0x7BFE, 0x7BFF] + [
        rng.randrange(0, 0x7C00) for _ in range(60)
    ]:
        lo = f32_from_bits(f16_bits_to_f32_bits(h))
        hi = f32_from_bits(f16_bits_to_f32_bits(h + 1)) if h < 0x7BFF else 65536.0
        tie = f32_bits((lo + hi) / 2)
        for b in (tie - 1, tie, tie + 1):
            bits.update([b, b | 0x80000000])
    # bfloat16: ties are the float32s whose low 16 bits are 0x8000.
    for top in [0, 1, 2, 0x7F, 0x80, 0x3F80, 0x3F81, 0x7F7E, 0x7F7F] + [rng.randrange(0, 0x7F80) for _ in range(60)]:
        tie = (top << 16) | 0x8000
        for b in (tie - 1, tie, tie + 1):
            bits.update([b, b | 0x80000000])
    # Around 2^-25 (half of the smallest float16 subnormal) and 2^-24; float32 subnormals.
    for x in (2.0**-25, 2.0**-24, 3 * 2.0**-26, 2.0**-14, 1e-40, 1e-45):
        b = f32_bits(x)
        bits.update([b - 1, b, b + 1, (b - 1) | 0x80000000, b | 0x80000000])
    bits.update(rng.randrange(0, 2**32) for _ in range(400))
    return sorted(b for b in bits if 0 <= b < 2**32)


def float64_inputs(rng):
    values = [0.0, -0.0, float("inf"), float("-inf"), 1.0, 65504.0, 65519.99, 65520.0, 1e300, -1e300, 1e-300,
              2.0**-25, 2.0**-24, 0.1, 1 / 3]
    # Just above a float16 tie, but rounding to the tie in float32: once would round up,
    # twice (float64 -> float32 -> float16) ties to even, down.
    for h in (0x3C00, 0x3C02, 0x0001, 0x7000):
        lo = f32_from_bits(f16_bits_to_f32_bits(h))
        hi = f32_from_bits(f16_bits_to_f32_bits(h + 1))
        tie = (lo + hi) / 2
        values += [tie + tie * 2.0**-40, tie - tie * 2.0**-40]
    # The same for bfloat16.
    for top in (0x3F80, 0x4000, 0x0080):
        tie = f32_from_bits((top << 16) | 0x8000)
        values += [tie + tie * 2.0**-40, tie - tie * 2.0**-40]
    values += [f64_from_bits(rng.randrange(0, 2**64)) for _ in range(100)]
    values += [rng.uniform(-70000, 70000) for _ in range(50)]
    return values


def main():
    rng = random.Random(20261205)
    f32 = float32_inputs(rng)
    t = torch.tensor(f32, dtype=torch.int64).to(torch.int32).view(torch.float32)
    half = t.half().view(torch.int16).to(torch.int64).tolist()
    bf16 = t.bfloat16().view(torch.int16).to(torch.int64).tolist()

    f64 = float64_inputs(rng)
    d = torch.tensor(f64, dtype=torch.float64)
    f64_bits = d.view(torch.int64).tolist()
    dhalf = d.half().view(torch.int16).to(torch.int64).tolist()
    dbf16 = d.bfloat16().view(torch.int16).to(torch.int64).tolist()

    h16 = lambda v: f"{v & 0xFFFF:04x}"
    out = {
        "generator": "scripts/golden/half_fixture.py",
        "torch": torch.__version__,
        "float32": [[f"{b:08x}", h16(h), h16(g)] for b, h, g in zip(f32, half, bf16)],
        "float64": [[f"{b & 0xFFFFFFFFFFFFFFFF:016x}", h16(h), h16(g)] for b, h, g in zip(f64_bits, dhalf, dbf16)],
    }
    with open(OUT, "w", encoding="utf-8") as f:
        f.write('{\n "generator": %s,\n "torch": %s,\n' % (json.dumps(out["generator"]), json.dumps(out["torch"])))
        f.write(' "columns": ["input bits", "float16 bits", "bfloat16 bits"],\n')
        for key in ("float32", "float64"):
            rows = ",\n  ".join(json.dumps(r) for r in out[key])
            f.write(f' "{key}": [\n  {rows}\n ]{"," if key == "float32" else ""}\n')
        f.write("}\n")
    print(f"wrote test/golden/half.json ({len(f32)} float32 and {len(f64)} float64 inputs)")


if __name__ == "__main__":
    main()
