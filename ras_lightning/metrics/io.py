"""Reading maps and masks from files for scoring (``convention=pysodmetrics``).

Both come from the project's one mask and map readers
(:func:`ras_lightning.data.readers.read_mask`, :func:`~ras_lightning.data.readers.read_map`),
as training reads masks; ``convention=f3net`` reads through the same ones
(:func:`ras_lightning.metrics.f3net.load_pair`).
"""

from __future__ import annotations

import cv2
import numpy as np

from ras_lightning.data.readers import read_map, read_mask


def read_gray(path: str, is_mask: bool = False) -> np.ndarray:
    """An 8-bit grayscale array of a map, or of a mask (``is_mask``), every format read as
    the one readers read it: 0/1 mask labels are 0/255, an alpha-only cut-out is its alpha,
    a colour label its brightest channel, 16-bit scaled, EXIF orientation applied."""
    return read_mask(path, np.uint8) if is_mask else read_map(path)


def load_pair(gt_path: str, pred_path: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(map, mask, whether the map was resized): a map of another size is resized to its
    mask's (bilinear, as PySODEvalToolkit)."""
    gt, pred = read_gray(gt_path, is_mask=True), read_gray(pred_path)
    resized = pred.shape != gt.shape
    if resized:
        pred = cv2.resize(pred, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
    return pred, gt, resized
