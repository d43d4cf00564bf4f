"""Atomic checkpoint files: written beside their final name, then renamed into place."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

log = logging.getLogger(__name__)

_TEMP = re.compile(r"^\..+\.tmp-(\d+)$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete ``.<name>.tmp-<pid>`` files in ``folder`` left by processes that are gone (a
    run killed while writing); return them."""
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        m = _TEMP.match(path.name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save to ``<dir>/.<name>.tmp-<pid>``, flush it to disk, then ``os.replace`` it onto
    ``<dir>/<name>``.

    The temporary file is in the checkpoint's own folder, so the rename never crosses a file
    system: a kill at any moment leaves the previous complete checkpoint or the new one, never
    a partial file (Lightning's default writes through a temporary file in the system's temp
    folder and moves it, which is a copy across file systems). Temporary files of dead runs
    in the folder are removed at the next save.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        final = Path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        for stale in remove_stale_temps(final.parent):
            log.info("removed %s, left by a run that was killed while saving", stale)
        temp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        try:
            with open(temp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        try:  # make the rename itself durable (POSIX; not possible on every system)
            fd = os.open(final.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
