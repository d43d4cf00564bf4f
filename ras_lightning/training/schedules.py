"""The authors' learning-rate schedules, as per-epoch ``LambdaLR`` factors."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class Triangular:
    """F3Net's triangular factor used by RAS v2: 1 - |(e + 1) / (E + 1) * 2 - 1| at epoch e."""

    def __init__(self, max_epochs: int) -> None:
        self.max_epochs = max_epochs

    def __call__(self, epoch: int) -> float:
        return 1.0 - abs((epoch + 1) / (self.max_epochs + 1) * 2 - 1)


def triangular(optimizer: Optimizer, max_epochs: int) -> LambdaLR:
    """Per-epoch triangular schedule (peak at mid-training), as the RAS v2 training script."""
    return LambdaLR(optimizer, Triangular(max_epochs))


class StepAt:
    """Factor ``gamma`` from epoch ``epoch`` (0-based) on, 1 before."""

    def __init__(self, epoch: int, gamma: float) -> None:
        self.epoch, self.gamma = epoch, gamma

    def __call__(self, epoch: int) -> float:
        return self.gamma if epoch >= self.epoch else 1.0


def step_at(optimizer: Optimizer, epoch: int, gamma: float = 0.1) -> LambdaLR:
    """One lr drop: the v1 recipe multiplies the lr by 0.1 at the 26th of 30 epochs."""
    return LambdaLR(optimizer, StepAt(epoch, gamma))


class Cosine:
    """Cosine decay factor from 1 at epoch 0 to ``eta_min_ratio`` at ``max_epochs``."""

    def __init__(self, max_epochs: int, eta_min_ratio: float = 0.0) -> None:
        self.max_epochs, self.eta_min_ratio = max_epochs, eta_min_ratio

    def __call__(self, epoch: int) -> float:
        cos = 0.5 * (1 + math.cos(math.pi * min(epoch, self.max_epochs) / self.max_epochs))
        return self.eta_min_ratio + (1 - self.eta_min_ratio) * cos


def cosine(optimizer: Optimizer, max_epochs: int, eta_min_ratio: float = 0.0) -> LambdaLR:
    """Per-epoch cosine decay in closed form (restores exactly from a checkpoint, unlike the
    recursive ``CosineAnnealingLR``)."""
    return LambdaLR(optimizer, Cosine(max_epochs, eta_min_ratio))
