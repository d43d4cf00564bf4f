"""Settings checked before any data is read: every bad value is one line naming its key.

Three checks, in the order the train command runs them: the config-group choices on the
command line (before Hydra composes: ``strategy=foo`` lists the choices instead of Hydra's
multi-line report), the composed values (:func:`check_values`: numbers, the keys of every
``_target_`` node, the accelerator, ``test_ckpt``) and the checkpoint to resume from
(:func:`check_checkpoint`).
"""

from __future__ import annotations

import difflib
import inspect
import math
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from ras_lightning.utils.errors import UserError, require_counts
from ras_lightning.utils.text import plural

# groups whose options live outside this package's conf folder (Hydra's own plugins)
_FOREIGN_GROUPS = ("hydra",)


def _options(conf_dir: Path, group: str) -> list[str] | None:
    folder = conf_dir / group
    if not folder.is_dir():
        return None
    # ``_base``: what a group's options share, not an option
    files = [p for p in folder.iterdir() if p.suffix in (".yaml", ".yml")]
    return sorted(p.stem for p in files if not p.stem.startswith("_"))


def check_group_choices(args: Sequence[str], conf_dir: Path) -> None:
    """Stop with one line when a command-line override picks a config-group option that does
    not exist (``strategy=v3``, ``model/backbone=resnet15``), listing the choices."""
    if any(a.split("=", 1)[0].lstrip("+~") == "hydra.searchpath" for a in args):
        return  # options may come from elsewhere: let Hydra decide
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # noqa: BLE001 (a syntax error: Hydra reports it itself)
        return
    for ov in parsed:
        group = ov.key_or_group
        if ov.is_delete() or group.split("/")[0] in _FOREIGN_GROUPS:
            continue
        options = _options(conf_dir, group)
        if options is None:
            continue  # a value, not a group
        if ov.is_sweep_override():
            try:
                values = list(ov.sweep_string_iterator())
            except Exception:  # noqa: BLE001 (interval/range sweeps of values)
                continue
        else:
            value = ov.value()
            values = value if isinstance(value, list) else [value]
        for value in values:
            if value is None or str(value) == "null" or str(value) in options:
                continue
            raise UserError(
                f"{group}={value}: no such {group} option; choose one of {', '.join(options)}"
            )


def _number(cfg: DictConfig, key: str, low: float, *, inclusive: bool, what: str) -> None:
    value = OmegaConf.select(cfg, key, default=None)
    if value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value >= low if inclusive else value > low)
    if not ok:
        raise UserError(f"{key}={value!r}: must be {what}")


def _integer(cfg: DictConfig, key: str, low: int, what: str, *, allow_null: bool) -> None:
    value = OmegaConf.select(cfg, key, default=None)
    if value is None and allow_null:
        return
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
        raise UserError(f"{key}={value!r}: must be {what}")


def check_values(cfg: DictConfig) -> None:
    """Stop with one line naming the first bad learning rate, batch size, image size, epoch
    count or other number of the train config."""
    _number(cfg, "optimizer.lr", 0, inclusive=False, what="a number > 0 (e.g. 1e-3)")
    _number(cfg, "optimizer.weight_decay", 0, inclusive=True, what="a number >= 0")
    _number(cfg, "optimizer.momentum", 0, inclusive=True, what="a number >= 0")
    _number(cfg, "model.backbone_lr_mult", 0, inclusive=True, what="a number >= 0")
    _integer(cfg, "data.batch_size", 1, "a whole number >= 1", allow_null=False)
    _integer(cfg, "data.eval_batch_size", 1, "a whole number >= 1 (or null)", allow_null=True)
    # below the network's stride (32) the deepest feature map is empty or 1x1
    size = "a whole number >= 32 (pixels; the network's stride)"
    _integer(cfg, "data.image_size", 32, size, allow_null=False)
    _integer(cfg, "data.eval_size", 32, size + " (or null)", allow_null=True)
    scales = OmegaConf.select(cfg, "data.multiscale", default=None)
    if scales is not None:
        if not isinstance(scales, (list, ListConfig)) or not scales:
            raise UserError(f"data.multiscale={scales!r}: must be a list of sizes or null")
        for i in range(len(scales)):
            _integer(cfg, f"data.multiscale.{i}", 32, size, allow_null=False)
    _integer(cfg, "data.num_workers", 0, "a whole number >= 0", allow_null=False)
    _number(cfg, "data.val_fraction", 0, inclusive=True, what="a fraction in [0, 1)")
    if (OmegaConf.select(cfg, "data.val_fraction", default=0) or 0) >= 1:
        raise UserError(f"data.val_fraction={cfg.data.val_fraction}: must be a fraction in [0, 1)")
    unpaired = OmegaConf.select(cfg, "data.on_unpaired", default="error")
    if unpaired not in ("error", "skip"):
        raise UserError(f"data.on_unpaired={unpaired!r}: must be error or skip")
    # the lr schedules are planned over max_epochs: -1 (endless) has no plan
    _integer(cfg, "trainer.max_epochs", 1, "a whole number >= 1", allow_null=False)
    seed = OmegaConf.select(cfg, "seed", default=None)
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise UserError(f"seed={seed!r}: must be a whole number or null")
    require_counts(
        cfg,
        {
            "trainer.min_epochs": 0,
            "trainer.check_val_every_n_epoch": 1,
            "trainer.log_every_n_steps": 1,
            "trainer.accumulate_grad_batches": 1,
            "trainer.num_nodes": 1,
            "callbacks.prediction_panel.count": 1,
            "callbacks.prediction_panel.every_n_epochs": 1,
        },
        nullable=("trainer.min_epochs", "trainer.check_val_every_n_epoch"),
    )
    check_test_ckpt(cfg)
    check_targets(cfg)
    check_accelerator(cfg)


# Hydra's own keys of a ``_target_`` node, not arguments of the target
_HYDRA_KEYS = frozenset({"_target_", "_partial_", "_recursive_", "_convert_", "_args_"})


def check_targets(cfg: DictConfig) -> None:
    """Stop with one line when a ``_target_`` node (the model, its network, backbone and loss,
    the optimizer, the scheduler, the data module, the trainer, callbacks, loggers) holds a
    key its target does not take (``+optimizer.lrr=1e-3``): the key, a close match and the
    valid keys, from the target's signature, before anything is built or read. Targets that
    take ``**kwargs`` or cannot be imported here are left to Hydra."""
    _walk(cfg, "")


def _walk(node: Any, prefix: str) -> None:
    if isinstance(node, DictConfig):
        if "_target_" in node and not OmegaConf.is_interpolation(node, "_target_"):
            _check_target(node, prefix)
        keys: list[Any] = [k for k in node.keys() if not (prefix == "" and k == "hydra")]
    elif isinstance(node, ListConfig):
        keys = list(range(len(node)))
    else:
        return
    for key in keys:
        # an interpolated node (model.optimizer: ${optimizer}) is checked where it is set
        if OmegaConf.is_interpolation(node, key) or OmegaConf.is_missing(node, key):
            continue
        _walk(node[key], f"{prefix}.{key}" if prefix else str(key))


def _check_target(node: DictConfig, where: str) -> None:
    from hydra.utils import get_object

    target = str(node._target_)
    try:
        obj = get_object(target)
        params = list(inspect.signature(obj).parameters.values())
    except Exception:  # noqa: BLE001 (not importable here or no signature: Hydra reports it)
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [p.name for p in params if p.kind in named]
    for key in node.keys():
        key = str(key)
        if key in _HYDRA_KEYS or key in names:
            continue
        # the caller passes the leading arguments without defaults (a partial optimizer's
        # params, a loss's logits and target): not settings a user gives
        valid = [
            p.name
            for p in params
            if p.kind in named and (p.default is not inspect.Parameter.empty or p.name in node)
        ]
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        listed = f"its keys: {', '.join(valid)}" if valid else "it takes no settings"
        at = f"{where}.{key}" if where else key
        raise UserError(f"{at}: {target} takes no {key}{hint}; {listed}")


def check_test_ckpt(cfg: DictConfig) -> None:
    """``test_ckpt`` is last or best; best needs a validation set (data.val_sets or
    data.val_fraction > 0) when the run trains and tests: refused before any data is read."""
    test_ckpt = str(cfg.get("test_ckpt", "last"))
    if test_ckpt not in ("last", "best"):
        raise UserError(f"test_ckpt must be 'last' or 'best', got {test_ckpt!r}")
    if test_ckpt != "best" or not cfg.get("train", True) or not cfg.get("test"):
        return
    val_sets = OmegaConf.select(cfg, "data.val_sets", default=None)
    fraction = OmegaConf.select(cfg, "data.val_fraction", default=0) or 0
    if not val_sets and not fraction:
        raise UserError(
            "test_ckpt=best needs a validation set: set data.val_fraction (e.g. 0.05) or "
            "data.val_sets, or test the last epoch (test_ckpt=last, the authors' choice)"
        )


def check_accelerator(cfg: DictConfig) -> None:
    """``trainer.accelerator=gpu|cuda|mps`` on a machine without one, or more
    ``trainer.devices`` than it has: one line before any data is read (Lightning would say so
    only when the trainer is built, after the data check)."""
    accel = str(OmegaConf.select(cfg, "trainer.accelerator", default="auto") or "auto").lower()
    if accel not in ("gpu", "cuda", "mps"):
        return
    import torch

    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if accel == "mps" or (accel == "gpu" and not cuda and mps):
        if not mps:
            raise UserError(
                "trainer.accelerator=mps: this machine has no Apple GPU (MPS) that PyTorch can "
                "use; use trainer.accelerator=auto or cpu"
            )
        return
    if not cuda:
        raise UserError(
            f"trainer.accelerator={accel}: no CUDA GPU is visible to PyTorch here "
            "(torch.cuda.is_available() is false); use trainer.accelerator=auto (the GPU "
            "when there is one) or cpu"
        )
    devices = OmegaConf.select(cfg, "trainer.devices", default=None)
    if isinstance(devices, int) and not isinstance(devices, bool) and devices > cuda:
        raise UserError(
            f"trainer.devices={devices}: only {cuda} CUDA GPU(s) here; set trainer.devices "
            f"to at most {cuda} (or -1: all of them)"
        )


def _fail(path: str, why: str) -> UserError:
    return UserError(f"ckpt_path={path}: {why}")


def check_checkpoint(cfg: DictConfig) -> dict[str, Any] | None:
    """Read ``ckpt_path`` (when set) and stop with one line if it is missing, empty,
    truncated, not a checkpoint of a ras-lightning training run, of another network than the
    config's, or (when training) already at ``trainer.max_epochs``. Returns the checkpoint."""
    path = cfg.get("ckpt_path")
    if path is None:
        return None
    path = str(path)
    file = Path(path).expanduser()
    if not path.strip():
        raise _fail(path, "empty path (give a checkpoint file, e.g. <run>/checkpoints/last.ckpt)")
    if not file.exists():
        raise _fail(path, "no such file")
    if not file.is_file():
        raise _fail(path, "not a file (give e.g. <run dir>/checkpoints/last.ckpt)")
    if file.stat().st_size == 0:
        raise _fail(path, "the file is empty (0 bytes; a run killed while writing it?)")
    if not zipfile.is_zipfile(file):
        raise _fail(path, "not a readable checkpoint (truncated or not a PyTorch file)")
    import torch

    try:
        # our own training checkpoints hold the loop and callback states (full unpickling, as
        # trainer.fit reads them); memory-mapped, so a large file costs little here
        ckpt = torch.load(file, map_location="cpu", weights_only=False, mmap=True)
    except Exception as err:  # noqa: BLE001 (any reader error: one line)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise _fail(path, f"not a readable checkpoint (truncated or corrupt: {first})") from None
    state = ckpt.get("state_dict") if isinstance(ckpt, dict) else None
    hparams = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not any(str(k).startswith("net.") for k in state):
        raise _fail(
            path,
            "not a checkpoint of a ras-lightning training run (the authors' RAS.vN.pth and "
            "other weights files are for eval/predict, not ckpt_path)",
        )
    training = bool(cfg.get("train", True))
    if training and not ("loops" in ckpt and ckpt.get("optimizer_states")):
        raise _fail(path, "a weights-only checkpoint: it has no training state to resume from")
    want = {
        "version": OmegaConf.select(cfg, "model.version", default=None),
        "backbone": OmegaConf.select(cfg, "model.net.backbone.name", default=None),
    }
    for key, value in want.items():
        have = (hparams or {}).get(key)
        if value is not None and have is not None and str(have) != str(value):
            raise _fail(
                path,
                f"trained with model {key} {have}, but this run's is {value} (pick the same "
                "strategy/model/backbone as that run)",
            )
    epochs_done = int(ckpt.get("epoch", -1)) + 1 if "epoch" in ckpt else None
    max_epochs = OmegaConf.select(cfg, "trainer.max_epochs", default=None)
    if training and epochs_done is not None and isinstance(max_epochs, int):
        done = _epochs_completed(ckpt, epochs_done)
        if done >= max_epochs:
            raise _fail(
                path,
                f"that run has trained {plural(done, 'epoch')}, "
                f"trainer.max_epochs={max_epochs} leaves "
                f"nothing to train: set trainer.max_epochs above {done} to continue it, or "
                "train=false to test it",
            )
    return ckpt


def _epochs_completed(ckpt: dict[str, Any], fallback: int) -> int:
    try:
        # "processed": the epochs whose batches all ran (an end-of-epoch checkpoint counts its
        # epoch; an interrupted one does not)
        progress = ckpt["loops"]["fit_loop"]["epoch_progress"]["current"]
        return int(progress["processed"])
    except (KeyError, TypeError):
        return fallback


def conf_dir() -> Path:
    """The package's Hydra config folder."""
    return Path(os.path.dirname(__file__)).parent / "conf"
