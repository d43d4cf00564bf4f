"""``python -m ras_lightning.benchmark``: FPS as the RAS paper measures it (batch 1, warm-up,
synchronised, network only): eager fp32 as the authors' test loop, our PyTorch inference
settings, and (on a CPU) ONNX Runtime, the CPU default of ``predict`` and ``eval``; on the
named device."""

from __future__ import annotations

import sys
import time

from omegaconf import DictConfig

from ras_lightning.inference.onnx_predictor import OnnxPredictor
from ras_lightning.inference.predictor import BatchedPredictor
from ras_lightning.models.weights import load_weights
from ras_lightning.utils.devices import pick_device
from ras_lightning.utils.entry import hydra_command
from ras_lightning.utils.errors import require, require_counts

EXAMPLE = "python -m ras_lightning.benchmark weights=RAS.v2.pth"


def _progress(line: str) -> None:
    """A progress line on stderr (stdout keeps only the table)."""
    print(f"benchmark: {line}", file=sys.stderr, flush=True)


def _phase(what: str, predictor: BatchedPredictor, cfg: DictConfig) -> float:
    """One timed phase with a line before and after it (a ResNet-50 phase takes tens of
    seconds on a CPU)."""
    _progress(f"{what} ...")
    t = time.perf_counter()
    fps = predictor.measure_fps(cfg.runs, cfg.warmup, cfg.size)
    _progress(f"{what}: {fps:.2f} FPS ({time.perf_counter() - t:.1f} s)")
    return fps


def run(cfg: DictConfig) -> dict[str, float]:
    """Time each network on ``cfg.device``; print the table; return {network: FPS}."""
    require(cfg, {"weights": "our .ckpt or the authors' RAS.v1.pth / RAS.v2.pth"}, EXAMPLE)
    size = (32, "the network's stride")
    require_counts(cfg, {"runs": 1, "warmup": 0, "size": size, "threads": 1}, ("threads",))
    pick_device(str(cfg.device))  # an unknown or absent device: one line, before the weights
    # torch only after the settings are checked: `--help` and a missing key answer at once
    from ras_lightning.inference.torch_predictor import TorchPredictor

    trust = bool(cfg.get("trust_weights", False))
    weights = load_weights(cfg.weights, trust)
    eager = TorchPredictor(weights, cfg.device, 1, fold_bn=False, channels_last=False)
    device, version = eager.device_name, weights.net.version
    runs = f"{cfg.warmup} warm-up + {cfg.runs} timed runs at {cfg.size}x{cfg.size}"
    _progress(f"RAS {version} on {device}, {runs} per network")
    fast = TorchPredictor(weights, cfg.device, 1, fold_bn=True, channels_last=True, half=True)
    timed = {
        "eager fp32 (the authors' loop)": eager,
        "BN folded + channels-last" + (" + fp16" if fast.autocast else ""): fast,
    }
    results = {name: _phase(name, p, cfg) for name, p in timed.items()}
    if eager.device.type == "cpu" and cfg.onnxruntime:
        _progress("ONNX Runtime: loading (exported into the ONNX cache on first use) ...")
        ort = OnnxPredictor(cfg.weights, 1, cfg.get("threads"), cfg.get("cache_dir"), trust)
        name = "ONNX Runtime (predict/eval default on a CPU)"
        results[name] = _phase(name, ort, cfg)
    print(
        f"RAS {version}, {cfg.size}x{cfg.size}, batch 1, network only, on {device}; "
        f"model size {eager.size_mb:.1f} MB"
    )
    print("| network | FPS |")
    print("|---|---|")
    for k, v in results.items():
        print(f"| {k} | {v:.2f} |")
    return results


main = hydra_command("benchmark", run)

if __name__ == "__main__":
    main()
