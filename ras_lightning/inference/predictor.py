"""What every inference backend shares, without torch: the authors' test protocol around the
network (:mod:`ras_lightning.data.protocol`) and batching."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ras_lightning.data.protocol import logits_to_map, network_input


class BatchedPredictor:
    """Batching and pre/post-processing shared by the inference backends.

    A backend sets ``recipe``, ``size``, ``batch_size`` and ``minmax`` when it is built (they
    do not change afterwards) and implements :meth:`logits`, :meth:`measure_fps` and
    :attr:`device_name`. Every photo goes through the authors' test protocol:
    :func:`network_input` of its recipe, the finest logits resized to the photo's size
    (``align_corners=True``), sigmoid, per-image min-max (``minmax``) and an 8-bit map.
    """

    recipe: str
    size: int
    batch_size: int
    name: str  # the engine, for reports
    version: str  # RAS v1 or v2
    backbone: str | None  # resnet50 ..., None where the weights do not say (older ONNX files)
    size_mb: float | None  # the fp32 state dict's size (the paper's model size), if known
    minmax: bool  # the authors' per-image min-max normalisation of every map

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """The finest side output's logits (N, 1, h, w) for a preprocessed batch."""
        raise NotImplementedError

    def measure_fps(self, runs: int = 20, warmup: int = 5, size: int | None = None) -> float:
        """Forward passes per second on one (1, 3, size, size) input (``size``: the weights'
        input size by default), as the RAS paper measures speed: batch 1, network only."""
        raise NotImplementedError

    @property
    def device_name(self) -> str:
        """What the network runs on, for reports (the GPU's or the CPU's name)."""
        raise NotImplementedError

    def predict(self, photos: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One uint8 (H, W) saliency map per RGB uint8 photo, at the photo's size."""
        return [m for _, m in self.iter_predict(enumerate(photos))]

    def iter_predict(
        self, items: Iterable[tuple[Any, np.ndarray]]
    ) -> Iterator[tuple[Any, np.ndarray]]:
        """For ``(key, photo)`` pairs yield ``(key, uint8 map)`` in order, batching on the way."""
        pending: list[tuple[Any, np.ndarray]] = []
        for item in items:
            pending.append(item)
            if len(pending) == self.batch_size:
                yield from self._flush(pending)
                pending = []
        if pending:
            yield from self._flush(pending)

    def _flush(self, items: list[tuple[Any, np.ndarray]]) -> Iterator[tuple[Any, np.ndarray]]:
        batch = np.stack([network_input(p, self.recipe, self.size) for _, p in items])
        logits = np.asarray(self.logits(batch), dtype=np.float32)
        for (key, photo), lg in zip(items, logits, strict=True):
            yield key, logits_to_map(lg[0], photo.shape[:2], self.minmax)
