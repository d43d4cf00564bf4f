"""The RAS networks and their building blocks.

Names are imported lazily: :mod:`ras_lightning.models.official` (key mapping) is used by the
torch-free CPU inference path, which must not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ras_lightning.models.heads import MSCM, ReverseAttention
    from ras_lightning.models.ras import RAS

_LAZY = {
    "MSCM": "ras_lightning.models.heads",
    "ReverseAttention": "ras_lightning.models.heads",
    "RAS": "ras_lightning.models.ras",
}

__all__ = ["MSCM", "RAS", "ReverseAttention"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ras_lightning.models' has no attribute {name!r}")
