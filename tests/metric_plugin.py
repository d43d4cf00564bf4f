"""An extra metric registered from outside the package, as a user would (README, "Adding a
metric"): the IoU (Jaccard index) of the map binarised at the adaptive threshold, a mean over
images, 1 where map and mask are both empty (the built-in ``adaptive_iou`` gives 0 there).

``python tests/metric_plugin.py <module> [args]`` registers it, then runs
``python -m ras_lightning.<module> [args]`` in this process (what ``tests/test_metrics.py``
runs in a subprocess).
"""

from __future__ import annotations

import runpy
import sys

from ras_lightning.metrics.functional import SODImage, kernel
from ras_lightning.metrics.registry import Family, MetricInfo, register


@kernel
def adaptive_jaccard(img: SODImage) -> dict[str, float]:
    """IoU of the map at min(2 * mean, 1) with the mask."""
    tp, pp = img.adaptive
    union = pp + img.gt_fg - tp
    return {"adaptive_jaccard": tp / union if union else 1.0}


FAMILY = Family(
    "adaptive_jaccard",
    adaptive_jaccard,
    (MetricInfo("adaptive_jaccard", "adpJ", "Jaccard (adaptive)"),),
)


def main() -> None:
    register(FAMILY)
    module = sys.argv[1]
    sys.argv = [f"ras_lightning.{module}", *sys.argv[2:]]
    runpy.run_module(f"ras_lightning.{module}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
