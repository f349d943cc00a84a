"""PyTorch peer for scripts/bench-ref.ts: times the same matmul and conv2d problems on one thread.

Reads {"policy": {...}, "cases": [...]} as JSON on stdin, writes {"torch": ..., "results": [...]}
as JSON on stdout (one result per case, in order: {"ms", "backend"} or {"error"}), and one
progress line per case on stderr. Exit status 3 means torch cannot be imported.

Case kinds: "matmul" {m, k, n}; "conv-fwd", "conv-bwd-data", "conv-bwd-weight" {x: NCHW shape,
w: OIHW shape, stride: [h, w], padding: [top, bottom, left, right], dilation: [h, w], groups,
bias: bool}. Backward passes call aten.convolution_backward directly with the output mask of
the one gradient wanted, which is exactly what torch.nn.grad.conv2d_input / conv2d_weight do
(see their source), so only that kernel is timed; bwd-weight also asks for the bias gradient
when the convkit kernel computes it, so both sides do the same work.

Run with Debian's interpreter: /usr/bin/python3 scripts/bench/ref_peer_torch.py < cases.json
"""
import json
import re
import sys

from peer_timing import blas_library, median_ms  # beside this script

try:
    import torch
except ImportError as err:
    print(f"torch is not importable by {sys.executable}: {err}", file=sys.stderr)
    sys.exit(3)


def conv_backend(x, w, c):
    """Name of the kernel family PyTorch picks (Mkldnn = oneDNN, Slow2d = im2col + BLAS)."""
    if not hasattr(torch._C, "_select_conv_backend"):
        return "unknown"
    backend = torch._C._select_conv_backend(x, w, None, c["stride"], padding_hw(c), c["dilation"], False, [0, 0], c["groups"])
    return str(backend).rsplit(".", 1)[-1]


def padding_hw(c):
    top, bottom, left, right = c["padding"]
    if top != bottom or left != right:
        raise ValueError(f"asymmetric padding {c['padding']} is not supported by this peer")
    return [top, left]


def prepare(c):
    """Returns (run, backend) for one case, with random inputs made outside the timed region."""
    if c["kind"] == "matmul":
        a, b = torch.rand(c["m"], c["k"]) * 2 - 1, torch.rand(c["k"], c["n"]) * 2 - 1
        return (lambda: torch.mm(a, b)), "BLAS sgemm"
    x, w = torch.rand(c["x"]) * 2 - 1, torch.rand(c["w"]) * 2 - 1
    bias = torch.rand(c["w"][0]) * 2 - 1 if c["bias"] else None
    stride, padding, dilation, groups = c["stride"], padding_hw(c), c["dilation"], c["groups"]
    backend = conv_backend(x, w, c)
    if c["kind"] == "conv-fwd":
        return (lambda: torch.nn.functional.conv2d(x, w, bias, stride, padding, dilation, groups)), backend
    gy = torch.rand(torch.nn.functional.conv2d(x, w, None, stride, padding, dilation, groups).shape) * 2 - 1
    bwd = torch.ops.aten.convolution_backward
    bias_sizes = [c["w"][0]] if c["bias"] else None
    if c["kind"] == "conv-bwd-data":
        # As torch.nn.grad.conv2d_input: the input is only a shape here.
        x_shape = gy.new_empty(1).expand(c["x"])
        return (lambda: bwd(gy, x_shape, w, None, stride, padding, dilation, False, [0], groups, (True, False, False))), backend
    if c["kind"] == "conv-bwd-weight":
        # As torch.nn.grad.conv2d_weight (plus the bias gradient): the weight is only a shape.
        w_shape = gy.new_empty(1).expand(c["w"])
        mask = (False, True, c["bias"])
        return (lambda: bwd(gy, x, w_shape, bias_sizes, stride, padding, dilation, False, [0], groups, mask)), backend
    raise ValueError(f"unknown case kind {c['kind']!r}")


def main():
    request = json.load(sys.stdin)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    results = []
    with torch.no_grad():
        for c in request["cases"]:
            try:
                run, backend = prepare(c)
                ms = median_ms(run, request["policy"])
                results.append({"ms": ms, "backend": backend})
                print(f"  torch {c['kind']} {c.get('label', '')}: {ms:.1f} ms ({backend})", file=sys.stderr)
            except Exception as err:  # one bad case should not hide the others
                results.append({"error": f"{type(err).__name__}: {err}"})
                print(f"  torch {c['kind']} {c.get('label', '')}: failed: {err}", file=sys.stderr)
    onednn = re.search(r"MKL-DNN v([\w.]+)", torch.__config__.show())
    json.dump({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "onednn": onednn.group(1) if onednn else None,
        "blas": blas_library(),
        "results": results,
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()
