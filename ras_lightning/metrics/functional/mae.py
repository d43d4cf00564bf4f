"""Mean absolute error."""

from __future__ import annotations

import numpy as np

from ras_lightning.metrics.functional.image import SODImage, Stats, kernel


@kernel
def mae(img: SODImage) -> Stats:
    """Mean absolute error between the normalised map and the mask."""
    lv = img.levels
    return {"mae": float(((img.bg_h * lv).sum() + (img.fg_h * np.abs(lv - 1.0)).sum()) / img.size)}
