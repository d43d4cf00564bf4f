"""The one place that asks which device runs the network, and names it.

torch is imported inside the functions that need it: on a CPU-only Linux machine
:func:`gpu_present` answers from the driver's device files, so ``predict`` with a warm ONNX
cache starts without importing torch.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING

from ras_lightning.utils.errors import UserError

if TYPE_CHECKING:
    import torch

# NVIDIA's and AMD's (ROCm) driver device files, and WSL's GPU bridge
GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


def gpu_present() -> bool:
    """Whether PyTorch sees a CUDA (or ROCm) GPU. On Linux torch is imported only when a GPU
    driver's device file exists, so CPU-only machines skip that import."""
    if os.name == "posix" and not any(os.path.exists(p) for p in GPU_DEVICE_FILES):
        return False
    import torch

    return torch.cuda.is_available()


def runs_on_cuda(accelerator: str = "auto") -> bool:
    """Whether a Lightning ``accelerator`` setting (``auto``, ``gpu``, ``cpu``, ...) runs the
    model on CUDA here (for the per-device picks of the config resolvers)."""
    import torch

    return str(accelerator).lower() != "cpu" and torch.cuda.is_available()


def pick_device(device: str = "auto") -> torch.device:
    """``auto``: the GPU when PyTorch sees one, else the CPU; a named device must exist."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UserError(f"device: unknown {device!r} (auto, cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device={device}: PyTorch sees no CUDA GPU here; use device=auto or cpu")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device={device}: MPS is not available here; use device=auto or cpu")
    return dev


def physical_cores() -> int:
    """Physical CPU cores this process may use (Linux: distinct (package, core) pairs of the
    allowed CPUs), else the logical count."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topo / "physical_package_id").read_text(), (topo / "core_id").read_text()))
        except OSError:
            cores.add(("", str(cpu)))
    return max(1, len(cores))


def cpu_name(threads: int | None = None) -> str:
    """This CPU's model name and the number of threads used (torch-free)."""
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "CPU"
    return f"{model} ({threads or os.cpu_count()} threads)"


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's with torch's thread count."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name(torch.get_num_threads())
