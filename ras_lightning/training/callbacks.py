"""Training callbacks: the learning rate per epoch, a checkpoint on SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)


class SaveOnInterrupt(L.Callback):
    """On SIGTERM (cluster pre-emption, ``kill``) or Ctrl-C, save ``<dirpath>/interrupted.ckpt``
    before the process exits; resume with ``ckpt_path=<dirpath>/interrupted.ckpt``.

    Lightning turns SIGTERM into a ``SIGTERMException`` at the next step and Ctrl-C into its
    graceful-shutdown path; both call :meth:`on_exception` while the trainer state is intact.
    """

    def __init__(self, dirpath: str, filename: str = "interrupted.ckpt") -> None:
        self.path = Path(dirpath) / filename

    def on_exception(
        self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            return
        trainer.save_checkpoint(self.path)
        if trainer.is_global_zero:
            log.warning(
                "interrupted at epoch %d, global step %d: saved %s (resume with ckpt_path=%s)",
                trainer.current_epoch,
                trainer.global_step,
                self.path,
                self.path,
            )


class EpochLearningRate(L.Callback):
    """Log ``name`` (default ``train/lr``) once per epoch, at its first batch in this process
    (so an epoch resumed mid-way, which skips ``on_train_epoch_start``, logs it too): the
    head's lr, the one the optimizer config sets (the backbone's is that x
    ``model.backbone_lr_mult``).

    Lightning's ``LearningRateMonitor`` would log one key per parameter group
    (``train/lr/backbone``, ``train/lr/head``) straight to the loggers, in rows without the
    epoch; logged through the module, as the losses, each logger's row carries the epoch.
    """

    def __init__(self, name: str = "train/lr") -> None:
        self.name = name
        self._logged_epoch = -1

    def on_train_batch_start(
        self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._logged_epoch != trainer.current_epoch:
            self._logged_epoch = trainer.current_epoch
            lr = trainer.optimizers[0].param_groups[-1]["lr"]
            module.log(self.name, lr, on_step=False, on_epoch=True, batch_size=1)
