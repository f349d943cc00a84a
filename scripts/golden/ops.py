"""PyTorch golden values for the forward and backward pass of every convkit op.

Run with Debian's PyTorch 1.13: `/usr/bin/python3 scripts/golden/ops.py` (or `npm run golden`).
Writes test/golden/ops.json, read by test/golden/ops.test.ts.

Each case holds the convkit op name and its options ("args", exactly as convkit takes them), the
inputs, the output, a random upstream gradient g, and the gradient of sum(output * g) for every
differentiable input. Batch norm in training mode also records its running buffers after the call
("state"). Dropout is left out on purpose: its mask comes from the framework's own random stream,
so convkit and PyTorch cannot agree bit for bit; its tests check the statistics instead.
"""
import os
import sys
import warnings

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import seed_everything, tensor_json, write_fixture  # noqa: E402

# PyTorch warns that an even 'same' kernel copies the input; that is the case we want.
warnings.filterwarnings("ignore", message="Using padding='same' with even kernel")

GENERATOR = "scripts/golden/ops.py"
CASES = []


def golden(name, op, args, inputs, fn, differentiable=None, state=()):
    """Runs fn on copies of `inputs` and records a case.

    differentiable: names of the inputs to record gradients for (default: every float input).
    state: names of inputs the op updates in place, recorded again after the call.
    """
    if differentiable is None:
        differentiable = [k for k, v in inputs.items() if v.dtype.is_floating_point]
    leaves = {k: v.detach().clone().requires_grad_(k in differentiable) for k, v in inputs.items()}
    written_inputs = {k: tensor_json(v) for k, v in leaves.items()}
    out = fn(**leaves)
    upstream = torch.randn(out.shape)
    out.backward(upstream)
    case = {
        "name": name,
        "op": op,
        "args": args,
        "inputs": written_inputs,
        "output": tensor_json(out),
        "upstream": tensor_json(upstream),
        "grads": {k: tensor_json(leaves[k].grad) for k in differentiable},
    }
    if state:
        case["state"] = {k: tensor_json(leaves[k]) for k in state}
    CASES.append(case)


def randn(*shape, scale=1.0):
    return torch.randn(*shape) * scale


def positive(*shape):
    return torch.rand(*shape) + 0.5


def conv_cases():
    x, w, b = randn(2, 3, 5, 5), randn(4, 3, 3, 3, scale=0.5), randn(4)
    golden("conv2d 3x3 pad 1 with bias", "conv2d", {"padding": 1}, {"x": x, "weight": w, "bias": b},
           lambda x, weight, bias: F.conv2d(x, weight, bias, padding=1))
    golden("conv2d 3x3 no padding, no bias", "conv2d", {}, {"x": randn(1, 3, 5, 6), "weight": randn(2, 3, 3, 3)},
           lambda x, weight: F.conv2d(x, weight))
    golden("conv2d stride 2, odd sizes", "conv2d", {"stride": 2, "padding": 1},
           {"x": randn(1, 2, 7, 9), "weight": randn(3, 2, 3, 3), "bias": randn(3)},
           lambda x, weight, bias: F.conv2d(x, weight, bias, stride=2, padding=1))
    golden("conv2d 3x2 kernel, stride [2, 1], padding [1, 0]", "conv2d", {"stride": [2, 1], "padding": [1, 0]},
           {"x": randn(2, 2, 6, 5), "weight": randn(3, 2, 3, 2), "bias": randn(3)},
           lambda x, weight, bias: F.conv2d(x, weight, bias, stride=(2, 1), padding=(1, 0)))
    # AlexNet's two towers: each half of the output channels sees one half of the input channels.
    golden("conv2d groups 2 (AlexNet towers)", "conv2d", {"padding": 1, "groups": 2},
           {"x": randn(1, 4, 6, 6), "weight": randn(6, 2, 3, 3), "bias": randn(6)},
           lambda x, weight, bias: F.conv2d(x, weight, bias, padding=1, groups=2))
    golden("conv2d depthwise (groups = channels)", "conv2d", {"groups": 3, "stride": 2, "padding": 1},
           {"x": randn(1, 3, 5, 5), "weight": randn(3, 1, 3, 3)},
           lambda x, weight: F.conv2d(x, weight, stride=2, padding=1, groups=3))
    golden("conv2d dilation 2", "conv2d", {"dilation": 2, "padding": 2},
           {"x": randn(1, 2, 7, 7), "weight": randn(2, 2, 3, 3), "bias": randn(2)},
           lambda x, weight, bias: F.conv2d(x, weight, bias, dilation=2, padding=2))
    # PyTorch has no asymmetric conv padding: pad explicitly (F.pad takes left, right, top, bottom).
    golden("conv2d asymmetric padding [0, 2, 1, 0], stride 2", "conv2d", {"stride": 2, "padding": [0, 2, 1, 0]},
           {"x": randn(1, 2, 5, 6), "weight": randn(3, 2, 3, 3), "bias": randn(3)},
           lambda x, weight, bias: F.conv2d(F.pad(x, (1, 0, 0, 2)), weight, bias, stride=2))
    golden("conv2d asymmetric padding [2, 1, 0, 3]", "conv2d", {"padding": [2, 1, 0, 3]},
           {"x": randn(2, 1, 4, 4), "weight": randn(2, 1, 2, 3)},
           lambda x, weight: F.conv2d(F.pad(x, (0, 3, 2, 1)), weight))
    golden("conv2d 1x1 on 1x1 maps", "conv2d", {},
           {"x": randn(3, 4, 1, 1), "weight": randn(5, 4, 1, 1), "bias": randn(5)},
           lambda x, weight, bias: F.conv2d(x, weight, bias))
    golden("conv2d padding 'same' 3x3", "conv2d", {"padding": "same"},
           {"x": randn(1, 2, 4, 5), "weight": randn(2, 2, 3, 3), "bias": randn(2)},
           lambda x, weight, bias: F.conv2d(x, weight, bias, padding="same"))
    # An even kernel needs odd total padding; PyTorch puts the extra row/column bottom/right.
    golden("conv2d padding 'same' 4x2 kernel", "conv2d", {"padding": "same"},
           {"x": randn(1, 2, 5, 5), "weight": randn(2, 2, 4, 2)},
           lambda x, weight: F.conv2d(x, weight, padding="same"))
    golden("conv2d unbatched [C, H, W] input", "conv2d", {"padding": 1},
           {"x": randn(2, 3, 4), "weight": randn(3, 2, 3, 3), "bias": randn(3)},
           lambda x, weight, bias: F.conv2d(x, weight, bias, padding=1))
    golden("conv2d padding 'valid'", "conv2d", {"padding": "valid"},
           {"x": randn(1, 1, 4, 4), "weight": randn(2, 1, 2, 2), "bias": randn(2)},
           lambda x, weight, bias: F.conv2d(x, weight, bias, padding="valid"))


def pool_cases():
    def max_pool(name, shape, args, **torch_args):
        golden(name, "maxPool2d", args, {"x": randn(*shape)}, lambda x: F.max_pool2d(x, **torch_args))

    max_pool("maxPool2d 3x3 stride 2 (overlapping, AlexNet)", (2, 2, 7, 7), {"kernelSize": 3, "stride": 2},
             kernel_size=3, stride=2)
    max_pool("maxPool2d 3x3/2 ceilMode", (1, 2, 6, 6), {"kernelSize": 3, "stride": 2, "ceilMode": True},
             kernel_size=3, stride=2, ceil_mode=True)
    max_pool("maxPool2d 3x3/2 padding 1", (1, 2, 5, 5), {"kernelSize": 3, "stride": 2, "padding": 1},
             kernel_size=3, stride=2, padding=1)
    max_pool("maxPool2d 3x3/2 padding 1 ceilMode", (1, 1, 6, 6),
             {"kernelSize": 3, "stride": 2, "padding": 1, "ceilMode": True},
             kernel_size=3, stride=2, padding=1, ceil_mode=True)
    max_pool("maxPool2d 2x2, stride defaults to kernel", (2, 1, 4, 5), {"kernelSize": 2}, kernel_size=2)
    max_pool("maxPool2d 3x3 dilation 2", (1, 1, 7, 6), {"kernelSize": 3, "stride": 1, "dilation": 2},
             kernel_size=3, stride=1, dilation=2)
    max_pool("maxPool2d unbatched [C, H, W] input", (2, 5, 5), {"kernelSize": 3, "stride": 2}, kernel_size=3, stride=2)
    max_pool("maxPool2d kernel [2, 3] stride [1, 2] padding [1, 1]", (1, 2, 4, 5),
             {"kernelSize": [2, 3], "stride": [1, 2], "padding": [1, 1]},
             kernel_size=(2, 3), stride=(1, 2), padding=(1, 1))

    def avg_pool(name, shape, args, **torch_args):
        golden(name, "avgPool2d", args, {"x": randn(*shape)}, lambda x: F.avg_pool2d(x, **torch_args))

    for include in (True, False):
        avg_pool(f"avgPool2d 3x3/2 padding 1 countIncludePad {include}", (1, 2, 5, 5),
                 {"kernelSize": 3, "stride": 2, "padding": 1, "countIncludePad": include},
                 kernel_size=3, stride=2, padding=1, count_include_pad=include)
        # The last window hangs past the padding: PyTorch divides by the part inside input + padding.
        avg_pool(f"avgPool2d 3x3/2 padding 1 ceilMode countIncludePad {include}", (1, 2, 6, 6),
                 {"kernelSize": 3, "stride": 2, "padding": 1, "ceilMode": True, "countIncludePad": include},
                 kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=include)
    avg_pool("avgPool2d 3x3/2 ceilMode, no padding", (1, 1, 6, 6), {"kernelSize": 3, "stride": 2, "ceilMode": True},
             kernel_size=3, stride=2, ceil_mode=True)
    avg_pool("avgPool2d 2x2 divisorOverride 3", (1, 2, 4, 4), {"kernelSize": 2, "divisorOverride": 3},
             kernel_size=2, divisor_override=3)
    avg_pool("avgPool2d 3x3/2 padding 1 divisorOverride 5", (1, 1, 5, 5),
             {"kernelSize": 3, "stride": 2, "padding": 1, "divisorOverride": 5},
             kernel_size=3, stride=2, padding=1, divisor_override=5)
    avg_pool("avgPool2d kernel [2, 3] stride [1, 2]", (2, 1, 4, 7), {"kernelSize": [2, 3], "stride": [1, 2]},
             kernel_size=(2, 3), stride=(1, 2))

    for shape, size in (((1, 2, 7, 5), [3, 2]), ((2, 3, 5, 5), 1), ((1, 1, 6, 6), [4, 4]), ((1, 1, 3, 2), [5, 4])):
        golden(f"adaptiveAvgPool2d {list(shape[2:])} -> {size}", "adaptiveAvgPool2d", {"outputSize": size},
               {"x": randn(*shape)}, lambda x, size=size: F.adaptive_avg_pool2d(x, size))


def norm_cases():
    def batch_norm(name, x, affine, stats, training, momentum=0.1, eps=1e-5):
        c = x.shape[1]
        inputs = {"x": x}
        if affine:
            inputs.update(weight=positive(c), bias=randn(c))
        if stats:
            inputs.update(runningMean=randn(c, scale=0.5), runningVar=positive(c))
        args = {"training": training, "momentum": momentum, "eps": eps}

        def run(x, weight=None, bias=None, runningMean=None, runningVar=None):
            return F.batch_norm(x, runningMean, runningVar, weight, bias, training, momentum, eps)

        state = ("runningMean", "runningVar") if stats and training else ()
        golden(name, "batchNorm", args, inputs, run,
               differentiable=[k for k in ("x", "weight", "bias") if k in inputs], state=state)

    batch_norm("batchNorm training NCHW", randn(3, 2, 3, 3, scale=2) + 1, True, True, True)
    batch_norm("batchNorm training NC, momentum 0.3, eps 1e-3", randn(4, 3), True, True, True, 0.3, 1e-3)
    batch_norm("batchNorm training without affine or running stats", randn(2, 3, 2, 2), False, False, True)
    batch_norm("batchNorm eval NCHW", randn(2, 3, 2, 3), True, True, False)
    batch_norm("batchNorm eval NC without affine", randn(3, 4), False, True, False, 0.1, 1e-3)

    def lrn(name, shape, scale, size, alpha, beta, k):
        golden(name, "localResponseNorm", {"size": size, "alpha": alpha, "beta": beta, "k": k},
               {"x": randn(*shape, scale=scale)}, lambda x: F.local_response_norm(x, size, alpha, beta, k))

    lrn("localResponseNorm AlexNet (size 5, alpha 1e-4, beta 0.75, k 2)", (2, 7, 3, 3), 1.0, 5, 1e-4, 0.75, 2.0)
    # With alpha 1e-4 the norm is nearly a constant scale; a large alpha makes the window visible.
    lrn("localResponseNorm size 5, alpha 0.5, beta 0.75, k 2", (2, 7, 2, 3), 2.0, 5, 0.5, 0.75, 2.0)
    lrn("localResponseNorm even size 4, alpha 0.3, beta 0.6, k 1", (1, 6, 2, 2), 2.0, 4, 0.3, 0.6, 1.0)
    lrn("localResponseNorm size 3 on [N, C, L] input", (3, 5, 2), 2.0, 3, 0.2, 0.75, 1.0)


def elementwise_cases():
    for op, f in (("relu", torch.relu), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh)):
        golden(op, op, {}, {"x": randn(3, 4, scale=2)}, lambda x, f=f: f(x))
    for axis, shape in ((1, (2, 3, 4)), (-1, (3, 5))):
        golden(f"softmax axis {axis}", "softmax", {"axis": axis}, {"x": randn(*shape, scale=2)},
               lambda x, axis=axis: F.softmax(x, dim=axis))
        golden(f"logSoftmax axis {axis}", "logSoftmax", {"axis": axis}, {"x": randn(*shape, scale=2)},
               lambda x, axis=axis: F.log_softmax(x, dim=axis))
    # Large logits: a softmax that exponentiates without subtracting the maximum overflows here.
    golden("logSoftmax large logits", "logSoftmax", {"axis": -1}, {"x": randn(2, 4, scale=40) + 60},
           lambda x: F.log_softmax(x, dim=-1))
    golden("add with broadcasting [2, 3, 4] + [3, 1]", "add", {}, {"a": randn(2, 3, 4), "b": randn(3, 1)},
           lambda a, b: a + b)
    golden("add with broadcasting on both sides [2, 1, 4] + [3, 1]", "add", {}, {"a": randn(2, 1, 4), "b": randn(3, 1)},
           lambda a, b: a + b)
    golden("mul with broadcasting [2, 3, 1, 1] * [3, 2, 2]", "mul", {}, {"a": randn(2, 3, 1, 1), "b": randn(3, 2, 2)},
           lambda a, b: a * b)
    golden("mul same shape", "mul", {}, {"a": randn(2, 3), "b": randn(2, 3)}, lambda a, b: a * b)


def matmul_cases():
    golden("linear with bias", "linear", {}, {"x": randn(3, 4), "weight": randn(5, 4), "bias": randn(5)},
           lambda x, weight, bias: F.linear(x, weight, bias))
    golden("linear without bias", "linear", {}, {"x": randn(2, 4), "weight": randn(3, 4)},
           lambda x, weight: F.linear(x, weight))
    golden("linear on [2, 3, 4] input", "linear", {}, {"x": randn(2, 3, 4), "weight": randn(2, 4), "bias": randn(2)},
           lambda x, weight, bias: F.linear(x, weight, bias))
    for a, b in (((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2)), ((3, 4), (2, 4, 2)), ((3, 2), (2, 4))):
        golden(f"matmul {list(a)} @ {list(b)}", "matmul", {}, {"a": randn(*a), "b": randn(*b)},
               lambda a, b: torch.matmul(a, b))


def layout_cases():
    golden("flatten from axis 1", "flatten", {"startDim": 1, "endDim": -1}, {"x": randn(2, 3, 2, 2)},
           lambda x: torch.flatten(x, 1, -1))
    golden("flatten axes 0..1", "flatten", {"startDim": 0, "endDim": 1}, {"x": randn(2, 3, 2)},
           lambda x: torch.flatten(x, 0, 1))
    golden("concat two along channels", "concat", {"axis": 1}, {"x0": randn(1, 2, 2, 3), "x1": randn(1, 3, 2, 3)},
           lambda x0, x1: torch.cat([x0, x1], 1))
    golden("concat three along channels (inception)", "concat", {"axis": 1},
           {"x0": randn(2, 1, 2, 2), "x1": randn(2, 2, 2, 2), "x2": randn(2, 1, 2, 2)},
           lambda x0, x1, x2: torch.cat([x0, x1, x2], 1))
    golden("concat along axis -1", "concat", {"axis": -1}, {"x0": randn(2, 3), "x1": randn(2, 1)},
           lambda x0, x1: torch.cat([x0, x1], -1))
    golden("pad last two axes with zeros", "pad", {"padding": [1, 2, 0, 1], "value": 0}, {"x": randn(1, 2, 3, 3)},
           lambda x: F.pad(x, (1, 2, 0, 1)))
    golden("pad three axes with 0.5", "pad", {"padding": [0, 1, 2, 0, 1, 1], "value": 0.5}, {"x": randn(2, 2, 3)},
           lambda x: F.pad(x, (0, 1, 2, 0, 1, 1), value=0.5))
    golden("permute [2, 0, 1]", "permute", {"perm": [2, 0, 1]}, {"x": randn(2, 3, 4)}, lambda x: x.permute(2, 0, 1))
    golden("permute NCHW -> NHWC", "permute", {"perm": [0, 2, 3, 1]}, {"x": randn(1, 2, 3, 4)},
           lambda x: x.permute(0, 2, 3, 1))


def reduce_cases():
    golden("sum of all", "sum", {}, {"x": randn(2, 3, 4)}, lambda x: x.sum())
    golden("sum axes [0, 2] keepDims", "sum", {"axes": [0, 2], "keepDims": True}, {"x": randn(2, 3, 4)},
           lambda x: x.sum((0, 2), keepdim=True))
    golden("mean of all", "mean", {}, {"x": randn(3, 4)}, lambda x: x.mean())
    golden("mean axis 1", "mean", {"axes": 1}, {"x": randn(2, 3, 4)}, lambda x: x.mean(1))
    golden("mean axes [2, 3] (global average pool)", "mean", {"axes": [2, 3]}, {"x": randn(2, 3, 2, 2)},
           lambda x: x.mean((2, 3)))
    # amax, not max(dim): convkit's max shares the gradient between ties as amax does (no ties here).
    golden("max of all", "max", {}, {"x": randn(3, 4)}, lambda x: torch.amax(x, (0, 1)))
    golden("max axis -1", "max", {"axes": -1}, {"x": randn(2, 3, 4)}, lambda x: torch.amax(x, -1))
    golden("max axes [1, 2] keepDims", "max", {"axes": [1, 2], "keepDims": True}, {"x": randn(2, 3, 4)},
           lambda x: torch.amax(x, (1, 2), keepdim=True))


def loss_cases():
    n, c = 4, 5
    for reduction in ("mean", "sum", "none"):
        for smoothing in (0.0, 0.1):
            args = {"reduction": reduction, "labelSmoothing": smoothing}
            golden(f"crossEntropy {reduction}, labelSmoothing {smoothing}", "crossEntropy", args,
                   {"logits": randn(n, c, scale=2), "target": torch.randint(0, c, (n,))},
                   lambda logits, target, r=reduction, s=smoothing: F.cross_entropy(logits, target, reduction=r, label_smoothing=s))
        golden(f"crossEntropy {reduction}, large logits", "crossEntropy", {"reduction": reduction},
               {"logits": randn(n, c, scale=40) - 80, "target": torch.randint(0, c, (n,))},
               lambda logits, target, r=reduction: F.cross_entropy(logits, target, reduction=r))
        golden(f"nllLoss {reduction}", "nllLoss", {"reduction": reduction},
               {"logProbs": F.log_softmax(randn(n, c), 1), "target": torch.randint(0, c, (n,))},
               lambda logProbs, target, r=reduction: F.nll_loss(logProbs, target, reduction=r))


def nonfinite_cases():
    """NaN and +-Inf (docs/numerics.md): PyTorch propagates NaN through relu, clamp, maximum/minimum,
    pooling, softmax, reductions and losses. Added last, so the random draws of the cases above
    stay as they were."""
    nan, inf = float("nan"), float("inf")
    t = torch.tensor
    special = t([[nan, -1.0, 2.0, inf], [-inf, 0.5, nan, -3.0]])
    golden("relu with NaN and +-Inf", "relu", {}, {"x": special}, lambda x: torch.relu(x))
    golden("clamp [0, 1] with NaN and +-Inf", "clamp", {"low": 0, "high": 1}, {"x": special},
           lambda x: torch.clamp(x, 0, 1))
    golden("clamp low only with NaN and +-Inf", "clamp", {"low": -0.5}, {"x": special},
           lambda x: torch.clamp(x, min=-0.5))
    a = t([nan, 1.0, inf, -inf, 2.0, nan, 3.0])
    b = t([1.0, nan, 3.0, -inf, inf, nan, 3.0])
    golden("maximum with NaN on either side and +-Inf", "maximum", {}, {"a": a, "b": b}, lambda a, b: torch.maximum(a, b))
    golden("minimum with NaN on either side and +-Inf", "minimum", {}, {"a": a, "b": b}, lambda a, b: torch.minimum(a, b))
    # One NaN window, one +Inf window, one -Inf window with a finite maximum, one finite window.
    pool = t([[1.0, nan, 5.0, inf], [3.0, 4.0, 6.0, 7.0], [-inf, 2.0, 1.0, 2.0], [0.0, -1.0, 3.0, 8.0]]).view(1, 1, 4, 4)
    golden("maxPool2d 2x2 with NaN and +-Inf", "maxPool2d", {"kernelSize": 2}, {"x": pool},
           lambda x: F.max_pool2d(x, 2))
    many = randn(1, 10, 5, 5)
    many[0, 0, 0, 0] = nan
    many[0, 9, 2, 3] = nan
    many[0, 9, 2, 4] = nan  # two NaNs in a window: the gradient goes to the last one
    many[0, 5, 4, 4] = -inf
    golden("maxPool2d 3x3/2 padding 1, 10 channels with NaN", "maxPool2d",
           {"kernelSize": 3, "stride": 2, "padding": 1}, {"x": many},
           lambda x: F.max_pool2d(x, 3, stride=2, padding=1))
    golden("avgPool2d 2x2 with NaN and +-Inf", "avgPool2d", {"kernelSize": 2}, {"x": pool},
           lambda x: F.avg_pool2d(x, 2))
    rows = t([[1.0, nan, 3.0], [inf, 0.0, 0.0], [-inf, 0.0, 0.0], [-inf, -inf, -inf], [1.0, 2.0, 3.0]])
    golden("softmax rows with NaN and +-Inf", "softmax", {"axis": -1}, {"x": rows}, lambda x: F.softmax(x, dim=-1))
    golden("logSoftmax rows with NaN and +-Inf", "logSoftmax", {"axis": -1}, {"x": rows},
           lambda x: F.log_softmax(x, dim=-1))
    inner = randn(2, 3, 2)
    inner[1, 1, 0] = nan
    golden("softmax axis 1 with NaN in one column", "softmax", {"axis": 1}, {"x": inner}, lambda x: F.softmax(x, dim=1))
    golden("logSoftmax one class is exactly 0", "logSoftmax", {"axis": -1}, {"x": randn(3, 1, scale=5)},
           lambda x: F.log_softmax(x, dim=-1))
    sums = t([[nan, 1.0, 2.0], [inf, 2.0, 1.0], [inf, -inf, 0.0], [-inf, 1.0, 1.0], [1.0, 2.0, 3.0]])
    golden("sum axis 1 with NaN and +-Inf", "sum", {"axes": 1}, {"x": sums}, lambda x: x.sum(1))
    golden("sum of all with NaN", "sum", {}, {"x": sums}, lambda x: x.sum())
    golden("mean axis 1 with NaN and +-Inf", "mean", {"axes": 1}, {"x": sums}, lambda x: x.mean(1))
    golden("mean axis 0 with NaN and +-Inf", "mean", {"axes": 0}, {"x": sums}, lambda x: x.mean(0))
    logits = t([[inf, 0.0, 0.0], [-inf, 0.0, 0.0], [0.0, nan, 0.0], [1.0, 2.0, 3.0], [-inf, 0.0, 1.0]])
    target = t([1, 1, 0, 2, 0])
    for reduction in ("none", "mean"):
        golden(f"crossEntropy {reduction} with NaN and +-Inf logits", "crossEntropy", {"reduction": reduction},
               {"logits": logits, "target": target},
               lambda logits, target, r=reduction: F.cross_entropy(logits, target, reduction=r))
    golden("crossEntropy one class is exactly 0", "crossEntropy", {"reduction": "none"},
           {"logits": randn(3, 1, scale=5), "target": t([0, 0, 0])},
           lambda logits, target: F.cross_entropy(logits, target, reduction="none"))


def main():
    seed_everything(20240607)
    for make in (conv_cases, pool_cases, norm_cases, elementwise_cases, matmul_cases, layout_cases, reduce_cases, loss_cases,
                 nonfinite_cases):
        make()
    write_fixture("test/golden/ops.json", GENERATOR, CASES)


if __name__ == "__main__":
    main()
