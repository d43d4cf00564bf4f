"""Writing files whole or not at all, and saying in one line why a file cannot be written.

Every output of ``eval``, ``score``, ``export`` and ``train``'s ``metrics.json`` goes through
:func:`atomic_path` (or :func:`write_atomic`): the content is written into a hidden temporary
file in the destination's own folder and renamed onto the final name only once complete, so an
error, a full disk or a killed process never leaves a partial file under the final name. Any
``OSError`` on the way (a read-only folder, a file where a folder should be, a full disk) is
:class:`~ras_lightning.utils.errors.UserError` ``cannot write PATH: reason``.
:func:`probe_writable` makes the same check with a throw-away file before the long work.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ras_lightning.utils.errors import UserError

__all__ = [
    "atomic_path",
    "check_destination",
    "make_folder",
    "probe_writable",
    "replacing",
    "write_atomic",
]


def _reason(err: OSError) -> str:
    return err.strerror or str(err) or type(err).__name__


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_folder(folder: str | os.PathLike, for_path: str | os.PathLike | None = None) -> Path:
    """``folder`` and its parents, created if missing; ``UserError`` ``cannot write PATH: ...``
    (``for_path``, the file to go there, else ``folder``) when a file is in the way or the
    folder cannot be created."""
    folder = Path(folder)
    what = for_path if for_path is not None else folder
    for p in (folder, *folder.parents):  # the nearest part that exists must be a folder
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                where = "it is" if p == Path(what) else f"{p} is"
                raise UserError(f"cannot write {what}: {where} a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot write {what}: {_reason(err)}") from None
    return folder


def check_destination(path: str | os.PathLike) -> Path:
    """The file to write for ``path``: ``path`` itself, or the file a symlink points to (the
    link is kept). ``UserError`` when it is a folder or not a regular file (a device such as
    ``/dev/full``, a pipe): renaming a file onto those would replace them, not write them."""
    path = Path(path)
    real = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode = real.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):  # a file in the way: make_folder says so
        return real
    except OSError as err:
        raise UserError(f"cannot write {path}: {_reason(err)}") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"cannot write {path}: {os.strerror(errno.EISDIR)}")
    if not stat.S_ISREG(mode):
        raise UserError(f"cannot write {path}: not a regular file; name a file to write")
    return real


@contextmanager
def replacing(dest: Path, suffix: str | None = None) -> Iterator[Path]:
    """A temporary path beside ``dest`` (ending ``suffix``, by default ``.part`` + ``dest``'s
    extension, for writers that go by it), moved onto ``dest`` when the block succeeds and
    removed when it fails; made readable as any new file. An ``OSError`` comes out as it is:
    for callers that can do without the file (a cache); :func:`atomic_path` reports it."""
    suffix = f".part{dest.suffix}" if suffix is None else suffix
    fd, name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=suffix, dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 -> as any new file
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path in ``path``'s folder for the block to write, renamed onto ``path``
    when the block succeeds, removed when it fails (:func:`replacing`). Any ``OSError``, in
    the block or the rename, is ``UserError`` ``cannot write PATH: reason``; other exceptions
    pass through (the temporary file removed all the same)."""
    path = Path(path)
    dest = check_destination(path)
    make_folder(dest.parent, path)
    try:
        with replacing(dest) as tmp:
            yield tmp
    except OSError as err:
        raise UserError(f"cannot write {path}: {_reason(err)}") from None


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """``data`` (``str`` as UTF-8, line endings as given) at ``path``, whole or not at all
    (:func:`atomic_path`); returns ``path``."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(raw)
    return Path(path)


def probe_writable(folder: str | os.PathLike, for_path: str | os.PathLike | None = None) -> Path:
    """Check before the long work that files can be written into ``folder``: a throw-away
    file is written there and removed, and so are the folders made for it (a run refused
    later leaves nothing behind). ``UserError`` ``cannot write PATH: reason`` otherwise
    (``for_path``, the file to go there, else ``folder``)."""
    folder = Path(folder)
    what = for_path if for_path is not None else folder
    missing = [p for p in (folder, *folder.parents) if not (p.exists() or p.is_symlink())]
    try:
        make_folder(folder, for_path)
        fd, name = tempfile.mkstemp(prefix=".write-probe.", suffix=".part", dir=folder)
        try:
            os.write(fd, b"\0")
        finally:
            os.close(fd)
            Path(name).unlink(missing_ok=True)
    except OSError as err:
        raise UserError(f"cannot write {what}: {_reason(err)}") from None
    finally:
        for p in missing:  # innermost first; one another run has filled in stays
            try:
                p.rmdir()
            except OSError:
                break
    return folder
