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
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

import ras_lightning.utils.resolvers  # noqa: F401  (registers the config resolvers)
from ras_lightning.training.checkpoint_io import AtomicCheckpointIO
from ras_lightning.training.config_checks import (
    check_checkpoint,
    check_group_choices,
    check_values,
    conf_dir,
)
from ras_lightning.training.loggers import build_loggers
from ras_lightning.utils.errors import UserError, user_errors

log = logging.getLogger("ras_lightning.train")


def _flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            out[k] = float(v)
        elif isinstance(v, (int, float)):
            out[k] = float(v)
    return out


def instantiate_model(cfg: DictConfig, **kwargs: Any) -> L.LightningModule:
    """The LightningModule of ``cfg.model``, with its nested network, loss, optimizer and
    scheduler nodes (``kwargs`` fill keys the node leaves out). A component's
    :class:`UserError` (it names its setting) or a wrong argument in a node comes out as a
    one-line :class:`UserError` instead of Hydra's wrapped traceback."""
    kwargs = {k: v for k, v in kwargs.items() if k not in cfg.model}
    try:
        return instantiate(cfg.model, **kwargs)
    except InstantiationException as err:
        cause: BaseException | None = err
        while cause is not None and not isinstance(cause, (UserError, TypeError)):
            cause = cause.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        if isinstance(cause, TypeError):  # e.g. an argument the target does not take
            raise UserError(f"model: {cause}") from None
        raise


def run(cfg: DictConfig) -> float | None:
    """Fit and test as configured; write ``metrics.json``; return ``cfg.optimized_metric``."""
    out_dir = Path(cfg.paths.output_dir)
    # every bad value is one line naming its key, before any data is read
    check_values(cfg)
    check_checkpoint(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(cfg.data)
    # Fail on bad data now, before the network is built or anything is trained.
    datamodule.prepare_data()
    datamodule.setup("fit")
    if cfg.get("test"):
        datamodule.setup("test")
    # saved with the weights, so inference preprocesses as the training did
    model = instantiate_model(cfg, input_recipe=datamodule.recipe, eval_size=datamodule.eval_size)

    val_names = list(getattr(datamodule, "val_names", []))
    test_ckpt = str(cfg.get("test_ckpt", "last"))
    if test_ckpt not in ("last", "best"):
        raise UserError(f"test_ckpt must be 'last' or 'best', got {test_ckpt!r}")
    if test_ckpt == "best" and not val_names and cfg.get("train", True) and cfg.get("test"):
        raise UserError(
            "test_ckpt=best needs a validation set: set data.val_fraction (e.g. 0.05) or "
            "data.val_sets, or test the last epoch (test_ckpt=last, the authors' choice)"
        )
    callbacks = []
    for name, cb_cfg in (cfg.get("callbacks") or {}).items():
        if cb_cfg is None or "_target_" not in cb_cfg:
            continue
        if name == "model_checkpoint" and cb_cfg.get("monitor") == "auto":
            if not val_names:
                continue  # no validation, no "best": last.ckpt is the run's checkpoint
            cb_cfg = OmegaConf.merge(cb_cfg, {"monitor": f"val/{val_names[0]}/max_f"})
        callbacks.append(instantiate(cb_cfg))
    loggers = build_loggers(cfg)
    # checkpoints are written beside their final name and renamed into place
    plugins = [*(cfg.trainer.get("plugins") or []), AtomicCheckpointIO()]
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins
    )

    metrics: dict[str, float] = {}
    if cfg.get("train", True):
        # our own checkpoints hold the loop and callback states: trusted, full unpickling
        try:
            trainer.fit(
                model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=False
            )
        except SIGTERMException:
            # Lightning exits with status 0 on SIGTERM; report the interruption instead
            log.error("stopped by SIGTERM; the interrupted.ckpt in checkpoints/ resumes it")
            sys.exit(143)
        metrics.update(_flat_metrics(trainer.callback_metrics))
    if cfg.get("test"):
        ckpt = cfg.get("ckpt_path")  # test-only runs evaluate the given checkpoint
        if cfg.get("train", True):
            # test_ckpt=last: the last epoch's weights, as the authors evaluate (and release)
            # them; test_ckpt=best: the best epoch on the validation set
            ckpt = None
            if test_ckpt == "best" and not trainer.fast_dev_run:
                best = [c.best_model_path for c in trainer.checkpoint_callbacks if c.monitor]
                ckpt = next((b for b in best if b), None)
        log.info("testing %s", ckpt or "the last epoch's weights")
        trainer.test(model, datamodule=datamodule, ckpt_path=ckpt, weights_only=False)
        metrics.update(_flat_metrics(trainer.callback_metrics))

    if trainer.is_global_zero:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
        log.info("metrics written to %s", out_dir / "metrics.json")
    key = cfg.get("optimized_metric")
    if key == "auto":
        key = f"val/{val_names[0]}/max_f" if val_names else None
        if key is None:
            log.warning("optimized_metric=auto needs a validation set (data.val_fraction > 0)")
    if key:
        value = metrics.get(key)
        if value is None or not math.isfinite(value):
            log.warning("optimized_metric %s not found in the run's metrics", key)
            return None
        return value
    return None


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    with user_errors():
        log.info("run dir: %s", HydraConfig.get().runtime.output_dir)
        return run(cfg)


def main() -> float | None:
    """The ``train`` command: config-group choices are checked first (``strategy=v3`` is one
    line listing the choices), then Hydra composes the config and :func:`run` runs it."""
    with user_errors():
        check_group_choices(sys.argv[1:], conf_dir())
    return _hydra_main()


if __name__ == "__main__":
    main()
