"""Fault handling: a checkpoint on SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
from pathlib import Path

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
