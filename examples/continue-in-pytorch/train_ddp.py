"""Continue training a convkit model in PyTorch, on several processes (DistributedDataParallel).

convkit writes torchvision's state-dict keys, so a convkit checkpoint exported as .pth loads
strictly into torchvision's model of the same name; this script does that, wraps the model in
DistributedDataParallel and trains on. Launch it with torchrun (one process per GPU, or several
CPU processes with the gloo backend):

    torchrun --nproc_per_node=2 examples/continue-in-pytorch/train_ddp.py \\
        --arch resnet18 --weights resnet18.pth --data idx:/usr/share/datasets/fashion-mnist \\
        --epochs 1 --out resnet18-torch.pth

The number of classes and of input channels are read from the weights (the last linear layer and
the first convolution), so a convkit model trained on greyscale 10-class data gets a one-channel
stem and a 10-way head. The result is a plain state dict, written by rank 0 (torch.save), which
`ck.loadWeights` reads back into convkit.

Data: `synthetic` (seeded random images and labels; for trying the set-up) or `idx:DIR`
(train-images-idx3-ubyte and train-labels-idx1-ubyte, each plain or .gz, as convkit reads them),
scaled to [0, 1] and normalised per channel by the training images' mean and standard deviation,
as `convkit train` does. Rank 0 prints one JSON line per step ({"step", "epoch", "loss"}, the loss
averaged over the processes) and a last line with what it saved, how far the weights moved, and
whether every process ended with the same parameters.
"""
import argparse
import gzip
import json
import math
import os

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
import torchvision
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", required=True, help="torchvision builder: resnet18, densenet121, vgg11_bn, ...")
    p.add_argument("--weights", required=True, help="a .pth state dict (convkit export/convert)")
    p.add_argument("--data", default="synthetic", help="synthetic | idx:DIR")
    p.add_argument("--image-size", type=int, default=32, help="synthetic images' height and width")
    p.add_argument("--samples", type=int, default=256, help="synthetic images")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: run the epochs)")
    p.add_argument("--batch-size", type=int, default=32, help="per process")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="", help="where rank 0 saves the trained state dict (.pth)")
    return p.parse_args()


def shapes_from(state):
    """(classes, input channels): the last 2-D weight's rows and the first 4-D weight's columns."""
    linear = [t for k, t in state.items() if k.endswith("weight") and t.dim() == 2]
    conv = [t for k, t in state.items() if k.endswith("weight") and t.dim() == 4]
    return linear[-1].shape[0], conv[0].shape[1]


def build(arch, classes, channels):
    kwargs = {"aux_logits": False, "init_weights": False} if arch == "googlenet" else {}
    model = getattr(torchvision.models, arch)(weights=None, num_classes=classes, **kwargs)
    if channels != 3:
        # convkit's inChannels changes only the stem convolution: do the same here.
        name, conv = next((n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d))
        parent = model.get_submodule(name.rpartition(".")[0])
        setattr(parent, name.rpartition(".")[2], torch.nn.Conv2d(
            channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None))
    return model


def read_idx(path):
    opener = gzip.open if not os.path.exists(path) and os.path.exists(path + ".gz") else open
    with opener(path if opener is open else path + ".gz", "rb") as f:
        raw = f.read()
    if raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise SystemExit(f"{path}: not an IDX file of unsigned bytes")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def load_data(args, channels, classes):
    if args.data == "synthetic":
        g = torch.Generator().manual_seed(args.seed)
        x = torch.rand(args.samples, channels, args.image_size, args.image_size, generator=g)
        y = torch.randint(0, classes, (args.samples,), generator=g)
    elif args.data.startswith("idx:"):
        folder = args.data[4:]
        images = read_idx(os.path.join(folder, "train-images-idx3-ubyte"))
        x = torch.from_numpy(images.astype(np.float32) / 255).unsqueeze(1).expand(-1, channels, -1, -1)
        y = torch.from_numpy(read_idx(os.path.join(folder, "train-labels-idx1-ubyte")).astype(np.int64))
    else:
        raise SystemExit(f"--data {args.data}: expected synthetic or idx:DIR")
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    std = x.std(dim=(0, 2, 3), keepdim=True)
    return TensorDataset((x - mean) / std, y)


def main():
    args = parse_args()
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ['LOCAL_RANK'])}" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(args.seed)

    state = torch.load(args.weights, map_location="cpu", weights_only=True)
    classes, channels = shapes_from(state)
    model = build(args.arch, classes, channels)
    model.load_state_dict(state, strict=True)
    model.to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    data = load_data(args, channels, classes)
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=args.seed, drop_last=True)
    loader = DataLoader(data, batch_size=args.batch_size, sampler=sampler, drop_last=True)
    opt = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)

    ddp.train()
    step = 0
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            loss = F.cross_entropy(ddp(x.to(device)), y.to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            mean_loss = loss.detach().clone()
            dist.all_reduce(mean_loss)
            if rank == 0:
                print(json.dumps({"step": step, "epoch": epoch, "loss": float(mean_loss) / world}), flush=True)
            if step == args.steps:
                break
        if step == args.steps:
            break

    trained = {k: t.detach().cpu() for k, t in model.state_dict().items()}
    moved = max(float((trained[k] - state[k]).abs().max()) for k in state if state[k].is_floating_point())
    # DDP keeps the parameters of every process equal (gradients are averaged before each step):
    # compare them with rank 0's. Buffers (batch-norm statistics) are copied from rank 0 at the
    # start of each forward pass, so they differ after the last one; rank 0's are saved.
    flat = torch.cat([p.detach().double().reshape(-1) for p in model.parameters()])
    reference = flat.clone()
    dist.broadcast(reference, 0)
    spread = (flat - reference).abs().max()
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    if rank == 0:
        if args.out:
            tmp = f"{args.out}.{os.getpid()}.tmp"
            torch.save(trained, tmp)
            os.replace(tmp, args.out)
        print(json.dumps({"saved": args.out or None, "steps": step, "processes": world,
                          "max_weight_change": moved, "replicas_max_parameter_difference": float(spread),
                          "finite": all(math.isfinite(float(t.double().abs().max())) for t in trained.values())}),
              flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
