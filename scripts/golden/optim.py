"""PyTorch golden trajectories for convkit's optimisers and learning-rate schedules.

Run with Debian's PyTorch 1.13: `/usr/bin/python3 scripts/golden/optim.py` (or `npm run golden`).
Writes test/golden/optim.json, read by test/train/optim-golden.test.ts.

Optimiser cases: a tiny two-layer net (w1 [4, 3], b1 [4], w2 [2, 4]; loss = mean((relu(x @ w1.T +
b1) @ w2.T - y)^2) on a fixed batch of 6) takes 5 steps with torch.optim. Each case records the
initial parameters, the gradients fed to every step (null where a parameter had no gradient, so the
optimiser skipped it) and the parameters after every step, plus the optimiser's final per-parameter
state. The TypeScript test sets those gradients as `param.grad` and replays the steps, which tests
the optimiser alone. Most cases run in float64 (agreement to 1e-12: same update rule, same order
of operations); two run in float32 (agreement to about 1e-6, rounding differs per operation).

Schedule cases: get_last_lr() right after construction and after every scheduler.step(), for two
parameter groups with different learning rates. These are PyTorch's recursive ("chainable")
values; convkit computes the closed form and must agree to 1e-12.

Options are written under convkit's names (camelCase) and translated to torch's here.
"""
import os
import sys
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import seed_everything, tensor_json, write_fixture  # noqa: E402

GENERATOR = "scripts/golden/optim.py"
STEPS = 5
NAMES = ["w1", "b1", "w2"]
TORCH_NAMES = {"weightDecay": "weight_decay"}
STATE_NAMES = {"momentum_buffer": "momentumBuffer", "exp_avg": "expAvg", "exp_avg_sq": "expAvgSq",
               "max_exp_avg_sq": "maxExpAvgSq", "step": "step"}
OPTIMIZERS = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW}


def torch_kwargs(options):
    return {TORCH_NAMES.get(k, k): (tuple(v) if k == "betas" else v) for k, v in options.items()}


def tensor64(t):
    """Exact float64 values: Python's repr of a double reads back as the same double."""
    t = t.detach()
    return {"shape": list(t.shape), "values": [float(v) for v in t.reshape(-1).tolist()]}


def problem(dtype):
    """Initial parameters and the fixed batch, the same for every case of a dtype."""
    seed_everything(0)
    params = {
        "w1": torch.randn(4, 3, dtype=torch.float64) * 0.7,
        "b1": torch.randn(4, dtype=torch.float64) * 0.3,
        "w2": torch.randn(2, 4, dtype=torch.float64) * 0.7,
    }
    x = torch.randn(6, 3, dtype=torch.float64)
    y = torch.randn(6, 2, dtype=torch.float64)
    cast = lambda t: t.to(dtype)  # noqa: E731
    return {k: cast(v) for k, v in params.items()}, cast(x), cast(y)


def optimizer_case(name, optimizer, options, groups=None, dtype="float64", drop_grad=None):
    """drop_grad: {step index: [parameter names]} whose gradient is set to None before that step."""
    torch_dtype = torch.float64 if dtype == "float64" else torch.float32
    write = tensor64 if dtype == "float64" else tensor_json
    initial, x, y = problem(torch_dtype)
    params = {k: v.clone().requires_grad_(True) for k, v in initial.items()}
    if groups is None:
        opt = OPTIMIZERS[optimizer]([params[k] for k in NAMES], **torch_kwargs(options))
    else:
        torch_groups = [dict(torch_kwargs({k: v for k, v in g.items() if k != "params"}),
                             params=[params[k] for k in g["params"]]) for g in groups]
        opt = OPTIMIZERS[optimizer](torch_groups, **torch_kwargs(options))
    steps = []
    for i in range(STEPS):
        opt.zero_grad(set_to_none=True)
        hidden = torch.relu(x @ params["w1"].T + params["b1"])
        loss = ((hidden @ params["w2"].T - y) ** 2).mean()
        loss.backward()
        for k in (drop_grad or {}).get(i, []):
            params[k].grad = None
        grads = {k: (None if params[k].grad is None else write(params[k].grad)) for k in NAMES}
        opt.step()
        steps.append({"grads": grads, "params": {k: write(params[k]) for k in NAMES}})
    state = {}
    for k in NAMES:
        entries = opt.state.get(params[k], {})
        state[k] = {STATE_NAMES[s]: (int(v.item()) if s == "step" else write(v))
                    for s, v in entries.items() if v is not None}
    case = {"kind": "optimizer", "name": name, "optimizer": optimizer, "dtype": dtype, "options": options,
            "initial": {k: write(v) for k, v in initial.items()}, "steps": steps, "state": state}
    if groups is not None:
        case["groups"] = groups
    return case


def make_scheduler(optimizer, spec):
    kind, o = spec["schedule"], spec.get("options", {})
    if kind == "StepLR":
        return torch.optim.lr_scheduler.StepLR(optimizer, o["stepSize"], o.get("gamma", 0.1))
    if kind == "MultiStepLR":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, o["milestones"], o.get("gamma", 0.1))
    if kind == "CosineAnnealingLR":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, o["tMax"], o.get("etaMin", 0))
    if kind == "LinearLR":
        return torch.optim.lr_scheduler.LinearLR(optimizer, o.get("startFactor", 1 / 3), o.get("endFactor", 1.0),
                                                 o.get("totalIters", 5))
    if kind == "SequentialLR":
        children = [make_scheduler(optimizer, child) for child in spec["children"]]
        return torch.optim.lr_scheduler.SequentialLR(optimizer, children, spec["milestones"])
    raise ValueError(kind)


def schedule_case(name, spec, epochs, lrs=(0.1, 0.03)):
    params = [torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])
    sched = make_scheduler(opt, spec)
    values = [list(sched.get_last_lr())]
    for _ in range(epochs):
        opt.step()  # no gradients: nothing moves, but PyTorch sees the documented call order
        sched.step()
        values.append(list(sched.get_last_lr()))
    return {"kind": "schedule", "name": name, "lrs": list(lrs), **spec, "values": values}


def optimizer_cases():
    return [
        optimizer_case("SGD plain", "SGD", {"lr": 0.1}),
        optimizer_case("SGD momentum, dampening, weight decay", "SGD",
                       {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weightDecay": 0.01}),
        optimizer_case("SGD nesterov with weight decay", "SGD",
                       {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weightDecay": 0.001}),
        optimizer_case("SGD maximize, two groups, b1 skipped at step 3", "SGD", {"lr": 0.1, "maximize": True},
                       groups=[{"params": ["w1", "b1"], "lr": 0.02, "momentum": 0.7},
                               {"params": ["w2"], "momentum": 0.5, "weightDecay": 0.1}],
                       drop_grad={2: ["b1"]}),
        optimizer_case("Adam defaults with lr 0.01", "Adam", {"lr": 0.01}),
        # beta2 = 0.5 lets exp_avg_sq shrink when a gradient does, so amsgrad's maximum matters.
        optimizer_case("Adam amsgrad with weight decay", "Adam",
                       {"lr": 0.05, "betas": [0.8, 0.5], "eps": 1e-6, "weightDecay": 0.05, "amsgrad": True}),
        optimizer_case("Adam maximize, two groups, b1 skipped at steps 2 and 3", "Adam", {"lr": 0.01, "maximize": True},
                       groups=[{"params": ["w1", "b1"], "lr": 0.03}, {"params": ["w2"], "weightDecay": 0.2}],
                       drop_grad={1: ["b1"], 2: ["b1"]}),
        optimizer_case("AdamW weight decay 0.1", "AdamW", {"lr": 0.01, "weightDecay": 0.1}),
        optimizer_case("AdamW default weight decay, amsgrad", "AdamW", {"lr": 0.05, "betas": [0.85, 0.5], "amsgrad": True}),
        optimizer_case("AdamW maximize", "AdamW", {"lr": 0.02, "maximize": True}),
        optimizer_case("SGD momentum, dampening, weight decay (float32)", "SGD",
                       {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weightDecay": 0.01}, dtype="float32"),
        optimizer_case("Adam amsgrad with weight decay (float32)", "Adam",
                       {"lr": 0.05, "betas": [0.8, 0.5], "eps": 1e-6, "weightDecay": 0.05, "amsgrad": True},
                       dtype="float32"),
    ]


def schedule_cases():
    return [
        schedule_case("StepLR step 3, gamma 0.5", {"schedule": "StepLR", "options": {"stepSize": 3, "gamma": 0.5}}, 12),
        schedule_case("MultiStepLR with a repeated milestone", {"schedule": "MultiStepLR",
                      "options": {"milestones": [2, 5, 5, 9], "gamma": 0.3}}, 12),
        schedule_case("CosineAnnealingLR past tMax", {"schedule": "CosineAnnealingLR",
                      "options": {"tMax": 10, "etaMin": 0.001}}, 30),
        schedule_case("CosineAnnealingLR etaMin 0", {"schedule": "CosineAnnealingLR", "options": {"tMax": 7}}, 9),
        schedule_case("LinearLR warm-up", {"schedule": "LinearLR",
                      "options": {"startFactor": 0.25, "endFactor": 1.0, "totalIters": 4}}, 8),
        schedule_case("LinearLR decay", {"schedule": "LinearLR",
                      "options": {"startFactor": 1.0, "endFactor": 0.1, "totalIters": 5}}, 8),
        schedule_case("LinearLR defaults", {"schedule": "LinearLR"}, 7),
        schedule_case("SequentialLR linear warm-up then cosine", {
            "schedule": "SequentialLR", "milestones": [3],
            "children": [{"schedule": "LinearLR", "options": {"startFactor": 0.1, "totalIters": 3}},
                         {"schedule": "CosineAnnealingLR", "options": {"tMax": 7, "etaMin": 1e-4}}]}, 14),
        schedule_case("SequentialLR step then multistep", {
            "schedule": "SequentialLR", "milestones": [4],
            "children": [{"schedule": "StepLR", "options": {"stepSize": 2, "gamma": 0.5}},
                         {"schedule": "MultiStepLR", "options": {"milestones": [2, 3], "gamma": 0.1}}]}, 9),
    ]


def check_meaningful(cases):
    """The amsgrad cases must actually hit the maximum, or they would not test it."""
    for case in cases:
        if case.get("options", {}).get("amsgrad"):
            assert any(a != b for s in case["state"].values() if s
                       for a, b in zip(s["maxExpAvgSq"]["values"], s["expAvgSq"]["values"])), case["name"]


def main():
    warnings.filterwarnings("ignore", category=UserWarning)
    cases = optimizer_cases()
    check_meaningful(cases)
    write_fixture("test/golden/optim.json", GENERATOR, cases + schedule_cases())


if __name__ == "__main__":
    main()
