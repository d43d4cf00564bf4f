"""Every photo and mask a run will read, fully decoded once at set-up, the results cached.

A truncated JPEG passes a header check and fails mid-epoch (or after all the training, in a
test set); so before anything trains, each file is decoded by the readers training uses
(:func:`~ras_lightning.data.readers.read_photo`, :func:`~ras_lightning.data.readers.read_mask`)
in a thread pool (PIL and NumPy release the GIL while decoding). The outcome of each file --
its size as viewers show it, or why it cannot be read -- is cached by (path, size,
modification time) in one small JSON file per folder under :func:`cache_dir`, never in the
dataset, so the next run on the same data only reads the cache and stats the files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import PIL
from tqdm import tqdm

from ras_lightning.data.checks import mismatch_message
from ras_lightning.data.discovery import drop_problems
from ras_lightning.data.readers import read_mask, read_photo
from ras_lightning.data.sample import Sample
from ras_lightning.utils.errors import DataError
from ras_lightning.utils.text import plural

log = logging.getLogger("ras_lightning.data")

ENV_VAR = "RAS_LIGHTNING_CACHE"
# what decides a cached outcome besides the file: the readers' rules and the decoder
CACHE_FORMAT = f"ras-lightning decode check 1, Pillow {PIL.__version__}"


def cache_dir() -> Path:
    """``$RAS_LIGHTNING_CACHE/decode``, else ``$XDG_CACHE_HOME/ras-lightning/decode``, else
    ``~/.cache/ras-lightning/decode``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser() / "decode"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ras-lightning" / "decode"


def _cache_file(folder: str, kind: str) -> Path:
    key = hashlib.sha256(f"{kind}\0{os.path.realpath(folder)}".encode()).hexdigest()[:24]
    return cache_dir() / f"{key}.json"


def _load(path: Path) -> dict[str, list]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        return {}
    entries = data.get("files")
    return entries if isinstance(entries, dict) else {}


def _save(path: Path, folder: str, entries: dict[str, list]) -> None:
    """Write atomically (a temporary file in the cache folder, renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": CACHE_FORMAT, "folder": os.path.realpath(folder), "files": entries}
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _decode(kind: str, path: str) -> list[int] | str:
    """[width, height] of the fully decoded, oriented file, or the error naming it."""
    try:
        if kind == "image":
            h, w = read_photo(path).shape[:2]
        else:
            h, w = read_mask(path, np.uint8).shape[:2]
        return [int(w), int(h)]
    except DataError as err:
        return str(err)
    except Exception as err:  # noqa: BLE001  (e.g. PIL's DecompressionBombError)
        return f"cannot read {kind} {path}: {type(err).__name__}: {err}"


def _workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))  # bounded: a few huge photos decode at once


def decode_all(
    files: Iterable[tuple[str, str]],
) -> tuple[dict[tuple[str, str], list[int] | str], int]:
    """The outcome of each (kind, path), kind ``image`` or ``mask``, and how many files were
    decoded (the rest came from the cache); a progress bar on a terminal only."""
    files = sorted(set(files))
    groups: dict[tuple[str, str], list[str]] = {}
    for kind, path in files:
        groups.setdefault((os.path.dirname(os.path.abspath(path)), kind), []).append(path)
    outcomes: dict[tuple[str, str], list[int] | str] = {}
    todo: list[tuple[str, str, str, list[int]]] = []  # kind, path, cache name, stat key
    caches: dict[tuple[str, str], dict[str, list]] = {}
    for (folder, kind), paths in groups.items():
        cache = caches[folder, kind] = _load(_cache_file(folder, kind))
        for path in paths:
            name = os.path.basename(path)
            try:
                st = os.stat(path)
            except OSError as err:
                outcomes[kind, path] = f"cannot read {kind} {path}: {err.strerror}"
                continue
            stat_key = [st.st_size, st.st_mtime_ns]
            hit = cache.get(name)
            if isinstance(hit, list) and len(hit) == 3 and hit[:2] == stat_key:
                outcomes[kind, path] = hit[2]
            else:
                todo.append((kind, path, name, stat_key))
    if todo:
        bar = tqdm(
            total=len(todo),
            desc=f"checking {plural(len(todo), 'file')}",
            unit="file",
            disable=None,  # tqdm: a bar on a terminal, none in logs and CI
            leave=False,
        )
        with ThreadPoolExecutor(_workers()) as pool:
            for (kind, path, name, stat_key), outcome in zip(
                todo, pool.map(lambda t: _decode(t[0], t[1]), todo), strict=True
            ):
                outcomes[kind, path] = outcome
                folder = os.path.dirname(os.path.abspath(path))
                caches[folder, kind][name] = [*stat_key, outcome]
                bar.update(1)
        bar.close()
        for folder, kind in {(os.path.dirname(os.path.abspath(t[1])), t[0]) for t in todo}:
            try:
                _save(_cache_file(folder, kind), folder, caches[folder, kind])
            except OSError as err:  # a read-only home: the check still ran, uncached
                log.warning("decode check not cached (%s): %s", cache_dir(), err)
                break
    return outcomes, len(todo)


def verify_sets(
    sets: dict[str, list[Sample]], on_unpaired: str = "error"
) -> dict[str, list[Sample]]:
    """Decode every photo and mask of ``sets`` (name -> pairs) once, in one pool.

    Unreadable, truncated or uninterpretable files and photo/mask size mismatches (as viewers
    show the files: EXIF orientation applied) raise one :class:`DataError` naming up to 10
    with their count, or with ``on_unpaired='skip'`` drop those pairs with a warning naming
    them. Returns the pairs kept, per set.
    """
    start = time.perf_counter()
    files = [("image", s.image) for v in sets.values() for s in v]
    files += [("mask", s.mask) for v in sets.values() for s in v if s.mask]
    outcomes, decoded = decode_all(files)
    log.info(
        "checked %s by decoding them (%d decoded, %d unchanged since the cached check) in %.1f s",
        plural(len(set(files)), "file"),
        decoded,
        len(set(files)) - decoded,
        time.perf_counter() - start,
    )
    kept: dict[str, list[Sample]] = {}
    for name, samples in sets.items():
        problems: list[tuple[Sample, str]] = []
        for s in samples:
            isize = outcomes["image", s.image]
            msize = outcomes["mask", s.mask] if s.mask else isize
            errors = [o for o in (isize, msize) if isinstance(o, str)]
            if errors:
                problems.append((s, "; ".join(dict.fromkeys(errors))))
            elif isize != msize:
                problems.append((s, mismatch_message(s.image, s.mask, tuple(isize), tuple(msize))))
        where = f"dataset '{name}'"
        kept[name] = drop_problems(samples, problems, where, on_unpaired) if problems else samples
    return kept
