"""Map-style datasets over paired files; decoding happens lazily in ``__getitem__``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from ras_lightning.data.readers import read_mask, read_photo
from ras_lightning.data.sample import Sample
from ras_lightning.data.transforms import TestInput
from ras_lightning.utils.errors import DataError


class SODDataset(Dataset):
    """Photos + masks through an albumentations pipeline.

    ``train=True`` yields ``{"image": (H, W, 3) float32, "mask": (H, W) float32}`` arrays from
    the recipe's albumentations pipeline (stacked, and for v2 resized, by
    :class:`~ras_lightning.data.collate.TrainCollate`); ``train=False`` yields the test
    script's network input (3, S, S) with the mask at the photo's original size plus ``name``
    and ``size``, so predictions are resized back and scored as the benchmarks do.
    """

    def __init__(
        self, samples: Sequence[Sample], transform: A.Compose | TestInput, train: bool
    ) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.train = train
        self._seeded_pid: int | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def _seed(self) -> None:
        # Each process (main or worker) seeds the pipeline from torch's per-worker seed, so a
        # seeded run is repeatable and workers do not repeat each other's augmentations.
        if self._seeded_pid != os.getpid() and hasattr(self.transform, "set_random_seed"):
            self.transform.set_random_seed(torch.initial_seed() % 2**32)
            self._seeded_pid = os.getpid()

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        seed = None
        if isinstance(index, tuple):  # (index, seed) from SeededEpochSampler: resumable
            index, seed = index
            if hasattr(self.transform, "set_random_seed"):
                self.transform.set_random_seed(seed)
        else:
            self._seed()
        sample = self.samples[index]
        # one photo reader for training and testing: fully decoded, EXIF orientation applied
        image = read_photo(sample.image)
        mask = read_mask(sample.mask) if sample.mask else np.zeros(image.shape[:2], np.float32)
        if mask.shape != image.shape[:2]:
            raise DataError(
                f"size mismatch: image {sample.image} is {image.shape[1]}x"
                f"{image.shape[0]}, mask {sample.mask} is {mask.shape[1]}x{mask.shape[0]}"
            )
        if self.train:
            out = self.transform(image=image, mask=mask)
            item = {"image": out["image"], "mask": out["mask"]}
            if seed is not None:
                item["seed"] = seed  # the collate draws the batch's size from its seeds
            return item
        return {
            "image": torch.from_numpy(self.transform(image)),
            "mask": torch.from_numpy(mask)[None],
            "name": sample.name,
            "size": image.shape[:2],
        }
