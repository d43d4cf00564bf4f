"""Data: discovery and pairing, the authors' recipes, the demo generator, the DataModule."""

from ras_lightning.data.datamodule import SODDataModule, discover_set
from ras_lightning.data.demo import make_demo_data
from ras_lightning.data.discovery import DataError

__all__ = ["DataError", "SODDataModule", "discover_set", "make_demo_data"]
