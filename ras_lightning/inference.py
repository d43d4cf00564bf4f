"""Fast inference: preprocessing as the recipes, BatchNorm folding, batching, channels-last.

The authors' test loops run the network eagerly in fp32 on one image at a time. Here, by
default: BatchNorm folded into the preceding convolutions (exact up to float rounding),
``torch.inference_mode``, photos batched, channels-last memory format, and on a GPU fp16
autocast. Each can be turned off (see ``conf/predict.yaml``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torchvision.models.resnet import Bottleneck

from ras_lightning.data.normalization import mean_std_255
from ras_lightning.weights import Weights


def preprocess(rgb: np.ndarray, recipe: str, size: int) -> np.ndarray:
    """(3, size, size) float32 input from an RGB uint8 photo: bilinear resize, then the
    recipe's normalisation (v1: ImageNet mean/std, v2: F3Net's mean/std on 0-255)."""
    img = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    mean, std = (np.asarray(v, np.float32) for v in mean_std_255(recipe))
    return ((img - mean) / std).transpose(2, 0, 1)


def _fuse_pair(parent: nn.Module, conv_name: str, bn_name: str) -> None:
    conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
    if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
        setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
        setattr(parent, bn_name, nn.Identity())


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """A copy of ``net`` (in eval mode) with every BatchNorm folded into its convolution."""
    net = copy.deepcopy(net).eval()
    for module in net.modules():
        if isinstance(module, Bottleneck):
            for i in (1, 2, 3):
                _fuse_pair(module, f"conv{i}", f"bn{i}")
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for a, b in zip(names, names[1:], strict=False):
                _fuse_pair(module, a, b)
        for conv, bn in (("conv1", "bn1"), ("convert", "bn")):
            if hasattr(module, conv) and hasattr(module, bn) and not isinstance(module, Bottleneck):
                _fuse_pair(module, conv, bn)
    # heads keep applying their ReLU after ``bn``: an Identity is still "not None" there
    return net


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class BatchedPredictor:
    """Batching and pre/post-processing shared by the inference backends.

    A backend sets ``recipe``, ``size`` and ``batch_size`` and implements :meth:`_maps`.
    """

    recipe: str
    size: int
    batch_size: int

    def _maps(self, batch: np.ndarray, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
        """Saliency maps in [0, 1] for a preprocessed batch, each resized to its (h, w)."""
        raise NotImplementedError

    def predict(self, photos: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One float32 (H, W) map in [0, 1] per RGB photo, at the photo's size."""
        return [prob for _, prob in self.iter_predict(enumerate(photos))]

    def iter_predict(
        self, items: Iterable[tuple[Any, np.ndarray]]
    ) -> Iterator[tuple[Any, np.ndarray]]:
        """For ``(key, photo)`` pairs yield ``(key, map)`` in order, batching on the way."""
        pending: list[tuple[Any, np.ndarray]] = []
        for item in items:
            pending.append(item)
            if len(pending) == self.batch_size:
                yield from self._flush(pending)
                pending = []
        if pending:
            yield from self._flush(pending)

    def _flush(self, items: list[tuple[Any, np.ndarray]]) -> Iterator[tuple[Any, np.ndarray]]:
        batch = np.stack([preprocess(p, self.recipe, self.size) for _, p in items])
        maps = self._maps(batch, [p.shape[:2] for _, p in items])
        yield from zip((key for key, _ in items), maps, strict=True)


class Predictor(BatchedPredictor):
    """Saliency maps for RGB photos of any size with a PyTorch network (CPU or GPU)."""

    def __init__(
        self,
        weights: Weights,
        device: str = "auto",
        batch_size: int = 8,
        fold_bn: bool = True,
        channels_last: bool = True,
        half: bool = True,
    ) -> None:
        self.device = pick_device(device)
        net = fold_batchnorm(weights.net) if fold_bn else weights.net.eval()
        self.channels_last = channels_last
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.to(self.device, memory_format=fmt)
        self.recipe, self.size = weights.recipe, weights.size
        self.batch_size = max(1, batch_size)
        self.autocast = half and self.device.type == "cuda"

    @torch.inference_mode()
    def _maps(self, batch: np.ndarray, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
        x = torch.from_numpy(batch).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.autocast):
            logits = self.net(x)[0]
        prob = torch.sigmoid(logits.float())
        # back to each photo's size, bilinear, as the authors' test scripts
        return [
            F.interpolate(prob[i : i + 1], size=hw, mode="bilinear", align_corners=False)[0, 0]
            .cpu()
            .numpy()
            for i, hw in enumerate(sizes)
        ]


def to_uint8_map(prob: np.ndarray, minmax: bool = True) -> np.ndarray:
    """8-bit map; with ``minmax`` the authors' per-image normalisation
    (res - min) / (max - min + 1e-8) is applied first."""
    if minmax:
        prob = (prob - prob.min()) / (prob.max() - prob.min() + 1e-8)
    return np.clip(prob * 255 + 0.5, 0, 255).astype(np.uint8)
