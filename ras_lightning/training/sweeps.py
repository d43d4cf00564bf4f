"""Optuna studies that outlive a sweep (``hparams_search=optuna`` with
``hydra.sweeper.storage``): a Hydra callback around the Optuna sweeper.

Before the sweep it makes sure the study exists in its storage, created once under a file
lock beside an SQLite file (sweep processes or array jobs started together would otherwise
race to create the tables); the sweeper then loads it and adds its trials to it. After the
sweep it reads the study back from the storage, so the report covers every process's
trials: one log line and ``<sweep dir>/study.yaml`` with the counts and the best trial.
"""

from __future__ import annotations

import fcntl
import logging
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, ListConfig, OmegaConf
from sqlalchemy.exc import SQLAlchemyError

from ras_lightning.utils.errors import UserError, user_errors
from ras_lightning.utils.files import write_atomic

log = logging.getLogger(__name__)

_EXAMPLE = "hydra.sweeper.storage=sqlite:///logs/optuna/ras.db"


def _optuna() -> Any:
    """``optuna``, imported with alembic's set-up lines (INFO, on import) kept out of the log;
    this module is imported first (Hydra builds the callbacks before the sweeper)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    import optuna

    return optuna


def storage_url(value: Any) -> str | None:
    """``hydra.sweeper.storage`` as a database URL (None: the study lives in the sweep's
    memory; also None for a storage node with a ``_target_``, which the sweeper builds)."""
    if value is None or isinstance(value, (DictConfig, dict)) or str(value) == "":
        return None
    url = str(value)
    if "://" not in url:
        hint = ""
        if url.endswith((".log", ".journal", ".jsonl")):
            hint = (
                "; Optuna's journal file storage needs Optuna >= 3.1, which the released "
                "hydra-optuna-sweeper (1.3, Optuna 2.10) does not allow"
            )
        raise UserError(
            f"hydra.sweeper.storage={url}: not a database URL; use an SQLite file "
            f"({_EXAMPLE}) or a database server's URL{hint}"
        )
    return url


def sqlite_file(url: str) -> Path | None:
    """The file of an ``sqlite:///path`` URL (None for other databases and in-memory)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def directions(value: Any) -> list[str]:
    """``hydra.sweeper.direction`` (one direction or a list) as Optuna's direction names."""
    items = list(value) if isinstance(value, (ListConfig, list, tuple)) else [value]
    return [str(getattr(d, "name", d)).lower() for d in items]


def ensure_study(url: str, study_name: str, direction: Sequence[str], tries: int = 5) -> None:
    """Create the study ``study_name`` in ``url`` unless it exists, safe when several
    processes start at once: under a lock file beside an SQLite file, and retried on a
    database's transient errors (a table created by another process, a locked file)."""
    db = sqlite_file(url)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    lock = db.with_name(db.name + ".lock") if db is not None else None
    for attempt in range(tries):
        try:
            with _file_lock(lock):
                _optuna().create_study(
                    study_name=study_name,
                    storage=url,
                    directions=list(direction),
                    load_if_exists=True,
                )
            return
        except ValueError as err:  # the study exists with other directions
            raise UserError(f"study {study_name} in {url}: {err}") from None
        except SQLAlchemyError as err:
            if attempt == tries - 1:
                raise UserError(f"hydra.sweeper.storage={url}: {err}") from None
            time.sleep(0.5 + random.random())


def study_summary(url: str, study_name: str) -> dict[str, Any]:
    """What the storage holds of the study: its trials by state and the best trial (number,
    value, params), or the best trials of a multi-objective study."""
    study = _optuna().load_study(study_name=study_name, storage=url)
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name for t in trials)
    summary: dict[str, Any] = {
        "study_name": study_name,
        "storage": url,
        "trials": len(trials),
        "states": dict(sorted(states.items())),
    }
    if not states.get("COMPLETE"):
        summary["best_trial"] = None
    elif len(study.directions) == 1:
        best = study.best_trial
        summary["best_trial"] = {"number": best.number, "value": best.value, "params": best.params}
    else:
        summary["best_trials"] = [
            {"number": t.number, "values": t.values, "params": t.params} for t in study.best_trials
        ]
    return summary


def summary_line(summary: dict[str, Any]) -> str:
    states = ", ".join(f"{n} {s.lower()}" for s, n in summary["states"].items())
    head = f"study {summary['study_name']} in {summary['storage']}: {summary['trials']} trials"
    head += f" ({states})" if states else ""
    best = summary.get("best_trial")
    if best:
        params = ", ".join(f"{k}={v}" for k, v in best["params"].items())
        head += f"; best trial #{best['number']}: {best['value']:.6g} with {params}"
    return head


class OptunaStudy(Callback):
    """``hydra.callbacks`` entry of ``hparams_search=optuna``: creates the shared study before
    the sweep and reports it, from the storage, after (nothing without a storage)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        with user_errors():
            url = storage_url(OmegaConf.select(config, "hydra.sweeper.storage"))
            if url is None:
                return
            name = OmegaConf.select(config, "hydra.sweeper.study_name")
            if not name:
                raise UserError(
                    f"hydra.sweeper.study_name is empty: a study in {url} needs a name "
                    "(the processes that share it use the same one)"
                )
            ensure_study(url, str(name), directions(config.hydra.sweeper.direction))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        with user_errors():
            url = storage_url(OmegaConf.select(config, "hydra.sweeper.storage"))
            if url is None:
                return
            summary = study_summary(url, str(config.hydra.sweeper.study_name))
            out = Path(str(config.hydra.sweep.dir)) / "study.yaml"
            write_atomic(out, yaml.safe_dump(summary, sort_keys=False))
            log.info("%s (%s)", summary_line(summary), out)
