"""Batch assembly: the v2 recipe's one resize per sample to a size drawn per batch, and the
evaluation batches that keep each photo's original-size mask."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch


class TrainCollate:
    """Stack training samples at one size per batch.

    ``sizes`` holds the choices (the v2 recipe: {224, 256, 288, 320, 352}, one drawn per batch
    as F3Net's ``collate``); a sample of another size is resized ONCE, straight from its
    (cropped) full-size arrays, with ``cv2.resize(INTER_LINEAR)`` for photo and mask, as the
    authors' collate. v1 samples arrive at their final size and are only stacked. The draw
    comes from the samples' seeds when they carry them (training through
    :class:`~ras_lightning.data.samplers.SeededEpochSampler`), else from Python's ``random``.
    """

    def __init__(self, sizes: Sequence[int]) -> None:
        if not sizes:
            raise ValueError("TrainCollate needs at least one size")
        self.sizes = [int(s) for s in sizes]

    def __call__(self, batch: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
        if len(self.sizes) == 1:
            size = self.sizes[0]
        elif all("seed" in s for s in batch):  # from the samples' seeds: resumable
            rng = np.random.default_rng([s["seed"] for s in batch])
            size = self.sizes[int(rng.integers(len(self.sizes)))]
        else:
            size = random.choice(self.sizes)
        images, masks = [], []
        for sample in batch:
            image, mask = sample["image"], sample["mask"]
            if image.shape[:2] != (size, size):
                image = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
                mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)
            images.append(image)
            masks.append(mask)
        x = torch.from_numpy(np.stack(images).astype(np.float32, copy=False))
        y = torch.from_numpy(np.stack(masks).astype(np.float32, copy=False))
        return {"image": x.permute(0, 3, 1, 2).contiguous(), "mask": y[:, None]}


def eval_collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the network inputs; keep the original-size masks, names and sizes as lists."""
    return {
        "image": torch.stack([b["image"] for b in batch]),
        "mask": [b["mask"] for b in batch],
        "name": [b["name"] for b in batch],
        "size": [tuple(b["size"]) for b in batch],
    }
