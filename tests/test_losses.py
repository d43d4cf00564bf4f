"""BCE + IoU deep supervision against hand-computed values."""

from __future__ import annotations

import math

import torch

from ras_lightning.training.losses import bce_iou_loss, bce_loss, deep_supervision_loss


def test_bce_iou_hand_computed() -> None:
    # one image, 2x2 pixels; logits 0 -> p = 0.5 everywhere
    logits = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    bce = math.log(2)  # -log(0.5) for every pixel
    inter = 0.5  # sum(p * g)
    union = 2.0 + 1.0 - 0.5  # sum(p) + sum(g) - inter
    iou = 1 - (inter + 1) / (union + 1)
    assert math.isclose(bce_iou_loss(logits, target).item(), bce + iou, rel_tol=1e-6)


def test_bce_iou_batch_mean_and_perfect_prediction() -> None:
    target = torch.zeros(2, 1, 3, 3)
    target[0, :, 1, 1] = 1
    perfect = (target * 2 - 1) * 50  # saturated logits
    assert bce_iou_loss(perfect, target).item() < 1e-6
    a = torch.randn(1, 1, 3, 3)
    b = torch.randn(1, 1, 3, 3)
    both = bce_iou_loss(torch.cat([a, b]), target)
    # bce is a pixel mean over the batch, iou a per-image mean: both equal the per-image average
    each = (bce_iou_loss(a, target[:1]) + bce_iou_loss(b, target[1:])) / 2
    assert torch.allclose(both, each, atol=1e-6)


def test_deep_supervision_sums_sides_and_divides_by_batch() -> None:
    target = (torch.rand(4, 1, 8, 8) > 0.5).float()
    sides = [torch.randn(4, 1, 8, 8) for _ in range(5)]
    total, per_side = deep_supervision_loss(sides, target)
    assert len(per_side) == 5
    assert torch.allclose(total, sum(bce_iou_loss(s, target) for s in sides))
    divided, _ = deep_supervision_loss(sides, target, divide_by=True)
    assert torch.allclose(divided, total / 4)
    # the v1 authors divide by the configured batch size (10), also for a smaller last batch
    by_config, _ = deep_supervision_loss(sides, target, divide_by=10)
    assert torch.allclose(by_config, total / 10)


def test_plain_bce_side_loss_and_deep_supervision_with_it() -> None:
    logits = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert math.isclose(bce_loss(logits, target).item(), math.log(2), rel_tol=1e-6)
    sides = [torch.randn(2, 1, 8, 8) for _ in range(4)]
    mask = (torch.rand(2, 1, 8, 8) > 0.5).float()
    total, per_side = deep_supervision_loss(sides, mask, side_loss=bce_loss)
    assert torch.allclose(total, sum(bce_loss(s, mask) for s in sides))
    # BCE alone is below BCE + IoU (the IoU term is positive for imperfect maps)
    assert total < deep_supervision_loss(sides, mask)[0]
