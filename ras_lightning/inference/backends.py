"""Choosing the inference backend of ``predict`` and ``eval``.

``backend=auto`` (the default) runs ONNX Runtime on a CPU and PyTorch on a GPU (channels-last,
BatchNorm folded; fp16 autocast with ``half=true``). On a CPU the network is the RAS module
exported once per weights file with ``torch.onnx.export`` and kept in the ONNX cache
(:mod:`.onnx_cache`); with a warm cache no torch is imported (a faster network
and ~3 s less start-up than eager PyTorch on a 2-core CPU, see BENCHMARKS.md).
``backend=torch`` or ``backend=onnxruntime`` forces one; an ``.onnx`` file always runs on ONNX
Runtime.
"""

from __future__ import annotations

from typing import Any

from ras_lightning.inference.predictor import BatchedPredictor
from ras_lightning.utils import devices
from ras_lightning.utils.errors import UserError

BACKENDS = ("auto", "torch", "onnxruntime")


def choose_backend(backend: str, device: str, weights: str) -> str:
    """``torch`` or ``onnxruntime`` for the settings ``backend``, ``device`` and ``weights``."""
    if backend not in BACKENDS:
        raise UserError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if str(weights).lower().endswith(".onnx"):
        if backend == "torch":
            raise UserError(f"weights: {weights} is an ONNX file; use backend=onnxruntime")
        return "onnxruntime"
    if backend != "auto":
        return backend
    if device == "cpu":
        return "onnxruntime"
    if device != "auto":  # cuda, cuda:1, mps, ...
        return "torch"
    return "torch" if devices.gpu_present() else "onnxruntime"


def make_predictor(cfg: Any) -> BatchedPredictor:
    """The predictor for a ``predict`` / ``eval`` config (weights, backend, device, batching,
    fold_bn, channels_last, half, threads, cache_dir, trust_weights)."""
    backend = choose_backend(str(cfg.backend), str(cfg.device), str(cfg.weights))
    # batching pays on a GPU but not on a few CPU cores (eager PyTorch even loses a quarter of
    # its speed at batch 8 there; BENCHMARKS.md, "Network-only inference"), so batch_size=null
    # means 8 on a GPU and 1 for PyTorch on a CPU; ONNX Runtime on a CPU gets one photo per
    # physical core (at most 4), run side by side on a share of the threads each
    if backend == "onnxruntime":
        if str(cfg.device) not in ("auto", "cpu"):
            raise UserError(
                f"backend=onnxruntime runs on the CPU; device={cfg.device} needs backend=torch"
            )
        from ras_lightning.inference.onnx_predictor import OnnxPredictor

        ort_predictor = OnnxPredictor(
            str(cfg.weights),
            cfg.batch_size or min(cfg.get("threads") or devices.physical_cores(), 4),
            cfg.get("threads"),
            cfg.get("cache_dir"),
            bool(cfg.get("trust_weights", False)),
        )
        ort_predictor.minmax = bool(cfg.get("minmax", True))
        return ort_predictor
    from ras_lightning.inference.torch_predictor import TorchPredictor
    from ras_lightning.models.weights import load_weights

    predictor = TorchPredictor(
        load_weights(cfg.weights, bool(cfg.get("trust_weights", False))),
        cfg.device,
        cfg.batch_size or 8,
        cfg.fold_bn,
        cfg.channels_last,
        cfg.half,
    )
    predictor.minmax = bool(cfg.get("minmax", True))
    if cfg.batch_size is None and predictor.device.type == "cpu":
        predictor.batch_size = 1
    return predictor
