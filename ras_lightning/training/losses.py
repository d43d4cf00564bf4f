"""Per-side losses (BCE + IoU as the authors, or plain BCE) and deep supervision over every
RAS side output. The per-side loss is the ``model/loss`` config group."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def bce_iou_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE + IoU of one side output, averaged over the batch.

    bce = BCE-with-logits averaged over the pixels; iou = 1 - (sum(p g) + 1) /
    (sum(p + g) - sum(p g) + 1) per image with p = sigmoid(logit); returns mean(bce + iou).
    ``logits`` and ``target`` are (B, 1, H, W); the target is in [0, 1].
    """
    logits = logits.float()  # keep the loss in fp32 under mixed precision
    target = target.float()
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="mean")
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum(dim=(2, 3))
    union = (prob + target).sum(dim=(2, 3)) - inter
    iou = 1.0 - (inter + 1.0) / (union + 1.0)
    return bce + iou.mean()


def bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Plain BCE-with-logits of one side output, averaged over the pixels (no IoU term)."""
    return F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="mean")


SideLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def deep_supervision_loss(
    side_logits: Sequence[torch.Tensor],
    target: torch.Tensor,
    divide_by: int | bool | None = None,
    side_loss: SideLoss = bce_iou_loss,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Sum of ``side_loss`` (the authors': :func:`bce_iou_loss`) over the side outputs;
    returns (total, per-side losses).

    ``divide_by`` (an int) divides the total by that number, as the v1 authors' training
    script divides by its configured batch size 10 (also for a smaller last batch); ``True``
    divides by this batch's size. It only rescales the gradient, i.e. the effective lr.
    """
    sides = [side_loss(y, target) for y in side_logits]
    total = torch.stack(sides).sum()
    if divide_by is True:
        divide_by = target.shape[0]
    if divide_by:
        total = total / divide_by
    return total, sides
