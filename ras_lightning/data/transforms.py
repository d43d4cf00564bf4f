"""The authors' two training recipes, and the test-time input of both.

* ``v1`` (ShuhanChen/RAS-pytorch ``v1/data.py``, CPD's recipe), on PIL images: random
  horizontal flip -> random rotation by uniform(-10, 10) degrees at full size (photo bilinear,
  mask nearest, black corners) -> PIL bilinear resize of photo *and* mask to ``image_size`` ->
  ImageNet normalisation (mask / 255).
* ``v2`` (``v2/data.py``, F3Net's recipe), on float arrays: F3Net's normalisation (mask / 255)
  -> random crop trimming up to 1/8 of the height and width -> random horizontal flip; the
  resize happens in the collate (:class:`ras_lightning.data.collate.TrainCollate`): ONE
  ``cv2.resize(INTER_LINEAR)`` per sample, straight to the size drawn for the batch.

Albumentations runs the pipelines (its seeded random state, flip and normalisation). The
rotation and the resize of v1 are PIL's own (:class:`PILRotate`, :class:`PILResize`):
albumentations rotates and resizes with OpenCV, whose rotation centre and interpolation
differ from PIL's ``Image.rotate`` / antialiased ``Image.resize`` that the authors call.

Evaluation input: :func:`eval_transform` = the recipe's test script
(:func:`ras_lightning.data.protocol.network_input`).
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no version check over the network

import albumentations as A  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from ras_lightning.data.normalization import (  # noqa: E402
    F3NET_MEAN,
    F3NET_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
)
from ras_lightning.data.protocol import RECIPES, network_input  # noqa: E402


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


def _pil_mask(mask: np.ndarray) -> Image.Image:
    """A [0, 1] float mask as the 8-bit 'L' image the authors' loader works on."""
    return Image.fromarray(np.clip(np.rint(mask * 255), 0, 255).astype(np.uint8))


class PILRotate(A.DualTransform):
    """``Image.rotate(angle, BILINEAR)`` for the photo and ``NEAREST`` for the mask, angle
    uniform(-limit, limit), same size, black corners (the authors' ``cv_random_rotate``)."""

    def __init__(self, limit: float = 10.0, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.limit = limit

    def get_params(self) -> dict[str, float]:
        return {"angle": float(self.py_random.uniform(-self.limit, self.limit))}

    def apply(self, img: np.ndarray, angle: float, **_: Any) -> np.ndarray:
        return np.asarray(Image.fromarray(img).rotate(angle, Image.BILINEAR))

    def apply_to_mask(self, mask: np.ndarray, angle: float, **_: Any) -> np.ndarray:
        out = _pil_mask(mask).rotate(angle, Image.NEAREST)
        return np.asarray(out, np.float32) / 255.0


class PILResize(A.DualTransform):
    """PIL bilinear (antialiased) resize of photo and mask to ``size`` x ``size``
    (torchvision ``Resize`` on PIL images in the authors' v1 loader)."""

    def __init__(self, size: int, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.size = size

    def apply(self, img: np.ndarray, **_: Any) -> np.ndarray:
        return np.asarray(Image.fromarray(img).resize((self.size, self.size), Image.BILINEAR))

    def apply_to_mask(self, mask: np.ndarray, **_: Any) -> np.ndarray:
        out = _pil_mask(mask).resize((self.size, self.size), Image.BILINEAR)
        return np.asarray(out, np.float32) / 255.0


def _check(recipe: str) -> None:
    if recipe not in RECIPES:
        raise ValueError(f"data.recipe must be one of {RECIPES}, got {recipe!r}")


def train_transform(recipe: str, image_size: int) -> A.Compose:
    """The training pipeline of ``recipe`` ('v1' or 'v2') on an RGB uint8 photo and a [0, 1]
    mask. v1 ends at ``image_size`` squares; v2 leaves the (cropped) full size to the
    collate's single resize."""
    _check(recipe)
    if recipe == "v1":
        steps = [
            A.HorizontalFlip(p=0.5),
            PILRotate(),
            PILResize(image_size),
            A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD, max_pixel_value=255.0),
        ]
    else:
        steps = [
            A.Normalize(mean=F3NET_MEAN, std=F3NET_STD, max_pixel_value=1.0),
            F3NetRandomCrop(),
            A.HorizontalFlip(p=0.5),
        ]
    return A.Compose(steps)


class TestInput:
    """The network input of the recipe's test script for an RGB uint8 photo: (3, S, S)."""

    def __init__(self, recipe: str, image_size: int) -> None:
        _check(recipe)
        self.recipe, self.size = recipe, image_size

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return network_input(image, self.recipe, self.size)


def eval_transform(recipe: str, image_size: int) -> TestInput:
    """Validation / test input: exactly the recipe's test script (see :mod:`protocol`)."""
    return TestInput(recipe, image_size)
