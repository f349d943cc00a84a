"""Writes the PyTorch checkpoint fixtures test/golden/pth/*.pth and their expected values,
test/golden/pth/expected.json, with PyTorch's own torch.save (and, for the hostile files, with
Python's pickle module and zipfile, laid out as torch.save lays an archive out).

- tiny.pth: a state dict of every storage dtype convkit reads (float32, float64, float16, bfloat16,
  int64, int32, int16, int8, uint8, bool), a 0-d tensor, an empty one, and strided views sharing
  one storage (a transposed matrix, a slice with a storage offset and a step).
- nested.pth: {'model': state dict of a 2-layer conv net, 'optimizer': SGD state after one step,
  'epoch': 3}, as training scripts save.
- wrapped.pth: {'state_dict': the same state dict with DataParallel's 'module.' prefix}.
- deflated.pth: tiny.pth recompressed with deflate (torch.save stores; other tools may not).
- legacy.pth: nested.pth's state dict in the pre-1.6 format (_use_new_zipfile_serialization=False).
- legacy_tiny.pth: tiny.pth's state dict in the same legacy format.
- tied.pth: {'a', 'b', 'c'} over one storage of [1, 2, 3, 4]: a and b the same whole one, c a 2x2 view.
- hostile/*.pth: files that must be refused without executing anything: pickles naming
  posix.system, builtins.eval and builtins.exec (a __reduce__ payload, as torch.save of such an
  object writes), a whole pickled nn.Module, a storage record missing, a record shorter than its
  storage, a view past its storage, an absurd shape.

Run with Debian's Python: /usr/bin/python3 scripts/golden/pth_fixtures.py
"""
import collections
import io
import json
import math
import os
import pickle
import zipfile

import torch

from common import REPO_ROOT, seed_everything

OUT = os.path.join(REPO_ROOT, "test", "golden", "pth")


def exact(t):
    """Values widened exactly to float64 (JSON: NaN/inf as strings)."""
    vals = t.detach().to(torch.float64).reshape(-1).tolist() if t.numel() else []
    out = []
    for v in vals:
        if math.isnan(v):
            out.append("nan")
        elif math.isinf(v):
            out.append("inf" if v > 0 else "-inf")
        else:
            out.append(v)
    return out


def describe(sd):
    return {
        k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape), "values": exact(v)}
        for k, v in sd.items()
    }


def tiny_state_dict():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8
    sd = collections.OrderedDict()
    sd["f32"] = torch.tensor([[1.5, -0.0, 1e-45], [3.4028234663852886e38, -math.inf, 0.1]], dtype=torch.float32)
    sd["f64"] = torch.tensor([math.pi, 1e-300, -(2.0**60)], dtype=torch.float64)
    sd["f16"] = torch.tensor([0.0, -0.0, 1.0, 65504.0, 2**-24, 0.1, math.inf, math.nan], dtype=torch.float16)
    sd["bf16"] = torch.tensor([1.0, -2.5, 0.1, 1e-40, math.inf, math.nan], dtype=torch.bfloat16)
    sd["bn.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    sd["i64"] = torch.tensor([-5, 0, 2**40, -(2**53)], dtype=torch.int64)
    sd["i32"] = torch.tensor([-(2**31), 2**31 - 1], dtype=torch.int32)
    sd["i16"] = torch.tensor([-32768, 32767], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, -1, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([[0, 1], [128, 255]], dtype=torch.uint8)
    sd["mask"] = torch.tensor([True, False, True])
    sd["empty"] = torch.zeros(0, 3)
    # Views of one storage: torch.save keeps the storage whole and each view's strides and offset.
    sd["base"] = base
    sd["transposed"] = base.t()
    sd["sliced"] = base[1:3, 1::2]
    return sd


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.bn = torch.nn.BatchNorm2d(2)
        self.fc = torch.nn.Linear(2, 3)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))


# ---- hostile pickles, written by hand --------------------------------------------------------


class Payload:
    """An object whose unpickling calls fn(*args): what a malicious checkpoint carries."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


class FakeStorage:
    def __init__(self, storage_type, key, numel):
        self.storage_type, self.key, self.numel = storage_type, key, numel


class FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class TorchLikePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.storage_type, obj.key, "cpu", obj.numel)
        return None


def archive(path, obj, records, protocol=2):
    """A torch.save-like archive: archive/data.pkl (protocol 2 unless told) and the given data records."""
    buf = io.BytesIO()
    TorchLikePickler(buf, protocol=protocol).dump(obj)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        for key, data in records.items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", "3\n")


def main():
    seed_everything(0)
    os.makedirs(os.path.join(OUT, "hostile"), exist_ok=True)
    expected = {"generator": "scripts/golden/pth_fixtures.py", "torch": torch.__version__}

    tiny = tiny_state_dict()
    torch.save(tiny, os.path.join(OUT, "tiny.pth"))
    expected["tiny"] = describe(tiny)

    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(2, 1, 5, 5)).sum().backward()
    opt.step()
    net.eval()
    sd = net.state_dict()
    torch.save({"model": sd, "optimizer": opt.state_dict(), "epoch": 3}, os.path.join(OUT, "nested.pth"))
    expected["nested"] = describe(sd)
    torch.save(
        {"state_dict": collections.OrderedDict(("module." + k, v) for k, v in sd.items()), "arch": "net"},
        os.path.join(OUT, "wrapped.pth"),
    )

    with zipfile.ZipFile(os.path.join(OUT, "tiny.pth")) as src, zipfile.ZipFile(
        os.path.join(OUT, "deflated.pth"), "w", zipfile.ZIP_DEFLATED
    ) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))

    torch.save(sd, os.path.join(OUT, "legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(tiny, os.path.join(OUT, "legacy_tiny.pth"), _use_new_zipfile_serialization=False)

    # Three tensors over one storage, two of them the same whole one: a reader that shares the
    # file's bytes among tensors must give the second its own copy.
    tied = FakeStorage(torch.FloatStorage, "0", 4)
    archive(
        os.path.join(OUT, "tied.pth"),
        collections.OrderedDict(
            a=FakeTensor(tied, 0, (4,), (1,)), b=FakeTensor(tied, 0, (4,), (1,)), c=FakeTensor(tied, 0, (2, 2), (2, 1))
        ),
        {"0": struct_f32([1, 2, 3, 4])},
    )

    hostile = os.path.join(OUT, "hostile")
    payload = "echo convkit-test-payload"
    fs = FakeStorage(torch.FloatStorage, "0", 4)
    four = struct_f32([1, 2, 3, 4])
    archive(os.path.join(hostile, "os_system.pth"), {"w": Payload(os.system, (payload,))}, {})
    archive(os.path.join(hostile, "eval.pth"), collections.OrderedDict(w=Payload(eval, ("1+1",))), {})
    # Protocol 4 names builtins.eval with STACK_GLOBAL (protocol 2 writes __builtin__.eval).
    archive(os.path.join(hostile, "eval_protocol4.pth"), {"w": Payload(eval, ("1+1",))}, {}, protocol=4)
    archive(os.path.join(hostile, "exec.pth"), Payload(exec, ("import os",)), {})
    torch.save(Net(), os.path.join(hostile, "whole_module.pth"))
    archive(os.path.join(hostile, "missing_record.pth"), {"w": FakeTensor(fs, 0, (4,), (1,))}, {})
    archive(os.path.join(hostile, "short_record.pth"), {"w": FakeTensor(fs, 0, (4,), (1,))}, {"0": four[:12]})
    archive(os.path.join(hostile, "view_past_storage.pth"), {"w": FakeTensor(fs, 2, (3,), (1,))}, {"0": four})
    archive(
        os.path.join(hostile, "absurd_shape.pth"),
        {"w": FakeTensor(fs, 0, (2**40, 2**40), (0, 0))},
        {"0": four},
    )
    archive(os.path.join(hostile, "huge_numel.pth"), {"w": FakeTensor(FakeStorage(torch.FloatStorage, "0", 2**60), 0, (2**60,), (1,))}, {"0": four})

    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print("wrote test/golden/pth/")


def struct_f32(values):
    return torch.tensor(values, dtype=torch.float32).numpy().tobytes()


if __name__ == "__main__":
    main()
