"""``EpochClock``: a Lightning callback that a timed ``python -m ras_lightning.train`` run gets
on its command line (``+callbacks.epoch_clock._target_=benchmarks.gpu.clock.EpochClock``):
the wall time (``time.time()``, so a launcher can set it beside its own) at the start and end
of every training epoch, synchronised on a GPU, and the images trained, written to ``out``
after each epoch; ``stop_after``: end the run after that many epochs (the recipe's schedule
and ``max_epochs`` unchanged)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import lightning as L
import torch


class EpochClock(L.Callback):
    """Epoch start/end wall times and image counts of a training run, into ``out`` (JSON)."""

    def __init__(self, out: str, stop_after: int | None = None) -> None:
        self.out, self.stop_after = out, stop_after
        self.epochs: list[dict[str, Any]] = []
        self.fit_start = 0.0
        self._images = 0

    def _now(self, module: L.LightningModule) -> float:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)
        return time.time()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.fit_start = time.time()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._images = 0
        self.epochs.append({"epoch": trainer.current_epoch, "start": self._now(pl_module)})

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        self._images += int(batch["image"].shape[0])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        entry = self.epochs[-1]
        entry.update(end=self._now(pl_module), images=self._images, steps=trainer.global_step)
        entry["seconds"] = entry["end"] - entry["start"]
        if trainer.is_global_zero:
            tmp = f"{self.out}.tmp"
            with open(tmp, "w") as f:
                json.dump({"fit_start": self.fit_start, "epochs": self.epochs}, f, indent=1)
            os.replace(tmp, self.out)
        if self.stop_after and len(self.epochs) >= self.stop_after:
            trainer.should_stop = True
