"""What ``train`` runs once its config is checked: the DataModule, the LightningModule, the
callbacks, loggers and Trainer of ``conf/train.yaml``; fit, then test."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from ras_lightning.data.leaks import write_excluded
from ras_lightning.metrics.per_image import write_per_image
from ras_lightning.training.checkpoint_io import AtomicCheckpointIO
from ras_lightning.training.loggers import build_loggers
from ras_lightning.training.quiet import quiet_trainer
from ras_lightning.utils.errors import UserError

log = logging.getLogger("ras_lightning.train")


class Interrupted(Exception):
    """Training stopped by SIGTERM (Lightning saved ``interrupted.ckpt`` first)."""


@dataclass
class FitResult:
    """The run's scalar metrics, its validation sets, and whether this is the rank that
    writes files."""

    metrics: dict[str, float] = field(default_factory=dict)
    val_names: list[str] = field(default_factory=list)
    is_global_zero: bool = True


def flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar entries of Lightning's ``callback_metrics`` as floats."""
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


def build_callbacks(cfg: DictConfig, val_names: list[str]) -> list:
    """The configured callbacks; ``monitor: auto`` watches the first validation set's max F,
    and without a validation set the "best" checkpoint callback is left out (``last.ckpt``
    is the run's checkpoint)."""
    callbacks = []
    for name, cb_cfg in (cfg.get("callbacks") or {}).items():
        if cb_cfg is None or "_target_" not in cb_cfg:
            continue
        if name == "model_checkpoint" and cb_cfg.get("monitor") == "auto":
            if not val_names:
                continue
            cb_cfg = OmegaConf.merge(cb_cfg, {"monitor": f"val/{val_names[0]}/max_f"})
        callbacks.append(instantiate(cb_cfg))
    return callbacks


def _gather(items: list, world_size: int) -> list:
    """``items`` of every rank, rank by rank (each image is on one rank: unpadded sampler)."""
    dist = torch.distributed
    if world_size <= 1 or not (dist.is_available() and dist.is_initialized()):
        return items
    parts: list = [None] * world_size
    dist.all_gather_object(parts, items)
    return [item for part in parts for item in part]


class PerImageWriter(L.Callback):
    """After the test, ``test_per_image.csv`` (and ``test_per_image_curves.npz``) in ``out``:
    every test image's values (:mod:`ras_lightning.metrics.per_image`), the method named as
    the run folder, images sorted by name (the ranks' order is not the data's). The images'
    statistics are taken from the module's test metrics (``keep_images``) and gathered over
    the ranks at the test epoch's end (every rank takes part; callbacks run before the
    module's own hook, which computes and resets the metrics), and written by global rank 0
    where the test ran (a ``ddp_spawn`` worker too)."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.images: dict[str, list[tuple[str, dict]]] = {}
        self.selected: tuple[str, ...] | None = None  # the test's metrics= selection

    def on_test_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.images = {
            name: _gather(module.set_metrics[f"test/{name}"].take_images(), trainer.world_size)
            for name in module.set_names["test"]
        }
        sets = [module.set_metrics[f"test/{n}"] for n in module.set_names["test"]]
        self.selected = sets[0].selection.names if sets else None

    def on_test_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        groups = []
        for name, items in self.images.items():
            items = sorted(items, key=lambda item: item[0])
            groups.append((name, self.out.name, [n for n, _ in items], [s for _, s in items]))
        if any(g[2] for g in groups):
            write_per_image(self.out, groups, "pysodmetrics", "test_", self.selected)


def fit_and_test(cfg: DictConfig) -> FitResult:
    """Fit (``cfg.train``) and test (``cfg.test``) as configured. Bad data fails before the
    network is built; SIGTERM during fit raises :class:`Interrupted`."""
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    if cfg.get("test"):
        datamodule.setup("test")
    # saved with the weights, so inference preprocesses as the training did
    model = instantiate_model(cfg, input_recipe=datamodule.recipe, eval_size=datamodule.eval_size)

    result = FitResult(val_names=list(getattr(datamodule, "val_names", [])))
    train = cfg.get("train", True)
    # test_ckpt is checked before any data is read (config_checks.check_test_ckpt); this
    # catches a validation share that leaves no photo
    test_ckpt = str(cfg.get("test_ckpt", "last"))
    if test_ckpt == "best" and not result.val_names and train and cfg.get("test"):
        raise UserError(
            "test_ckpt=best needs a validation set: set data.val_fraction (e.g. 0.05) or "
            "data.val_sets, or test the last epoch (test_ckpt=last, the authors' choice)"
        )
    callbacks = build_callbacks(cfg, result.val_names)
    if cfg.get("test"):
        callbacks.append(PerImageWriter(cfg.paths.output_dir))
    loggers = build_loggers(cfg)
    # checkpoints are written beside their final name and renamed into place
    plugins = [*(cfg.trainer.get("plugins") or []), AtomicCheckpointIO()]
    # Lightning's notes a user cannot act on are left out where they arise (training/quiet.py)
    with quiet_trainer(on_gpu=True):
        trainer: L.Trainer = instantiate(
            cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins
        )
    on_gpu = trainer.strategy.root_device.type != "cpu"
    result.is_global_zero = trainer.is_global_zero
    excluded = getattr(datamodule, "excluded_leaks", None)
    if cfg.get("test") and getattr(datamodule, "exclude_leaks", False) and excluded is not None:
        # data.exclude_leaks: the test photos left out as leaks, named in the run folder
        result.metrics["data/excluded_leaks"] = float(sum(len(v) for v in excluded.values()))
        result.metrics |= {f"data/{k}/excluded_leaks": float(len(v)) for k, v in excluded.items()}
        if trainer.is_global_zero:
            write_excluded(Path(cfg.paths.output_dir), excluded)
    if train:
        # our own checkpoints hold the loop and callback states: trusted, full unpickling
        try:
            with quiet_trainer(on_gpu):
                trainer.fit(
                    model,
                    datamodule=datamodule,
                    ckpt_path=cfg.get("ckpt_path"),
                    weights_only=False,
                )
        except SIGTERMException:  # Lightning would exit with status 0
            raise Interrupted from None
        result.metrics.update(flat_metrics(trainer.callback_metrics))
    if cfg.get("test"):
        ckpt = cfg.get("ckpt_path")  # test-only runs evaluate the given checkpoint
        if train:
            # test_ckpt=last: the last epoch's weights, as the authors evaluate (and release)
            # them; test_ckpt=best: the best epoch on the validation set
            ckpt = None
            if test_ckpt == "best" and not trainer.fast_dev_run:
                best = [c.best_model_path for c in trainer.checkpoint_callbacks if c.monitor]
                ckpt = next((b for b in best if b), None)
        log.info("testing %s", ckpt or "the last epoch's weights")
        with quiet_trainer(on_gpu):
            trainer.test(model, datamodule=datamodule, ckpt_path=ckpt, weights_only=False)
        result.metrics.update(flat_metrics(trainer.callback_metrics))
    return result
