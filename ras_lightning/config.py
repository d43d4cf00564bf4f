"""OmegaConf resolvers used by the configs (registered on import)."""

from __future__ import annotations

import torch
from omegaconf import OmegaConf


def mixed_precision(gpu_precision: str = "16-mixed") -> str:
    """``gpu_precision`` when CUDA is available, else ``32-true``.

    On this kind of CPU (AVX2, no AMX/AVX512-BF16) bf16 autocast is slower than fp32, so the
    CPU fallback is full precision; pass ``trainer.precision=bf16-mixed`` to force it.
    """
    return gpu_precision if torch.cuda.is_available() else "32-true"


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("mixed_precision"):
        OmegaConf.register_new_resolver("mixed_precision", mixed_precision)


register_resolvers()
