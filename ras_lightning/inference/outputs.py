"""What ``predict`` (and :class:`SaliencyPredictor`) make of a photo and its saliency map.

As transparent-background's ``--type`` and rembg's options, every output is at the photo's own
size:

* ``map`` (default): the 8-bit saliency map itself (the authors' saved map);
* ``mask``: binary 0/255, foreground where the map is at least ``threshold`` x 255
  (``threshold`` in 0..1, default 0.5: gray level 128 and up);
* ``rgba``: the cut-out, the photo with the map as its alpha channel;
* ``green`` / ``white``: the photo composited on that colour, the map as alpha;
* ``blur``: the photo composited on a blurred copy of itself (background blur);
* ``overlay``: the photo with the salient region tinted red by the map;
* ``background``: the photo composited on an image (``background=PATH``), resized to it.

Photos are RGB uint8 (H, W, 3); outputs are gray (H, W), RGB or RGBA uint8 arrays, written
whole or not at all (:func:`write_image`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from ras_lightning.data.readers import read_photo
from ras_lightning.utils.errors import DataError, UserError

log = logging.getLogger("ras_lightning.inference.outputs")

TYPES = ("map", "mask", "rgba", "green", "white", "blur", "overlay", "background")
#: composited on a plain colour (RGB)
COLOURS = {"green": (0, 255, 0), "white": (255, 255, 255)}
OVERLAY_RGB = (255, 0, 0)
OVERLAY_STRENGTH = 0.5  # the tint's opacity where the map is 255


def check_type(kind: str, threshold: float = 0.5) -> None:
    """Raise ``ValueError`` for an unknown output type or a threshold outside 0..1."""
    if kind not in TYPES:
        raise ValueError(f"type must be one of {', '.join(TYPES[:-1])}, got {kind!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold is a fraction of the map's range, 0..1; got {threshold}")


def output_settings(
    kind: str, threshold: float | str, background: str | None = None, cutout: bool | None = None
) -> tuple[str, float, np.ndarray | None]:
    """(type, threshold, background image) of ``predict``'s settings ``type``, ``threshold``,
    ``background`` (a path: composite on that image) and the deprecated ``cutout``, checked
    (``UserError`` names the setting)."""
    if cutout:
        log.warning("cutout=true is deprecated: it is type=rgba (<stem>.png holds the cut-out)")
        kind = "rgba" if kind == "map" else kind
    image = None
    if background:
        if kind not in ("map", "background"):
            raise UserError(f"background= composites on an image; it cannot go with type={kind}")
        kind = "background"
        try:
            image = read_photo(str(Path(str(background)).expanduser()))
        except DataError as err:
            raise UserError(f"background: {err}") from None
    elif kind == "background":
        raise UserError("type=background needs background=PATH (an image)")
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise UserError(f"threshold must be a number in 0..1, got {threshold!r}") from None
    try:
        check_type(kind, value)
    except ValueError as err:
        raise UserError(str(err).replace("type must", "type= must")) from None
    return kind, value, image


def has_alpha(kind: str) -> bool:
    """Whether outputs of ``kind`` carry an alpha channel (PNG only, no video form)."""
    return kind == "rgba"


def binary_mask(smap: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """0/255 uint8: 255 where ``smap`` >= ``threshold`` x 255."""
    return np.where(smap.astype(np.float32) >= np.float32(threshold) * 255, 255, 0).astype(np.uint8)


def composite(photo: np.ndarray, smap: np.ndarray, back: np.ndarray) -> np.ndarray:
    """``photo`` over ``back`` (RGB, same size or a broadcastable colour), ``smap`` as alpha."""
    alpha = smap.astype(np.float32)[..., None] / np.float32(255)
    out = photo.astype(np.float32) * alpha + np.asarray(back, np.float32) * (1 - alpha)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def blurred(photo: np.ndarray) -> np.ndarray:
    """A Gaussian-blurred copy of the photo, the blur scaled to its size (sigma 15 at 1000 px,
    transparent-background's ``blur`` on a photo of that size)."""
    sigma = max(1.0, max(photo.shape[:2]) * 0.015)
    return cv2.GaussianBlur(photo, (0, 0), sigma)


def fit_background(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An RGB background image resized to ``size`` = (H, W)."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    shrink = image.shape[0] > h and image.shape[1] > w
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def render(
    photo: np.ndarray,
    smap: np.ndarray,
    kind: str = "map",
    threshold: float = 0.5,
    background: np.ndarray | None = None,
) -> np.ndarray:
    """The output ``kind`` for an RGB uint8 ``photo`` and its uint8 saliency map ``smap``
    (same height and width); ``background``: an RGB image, for ``kind="background"``."""
    check_type(kind, threshold)
    if smap.shape != photo.shape[:2]:
        raise ValueError(f"map {smap.shape} and photo {photo.shape[:2]} differ in size")
    if kind == "map":
        return smap
    if kind == "mask":
        return binary_mask(smap, threshold)
    if kind == "rgba":
        return np.dstack([photo, smap])
    if kind in COLOURS:
        return composite(photo, smap, COLOURS[kind])
    if kind == "blur":
        return composite(photo, smap, blurred(photo))
    if kind == "overlay":
        tint = smap.astype(np.float32)[..., None] / np.float32(255) * OVERLAY_STRENGTH
        out = photo.astype(np.float32) * (1 - tint) + np.float32(OVERLAY_RGB) * tint
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if background is None:
        raise ValueError("type background needs a background image (background=PATH)")
    return composite(photo, smap, fit_background(background, photo.shape[:2]))


def to_bgr(image: np.ndarray) -> np.ndarray:
    """An output array in OpenCV's channel order (gray stays gray), for ``cv2.imencode``."""
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)


def write_image(dest: Path, image: np.ndarray) -> None:
    """Write an output (gray, RGB or RGBA) as ``dest``'s extension says, whole or not at all:
    into a hidden file beside it, renamed when complete. ``UserError`` names a file that could
    not be written (read-only folder, full disk, a folder in the way)."""
    ok, data = cv2.imencode(dest.suffix.lower() or ".png", to_bgr(image))
    if not ok:
        raise UserError(f"cannot write {dest}: OpenCV cannot encode {dest.suffix} images")
    part = dest.with_name(f".{dest.name}.part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "wb") as f:
            f.write(data.tobytes())
        os.replace(part, dest)
    except OSError as err:
        if part.parent.is_dir():
            part.unlink(missing_ok=True)
        raise UserError(f"cannot write {dest}: {err.strerror or err}") from None


def to_video_frame(image: np.ndarray) -> np.ndarray:
    """A BGR (H, W, 3) frame of a gray or RGB output, for ``cv2.VideoWriter``."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
