"""PyTorch peer for `npm run bench` (scripts/bench/index.ts): a worker that answers one JSON
request per stdin line with one JSON line on stdout, so torch is imported once per bench run.

Timed requests carry {"policy": {warmupRuns, minRuns, maxRuns, budgetMs, minTimedMs, shortRunsCap}, "warmUp": bool} and
answer one round's run times; the bench interleaves rounds with the other contenders, and the
models stay built between rounds:
  {"kind": "info"}                                        -> {"torch", "threads", "onednn", "blas", "configs"}
  {"kind": "infer", "model", "batch", "config"}           -> {"times"}   torch.no_grad, eval mode, 224x224
  {"kind": "train", "model", "batch", "size", "classes", "config"}
                                                          -> {"times"}   forward, cross-entropy, backward,
                                                                         SGD (momentum 0.9) step
"config" is how a user who wants speed would run the model (CONFIGS): "nchw" (eager, the default
layout), "channels_last" (eager; model and input in torch.channels_last) and, for inference,
"frozen" (torch.jit.trace, torch.jit.freeze, torch.jit.optimize_for_inference: folded batch
norms, oneDNN-prepacked weights). The bench times each and keeps the fastest.
Errors answer {"error": "..."}. Exit status 3: torch cannot be imported.
Run with Debian's interpreter: /usr/bin/python3 scripts/bench/torch_peer.py THREADS
"""
import copy
import json
import os
import re
import sys

from peer_timing import blas_library, timed_runs  # beside this script

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision
except ImportError as err:
    print(f"torch/torchvision are not importable by {sys.executable}: {err}", file=sys.stderr)
    sys.exit(3)


class BasicBlockA(nn.Module):
    """He et al. 2015's CIFAR block; option A shortcut: strided identity, new channels zero."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, self.pad = stride, planes - in_planes

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x[:, :, ::self.stride, ::self.stride] if self.stride != 1 else x
        if self.pad:
            short = F.pad(short, (0, 0, 0, 0, 0, self.pad))
        return F.relu(out + short)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for CIFAR: 3x3 conv to 16, stages of n blocks at 16/32/64, avg pool, fc."""

    def __init__(self, n=3, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                blocks.append(BasicBlockA(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def build(name, classes=1000):
    if name == "resnet20_cifar":
        model = CifarResNet(3, classes)
        params = sum(p.numel() for p in model.parameters())
        assert params == 269_722, f"CIFAR ResNet-20 has {params} parameters, convkit's has 269,722"
        return model
    if name == "densenet_bc_100_cifar":
        # DenseNet-BC (L=100, k=12) for 32x32: torchvision's DenseNet (its transitions halve the
        # channels, compression 0.5) with the paper's CIFAR stem, one 3x3 conv and no pooling.
        model = torchvision.models.DenseNet(12, (16, 16, 16), 24, bn_size=4, num_classes=classes)
        model.features.conv0 = nn.Conv2d(3, 24, 3, 1, 1, bias=False)
        del model.features.norm0, model.features.relu0, model.features.pool0
        params = sum(p.numel() for p in model.parameters())
        assert params == 769_162, f"DenseNet-BC-100 has {params} parameters, convkit's has 769,162"
        return model
    if name == "googlenet":
        return torchvision.models.googlenet(aux_logits=False, init_weights=False, num_classes=classes)
    return getattr(torchvision.models, name)(num_classes=classes)


_workloads = {}


def workload(key, make):
    """The run function of one workload, made once: rounds of one model come one after another."""
    if key not in _workloads:
        if not any(k[:2] == key[:2] for k in _workloads):  # another model: free the last one
            _workloads.clear()
        _workloads[key] = make()
    return _workloads[key]


CONFIGS = {"infer": ["nchw", "channels_last", "frozen"], "train": ["nchw", "channels_last"]}

_eval_models = {}


def eval_model(name, config, batch):
    """The model of one inference configuration; batch 8 and batch 1 share the eager ones (a traced
    graph is made per batch). All come from one random model, so they compute the same function."""
    key = (config, batch) if config == "frozen" else (config,)
    if name not in _eval_models:
        _eval_models.clear()
        _eval_models[name] = {("nchw",): build(name).eval()}
    models = _eval_models[name]
    if key not in models:
        base = models[("nchw",)]
        if config == "channels_last":
            models[key] = copy.deepcopy(base).to(memory_format=torch.channels_last)
        elif config == "frozen":
            with torch.no_grad():
                traced = torch.jit.trace(base, torch.randn(batch, 3, 224, 224), check_trace=False)
            models[key] = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
        else:
            raise ValueError(f"unknown inference config {config!r}; expected one of {CONFIGS['infer']}")
    return models[key]


def layout(config):
    return torch.channels_last if config == "channels_last" else torch.contiguous_format


def make_infer(req):
    config = req.get("config", "nchw")
    model = eval_model(req["model"], config, req["batch"])
    x = torch.randn(req["batch"], 3, 224, 224).contiguous(memory_format=layout(config))

    def run():
        with torch.no_grad():
            model(x)

    return run


def make_train(req):
    config = req.get("config", "nchw")
    if config not in CONFIGS["train"]:
        raise ValueError(f"unknown training config {config!r}; expected one of {CONFIGS['train']}")
    model = build(req["model"], req["classes"]).train().to(memory_format=layout(config))
    size = req["size"]
    x = torch.randn(req["batch"], 3, size, size).contiguous(memory_format=layout(config))
    y = torch.randint(0, req["classes"], (req["batch"],))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def infer(req):
    key = ("infer", req["model"], req["batch"], req.get("config", "nchw"))
    run = workload(key, lambda: make_infer(req))
    return {"times": timed_runs(run, req["policy"], req["warmUp"])}


def train(req):
    key = ("train", req["model"], req["batch"], req["size"], req.get("config", "nchw"))
    run = workload(key, lambda: make_train(req))
    return {"times": timed_runs(run, req["policy"], req["warmUp"])}


def info(_req):
    onednn = re.search(r"MKL-DNN v([\w.]+)", torch.__config__.show())
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "onednn": onednn.group(1) if onednn else None,
        # Read from /proc/self/maps after torch loaded: the library really in use, not the one asked for.
        "blas": blas_library(),
        "blasThreads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "malloc": os.environ.get("GLIBC_TUNABLES"),
        "configs": CONFIGS,
    }


def main():
    torch.set_num_threads(int(sys.argv[1]))
    handlers = {"info": info, "infer": infer, "train": train}
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            answer = handlers[req["kind"]](req)
        except Exception as err:  # the bench prints it in the table's notes
            answer = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
