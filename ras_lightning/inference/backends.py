"""Choosing the inference backend of ``predict`` and ``eval``.

``backend=auto`` (the default) runs ONNX Runtime on a CPU and PyTorch on a GPU (channels-last,
BatchNorm folded; fp16 autocast with ``half=true``). On a CPU the network is the RAS module
exported once per weights file with ``torch.onnx.export`` and kept in the ONNX cache
(:mod:`.onnx_cache`); with a warm cache no torch is imported (a faster network and a
shorter start-up than eager PyTorch on a CPU; BENCHMARKS.md has the figures).
``backend=torch`` or ``backend=onnxruntime`` forces one; an ``.onnx`` file always runs on ONNX
Runtime.
"""

from __future__ import annotations

from typing import Any

from ras_lightning.inference.onnx_predictor import OnnxPredictor
from ras_lightning.inference.predictor import BatchedPredictor
from ras_lightning.models.weights import load_weights
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
    minmax, fold_bn, channels_last, half, fast, threads, cache_dir, trust_weights)."""
    backend = choose_backend(str(cfg.backend), str(cfg.device), str(cfg.weights))
    if cfg.get("fast", "auto") not in ("auto", True, False):
        raise UserError(f"fast={cfg.fast!r}: must be auto, true or false")
    trust, minmax = bool(cfg.get("trust_weights", False)), bool(cfg.get("minmax", True))
    if backend == "onnxruntime":
        if str(cfg.device) not in ("auto", "cpu"):
            raise UserError(
                f"backend=onnxruntime runs on the CPU; device={cfg.device} needs backend=torch"
            )
        threads = cfg.get("threads")
        # batch_size=null: one photo per physical core (at most 4), the runs side by side on a
        # share of the threads each (faster than one run on all threads: OnnxPredictor)
        batch = cfg.batch_size or min(threads or devices.physical_cores(), 4)
        return OnnxPredictor(str(cfg.weights), batch, threads, cfg.get("cache_dir"), trust, minmax)
    # imported here: a CPU run on a cached ONNX file never imports torch
    from ras_lightning.inference.torch_predictor import TorchPredictor

    return TorchPredictor(
        load_weights(cfg.weights, trust),
        cfg.device,
        cfg.batch_size,
        cfg.fold_bn,
        cfg.channels_last,
        cfg.half,
        minmax,
        cfg.get("fast", "auto"),
    )
