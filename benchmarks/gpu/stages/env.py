"""Stage ``env``: the card, driver and versions every other figure was measured with."""

from __future__ import annotations

import platform
import subprocess
import sys
from typing import Any

from benchmarks.gpu.context import Ctx

VERSIONS = (
    "lightning",
    "pytorch-lightning",
    "torchmetrics",
    "torchvision",
    "triton",
    "hydra-core",
    "omegaconf",
    "albumentations",
    "numpy",
    "onnxruntime",
    "opencv-python-headless",
)


def _version(name: str) -> str | None:
    import importlib.metadata as md

    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def _cudnn_version() -> str | None:
    import torch

    if not torch.backends.cudnn.is_available():
        return None
    v = torch.backends.cudnn.version()  # e.g. 91002 for 9.10.2
    return f"{v // 10000}.{v % 10000 // 100}.{v % 100}" if v else None


def _gpu_info(ctx: Ctx) -> dict[str, Any]:
    """The card's name, memory and driver (``nvidia-smi`` where it answers)."""
    import torch

    props = torch.cuda.get_device_properties(ctx.device())
    info: dict[str, Any] = {
        "gpu_name": props.name,
        "gpu_memory_gib": round(props.total_memory / 2**30, 1),
        "gpu_multiprocessors": props.multi_processor_count,
        "gpu_capability": f"{props.major}.{props.minor}",
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }
    try:
        info["cuda_driver_api"] = torch._C._cuda_getDriverVersion()
    except Exception:  # noqa: BLE001 (a private helper: optional)
        pass
    try:
        smi = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
        first = smi.stdout.strip().splitlines()[0] if smi.stdout.strip() else ""
        parts = [p.strip() for p in first.split(",")]
        if len(parts) >= 2:
            info["driver"] = parts[1]
            info["nvidia_smi"] = first
    except (OSError, subprocess.SubprocessError):
        info["driver"] = None
    info["card"] = info["gpu_name"]
    return info


def stage_env(ctx: Ctx) -> None:
    """Python, torch, CUDA, cuDNN and the packages' versions; the GPUs, or the CPU."""
    import torch

    from ras_lightning.utils.devices import cpu_name

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": _cudnn_version(),
        "cuda_available": torch.cuda.is_available(),
        # PyTorch's defaults, left as they are: TF32 convolutions on, TF32 matmuls off
        "tf32": {
            "cudnn": bool(torch.backends.cudnn.allow_tf32),
            "matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        },
        "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "versions": {n: _version(n) for n in VERSIONS},
    }
    if ctx.cuda:
        info.update(_gpu_info(ctx))
    else:
        info["card"] = f"CPU: {info['cpu']}"
        info["torch_threads"] = torch.get_num_threads()
    ctx.save(**info)
