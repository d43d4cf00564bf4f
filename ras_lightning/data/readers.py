"""Reading photos and masks: every format mapped the same way.

EXIF policy (one for training, evaluation and prediction): a photo's orientation tag is
applied, so every part of the project sees the photo as viewers show it. The authors' v2 test
script (``cv2.imread``) does the same; their v1 script (PIL) ignores the tag, which differs
only on tagged photos (the benchmark sets carry none).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ras_lightning.utils.errors import DataError


def decode_photo(path: str) -> np.ndarray:
    """An RGB uint8 (H, W, 3) photo, fully decoded, EXIF orientation applied.

    A truncated, corrupt, empty or non-image file raises :class:`DataError` naming it (PIL
    refuses truncated data, where OpenCV would decode a grey remainder with only a warning).
    """
    try:
        with Image.open(path) as im:
            im.load()  # the whole file: raises on truncated data
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as err:
        raise DataError(f"cannot read image {path}: {_reason(err)}") from None


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def read_image(path: str) -> np.ndarray:
    """An RGB uint8 (H, W, 3) array; grayscale, palette and RGBA photos become RGB."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise DataError(f"cannot read image {path}: {err}") from None


def read_mask(path: str) -> np.ndarray:
    """A float32 (H, W) mask in [0, 1].

    1-bit -> {0, 1}; 8-bit gray / palette / RGB(A) -> luminance / 255 (alpha ignored);
    16-bit -> value / 65535.
    """
    try:
        with Image.open(path) as im:
            if im.mode == "1":
                return np.asarray(im, dtype=np.float32)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im).astype(np.float32)
                return arr / (65535.0 if arr.max() > 255 or im.mode.startswith("I;16") else 255.0)
            return np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise DataError(f"cannot read mask {path}: {err}") from None
