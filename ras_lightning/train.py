"""``python -m ras_lightning.train``: train RAS (Hydra app, ``conf/train.yaml``).

With no arguments it trains on the built-in demo data on the CPU; ``strategy=v1|v2
data.root=DIR`` runs the authors' recipes on DUTS.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path

from omegaconf import DictConfig

import ras_lightning.utils.resolvers  # noqa: F401  (registers the config resolvers)
from ras_lightning.training.config_checks import (
    check_checkpoint,
    check_group_choices,
    check_values,
    conf_dir,
)
from ras_lightning.utils.entry import hydra_command
from ras_lightning.utils.files import write_atomic

log = logging.getLogger("ras_lightning.train")


def run(cfg: DictConfig) -> float | None:
    """Fit and test as configured; write ``metrics.json``; return ``cfg.optimized_metric``."""
    # every bad value is one line naming its key, before any data is read
    check_values(cfg)
    check_checkpoint(cfg)
    # Lightning only once the settings hold: `train --help` and a bad value answer at once
    from ras_lightning.training.fit import Interrupted, fit_and_test

    try:
        result = fit_and_test(cfg)
    except Interrupted:
        log.error("stopped by SIGTERM; the interrupted.ckpt in checkpoints/ resumes it")
        sys.exit(143)
    if result.is_global_zero:
        out_dir = Path(cfg.paths.output_dir)
        write_atomic(out_dir / "metrics.json", json.dumps(result.metrics, indent=2, sort_keys=True))
        log.info("metrics written to %s", out_dir / "metrics.json")
    key = cfg.get("optimized_metric")
    if key == "auto":
        key = f"val/{result.val_names[0]}/max_f" if result.val_names else None
        if key is None:
            log.warning("optimized_metric=auto needs a validation set (data.val_fraction > 0)")
    if not key:
        return None
    value = result.metrics.get(key)
    if value is None or not math.isfinite(value):
        log.warning("optimized_metric %s not found in the run's metrics", key)
        return None
    return value


# config-group choices are checked before Hydra composes (`strategy=v3` is one line listing
# the choices)
main = hydra_command(
    "train", run, check_args=lambda args: check_group_choices(args, conf_dir()), log_run_dir=True
)

if __name__ == "__main__":
    main()
