"""Fast inference: preprocessing as the recipes, BatchNorm folding, batching, channels-last.

The authors' test loops run the network eagerly in fp32 on one image at a time. Here, by
default: BatchNorm folded into the preceding convolutions (exact up to float rounding),
``torch.inference_mode``, photos batched, channels-last memory format, and on a GPU fp16
autocast. Each can be turned off (see ``conf/predict.yaml``).
"""

from __future__ import annotations

import numpy as np
import torch

from ras_lightning.inference.predictor import BatchedPredictor
from ras_lightning.models.fusion import fold_batchnorm
from ras_lightning.models.weights import Weights
from ras_lightning.utils.devices import pick_device
from ras_lightning.utils.timing import model_size_mb

__all__ = ["TorchPredictor"]


class TorchPredictor(BatchedPredictor):
    """Saliency maps for RGB photos of any size with a PyTorch network (CPU or GPU)."""

    def __init__(
        self,
        weights: Weights,
        device: str = "auto",
        batch_size: int = 8,
        fold_bn: bool = True,
        channels_last: bool = True,
        half: bool = False,
    ) -> None:
        self.device = pick_device(device)
        net = fold_batchnorm(weights.net) if fold_bn else weights.net.eval()
        self.channels_last = channels_last
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.to(self.device, memory_format=fmt)
        self.recipe, self.size = weights.recipe, weights.size
        self.version, self.size_mb = weights.net.version, model_size_mb(weights.net)
        self.batch_size = max(1, batch_size)
        self.autocast = half and self.device.type == "cuda"
        self.name = "PyTorch" + (" fp16" if self.autocast else "")

    @torch.inference_mode()
    def logits(self, batch: np.ndarray) -> np.ndarray:
        """The finest side output's logits (N, 1, h, w), float32 on the CPU."""
        x = torch.from_numpy(batch).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.autocast):
            logits = self.net(x)[0]
        return logits.float().cpu().numpy()
