"""Fast inference: preprocessing as the recipes, BatchNorm folding, batching, channels-last.

The authors' test loops run the network eagerly in fp32 on one image at a time. Here, by
default: BatchNorm folded into the preceding convolutions (exact up to float rounding),
``torch.inference_mode``, photos batched, channels-last memory format, and on a CUDA GPU the
checked fast mode (:mod:`.fast`: CUDA graphs, TF32, within 2 gray levels of fp32); fp16
autocast with ``half``. Each can be turned off (see ``conf/inference/default.yaml``).
"""

from __future__ import annotations

import numpy as np
import torch

from ras_lightning.inference.fast import CheckedFast, GraphRunner
from ras_lightning.inference.predictor import BatchedPredictor
from ras_lightning.models.fusion import fold_batchnorm
from ras_lightning.models.weights import Weights
from ras_lightning.utils.devices import device_name, pick_device
from ras_lightning.utils.timing import measure_fps, model_size_mb

__all__ = ["TorchPredictor"]


class TorchPredictor(BatchedPredictor):
    """Saliency maps for RGB photos of any size with a PyTorch network (CPU or GPU).

    ``batch_size=None``: 8 on a GPU, 1 on a CPU (batching does not pay on a few CPU cores);
    ``minmax``: the authors' per-image min-max normalisation of every map."""

    def __init__(
        self,
        weights: Weights,
        device: str = "auto",
        batch_size: int | None = None,
        fold_bn: bool = True,
        channels_last: bool = True,
        half: bool = False,
        minmax: bool = True,
        fast: bool | str = False,
    ) -> None:
        self.device = pick_device(device)
        if batch_size is None:
            batch_size = 1 if self.device.type == "cpu" else 8
        net = fold_batchnorm(weights.net) if fold_bn else weights.net.eval()
        self.channels_last = channels_last
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.to(self.device, memory_format=fmt)
        self.recipe, self.size = weights.recipe, weights.size
        self.version, self.size_mb = weights.net.version, model_size_mb(weights.net)
        self.backbone: str | None = weights.net.backbone_name
        self.batch_size = max(1, batch_size or 8)
        self.minmax = minmax
        self.autocast = half and self.device.type == "cuda"
        self.name = "PyTorch" + (" fp16" if self.autocast else "")
        # fast=auto: on a CUDA GPU (CUDA graphs, TF32, cuDNN autotune; checked: .fast)
        on = self.device.type == "cuda" if fast == "auto" else bool(fast)
        self.fast: CheckedFast | None = None
        if on and self.device.type == "cuda" and not self.autocast:
            torch.backends.cudnn.benchmark = True
            runner = GraphRunner(self.net)
            self.fast = CheckedFast(self._plain, runner, minmax, to_numpy=_to_numpy)
            self.name = "PyTorch fast"

    @property
    def device_name(self) -> str:
        """The GPU's name, or the CPU's with torch's thread count."""
        return device_name(self.device)

    def measure_fps(self, runs: int = 20, warmup: int = 5, size: int | None = None) -> float:
        """Forward passes per second of the network as set up here (folded, channels-last,
        fp16 autocast if on; the fast mode's graph where its check passed) on one
        (1, 3, size, size) input."""
        fast = self.fast is not None and self.fast.state.startswith("fast")
        return measure_fps(
            self.fast.fast if fast else self.net,
            self.device,
            size or self.size,
            runs,
            warmup,
            channels_last=self.channels_last,
            half=self.autocast,
        )

    def _plain(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.autocast):
            return self.net(x)[0]

    @torch.inference_mode()
    def logits(self, batch: np.ndarray) -> np.ndarray:
        """The finest side output's logits (N, 1, h, w), float32 on the CPU."""
        x = torch.from_numpy(batch).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.fast is not None:
            return self.fast.run(x)
        return _to_numpy(self._plain(x))


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.float().cpu().numpy()
