"""ras-lightning: RAS (Reverse Attention for Salient Object Detection) on Lightning + Hydra.

The entry points are the modules at this level (``python -m ras_lightning.train`` etc., or the
``ras-train`` ... console scripts); the configs they compose ship in ``ras_lightning/conf``.
The Python API: ``from ras_lightning import SaliencyPredictor`` (maps for photos) and
``from ras_lightning.models import RAS`` (the network).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = "0.1.0"
__all__ = ["CONFIG_DIR", "SaliencyPredictor", "__version__"]

#: The Hydra config folder, inside the package so an installed wheel carries it.
CONFIG_DIR = Path(__file__).resolve().parent / "conf"


def __getattr__(name: str) -> Any:
    # imported on first use: `import ras_lightning` (CONFIG_DIR, the CLIs) stays light
    if name == "SaliencyPredictor":
        from ras_lightning.inference.saliency_predictor import SaliencyPredictor

        return SaliencyPredictor
    raise AttributeError(f"module 'ras_lightning' has no attribute {name!r}")
