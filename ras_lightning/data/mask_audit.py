"""The mask half of the data audit: masks that are empty, full, not binary or of another size
than their photo, read by the one mask reader (:func:`~ras_lightning.data.readers.read_mask`).

What each mask holds (size, foreground share, share of levels between 0 and 255) is cached
per mask folder by (name, size, modification time) in ``<cache>/audit/masks-<key>.json``
(:func:`~ras_lightning.data.photo_hashes.audit_cache_dir`), never in the dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ras_lightning.data.photo_hashes import audit_cache_dir
from ras_lightning.data.readers import read_mask
from ras_lightning.utils.errors import DataError
from ras_lightning.utils.files import replacing

#: a mask whose foreground covers more than this share of the photo is flagged as full
FULL = 0.95
CACHE_FORMAT = "ras-lightning audit masks 1"


def mask_stats(path: str) -> list | str:
    """[width, height, foreground share (>= 128 of 255), share of levels strictly between 0
    and 255] of a mask, or why it cannot be read."""
    try:
        m = read_mask(path, np.uint8)
    except DataError as err:
        return str(err)
    except Exception as err:  # noqa: BLE001  (reported, never raised)
        return f"cannot read mask {path}: {type(err).__name__}: {err}"
    n = max(1, m.size)
    gray = float(np.count_nonzero((m > 0) & (m < 255))) / n
    return [int(m.shape[1]), int(m.shape[0]), float(np.count_nonzero(m >= 128)) / n, gray]


def _cache_file(folder: str, cache: Path) -> Path:
    key = hashlib.sha256(os.path.realpath(folder).encode()).hexdigest()[:24]
    return cache / f"masks-{key}.json"


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    ok = isinstance(data, dict) and data.get("format") == CACHE_FORMAT
    return data.get("files", {}) if ok else {}


def all_mask_stats(
    paths: Sequence[str], cache_dir: str | None = None, workers: int = 4
) -> dict[str, list | str]:
    """:func:`mask_stats` of every path (cached; the rest read in a thread pool: PIL and
    NumPy release the GIL while decoding)."""
    cache = audit_cache_dir(cache_dir)
    out: dict[str, list | str] = {}
    folders: dict[str, dict] = {}
    todo: list[tuple[str, str, list[int]]] = []
    for p in paths:
        folder = os.path.dirname(os.path.abspath(p))
        if folder not in folders:
            folders[folder] = _load(_cache_file(folder, cache))
        try:
            st = os.stat(p)
        except OSError as err:
            out[p] = f"cannot read mask {p}: {err.strerror}"
            continue
        key = [st.st_size, st.st_mtime_ns]
        hit = folders[folder].get(os.path.basename(p))
        if isinstance(hit, list) and len(hit) == 3 and hit[:2] == key:
            out[p] = hit[2]
        else:
            todo.append((p, folder, key))
    if todo:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            for (p, folder, key), stats in zip(
                todo, pool.map(mask_stats, [t[0] for t in todo]), strict=True
            ):
                out[p] = stats
                if not isinstance(stats, str):
                    folders[folder][os.path.basename(p)] = [*key, stats]
        try:
            cache.mkdir(parents=True, exist_ok=True)
            for folder in {t[1] for t in todo}:
                data = {"format": CACHE_FORMAT, "folder": folder, "files": folders[folder]}
                dest = _cache_file(folder, cache)
                with replacing(dest) as tmp:
                    tmp.write_text(json.dumps(data, separators=(",", ":")))
        except OSError:
            pass  # a read-only cache: the audit ran, uncached
    return out


def mask_issues(stats: list | str, photo_size: tuple[int, int] | None) -> list[tuple[str, str]]:
    """(issue, detail) of one mask's :func:`mask_stats` against its photo's (width, height):
    ``unreadable``, ``size``, ``empty``, ``full``, ``not binary``."""
    if isinstance(stats, str):
        return [("unreadable", stats)]
    w, h, fg, gray = stats
    issues = []
    if photo_size is not None and (w, h) != tuple(photo_size):
        issues.append(("size", f"mask {w}x{h}, photo {photo_size[0]}x{photo_size[1]}"))
    if fg == 0:
        issues.append(("empty", "no foreground pixel"))
    elif fg > FULL:
        issues.append(("full", f"{fg:.1%} foreground"))
    if gray > 0:
        issues.append(("not binary", f"{gray:.2%} of pixels between 0 and 255"))
    return issues
