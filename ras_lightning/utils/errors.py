"""User-facing errors: one line, non-zero exit, no traceback unless ``HYDRA_FULL_ERROR=1``."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class UserError(Exception):
    """A problem with the user's settings or files, reported without a traceback."""


class DataError(ValueError):
    """Bad data: reported as one line, before any training starts (also importable from
    :mod:`ras_lightning.data`)."""


def require(cfg: Any, keys: Mapping[str, str], example: str) -> None:
    """Stop with one line naming the first of ``keys`` (key -> what it is) that is unset
    (``???`` or null) in ``cfg``, with ``example``: a whole command that works.

    The entry points' configs keep ``hydra.run.dir`` free of these keys, so Hydra composes
    the config without them and this check, not a long Hydra traceback, reports them."""
    from omegaconf import OmegaConf

    for key, what in keys.items():
        if OmegaConf.select(cfg, key, throw_on_missing=False, default=None) in (None, ""):
            raise UserError(
                f"missing {key}=... ({what}); e.g. {example}  (--help lists every setting)"
            )


def check_outside(output: str | Path, folders: Mapping[str, str | Path | None]) -> None:
    """Refuse (:class:`UserError`) an ``output`` folder that is one of ``folders`` (setting
    -> data folder) or inside one, symlinks resolved: outputs never go into a dataset."""
    out = Path(output).expanduser().resolve()
    for name, folder in folders.items():
        if folder is None:
            continue
        data = Path(folder).expanduser().resolve()
        if out == data or data in out.parents:
            where = "is" if out == data else "is inside"
            raise UserError(
                f"output_dir {output} {where} {name} ({folder}): nothing is written into a "
                "dataset; choose an output_dir outside it"
            )


def _one_line(err: BaseException) -> str:
    msg = str(err).strip()
    if "Original Traceback" in msg:  # re-raised from a DataLoader worker: keep the cause
        msg = msg.splitlines()[-1]
        msg = msg.split(": ", 1)[1] if ": " in msg else msg
    return msg.splitlines()[0] if msg else type(err).__name__


@contextmanager
def user_errors(*extra: type[BaseException]) -> Iterator[None]:
    """Turn :class:`UserError` (and ``extra`` types) into ``error: <message>`` and exit 1."""
    from omegaconf.errors import MissingMandatoryValue

    kinds = (UserError, DataError, FloatingPointError, *extra)
    try:
        yield
    except MissingMandatoryValue as err:  # a ``???`` key that no check above named
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        key = getattr(err, "full_key", "") or _one_line(err)
        print(f"error: missing mandatory setting {key}=... (see --help)", file=sys.stderr)
        sys.exit(1)
    except kinds as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        logging.getLogger("ras_lightning").debug("error", exc_info=True)
        print(f"error: {_one_line(err)}", file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception as err:
        # Errors re-raised from DataLoader workers keep their message but may change type.
        if "DataError" in str(err) and os.environ.get("HYDRA_FULL_ERROR") != "1":
            print(f"error: {_one_line(err)}", file=sys.stderr, flush=True)
            sys.exit(1)
        raise


def require_counts(
    cfg: Any, minimums: Mapping[str, int | tuple[int, str]], nullable: Iterable[str] = ()
) -> None:
    """Stop with one line naming the first of ``minimums`` (key -> the least value, or
    (least value, why)) whose value in ``cfg`` is not a whole number at least that: counts
    and sizes of zero or below are refused before any work, never run as an empty loop or a
    table of zeros. A ``nullable`` key may be null (its default applies); a key that the
    config does not have (or leaves ``???``) is left to the checks that name missing keys."""
    from omegaconf import OmegaConf

    absent = object()
    for key, least in minimums.items():
        low, why = least if isinstance(least, tuple) else (least, "")
        value = OmegaConf.select(cfg, key, throw_on_missing=False, default=absent)
        if value is absent or (value is None and key in nullable):
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            what = f"a whole number >= {low}" + (f" ({why})" if why else "")
            what += " or null" if key in nullable else ""
            raise UserError(f"{key}={value!r}: must be {what}")


def require_choices(cfg: Any, choices: Mapping[str, Sequence[str]]) -> None:
    """Stop with one line naming the first of ``choices`` (key -> its allowed values) whose
    value in ``cfg`` is not one of them, before any work (a key the config does not have is
    skipped)."""
    from omegaconf import OmegaConf

    absent = object()
    for key, allowed in choices.items():
        value = OmegaConf.select(cfg, key, throw_on_missing=False, default=absent)
        if value is not absent and str(value) not in allowed:
            raise UserError(f"{key}={value!r}: must be one of {', '.join(allowed)}")
