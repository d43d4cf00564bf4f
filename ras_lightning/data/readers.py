"""The one photo reader (:func:`read_photo`) and the one mask reader (:func:`read_mask`).

Training, validation, testing, ``eval`` and ``predict`` read photos, and all of them and
``score`` read masks, through these two, so a file means the same thing everywhere.

EXIF policy (one for every step and both recipes): a file's orientation tag is applied,
photos and masks alike, so every part of the project sees the photo as viewers show it (and
a mask drawn on the displayed photo fits it). The authors' v2 test script (``cv2.imread``)
does the same; their v1 script (PIL) ignores the tag. That is the only place where the two
recipes' test scripts read a photo differently (PIL and OpenCV decode the benchmark JPEGs to
the same pixels: ``tests/test_faithful.py``), and it matters only on tagged photos, which
the benchmark sets do not contain; so :func:`read_photo` takes no recipe.

Masks: 1-bit, 8-bit (0..255, or 0/1 labels), 16-bit, palette, gray+alpha, RGB, RGBA and JPEG
masks all map to the same mask; values that cannot be a mask are a :class:`DataError` naming
the file.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike
from PIL import Image, ImageOps, UnidentifiedImageError

from ras_lightning.utils.errors import DataError

_READ_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError)
# 8- or 16-bit masks whose largest value is 2..15 (lossless files) are class-index maps, not
# masks: read as grey levels they would train as (almost) empty masks without a word.
_LABEL_MAX = 15


def read_photo(path: str) -> np.ndarray:
    """An RGB uint8 (H, W, 3) photo, fully decoded, EXIF orientation applied.

    A truncated, corrupt, empty or non-image file raises :class:`DataError` naming it (PIL
    refuses truncated data, where OpenCV would decode a grey remainder with only a warning).
    """
    try:
        with Image.open(path) as im:
            im.load()  # the whole file: raises on truncated data
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except _READ_ERRORS as err:
        raise DataError(f"cannot read image {path}: {_reason(err)}") from None


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _levels(im: Image.Image, path: str) -> tuple[np.ndarray, float]:
    """(integer or float array, its full-scale value) of an opened, oriented mask."""
    mode = im.mode
    if mode == "1":
        return np.asarray(im, dtype=np.uint8), 1.0
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im)
        if arr.min() < 0 or arr.max() > 65535:
            raise DataError(
                f"cannot interpret mask {path}: values {arr.min()}..{arr.max()} "
                "(expected 0..255, 0..65535 or 0/1)"
            )
        # 'I' holds 16-bit PNGs on some Pillow versions: 16-bit scale when values need it
        return arr, 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 255:
            raise DataError(f"cannot interpret mask {path}: float values outside 0..255")
        return arr, 1.0 if arr.max() <= 1 else 255.0
    if mode == "P" and "transparency" in im.info:
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        alpha = np.asarray(im.getchannel("A"))
        gray = np.asarray(im.convert("RGB").convert("L") if mode != "LA" else im.getchannel("L"))
        # foreground only in alpha (constant colour, varying alpha): the alpha is the mask
        if gray.min() == gray.max() and alpha.min() != alpha.max():
            return alpha, 255.0
        return gray, 255.0
    return np.asarray(im.convert("L")), 255.0


def _mask_levels(path: str) -> tuple[np.ndarray, float]:
    """The mask's values and full scale: ``values / scale`` is the [0, 1] mask (every
    format: :func:`read_mask`)."""
    try:
        with Image.open(path) as im:
            im.load()
            fmt = im.format
            arr, scale = _levels(ImageOps.exif_transpose(im), path)
    except _READ_ERRORS as err:
        raise DataError(f"cannot read mask {path}: {_reason(err)}") from None
    if arr.dtype.kind in "ui" and scale > 1:
        top = int(arr.max()) if arr.size else 0
        if top == 1:
            scale = 1.0  # 0/1 labels: 1 is the foreground, not 1/255
        elif 1 < top <= _LABEL_MAX and fmt != "JPEG":
            raise DataError(
                f"cannot interpret mask {path}: its values are 0..{top} (class labels?); "
                "a mask is 0/255 (or grey levels), 0/1, or 16-bit"
            )
    return arr, scale


def read_mask(path: str, dtype: DTypeLike = np.float32) -> np.ndarray:
    """An (H, W) mask: float32 in [0, 1] (training, validation, test) or, with
    ``dtype=np.uint8``, 0..255 (what the scorers take); the two agree up to rounding.

    1-bit -> {0, 1}; 8-bit gray / palette / RGB -> luminance; 16-bit -> / 65535; RGBA /
    gray+alpha -> the colour channels' luminance, or the alpha channel when the colour is
    constant and the alpha varies (foreground only in alpha); a mask whose largest value is 1
    holds 0/1 labels. Fully decoded, EXIF orientation applied. Class-label maps, truncated
    or non-image files raise :class:`DataError` naming the file.
    """
    kind = np.dtype(dtype)
    if kind not in (np.float32, np.uint8):
        raise ValueError(f"read_mask: dtype must be float32 or uint8, got {kind}")
    arr, scale = _mask_levels(path)
    if kind == np.float32:
        out = arr.astype(np.float32)
        return out if scale == 1.0 else out / np.float32(scale)
    if scale == 255.0 and arr.dtype == np.uint8:
        return arr
    if scale == 1.0 and arr.dtype.kind in "ui":
        return (arr > 0).astype(np.uint8) * np.uint8(255)
    return np.round(arr.astype(np.float64) * (255.0 / scale)).clip(0, 255).astype(np.uint8)
