"""A callback for resume tests: SIGTERM to this process after a given global step."""

from __future__ import annotations

import os
import signal

import lightning as L


class SigtermAtStep(L.Callback):
    """Send SIGTERM to the running process once ``trainer.global_step`` reaches ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)
