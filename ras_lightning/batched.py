"""What every inference backend shares, without torch: the recipes' preprocessing, batching,
and the 8-bit maps the authors save."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np

from ras_lightning.data.normalization import mean_std_255


def preprocess(rgb: np.ndarray, recipe: str, size: int) -> np.ndarray:
    """(3, size, size) float32 input from an RGB uint8 photo: bilinear resize, then the
    recipe's normalisation (v1: ImageNet mean/std, v2: F3Net's mean/std on 0-255)."""
    img = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    mean, std = (np.asarray(v, np.float32) for v in mean_std_255(recipe))
    return ((img - mean) / std).transpose(2, 0, 1)


class BatchedPredictor:
    """Batching and pre/post-processing shared by the inference backends.

    A backend sets ``recipe``, ``size`` and ``batch_size`` and implements :meth:`_maps`.
    """

    recipe: str
    size: int
    batch_size: int
    name: str  # the engine, for reports
    version: str  # RAS v1 or v2
    size_mb: float | None  # the fp32 state dict's size (the paper's model size), if known

    def _maps(self, batch: np.ndarray, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
        """Saliency maps in [0, 1] for a preprocessed batch, each resized to its (h, w)."""
        raise NotImplementedError

    def predict(self, photos: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One float32 (H, W) map in [0, 1] per RGB photo, at the photo's size."""
        return [prob for _, prob in self.iter_predict(enumerate(photos))]

    def iter_predict(
        self, items: Iterable[tuple[Any, np.ndarray]]
    ) -> Iterator[tuple[Any, np.ndarray]]:
        """For ``(key, photo)`` pairs yield ``(key, map)`` in order, batching on the way."""
        pending: list[tuple[Any, np.ndarray]] = []
        for item in items:
            pending.append(item)
            if len(pending) == self.batch_size:
                yield from self._flush(pending)
                pending = []
        if pending:
            yield from self._flush(pending)

    def _flush(self, items: list[tuple[Any, np.ndarray]]) -> Iterator[tuple[Any, np.ndarray]]:
        batch = np.stack([preprocess(p, self.recipe, self.size) for _, p in items])
        maps = self._maps(batch, [p.shape[:2] for _, p in items])
        yield from zip((key for key, _ in items), maps, strict=True)


def to_uint8_map(prob: np.ndarray, minmax: bool = True) -> np.ndarray:
    """8-bit map; with ``minmax`` the authors' per-image normalisation
    (res - min) / (max - min + 1e-8) is applied first."""
    if minmax:
        prob = (prob - prob.min()) / (prob.max() - prob.min() + 1e-8)
    return np.clip(prob * 255 + 0.5, 0, 255).astype(np.uint8)
