"""Building the configured loggers; W&B made safe to run unattended."""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def _wandb_logged_in() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        auth = netrc.netrc().authenticators("api.wandb.ai")
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return auth is not None


def _sweep_group() -> str | None:
    try:
        hc = HydraConfig.get()
    except ValueError:
        return None
    if hc.mode == RunMode.MULTIRUN:
        return Path(hc.sweep.dir).name
    return None


def build_loggers(cfg: DictConfig) -> list:
    """Instantiate every logger under ``cfg.logger``.

    W&B: ``group: auto`` puts the jobs of one multirun into one group; with no API key or
    login and no ``WANDB_MODE`` set, the run goes offline instead of prompting (it never
    waits for input); ``wandb sync <run dir>/wandb/offline-run-*`` uploads it later.
    """
    out = []
    for name, lg in (cfg.get("logger") or {}).items():
        if lg is None or "_target_" not in lg:
            continue
        if lg._target_.endswith("WandbLogger"):
            lg = OmegaConf.to_container(lg, resolve=True)
            if lg.get("group") == "auto":
                lg["group"] = _sweep_group()
            if not os.environ.get("WANDB_MODE") and not _wandb_logged_in():
                log.warning("W&B: no API key or login found; logging offline (wandb sync later)")
                lg["offline"] = True
            os.environ.setdefault("WANDB_SILENT", "true")
            Path(lg["save_dir"]).mkdir(parents=True, exist_ok=True)
            logger = instantiate(lg)
            # the resolved config, so runs can be compared by any setting
            logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
            out.append(logger)
        else:
            out.append(instantiate(lg))
        log.debug("logger %s ready", name)
    return out
