"""Data recipes: samples/s one loader worker produces, against what a training step consumes.

    .venv/bin/python benchmarks/bench_data_recipes.py [--size 352] [--samples 100]
        [--repeat 3] [--train-batch 4] [--quick]

For the v1 (CPD) and v2 (F3Net) albumentations recipes: decode a real photo (JPEG) and its
mask (PNG), augment, make tensors -- ``SODDataset.__getitem__``, i.e. one DataLoader
worker's work per sample -- over ECSSD-100 (``../shared/data/ECSSD-100``; generated 400x300
photos when absent), best of ``--repeat`` passes. Next to it, in the same run, the images/s a
training step at the same size consumes (RAS of that version from scratch, batch
``--train-batch``, fp32, best of 3 steps after one warm-up). The ratio is the share of a step
that loading in the main process (``num_workers=0``) costs, and how many workers keep a
faster device fed.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ras_lightning.data import discover_set
from ras_lightning.data.collate import TrainCollate
from ras_lightning.data.dataset import SODDataset
from ras_lightning.data.transforms import train_transform

REPO = Path(__file__).resolve().parents[1]
ECSSD = REPO.parent / "shared" / "data" / "ECSSD-100"


def _photos(tmp: Path, n: int) -> Path:
    """A set folder with ``n`` photo/mask pairs: ECSSD-100 when present, else generated."""
    root = tmp / "data"
    img, msk = root / "SET" / "images", root / "SET" / "masks"
    img.mkdir(parents=True)
    msk.mkdir(parents=True)
    if (ECSSD / "images").is_dir():
        for p in sorted((ECSSD / "images").glob("*.jpg"))[:n]:
            (img / p.name).symlink_to(p)
            m = ECSSD / "ground_truth_mask" / f"{p.stem}.png"
            (msk / m.name).symlink_to(m)
    else:
        rng = np.random.default_rng(0)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (300, 400, 3), np.uint8)).save(img / f"{i}.jpg")
            m = (rng.random((300, 400)) > 0.5).astype(np.uint8) * 255
            Image.fromarray(m).save(msk / f"{i}.png")
    return root


def samples_per_s(root: Path, recipe: str, size: int, repeat: int) -> float:
    """Best-of-``repeat`` samples/s of ``SODDataset.__getitem__`` + the collate, in this process."""
    data = SODDataset(discover_set(root, "SET"), train_transform(recipe, size), train=True)
    collate = TrainCollate([size])  # v2 resizes in the collate, as the authors' loader
    best = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        for i in range(len(data)):
            collate([data[i]])
        best = max(best, len(data) / (time.perf_counter() - t))
    return best


def train_images_per_s(version: str, size: int, batch: int, steps: int = 3) -> float:
    """Images/s of a plain fp32 training step (forward, BCE+IoU, backward, SGD)."""
    from ras_lightning.models import RAS
    from ras_lightning.training.losses import deep_supervision_loss

    torch.manual_seed(0)
    net = RAS(version=version, pretrained_backbone=False).train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, fused=True)
    x = torch.randn(batch, 3, size, size)
    m = (torch.rand(batch, 1, size, size) > 0.5).float()
    best = float("inf")
    for i in range(steps + 1):
        t = time.perf_counter()
        loss, _ = deep_supervision_loss(net(x), m)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:  # the first step warms up
            best = min(best, time.perf_counter() - t)
    return batch / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=352)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--train-batch", type=int, default=4)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smoke run: 10 samples, 128 px")
    args = ap.parse_args()
    if args.quick:
        args.samples, args.size, args.repeat, args.train_steps = 10, 128, 1, 1
    with tempfile.TemporaryDirectory() as tmp:
        root = _photos(Path(tmp), args.samples)
        n = len(list((root / "SET" / "images").iterdir()))
        src = "ECSSD-100" if (ECSSD / "images").is_dir() else "generated 400x300"
        rates = {r: samples_per_s(root, r, args.size, args.repeat) for r in ("v1", "v2")}
    print(
        f"{n} photos ({src}) to {args.size}x{args.size}; loader: best of {args.repeat} passes; "
        f"training: RAS from scratch, batch {args.train_batch}, fp32, best of "
        f"{args.train_steps} steps"
    )
    print(
        "| recipe (version) | samples/s per worker | training consumes images/s "
        "| share of a step if loaded in the main process | workers for 100 images/s |"
    )
    print("|---|---|---|---|---|")
    for recipe, rate in rates.items():
        need = train_images_per_s(recipe, args.size, args.train_batch, args.train_steps)
        print(
            f"| {recipe} (RAS {recipe}) | {rate:.1f} | {need:.2f} | {100 * need / rate:.1f}% "
            f"| {math.ceil(100 / rate)} |"
        )


if __name__ == "__main__":
    main()
