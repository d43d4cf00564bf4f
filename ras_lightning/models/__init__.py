"""The RAS networks and their building blocks."""

from ras_lightning.models.heads import MSCM, ReverseAttention
from ras_lightning.models.ras import RAS

__all__ = ["MSCM", "RAS", "ReverseAttention"]
