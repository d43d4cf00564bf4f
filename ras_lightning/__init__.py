"""ras-lightning: RAS (Reverse Attention for Salient Object Detection) on Lightning + Hydra.

The entry points are the modules at this level (``python -m ras_lightning.train`` etc., or the
``ras-train`` ... console scripts); the configs they compose ship in ``ras_lightning/conf``.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

#: The Hydra config folder, inside the package so an installed wheel carries it.
CONFIG_DIR = Path(__file__).resolve().parent / "conf"
