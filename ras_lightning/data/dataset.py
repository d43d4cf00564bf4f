"""Map-style datasets over paired files; decoding happens lazily in ``__getitem__``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from ras_lightning.data.discovery import DataError, Sample
from ras_lightning.data.io import read_image, read_mask


class SODDataset(Dataset):
    """Photos + masks through an albumentations pipeline.

    ``train=True`` yields ``{"image": (3, S, S), "mask": (1, S, S)}``; ``train=False`` yields the
    resized photo with the mask at the photo's original size plus ``name`` and ``size``, so
    predictions can be resized back and scored as the benchmarks do.
    """

    def __init__(
        self, samples: Sequence[Sample], transform: A.Compose, train: bool, set_name: str = ""
    ) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.train = train
        self.set_name = set_name
        self._seeded_pid: int | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def _seed(self) -> None:
        # Each process (main or worker) seeds the pipeline from torch's per-worker seed, so a
        # seeded run is repeatable and workers do not repeat each other's augmentations.
        if self._seeded_pid != os.getpid():
            self.transform.set_random_seed(torch.initial_seed() % 2**32)
            self._seeded_pid = os.getpid()

    def __getitem__(self, index: int) -> dict[str, Any]:
        self._seed()
        sample = self.samples[index]
        image = read_image(sample.image)
        mask = read_mask(sample.mask) if sample.mask else np.zeros(image.shape[:2], np.float32)
        if mask.shape != image.shape[:2]:
            raise DataError(
                f"size mismatch: image {sample.image} is {image.shape[1]}x"
                f"{image.shape[0]}, mask {sample.mask} is {mask.shape[1]}x{mask.shape[0]}"
            )
        if self.train:
            out = self.transform(image=image, mask=mask)
            return {
                "image": _chw(out["image"]),
                "mask": torch.from_numpy(out["mask"])[None].float(),
            }
        out = self.transform(image=image)
        return {
            "image": _chw(out["image"]),
            "mask": torch.from_numpy(mask)[None],
            "name": sample.name,
            "size": image.shape[:2],
        }


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()


def eval_collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the resized photos; keep the original-size masks, names and sizes as lists."""
    return {
        "image": torch.stack([b["image"] for b in batch]),
        "mask": [b["mask"] for b in batch],
        "name": [b["name"] for b in batch],
        "size": [tuple(b["size"]) for b in batch],
    }
