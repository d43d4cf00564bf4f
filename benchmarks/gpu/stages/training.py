"""Training throughput stages: the real ``Trainer`` + ``RASModule`` of a recipe on in-memory
random batches, timed by ``benchmarks/bench_training.py``'s ``fit_steps`` and ``StepClock``."""

from __future__ import annotations

import math
from typing import Any

from benchmarks.gpu.context import Ctx


def _batches(count: int, length: int, batch: int, size: int, pin: bool) -> Any:
    """``count`` pre-collated random batches, cycled to ``length``: no disk, no collation."""
    import torch
    from torch.utils.data import Dataset

    class Batches(Dataset):
        def __init__(self) -> None:
            g = torch.Generator().manual_seed(0)
            self.items = []
            for _ in range(count):
                item = {
                    "image": torch.randn(batch, 3, size, size, generator=g),
                    "mask": (torch.rand(batch, 1, size, size, generator=g) > 0.5).float(),
                }
                if pin:
                    item = {k: v.pin_memory() for k, v in item.items()}
                self.items.append(item)

        def __len__(self) -> int:
            return length

        def __getitem__(self, i: int) -> dict:
            return self.items[i % len(self.items)]

    return Batches()


def stage_train(ctx: Ctx, version: str, precision: str) -> None:
    """Images/s and peak memory of the real Trainer + RASModule on in-memory batches."""
    import torch
    from torch.utils.data import DataLoader

    from benchmarks.bench_training import StepClock, compose_train, fit_steps
    from ras_lightning.utils.timing import peak_rss_mb

    s = ctx.sz
    dev = ctx.device()
    if not ctx.cuda and precision == "16-mixed":
        precision = "bf16-mixed"  # Lightning's CPU mixed precision
    batch, size = s["train_batch"][version], s["size"]
    warmup, steps = s["train_warmup"], s["train_steps"]
    total = warmup + steps
    accelerator = "gpu" if ctx.cuda else "cpu"
    cfg = compose_train(version, f"trainer.accelerator={accelerator}")
    data = _batches(min(4, total), total, batch, size, pin=ctx.cuda)
    loader = DataLoader(data, batch_size=None, shuffle=False, num_workers=0)
    clock = StepClock(ctx.sync(), synced={0, warmup - 1, total - 1})
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    torch.manual_seed(0)
    fit_steps(
        cfg,
        loader,
        total,
        str(ctx.work / "train_throughput"),
        clock,
        accelerator=accelerator,
        devices=1,
        precision=precision,
        num_sanity_val_steps=0,
    )
    elapsed = clock.ends[total - 1] - clock.ends[warmup - 1]
    loss = clock.last_loss
    ctx.save(
        version=version,
        precision=precision,
        batch=batch,
        size=size,
        optimizer=str(cfg.optimizer._target_).rsplit(".", 1)[-1],
        lr=float(cfg.optimizer.lr),
        channels_last=bool(cfg.model.channels_last),
        cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
        warmup_steps=warmup,
        timed_steps=steps,
        images_per_s=steps * batch / elapsed,
        step_ms=elapsed / steps * 1e3,
        first_step_s=clock.ends[0] - clock.start,
        last_loss=loss,
        peak_gpu_gib=torch.cuda.max_memory_allocated(dev) / 2**30 if ctx.cuda else None,
        peak_rss_mb=peak_rss_mb(),
        note="fixed size (no multiscale), in-memory random batches",
    )
    if loss is None or not math.isfinite(loss):
        raise AssertionError(f"non-finite training loss: {loss}")
