"""The ``main()`` of every command: Hydra composes ``conf/<name>.yaml`` with the command line,
the command's ``run(cfg)`` runs it, and a user's mistake ends as one line ``error: ...`` with
exit status 1 (:func:`ras_lightning.utils.errors.user_errors`)."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ras_lightning.utils.errors import user_errors


def hydra_command(
    name: str,
    run: Callable[[DictConfig], Any],
    check_args: Callable[[Sequence[str]], None] | None = None,
    log_run_dir: bool = False,
) -> Callable[[], Any]:
    """The console-script ``main`` of the command ``name`` (config ``conf/<name>.yaml``).

    ``check_args`` sees the raw arguments before Hydra composes anything (a wrong config-group
    choice is one line, not Hydra's traceback); ``log_run_dir`` logs the run folder first.
    """

    # Hydra follows __wrapped__ to ``run``: its module (the command's file) gives the job
    # name and the folder ``conf/`` beside it, as when ``run`` itself is decorated
    @functools.wraps(run)
    def task(cfg: DictConfig) -> Any:
        with user_errors():
            if log_run_dir:
                log = logging.getLogger(f"ras_lightning.{name}")
                log.info("run dir: %s", HydraConfig.get().runtime.output_dir)
            return run(cfg)

    hydra_main = hydra.main(version_base="1.3", config_path="conf", config_name=name)(task)

    def main() -> Any:
        if check_args is not None:
            with user_errors():
                check_args(sys.argv[1:])
        return hydra_main()

    main.__doc__ = f"The ``{name}`` command: ``python -m ras_lightning.{name}`` / ``ras-{name}``."
    return main
