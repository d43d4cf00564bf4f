"""OmegaConf resolvers used by the configs (registered on import).

They pick the fast settings per device, so one config is right on a laptop CPU and on a GPU
node: mixed precision and cuDNN autotuning only where CUDA runs the model, loader workers
where an accelerator waits for data; and a job's devices and nodes from what the Hydra
launcher requested (``hydra/launcher=slurm``).
"""

from __future__ import annotations

import os

from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from ras_lightning.utils.devices import runs_on_cuda


def mixed_precision(gpu_precision: str = "16-mixed", accelerator: str = "auto") -> str:
    """``gpu_precision`` when CUDA is available (and ``accelerator`` is not ``cpu``), else
    ``32-true``.

    On this kind of CPU (AVX2, no AMX/AVX512-BF16) bf16 autocast is slower than fp32, so the
    CPU fallback is full precision; pass ``trainer.precision=bf16-mixed`` to force it.
    """
    return gpu_precision if runs_on_cuda(accelerator) else "32-true"


def on_gpu(value: object, accelerator: str = "auto") -> object:
    """``value`` when CUDA runs the model, else ``None`` (e.g. ``trainer.benchmark``: cuDNN
    autotuning means nothing on a CPU, and ``None`` leaves PyTorch's setting alone)."""
    return value if runs_on_cuda(accelerator) else None


def loader_workers(gpu_workers: int = 8, cpu_workers: int = 0, accelerator: str = "auto") -> int:
    """DataLoader workers per process: ``gpu_workers``, capped at this process's share of the
    CPUs (one DDP process per GPU) minus one for the main process, when CUDA runs the model;
    else ``cpu_workers``.

    On a CPU the network is the bottleneck by two orders of magnitude (see BENCHMARKS.md),
    and workers would only compete with the compute threads for the same cores.
    """
    if not runs_on_cuda(accelerator):
        return int(cpu_workers)
    import torch  # only when resolved: importing the resolvers (`train --help`) stays fast

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    share = (cpus or 1) // max(1, torch.cuda.device_count())
    return max(0, min(int(gpu_workers), share - 1))


def launcher_count(key: str, default: int) -> int:
    """The Hydra launcher's ``key`` (``gpus_per_node``, ``nodes``) when it sets it to a count
    > 0, else ``default``: under ``hydra/launcher=slurm|local`` a job's ``trainer.devices``
    and ``trainer.num_nodes`` follow the GPUs and nodes the launcher requested, and without
    such a launcher (or outside a Hydra job) the trainer's own default stands."""
    if not HydraConfig.initialized():
        return int(default)
    value = OmegaConf.select(HydraConfig.get(), f"launcher.{key}", default=None)
    return int(value) if isinstance(value, int) and value > 0 else int(default)


def register_resolvers() -> None:
    for name, fn in (
        ("mixed_precision", mixed_precision),
        ("on_gpu", on_gpu),
        ("loader_workers", loader_workers),
        ("launcher_count", launcher_count),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()
