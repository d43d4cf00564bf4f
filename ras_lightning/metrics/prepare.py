"""How a saliency map and a mask enter every SOD metric (PySODMetrics' conventions).

* The map is a float in [0, 1] (an 8-bit map divided by 255). It is min-max normalised per
  image unless it is constant.
* The mask is foreground where its 8-bit value is > 128.
* Threshold curves bin the normalised map into 0..255 by truncation (``uint8(p * 255)``) and
  count a pixel as positive at threshold t when its bin is >= t.

Everything runs in float64 where the device has it, so the truncation matches NumPy's.
"""

from __future__ import annotations

import torch

NUM_BINS = 256


def work_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


EPS = 2.220446049250313e-16  # np.spacing(1), MATLAB's eps, as PySODMetrics


def prepare(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, H, W) min-max normalised maps and boolean foreground masks.

    ``pred`` and ``gt`` are (B, [1,] H, W) or (H, W) floats in [0, 1] of equal size.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and mask {tuple(gt.shape)} differ")
    h, w = pred.shape[-2:]
    pred, gt = pred.reshape(-1, h, w), gt.reshape(-1, h, w)
    dtype = work_dtype(pred.device)
    p = pred.to(dtype)
    mn = p.amin(dim=(1, 2), keepdim=True)
    mx = p.amax(dim=(1, 2), keepdim=True)
    span = mx - mn
    p = torch.where(span > 0, (p - mn) / torch.where(span > 0, span, 1.0), p)
    g = torch.round(gt.to(dtype) * 255) > 128
    return p, g


def to_bins(p: torch.Tensor) -> torch.Tensor:
    """0..255 bin index of each normalised value (truncation, as ``astype(np.uint8)``)."""
    return (p * 255).to(torch.uint8).long()


def foreground_histograms(p: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image histograms over the 256 bins: (foreground counts, background counts), (B, 256)."""
    b = p.shape[0]
    p, g = p.reshape(b, -1), g.reshape(b, -1)
    idx = to_bins(p) + NUM_BINS * torch.arange(b, device=p.device)[:, None]
    fg = torch.bincount(idx[g], minlength=b * NUM_BINS).view(b, NUM_BINS)
    total = torch.bincount(idx.flatten(), minlength=b * NUM_BINS).view(b, NUM_BINS)
    return fg, total - fg


def counts_at_thresholds(
    p: torch.Tensor, g: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """True positives and predicted positives at thresholds 255..0, and |GT| per image.

    Returns TP (B, 256), P (B, 256) for thresholds in descending order (index 0 is t = 255,
    index 255 is t = 0), as PySODMetrics orders its curves, and the foreground size (B,).
    """
    fg, bg = foreground_histograms(p, g)
    tp = torch.flip(fg, dims=[1]).cumsum(dim=1)
    pp = tp + torch.flip(bg, dims=[1]).cumsum(dim=1)
    return tp, pp, g.reshape(g.shape[0], -1).sum(dim=1)


def adaptive_binary(p: torch.Tensor) -> torch.Tensor:
    """Maps binarised at the adaptive threshold min(2 * mean, 1), per image: (B, H, W) bool."""
    thr = (2 * p.mean(dim=(1, 2), keepdim=True)).clamp(max=1)
    return p >= thr
