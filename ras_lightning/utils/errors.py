"""User-facing errors: one line, non-zero exit, no traceback unless ``HYDRA_FULL_ERROR=1``."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


class UserError(Exception):
    """A problem with the user's settings or files, reported without a traceback."""


class DataError(ValueError):
    """Bad data: reported as one line, before any training starts (also importable from
    :mod:`ras_lightning.data`)."""


def _one_line(err: BaseException) -> str:
    msg = str(err).strip()
    if "Original Traceback" in msg:  # re-raised from a DataLoader worker: keep the cause
        msg = msg.splitlines()[-1]
        msg = msg.split(": ", 1)[1] if ": " in msg else msg
    return msg.splitlines()[0] if msg else type(err).__name__


@contextmanager
def user_errors(*extra: type[BaseException]) -> Iterator[None]:
    """Turn :class:`UserError` (and ``extra`` types) into ``error: <message>`` and exit 1."""
    kinds = (UserError, DataError, FloatingPointError, *extra)
    try:
        yield
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
