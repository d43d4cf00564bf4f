"""Frames per second as the RAS paper measures it (batch 1, warm-up, synchronised, network
only), model size and peak memory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn


def measure_fps(
    net: nn.Module,
    device: torch.device,
    size: int = 352,
    runs: int = 20,
    warmup: int = 5,
    channels_last: bool = False,
    half: bool = False,
    batch: int = 1,
    autocast: torch.dtype | None = None,
) -> float:
    """Images per second of ``net`` on one (batch, 3, size, size) input (forward passes per
    second at batch 1), after ``warmup`` passes, synchronised at both ends. ``half``: fp16
    autocast on CUDA only; ``autocast``: that dtype on any device (bf16 is a CPU's)."""
    import torch

    x = torch.randn(batch, 3, size, size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with (
        torch.inference_mode(),
        torch.autocast(
            device.type,
            autocast or torch.float16,
            enabled=autocast is not None or (half and device.type == "cuda"),
        ),
    ):
        for _ in range(warmup):
            net(x)
        sync()
        t = time.perf_counter()
        for _ in range(runs):
            net(x)
        sync()
    return runs * batch / (time.perf_counter() - t)


def model_size_mb(net: nn.Module) -> float:
    """Size of the fp32 state dict (parameters and buffers) in MB (1e6 bytes), as a .pth file."""
    return sum(t.numel() * t.element_size() for t in net.state_dict().values()) / 1e6


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Unlike ``ru_maxrss``, which after exec keeps
    the parent's peak at fork time, VmHWM starts afresh in a new program."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
