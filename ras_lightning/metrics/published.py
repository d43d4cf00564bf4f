"""The published RAS numbers (README figure of ShuhanChen/RAS-pytorch, RTX 2080Ti).

Columns as the figure: E-measure (adaptive), S-measure, F-measure (adaptive), MAE, from the
MATLAB evaluation in F3Net's repository (``convention=f3net``); FPS at batch 1, 352 px, and
the model size in MB. ``eval ... compare=paper`` prints them beside ours.
"""

from __future__ import annotations

import re

# (adaptive_e, s_measure, adaptive_f, mae) per dataset
PUBLISHED: dict[str, dict[str, tuple[float, float, float, float]]] = {
    "v1": {
        "ECSSD": (0.925, 0.921, 0.917, 0.036),
        "HKU-IS": (0.952, 0.912, 0.904, 0.031),
        "DUTS-TE": (0.900, 0.881, 0.826, 0.038),
        "DUT-OMRON": (0.874, 0.837, 0.765, 0.053),
    },
    "v2": {
        "ECSSD": (0.928, 0.925, 0.923, 0.034),
        "HKU-IS": (0.952, 0.915, 0.906, 0.030),
        "DUTS-TE": (0.901, 0.884, 0.831, 0.037),
        "DUT-OMRON": (0.872, 0.836, 0.763, 0.055),
    },
}
PUBLISHED_FPS = {"v1": 94.0, "v2": 110.0}
PUBLISHED_MB = {"v1": 99.1, "v2": 98.6}
PAPER_COLUMNS = ("adaptive_e", "s_measure", "adaptive_f", "mae")

_ALIASES = {"DUTS": "DUTS-TE", "DUTSTE": "DUTS-TE", "DUTO": "DUT-OMRON", "DUTOMRON": "DUT-OMRON"}


def published(version: str, dataset: str) -> dict[str, float] | None:
    """The paper's four numbers for ``dataset`` (names as the benchmarks spell them, case and
    punctuation ignored), or None when the figure has no such column."""
    table = PUBLISHED.get(version, {})
    key = re.sub(r"[^A-Z0-9]", "", dataset.upper())
    for name, values in table.items():
        if re.sub(r"[^A-Z0-9]", "", name) == key or _ALIASES.get(key) == name:
            return dict(zip(PAPER_COLUMNS, values, strict=True))
    return None
