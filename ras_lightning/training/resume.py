"""Exact resume: the global random states travel with every checkpoint, and a resumed run's
lr schedule is the current config's (a run extended to more epochs is re-planned)."""

from __future__ import annotations

import logging
import random
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.optim.lr_scheduler import LambdaLR

from ras_lightning.utils.text import plural

log = logging.getLogger(__name__)


def rng_states() -> dict[str, Any]:
    """Python's, NumPy's and torch's (CPU and CUDA) global random states, as tensors and
    plain values (``eval``/``predict`` read checkpoints with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` returned (CUDA only where the devices match)."""
    random.setstate(states["python"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    cuda = states.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


class ResumeState(L.Callback):
    """What a resumed run needs beyond Lightning's own checkpoint state.

    * ``checkpoint["rng_states"]``: the global random streams, restored on resume (data order
      and augmentation depend on (seed, epoch) only: ``data/samplers.py``).
    * The lr schedule (per-epoch ``LambdaLR`` factors, ``training/schedules.py``) is the
      current config's, evaluated at the checkpoint's epoch: the saved factors (e.g. a cosine
      planned for fewer epochs) are not loaded, so a run resumed with a larger
      ``trainer.max_epochs`` trains each epoch at the lr a run of the new length has there,
      instead of going on at the finished plan's lr 0.
    """

    def __init__(self) -> None:
        self._saved_plans: list[list[dict[str, Any]]] | None = None

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint["rng_states"] = rng_states()

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if "rng_states" in checkpoint:
            set_rng_states(checkpoint["rng_states"])
        self._saved_plans = []
        for state in checkpoint.get("lr_schedulers", []):
            lambdas = state.get("lr_lambdas")
            self._saved_plans.append([dict(f) if f else {} for f in lambdas or []])
            if lambdas:  # None: LambdaLR.load_state_dict keeps the current config's factor
                state["lr_lambdas"] = [None] * len(lambdas)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        plans, self._saved_plans = self._saved_plans, None
        for config, saved in zip(trainer.lr_scheduler_configs, plans or [], strict=False):
            sched = config.scheduler
            if not isinstance(sched, LambdaLR):
                continue
            epoch = sched.last_epoch
            old = [f.get("max_epochs") for f in saved]
            new = [getattr(f, "max_epochs", None) for f in sched.lr_lambdas]
            if old and old != new:
                log.warning(
                    "resumed at epoch %d with trainer.max_epochs=%s: the lr schedule planned "
                    "for %s is re-planned for %s (lr now as a run of that length)",
                    epoch,
                    trainer.max_epochs,
                    plural(old[-1], "epoch") if isinstance(old[-1], int) else old[-1],
                    new[-1],
                )
            # the restored groups hold the saved plan's lr: set this plan's (as
            # LambdaLR.step computes it) and load it as the scheduler's last lr
            lrs = [
                base * f(epoch) for base, f in zip(sched.base_lrs, sched.lr_lambdas, strict=True)
            ]
            for group, lr in zip(sched.optimizer.param_groups, lrs, strict=True):
                group["lr"] = lr
            sched.load_state_dict({**sched.state_dict(), "_last_lr": lrs})
