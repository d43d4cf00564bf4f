"""The authors' two augmentation recipes as albumentations pipelines.

* ``v1`` (CPD's recipe, used by the RAS v1 code): resize to ``image_size``, random horizontal
  flip, random rotation within +-10 degrees (photo bilinear, mask nearest, black fill),
  ImageNet mean/std.
* ``v2`` (F3Net's recipe, used by the RAS v2 code): normalise 0-255 RGB with F3Net's mean/std,
  random crop trimming up to 1/8 of the height and width, random horizontal flip, resize to
  ``image_size``; the per-batch random size from ``multiscale`` is applied on the device by the
  LightningModule (:func:`ras_lightning.data.multiscale.resize_batch`).

Evaluation: resize to ``image_size`` with the recipe's normalisation.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no version check over the network

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ras_lightning.data.normalization import (  # noqa: E402
    F3NET_MEAN,
    F3NET_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
)

RECIPES = ("v1", "v2")


class F3NetRandomCrop(A.DualTransform):
    """F3Net's RandomCrop: trim a random amount below 1/8 of H and W, at a random offset."""

    def __init__(self, p: float = 1.0) -> None:
        super().__init__(p=p)

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict:
        h, w = params["shape"][:2]
        rng = self.random_generator
        randw = int(rng.integers(w // 8)) if w >= 16 else 0
        randh = int(rng.integers(h // 8)) if h >= 16 else 0
        offh = int(rng.integers(randh)) if randh > 0 else 0
        offw = int(rng.integers(randw)) if randw > 0 else 0
        return {"box": (offh, h + offh - randh, offw, w + offw - randw)}

    def apply(self, img: np.ndarray, box: tuple[int, int, int, int], **_: Any) -> np.ndarray:
        return img[box[0] : box[1], box[2] : box[3]]

    def apply_to_mask(
        self, mask: np.ndarray, box: tuple[int, int, int, int], **_: Any
    ) -> np.ndarray:
        return mask[box[0] : box[1], box[2] : box[3]]


def _normalize(recipe: str) -> A.Normalize:
    if recipe == "v1":
        return A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD, max_pixel_value=255.0)
    return A.Normalize(mean=F3NET_MEAN, std=F3NET_STD, max_pixel_value=1.0)


def _check(recipe: str) -> None:
    if recipe not in RECIPES:
        raise ValueError(f"data.recipe must be one of {RECIPES}, got {recipe!r}")


def train_transform(recipe: str, image_size: int, rotate_limit: float = 10.0) -> A.Compose:
    """The training pipeline of ``recipe`` ('v1' or 'v2') producing ``image_size`` squares."""
    _check(recipe)
    resize = A.Resize(
        image_size, image_size, interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_LINEAR
    )
    if recipe == "v1":
        steps = [
            resize,
            A.HorizontalFlip(p=0.5),
            A.Rotate(
                limit=rotate_limit,
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
                p=1.0,
            ),
            _normalize(recipe),
        ]
    else:
        steps = [_normalize(recipe), F3NetRandomCrop(), A.HorizontalFlip(p=0.5), resize]
    return A.Compose(steps)


def eval_transform(recipe: str, image_size: int) -> A.Compose:
    """Resize to ``image_size`` and normalise as ``recipe``; the mask is left untouched."""
    _check(recipe)
    return A.Compose(
        [A.Resize(image_size, image_size, interpolation=cv2.INTER_LINEAR), _normalize(recipe)]
    )
