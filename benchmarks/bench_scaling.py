"""How training time and memory grow with image size and batch (backs "Scaling on paper").

    .venv/bin/python benchmarks/bench_scaling.py [--version v2] [--sizes 224 288 352]
        [--batches 1 2 4] [--steps 2] [--quick]

For each size x batch: one fp32 training step of RAS (forward, BCE+IoU on every side,
backward, fused SGD), best of ``--steps`` after a warm-up; seconds per step and per
megapixel; and the activation memory that the backward pass keeps (the bytes of the distinct
tensors autograd saves during the forward, counted with ``saved_tensors_hooks``), per image.
All in one process, sizes and batches in a row (so interference is spread over all cells).
"""

from __future__ import annotations

import argparse
import time

import torch

from ras_lightning.models import RAS
from ras_lightning.training.losses import deep_supervision_loss


def saved_mb(net: torch.nn.Module, x: torch.Tensor, m: torch.Tensor) -> float:
    """MB of the distinct tensors autograd saves for the backward of one loss."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _ = deep_supervision_loss(net(x), m)
    params = {p.untyped_storage().data_ptr() for p in net.parameters()}
    del loss
    return sum(v for k, v in storages.items() if k not in params) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", default="v2")
    ap.add_argument("--sizes", type=int, nargs="+", default=[224, 288, 352])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="smoke run: 64/96 px, batches 1 2")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.batches, args.steps = [64, 96], [1, 2], 1
    torch.manual_seed(0)
    net = RAS(version=args.version, pretrained_backbone=False).train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, fused=True)
    print(
        f"RAS {args.version} training step, fp32 CPU, best of {args.steps} after a warm-up; "
        "activations = bytes autograd keeps for the backward"
    )
    print("| size | batch | s/step | images/s | s per megapixel | activations MB/image |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        act = saved_mb(net, torch.randn(1, 3, size, size), torch.ones(1, 1, size, size))
        for batch in args.batches:
            x = torch.randn(batch, 3, size, size)
            m = (torch.rand(batch, 1, size, size) > 0.5).float()
            best = float("inf")
            for i in range(args.steps + 1):
                t = time.perf_counter()
                loss, _ = deep_supervision_loss(net(x), m)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if i:
                    best = min(best, time.perf_counter() - t)
            mpix = batch * size * size / 1e6
            print(
                f"| {size} | {batch} | {best:.2f} | {batch / best:.2f} | {best / mpix:.2f} "
                f"| {act:.0f} |"
            )


if __name__ == "__main__":
    main()
