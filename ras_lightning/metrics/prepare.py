"""How a saliency map and a mask enter every SOD metric (PySODMetrics' conventions).

* The map is a float in [0, 1] (an 8-bit map divided by 255, in float64 as NumPy divides).
  It is min-max normalised per image unless it is constant.
* The mask is foreground where its 8-bit value is > 128.
* Threshold curves bin the normalised map into 0..255 by truncation (``uint8(p * 255)``) and
  count a pixel as positive at threshold t when its bin is >= t; curves are ordered by
  threshold 255..0, as PySODMetrics orders them.
* Adaptive measures binarise at min(2 * mean(map), 1).

Everything runs in float64 where the device has it, so the truncation matches NumPy's.
:func:`prepare` does the shared work once per batch (normalisation, one 512-bin histogram per
image, the adaptive binarisation); every metric updates from its :class:`Prepared` result.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NUM_BINS = 256
EPS = 2.220446049250313e-16  # np.spacing(1), MATLAB's eps, as PySODMetrics


def work_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


@dataclass
class Prepared:
    """A batch of B maps and masks of one size, ready for every metric."""

    p: torch.Tensor  # (B, H, W) normalised maps, float64
    g: torch.Tensor  # (B, H, W) boolean masks
    tp: torch.Tensor  # (B, 256) true positives at thresholds 255..0
    pp: torch.Tensor  # (B, 256) predicted positives at thresholds 255..0
    gt_fg: torch.Tensor  # (B,) foreground pixels of the mask
    adaptive_tp: torch.Tensor  # (B,) true positives at the adaptive threshold
    adaptive_pp: torch.Tensor  # (B,) predicted positives at the adaptive threshold

    @property
    def size(self) -> int:
        return self.p.shape[1] * self.p.shape[2]


def normalise(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, H, W) min-max normalised maps and boolean masks from (B, [1,] H, W) or (H, W)."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and mask {tuple(gt.shape)} differ")
    h, w = pred.shape[-2:]
    p = pred.reshape(-1, h, w).to(work_dtype(pred.device))
    mn = p.amin(dim=(1, 2), keepdim=True)
    span = p.amax(dim=(1, 2), keepdim=True) - mn
    p = torch.where(span > 0, (p - mn) / torch.where(span > 0, span, 1.0), p)
    g = gt.reshape(-1, h, w)
    if g.dtype != torch.bool:
        g = torch.round(g.to(p.dtype) * 255) > 128
    return p, g


def prepare(pred: torch.Tensor, gt: torch.Tensor) -> Prepared:
    """Normalise a batch and compute the counts the threshold-based metrics share."""
    p, g = normalise(pred, gt)
    b = p.shape[0]
    flat_p, flat_g = p.reshape(b, -1), g.reshape(b, -1)
    bins = (flat_p * 255).to(torch.uint8).long()  # truncation, as astype(np.uint8)
    # one histogram over (bin, is-foreground) pairs per image
    key = bins * 2 + flat_g + (2 * NUM_BINS) * torch.arange(b, device=p.device)[:, None]
    hist = torch.bincount(key.flatten(), minlength=b * 2 * NUM_BINS).view(b, NUM_BINS, 2)
    fg, bg = hist[..., 1], hist[..., 0]
    tp = torch.flip(fg, dims=[1]).cumsum(dim=1)
    pp = tp + torch.flip(bg, dims=[1]).cumsum(dim=1)
    thr = (2 * flat_p.mean(dim=1, keepdim=True)).clamp(max=1)
    binary = flat_p >= thr
    return Prepared(
        p=p,
        g=g,
        tp=tp,
        pp=pp,
        gt_fg=fg.sum(dim=1),
        adaptive_tp=(binary & flat_g).sum(dim=1),
        adaptive_pp=binary.sum(dim=1),
    )
