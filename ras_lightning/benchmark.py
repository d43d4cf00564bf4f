"""``python -m ras_lightning.benchmark``: FPS as the RAS paper measures it (batch 1, warm-up,
synchronised, network only): eager fp32 as the authors' test loop, our PyTorch inference
settings, and (on a CPU) ONNX Runtime, the CPU default of ``predict`` and ``eval``; on the
named device."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from ras_lightning.utils.errors import user_errors


def run(cfg: DictConfig) -> dict[str, float]:
    import torch

    from ras_lightning.inference.torch_predictor import fold_batchnorm
    from ras_lightning.models.weights import load_weights
    from ras_lightning.utils.devices import device_name, pick_device
    from ras_lightning.utils.timing import measure_fps, model_size_mb

    trust = bool(cfg.get("trust_weights", False))
    weights = load_weights(cfg.weights, trust)
    device = pick_device(cfg.device)
    eager = weights.net.eval().to(device)
    fast = fold_batchnorm(weights.net).to(device, memory_format=torch.channels_last)
    half = device.type == "cuda"
    results = {
        "eager fp32 (the authors' loop)": measure_fps(
            eager, device, cfg.size, cfg.runs, cfg.warmup
        ),
        "BN folded + channels-last" + (" + fp16" if half else ""): measure_fps(
            fast, device, cfg.size, cfg.runs, cfg.warmup, channels_last=True, half=half
        ),
    }
    if device.type == "cpu" and cfg.onnxruntime:
        from ras_lightning.inference.onnx_predictor import OnnxPredictor

        ort = OnnxPredictor(cfg.weights, 1, cfg.get("threads"), cfg.get("cache_dir"), trust)
        results["ONNX Runtime (predict/eval default on a CPU)"] = ort.measure_fps(
            cfg.runs, cfg.warmup, cfg.size
        )
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
