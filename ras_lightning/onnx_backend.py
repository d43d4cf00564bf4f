"""RAS on ONNX Runtime: the default CPU backend of ``predict`` and ``eval`` (no torch import).

It runs either an exported ``.onnx`` file or a graph built on the fly from ``weights=`` (our
``.ckpt`` or the authors' ``.pth``, see :mod:`ras_lightning.onnx_graph`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ras_lightning.batched import BatchedPredictor
from ras_lightning.errors import UserError


def _ort() -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("backend=onnxruntime needs `pip install onnxruntime`") from None
    return ort


def _session(
    model: str | bytes, threads: int | None, external: dict[str, np.ndarray] | None = None
) -> Any:
    ort = _ort()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    if external:
        names = list(external)
        opts.add_external_initializers(
            names, [ort.OrtValue.ortvalue_from_numpy(external[n]) for n in names]
        )
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


class OnnxPredictor(BatchedPredictor):
    """Same interface as :class:`ras_lightning.inference.Predictor`, on ONNX Runtime (CPU).

    ``weights`` is an exported ``.onnx`` file or any ``weights=`` file (built into a graph).
    """

    name = "ONNX Runtime"

    def __init__(self, weights: str | Path, batch_size: int = 1, threads: int | None = None):
        path = Path(str(weights)).expanduser()
        if not path.is_file():
            raise UserError(f"weights: no such file: {path}")
        if path.suffix.lower() == ".onnx":
            try:
                self.session = _session(str(path), threads)
            except Exception as err:
                raise UserError(f"weights: cannot load {path} as ONNX: {err}") from None
            meta = self.session.get_modelmeta().custom_metadata_map
            self.version = meta.get("version", "v2")
            self.recipe = meta.get("recipe", self.version)
            self.size = int(meta.get("size", 352))
            self.size_mb: float | None = None
        else:
            from ras_lightning.onnx_graph import build_graph
            from ras_lightning.weights import read_weights

            arrays = read_weights(path)
            meta = {"recipe": arrays.recipe, "size": arrays.size}
            model, external = build_graph(arrays.state, arrays.version, meta, str(path))
            self.session = _session(model.SerializeToString(), threads, external)
            self.version, self.recipe, self.size = arrays.version, arrays.recipe, arrays.size
            self.size_mb = arrays.size_mb()
        self.input = self.session.get_inputs()[0].name
        self.batch_size = max(1, batch_size)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """The finest side output's logits (N, 1, H, W) for a preprocessed batch."""
        return self.session.run(None, {self.input: batch})[0]

    def measure_fps(self, runs: int = 20, warmup: int = 5, size: int | None = None) -> float:
        """Forward passes per second on one (1, 3, size, size) input, as the RAS paper."""
        size = size or self.size
        x = np.random.default_rng(0).standard_normal((1, 3, size, size), np.float32)
        for _ in range(warmup):
            self.logits(x)
        t = time.perf_counter()
        for _ in range(runs):
            self.logits(x)
        return runs / (time.perf_counter() - t)
