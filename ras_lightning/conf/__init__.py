"""The Hydra configs of the entry points (a package, so Hydra finds them as
``pkg://ras_lightning.conf`` when a console script runs from an installed wheel)."""
