"""Data: discovery and pairing, the authors' recipes, the demo generator, the DataModule.

Names are imported lazily so light users (``score`` needs only the file discovery) do not pay
for Lightning and albumentations at start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SODDataModule": "ras_lightning.data.datamodule",
    "discover_set": "ras_lightning.data.discovery",
    "make_demo_data": "ras_lightning.data.demo",
    "DataError": "ras_lightning.utils.errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ras_lightning.data' has no attribute {name!r}")
