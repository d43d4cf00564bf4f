"""The authors' RAS v2 training loop (their ``v2/train.py`` and ``v2/data.py`` as
/work/shared/reference/authors_pipelines.md describes them), written anew as the GPU check's
baseline, with PyTorch's native AMP (fp16 autocast + GradScaler) in place of apex O2.

What it keeps of theirs, because it costs time: photos read by OpenCV and normalised in
float64 (their mean/std are float64 arrays) at full size in the workers; random crop and flip
there; one ``cv2.resize`` per sample in the collate, to one size drawn per batch from
{224, 256, 288, 320, 352}; batches of 32, ``shuffle=True``, 8 workers, no pinned memory, the
float64 batch moved to the GPU and cast there; the network in the default memory format,
cuDNN autotuning off (their script sets nothing); BCE + IoU on the 4 side outputs, summed;
SGD nesterov (momentum 0.9, weight decay 5e-4), the backbone's conv1/bn1 left out of the
optimizer (their gradients still computed), the backbone at 0.1x the head's learning rate,
the triangular rate set per epoch. What it changes: the pairs listed sorted (their two
unsorted listings pair photos with the wrong masks; no effect on speed), and the network is
this project's RAS v2 (the same layers as theirs).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

MEAN = np.array([[[124.55, 118.90, 102.94]]])  # float64, as theirs
STD = np.array([[[56.77, 55.97, 57.50]]])
SIZES = (224, 256, 288, 320, 352)


class AuthorsData(Dataset):
    """Their training set: (float64 normalised photo, float32 0..1 mask), cropped, flipped."""

    def __init__(self, image_dir: Path, mask_dir: Path) -> None:
        masks = {p.stem: p for p in Path(mask_dir).glob("*.png")}
        self.pairs = [
            (str(p), str(masks[p.stem]))
            for p in sorted(Path(image_dir).glob("*.jpg"))
            if p.stem in masks
        ]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        photo_path, mask_path = self.pairs[i]
        image = cv2.imread(photo_path)[:, :, ::-1].astype(np.float32)
        mask = cv2.imread(mask_path, 0).astype(np.float32)
        image, mask = (image - MEAN) / STD, mask / 255  # float64 photo
        h, w = mask.shape
        cut_w, cut_h = np.random.randint(w / 8), np.random.randint(h / 8)
        top = np.random.randint(cut_h) if cut_h else 0
        left = np.random.randint(cut_w) if cut_w else 0
        image = image[top : h + top - cut_h, left : w + left - cut_w]
        mask = mask[top : h + top - cut_h, left : w + left - cut_w]
        if np.random.randint(2) == 0:
            image, mask = image[:, ::-1], mask[:, ::-1]
        return image, mask


class Collate:
    """One size per batch from ``sizes``; every sample resized to it by one cv2.resize."""

    def __init__(self, sizes: Sequence[int] = SIZES) -> None:
        self.sizes = list(sizes)

    def __call__(self, batch: list) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.sizes[np.random.randint(0, len(self.sizes))]
        images = [cv2.resize(np.ascontiguousarray(im), (s, s)) for im, _ in batch]
        masks = [cv2.resize(np.ascontiguousarray(m), (s, s)) for _, m in batch]
        image = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
        return image, torch.from_numpy(np.stack(masks)).unsqueeze(1)


def bce_iou(pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Their per-side loss: mean BCE with logits + mean over images of the soft IoU loss."""
    bce = F.binary_cross_entropy_with_logits(pred, mask, reduction="mean")
    prob = torch.sigmoid(pred)
    inter = (prob * mask).sum(dim=(2, 3))
    union = (prob + mask).sum(dim=(2, 3))
    return (bce + 1 - (inter + 1) / (union - inter + 1)).mean()


def train(
    image_dir: Path,
    mask_dir: Path,
    device: torch.device,
    epochs: int,
    total_epochs: int = 32,
    batch: int = 32,
    workers: int = 8,
    sizes: Sequence[int] = SIZES,
    amp_dtype: torch.dtype = torch.float16,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Their loop for ``epochs`` epochs of a ``total_epochs`` schedule: per epoch its wall
    seconds (synchronised), images and last loss; ``on_epoch`` sees each as it ends."""
    from ras_lightning.models import RAS

    data = AuthorsData(image_dir, mask_dir)
    loader = DataLoader(
        data, batch_size=batch, shuffle=True, num_workers=workers, collate_fn=Collate(sizes)
    )
    net = RAS(version="v2", pretrained_backbone=False).to(device).train()
    base, head = [], []
    for name, p in net.named_parameters():
        if name.startswith(("backbone.conv1.", "backbone.bn1.")):
            continue  # not optimised; its gradient still computed, as theirs
        (base if name.startswith("backbone.") else head).append(p)
    lr = 0.05
    opt = torch.optim.SGD(
        [{"params": base}, {"params": head}],
        lr=lr,
        momentum=0.9,
        weight_decay=5e-4,
        nesterov=True,
    )
    cuda = device.type == "cuda"
    scaler = torch.amp.GradScaler(device.type, enabled=cuda and amp_dtype == torch.float16)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    out = []
    for epoch in range(epochs):
        tri = 1 - abs((epoch + 1) / (total_epochs + 1) * 2 - 1)
        opt.param_groups[0]["lr"], opt.param_groups[1]["lr"] = tri * lr * 0.1, tri * lr
        sync()
        start, images, loss = time.time(), 0, torch.zeros(())
        for image, mask in loader:
            image, mask = image.to(device).float(), mask.to(device).float()
            with torch.autocast(device.type, dtype=amp_dtype, enabled=cuda):
                sides = net(image)
            loss = sum(bce_iou(s.float(), mask) for s in sides)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            images += image.shape[0]
        sync()
        entry = {"epoch": epoch, "seconds": time.time() - start, "images": images}
        entry["loss"] = float(loss)
        out.append(entry)
        if on_epoch:
            on_epoch(entry)
    return out
