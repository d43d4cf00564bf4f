"""Training throughput stages: the real ``Trainer`` + ``RASModule`` of a recipe on in-memory
random batches."""

from __future__ import annotations

import math
import time
from typing import Any

from benchmarks.gpu.context import Ctx


def _compose(version: str, accelerator: str) -> Any:
    from hydra import compose, initialize_config_dir

    import ras_lightning.utils.resolvers  # noqa: F401  (resolvers)
    from ras_lightning import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"strategy={version}",
                "model.pretrained_backbone=false",
                f"trainer.accelerator={accelerator}",
            ],
        )


def stage_train(ctx: Ctx, version: str, precision: str) -> None:
    """Images/s and peak memory of the real Trainer + RASModule on in-memory batches."""
    import lightning as L
    import torch
    from hydra.utils import instantiate
    from torch.utils.data import DataLoader, Dataset

    from ras_lightning.training.fit import instantiate_model
    from ras_lightning.utils.timing import peak_rss_mb

    s = ctx.sz
    dev = ctx.device()
    sync = ctx.sync()
    if not ctx.cuda and precision == "16-mixed":
        precision = "bf16-mixed"  # Lightning's CPU mixed precision
    batch, size = s["train_batch"][version], s["size"]
    warmup, steps = s["train_warmup"], s["train_steps"]
    total = warmup + steps
    cfg = _compose(version, "gpu" if ctx.cuda else "cpu")
    torch.manual_seed(0)
    module = instantiate_model(cfg)

    class Batches(Dataset):
        """A few pre-collated random batches, pinned, cycled: no disk, no collation."""

        def __init__(self) -> None:
            g = torch.Generator().manual_seed(0)
            self.items = []
            for _ in range(min(4, total)):
                item = {
                    "image": torch.randn(batch, 3, size, size, generator=g),
                    "mask": (torch.rand(batch, 1, size, size, generator=g) > 0.5).float(),
                }
                if ctx.cuda:
                    item = {k: v.pin_memory() for k, v in item.items()}
                self.items.append(item)

        def __len__(self) -> int:
            return total

        def __getitem__(self, i: int) -> dict:
            return self.items[i % len(self.items)]

    stamps: dict[str, float] = {}
    losses: list[float] = []

    class Clock(L.Callback):
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            sync()
            stamps["start"] = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if batch_idx == 0:
                sync()
                stamps["first"] = time.perf_counter()
            if batch_idx == warmup - 1:
                sync()
                stamps["t0"] = time.perf_counter()
            if batch_idx == total - 1:
                sync()
                stamps["t1"] = time.perf_counter()
                loss = outputs["loss"] if isinstance(outputs, dict) else outputs
                losses.append(float(loss))

    loader = DataLoader(Batches(), batch_size=None, shuffle=False, num_workers=0)
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    trainer = instantiate(
        cfg.trainer,
        accelerator="gpu" if ctx.cuda else "cpu",
        devices=1,
        precision=precision,
        max_steps=total,
        default_root_dir=str(ctx.work / "train_throughput"),
        logger=False,
        callbacks=[Clock()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, train_dataloaders=loader)
    elapsed = stamps["t1"] - stamps["t0"]
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
        first_step_s=stamps["first"] - stamps["start"],
        last_loss=losses[-1] if losses else None,
        peak_gpu_gib=torch.cuda.max_memory_allocated(dev) / 2**30 if ctx.cuda else None,
        peak_rss_mb=peak_rss_mb(),
        note="fixed size (no multiscale), in-memory random batches",
    )
    if not losses or not math.isfinite(losses[-1]):
        raise AssertionError(f"non-finite training loss: {losses}")
