"""``SaliencyPredictor``: saliency maps from Python, as ``predict`` makes them.

``SaliencyPredictor("RAS.v2.pth").predict("photo.jpg")`` is the 8-bit map at the photo's size,
the same array ``predict`` writes for that photo; ``type=`` gives the other outputs of
``predict`` (``mask``, ``rgba``, ``green``, ...; :mod:`ras_lightning.inference.outputs`) and
:meth:`SaliencyPredictor.predict_batch` (or a list given to ``predict``) batches many photos.
Settings are those of ``predict`` and ``eval`` (``conf/inference/default.yaml``, same names and
defaults): ``backend``, ``device``, ``batch_size``, ``threads``, ``fold_bn``, ...
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from PIL import Image

from ras_lightning.data.readers import photo_rgb, read_photo
from ras_lightning.inference.backends import make_predictor
from ras_lightning.inference.outputs import check_type, render
from ras_lightning.utils.errors import UserError

Photo = str | Path | Image.Image | np.ndarray


def inference_defaults() -> dict[str, Any]:
    """The shared inference settings and their defaults (``weights`` has none)."""
    node = resources.files("ras_lightning.conf") / "inference" / "default.yaml"
    cfg = OmegaConf.create(node.read_text())
    return {k: v for k, v in OmegaConf.to_container(cfg).items() if k != "weights"}


class SaliencyPredictor:
    """The RAS network of a weights file (our ``.ckpt``, the authors' ``RAS.v1/v2.pth`` or an
    exported ``.onnx``) on the backend ``predict`` would pick, for photos given as a path, a
    PIL image or an RGB (or gray) uint8 array."""

    def __init__(self, weights: str | Path, **settings: Any) -> None:
        defaults = inference_defaults()
        unknown = sorted(set(settings) - set(defaults))
        if unknown:
            raise TypeError(f"unknown settings {unknown}; known: {sorted(defaults)}")
        cfg = OmegaConf.create({**defaults, **settings, "weights": str(weights)})
        self.engine = make_predictor(cfg)

    @property
    def version(self) -> str:
        """RAS ``v1`` or ``v2``."""
        return self.engine.version

    def _rgb(self, photo: Photo) -> np.ndarray:
        if isinstance(photo, str | Path):
            return read_photo(str(photo))  # DataError names a broken file
        if isinstance(photo, Image.Image):
            # read as predict reads a file: the orientation tag applied (a no-op once
            # applied: exif_transpose drops the tag), 16-bit gray scaled
            return photo_rgb(photo)
        arr = np.asarray(photo)
        if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
            raise UserError(f"a photo array must be uint8 (H, W) or (H, W, 3), got {arr.dtype}")
        if arr.ndim == 2:
            return np.repeat(arr[..., None], 3, axis=2)
        return np.ascontiguousarray(arr[..., :3])  # RGBA: the colour channels

    def predict(
        self,
        photo: Photo | Sequence[Photo],
        type: str = "map",  # noqa: A002  (predict's CLI key)
        threshold: float = 0.5,
        background: Photo | None = None,
    ) -> np.ndarray | list[np.ndarray]:
        """The output of one photo at its size: by default the uint8 (H, W) saliency map;
        ``type`` as ``predict``'s: ``mask`` (0/255 at ``threshold``), ``rgba`` (H, W, 4),
        ``green``, ``white``, ``blur``, ``overlay`` (H, W, 3 RGB); ``background`` (a photo)
        composites on that image. A list or tuple of photos gives a list
        (:meth:`predict_batch`)."""
        if isinstance(photo, list | tuple):
            return self.predict_batch(photo, type, threshold, background)
        return self.predict_batch([photo], type, threshold, background)[0]

    def predict_batch(
        self,
        photos: Iterable[Photo],
        type: str = "map",  # noqa: A002
        threshold: float = 0.5,
        background: Photo | None = None,
    ) -> list[np.ndarray]:
        """One output per photo (see :meth:`predict`), in order, batched as the backend's
        ``batch_size``."""
        back = None if background is None else self._rgb(background)
        kind = "background" if back is not None else type
        if back is not None and type not in ("map", "background"):
            raise ValueError(f"background composites on an image; it cannot go with type={type}")
        check_type(kind, threshold)
        items = (((i, rgb), rgb) for i, rgb in ((i, self._rgb(p)) for i, p in enumerate(photos)))
        return [
            render(rgb, m, kind, threshold, back) for (_, rgb), m in self.engine.iter_predict(items)
        ]

    #: the former name of :meth:`predict_batch`
    predict_many = predict_batch
