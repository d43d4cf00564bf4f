"""Running an exported ONNX file with ONNX Runtime (``predict backend=onnxruntime``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import cv2
import numpy as np

from ras_lightning.errors import UserError
from ras_lightning.inference import preprocess


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class OnnxPredictor:
    """Same interface as :class:`ras_lightning.inference.Predictor`, on ONNX Runtime (CPU)."""

    def __init__(self, path: str, batch_size: int = 8) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise UserError("backend=onnxruntime needs `pip install onnxruntime`") from None
        try:
            self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise UserError(f"weights: cannot load {path} as ONNX: {err}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.recipe = meta.get("recipe", "v2")
        self.size = int(meta.get("size", 352))
        self.input = self.session.get_inputs()[0].name
        self.batch_size = max(1, batch_size)

    def iter_predict(
        self, items: Iterable[tuple[Any, np.ndarray]]
    ) -> Iterator[tuple[Any, np.ndarray]]:
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
        logits = self.session.run(None, {self.input: batch})[0]
        for i, (key, photo) in enumerate(items):
            h, w = photo.shape[:2]
            prob = _sigmoid(logits[i, 0].astype(np.float32))
            yield key, cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
