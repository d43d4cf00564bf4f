"""The one photo reader (:func:`read_photo`), the one mask reader (:func:`read_mask`) and the
one map reader (:func:`read_map`).

Training, validation, testing, ``eval`` and ``predict`` read photos, and all of them,
``score`` and both scoring conventions read masks and maps, through these, so a file means
the same thing everywhere (``convention=f3net`` adds MATLAB's arithmetic on top of the values
read here: :mod:`ras_lightning.metrics.f3net`).

EXIF policy (one for every step and both recipes): a file's orientation tag is applied,
photos, masks and maps alike, so every part of the project sees the photo as viewers show it
(and a mask drawn on the displayed photo fits it). The authors' v2 test script
(``cv2.imread``) does the same; their v1 script (PIL) ignores the tag. That is the only place
where the two recipes' test scripts read a photo differently (PIL and OpenCV decode the
benchmark JPEGs to the same pixels: ``tests/test_faithful.py``), and it matters only on
tagged photos, which the benchmark sets do not contain; so :func:`read_photo` takes no recipe.

What a mask or map file holds, format by format (the content is what a viewer shows):

* 1-bit: off/on. 8-bit gray: its levels. 16-bit gray: its levels over 65535.
* Colour (RGB, palette, JPEG): gray content (R = G = B, up to JPEG's colour noise) by its
  luminance, i.e. its gray level; colour content (a red label on black) by its brightest
  channel, so a label is as bright as its colour (luminance would make pure red gray 76,
  which a mask threshold of 128 reads as background).
* With alpha (RGBA, gray+alpha, palette with transparency): where the alpha varies, the
  content is in the alpha (a cut-out: what is visible is the object, whatever its colours)
  and the alpha is read; a constant alpha leaves the colour, read as above.

A mask's largest value 1 means 0/1 labels (1 is the foreground); 2..15 in a lossless file
means class labels, which no mask rule can binarise without guessing: a :class:`DataError`.
A map is a gray level of saliency, nothing more (both conventions min-max normalise it, so a
0/1 map scores as a 0/255 one). Truncated, corrupt, non-image files and values no mask or
map can hold are a :class:`DataError` naming the file, in one line.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike
from PIL import Image, ImageOps, UnidentifiedImageError

from ras_lightning.utils.errors import DataError

# a decompression bomb too: files over the configured limit are refused before they get here
# (data/checks.py), and any other is one line naming the file, never a traceback
_READ_ERRORS = (
    OSError,
    UnidentifiedImageError,
    ValueError,
    SyntaxError,
    EOFError,
    Image.DecompressionBombError,
)
# 8- or 16-bit masks whose largest value is 2..15 (lossless files) are class-index maps, not
# masks: read as grey levels they would train as (almost) empty masks without a word.
_LABEL_MAX = 15
# a colour image whose channels differ by more than this somewhere holds colour content;
# JPEG's colour noise on a gray image stays well below it
_COLOUR_SPREAD = 24
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


def read_photo(path: str) -> np.ndarray:
    """An RGB uint8 (H, W, 3) photo, fully decoded, EXIF orientation applied.

    A truncated, corrupt, empty or non-image file raises :class:`DataError` naming it (PIL
    refuses truncated data, where OpenCV would decode a grey remainder with only a warning).
    """
    try:
        with Image.open(path) as im:
            im.load()  # the whole file: raises on truncated data
            return photo_rgb(im)
    except _READ_ERRORS as err:
        raise DataError(f"cannot read image {path}: {_reason(err)}") from None


def photo_rgb(im: Image.Image) -> np.ndarray:
    """An opened photo as RGB uint8 (H, W, 3), EXIF orientation applied; 16-bit and 32-bit
    gray scaled to 8 bits (PIL's ``convert("RGB")`` would clip them to white)."""
    im = ImageOps.exif_transpose(im)
    if im.mode.startswith("I") or im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = np.round(arr.clip(0, top) * (255.0 / top)).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"))


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _gray(im: Image.Image) -> np.ndarray:
    """uint8 (H, W) of a colour image: luminance of gray content, the brightest channel of
    colour content (see the module's docstring)."""
    rgb = im if im.mode == "RGB" else im.convert("RGB")
    arr = np.asarray(rgb)
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    hi = np.maximum(np.maximum(r, g), b)
    if arr.size and int((hi - np.minimum(np.minimum(r, g), b)).max()) > _COLOUR_SPREAD:
        return hi
    # ITU-R 601 luminance, as PIL's convert("L"): exact on R = G = B
    return np.asarray(rgb.convert("L"))


def _levels(im: Image.Image, path: str, what: str) -> tuple[np.ndarray, float]:
    """(integer or float array, its full-scale value) of an opened, oriented mask or map."""
    mode = im.mode
    if mode == "1":
        return np.asarray(im, dtype=np.uint8), 1.0
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im)
        if arr.min() < 0 or arr.max() > 65535:
            raise DataError(
                f"cannot interpret {what} {path}: values {arr.min()}..{arr.max()} "
                "(expected 0..255, 0..65535 or 0/1)"
            )
        # 'I' holds 16-bit PNGs on some Pillow versions: 16-bit scale when values need it
        return arr, 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 255:
            raise DataError(f"cannot interpret {what} {path}: float values outside 0..255")
        return arr, 1.0 if arr.max() <= 1 else 255.0
    if mode == "P" and "transparency" in im.info:
        im, mode = im.convert("RGBA"), "RGBA"
    if mode == "L":
        return np.asarray(im), 255.0
    if mode in _ALPHA_MODES:
        alpha = np.asarray(im.getchannel("A"))
        if alpha.size and alpha.min() != alpha.max():
            return alpha, 255.0  # a cut-out: the object is what is visible
        return (np.asarray(im.getchannel("L")) if mode == "LA" else _gray(im)), 255.0
    return _gray(im), 255.0


def _read_levels(path: str, what: str) -> tuple[np.ndarray, float, str | None]:
    """(values, full scale, file format) of a mask or map, fully decoded and oriented."""
    try:
        with Image.open(path) as im:
            im.load()
            fmt = im.format
            arr, scale = _levels(ImageOps.exif_transpose(im), path, what)
    except _READ_ERRORS as err:
        raise DataError(f"cannot read {what} {path}: {_reason(err)}") from None
    return arr, scale, fmt


def mask_levels(path: str) -> tuple[np.ndarray, float]:
    """The mask's values and full scale: ``values / scale`` is the [0, 1] mask (every
    format: :func:`read_mask`). 0/1 labels have scale 1."""
    arr, scale, fmt = _read_levels(path, "mask")
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


def _to_uint8(arr: np.ndarray, scale: float, keep_16bit: bool) -> np.ndarray:
    if scale == 255.0 and arr.dtype == np.uint8:
        return arr
    if keep_16bit and scale == 65535.0 and arr.dtype.kind in "ui":
        return arr.astype(np.uint16)
    if scale == 1.0 and arr.dtype.kind in "ui":
        return (arr > 0).astype(np.uint8) * np.uint8(255)
    return np.round(arr.astype(np.float64) * (255.0 / scale)).clip(0, 255).astype(np.uint8)


def read_mask(path: str, dtype: DTypeLike = np.float32, keep_16bit: bool = False) -> np.ndarray:
    """An (H, W) mask: float32 in [0, 1] (training, validation, test) or, with
    ``dtype=np.uint8``, 0..255 (what the scorers take); the two agree up to rounding.

    1-bit -> {0, 1}; 8-bit gray -> its levels; 16-bit -> / 65535; colour, palette and alpha
    as the module's docstring says; a mask whose largest value is 1 holds 0/1 labels. Fully
    decoded, EXIF orientation applied. Class-label maps, truncated or non-image files raise
    :class:`DataError` naming the file. ``keep_16bit`` (uint8 only): a 16-bit mask stays
    uint16 0..65535 (MATLAB's class, for ``convention=f3net``).
    """
    kind = np.dtype(dtype)
    if kind not in (np.float32, np.uint8):
        raise ValueError(f"read_mask: dtype must be float32 or uint8, got {kind}")
    arr, scale = mask_levels(path)
    if kind == np.float32:
        out = arr.astype(np.float32)
        return out if scale == 1.0 else out / np.float32(scale)
    return _to_uint8(arr, scale, keep_16bit)


def read_map(path: str, keep_16bit: bool = False) -> np.ndarray:
    """A saliency map as uint8 (H, W) gray levels 0..255, every format read as
    :func:`read_mask` reads it but with no label rule (a map is a gray level: 0/1 stays
    0/1, and both conventions min-max normalise it). ``keep_16bit``: a 16-bit map stays
    uint16 (MATLAB's class, for ``convention=f3net``). :class:`DataError` names a file that
    cannot be read.
    """
    arr, scale, _ = _read_levels(path, "map")
    if scale == 1.0 and arr.dtype.kind in "ui":
        return arr.astype(np.uint8) * np.uint8(255)  # 1-bit: on is white
    return _to_uint8(arr, scale, keep_16bit)
