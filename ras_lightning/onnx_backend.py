"""Running an exported ONNX file with ONNX Runtime (``predict backend=onnxruntime``)."""

from __future__ import annotations

import cv2
import numpy as np

from ras_lightning.errors import UserError
from ras_lightning.inference import BatchedPredictor


class OnnxPredictor(BatchedPredictor):
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

    def _maps(self, batch: np.ndarray, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
        logits = self.session.run(None, {self.input: batch})[0]
        prob = 1.0 / (1.0 + np.exp(-logits[:, 0].astype(np.float32)))
        return [
            cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR)
            for p, (h, w) in zip(prob, sizes, strict=True)
        ]
