"""``python -m ras_lightning.benchmark``: FPS as the RAS paper measures it (batch 1, warm-up,
synchronised, network only): eager fp32 as the authors' test loop, our PyTorch inference
settings, and (on a CPU) ONNX Runtime, the CPU default of ``predict`` and ``eval``; on the
named device."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from ras_lightning.utils.errors import require, user_errors

EXAMPLE = "python -m ras_lightning.benchmark weights=RAS.v2.pth"


def _phase(what: str, fn: Callable[[], float]) -> float:
    """Run one timed phase with a line before and after it on stderr (progress: a
    ResNet-50 phase takes tens of seconds on a CPU; stdout keeps only the table)."""
    print(f"benchmark: {what} ...", file=sys.stderr, flush=True)
    t = time.perf_counter()
    fps = fn()
    print(
        f"benchmark: {what}: {fps:.2f} FPS ({time.perf_counter() - t:.1f} s)",
        file=sys.stderr,
        flush=True,
    )
    return fps


def run(cfg: DictConfig) -> dict[str, float]:
    require(cfg, {"weights": "our .ckpt or the authors' RAS.v1.pth / RAS.v2.pth"}, EXAMPLE)
    import torch

    from ras_lightning.models.fusion import fold_batchnorm
    from ras_lightning.models.weights import load_weights
    from ras_lightning.utils.devices import device_name, pick_device
    from ras_lightning.utils.timing import measure_fps, model_size_mb

    trust = bool(cfg.get("trust_weights", False))
    weights = load_weights(cfg.weights, trust)
    device = pick_device(cfg.device)
    runs = f"{cfg.warmup} warm-up + {cfg.runs} timed runs at {cfg.size}x{cfg.size}"
    print(
        f"benchmark: RAS {weights.net.version} on {device_name(device)}, {runs} per network",
        file=sys.stderr,
        flush=True,
    )
    eager = weights.net.eval().to(device)
    fast = fold_batchnorm(weights.net).to(device, memory_format=torch.channels_last)
    half = device.type == "cuda"
    results = {}
    name = "eager fp32 (the authors' loop)"
    results[name] = _phase(name, lambda: measure_fps(eager, device, cfg.size, cfg.runs, cfg.warmup))
    name = "BN folded + channels-last" + (" + fp16" if half else "")
    results[name] = _phase(
        name,
        lambda: measure_fps(
            fast, device, cfg.size, cfg.runs, cfg.warmup, channels_last=True, half=half
        ),
    )
    if device.type == "cpu" and cfg.onnxruntime:
        from ras_lightning.inference.onnx_predictor import OnnxPredictor

        print(
            "benchmark: ONNX Runtime: loading (exported into the ONNX cache on first use) ...",
            file=sys.stderr,
            flush=True,
        )
        ort = OnnxPredictor(cfg.weights, 1, cfg.get("threads"), cfg.get("cache_dir"), trust)
        name = "ONNX Runtime (predict/eval default on a CPU)"
        results[name] = _phase(name, lambda: ort.measure_fps(cfg.runs, cfg.warmup, cfg.size))
    print(
        f"RAS {weights.net.version}, {cfg.size}x{cfg.size}, batch 1, network only, on "
        f"{device_name(device)}; model size {model_size_mb(weights.net):.1f} MB"
    )
    print("| network | FPS |")
    print("|---|---|")
    for k, v in results.items():
        print(f"| {k} | {v:.2f} |")
    return results


@hydra.main(version_base="1.3", config_path="conf", config_name="benchmark")
def main(cfg: DictConfig) -> None:
    with user_errors():
        run(cfg)


if __name__ == "__main__":
    main()
