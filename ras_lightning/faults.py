"""Fault handling: SIGTERM becomes a graceful interrupt that leaves a checkpoint."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import lightning as L

log = logging.getLogger(__name__)


class SaveOnInterrupt(L.Callback):
    """On SIGTERM (cluster pre-emption, ``kill``) or Ctrl-C, save ``<dirpath>/interrupted.ckpt``
    and exit non-zero; resume with ``ckpt_path=<dirpath>/interrupted.ckpt``.

    SIGTERM is turned into a ``KeyboardInterrupt`` in the main process (after Lightning's own
    handler has run), so both signals take Lightning's graceful-shutdown path, during which
    :meth:`on_exception` writes the checkpoint.
    """

    def __init__(self, dirpath: str, filename: str = "interrupted.ckpt") -> None:
        self.path = Path(dirpath) / filename
        self._previous = None

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        try:
            previous = signal.getsignal(signal.SIGTERM)
        except ValueError:  # not the main thread
            return

        def handler(signum, frame):  # noqa: ANN001
            if callable(previous) and previous not in (signal.SIG_DFL, signal.SIG_IGN):
                previous(signum, frame)
            raise KeyboardInterrupt(f"received signal {signum}")

        try:
            signal.signal(signal.SIGTERM, handler)
            self._previous = previous
        except ValueError:
            pass

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def on_exception(
        self, trainer: L.Trainer, module: L.LightningModule, exc: BaseException
    ) -> None:
        if not isinstance(exc, KeyboardInterrupt):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(self.path)
        log.warning(
            "interrupted at epoch %d, step %d: saved %s (resume with ckpt_path=%s)",
            trainer.current_epoch,
            trainer.global_step,
            self.path,
            self.path,
        )
