"""Perceptual hashes of photos for the leak audit (``ras-audit``), cached by file.

Each photo is decoded once (JPEGs at a reduced scale: only a 128 px thumbnail is needed),
oriented as viewers show it, made gray and squashed to a 128x128 thumbnail, from which come

* 82 pHashes of 256 bits (:func:`imagehash.phash`, ``hash_size=16``): 81 windows of the
  thumbnail, each side cut by 0, 2.5 or 5 % (a copy cropped by up to 5 % per side matches one
  window to within 1.25 % per side), and the mirrored whole (a horizontally flipped copy);
* a 16x16 blurred, zero-mean, unit-norm gray thumbnail (256 floats): the cheap first filter
  (:mod:`ras_lightning.data.leaks` compares every pair by a matrix product, then hashes only
  the pairs it passes).

Resizing and re-encoding barely change any of them (pHash keeps the low frequencies' signs).
The results are cached per photo folder in ``<cache>/audit/<key>.npz``, ``<cache>`` being
``cache_dir=``, else ``$RAS_LIGHTNING_CACHE``, else ``$XDG_CACHE_HOME/ras-lightning``, else
``~/.cache/ras-lightning`` -- never in the dataset: a file whose size and modification time
are unchanged is not read again.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageFilter, ImageOps
from tqdm import tqdm

from ras_lightning.data.checks import ORIENTATION, SWAPS_SIZE
from ras_lightning.data.integrity import ENV_VAR
from ras_lightning.utils.files import replacing

log = logging.getLogger("ras_lightning.audit")

THUMB = 128
#: the share of the thumbnail cut from each side in the windows hashed (a 3x3x3x3 grid)
CROPS = (0.0, 0.025, 0.05)
HASH_SIZE = 16  # 256-bit pHashes
WORDS = HASH_SIZE * HASH_SIZE // 64
DESC = 16  # the first filter's thumbnail side
WINDOWS = list(itertools.product(CROPS, repeat=4))  # (left, top, right, bottom); [0]: whole
MIRROR = len(WINDOWS)  # index of the mirrored whole photo's hash
CACHE_FORMAT = f"ras-lightning audit hashes 3, imagehash {imagehash.__version__}"


def audit_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir/audit``, else ``$RAS_LIGHTNING_CACHE/audit``, else
    ``$XDG_CACHE_HOME/ras-lightning/audit``, else ``~/.cache/ras-lightning/audit``."""
    if cache_dir:
        return Path(cache_dir).expanduser() / "audit"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser() / "audit"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ras-lightning" / "audit"


@dataclass
class PhotoHashes:
    """The hashes of ``paths`` (row i: ``paths[i]``); unreadable photos are in ``errors``."""

    paths: list[str]
    sizes: np.ndarray  # (N, 2) int: width, height as viewers show the photo
    desc: np.ndarray  # (N, DESC*DESC) float32, unit norm
    hashes: np.ndarray  # (N, len(WINDOWS) + 1, WORDS) uint64
    errors: dict[str, str]


def _bits(h: imagehash.ImageHash) -> np.ndarray:
    return np.packbits(h.hash.ravel()).view(np.uint64)


def photo_hashes(path: str) -> tuple[tuple[int, int], np.ndarray, np.ndarray] | str:
    """((width, height), descriptor, hashes) of one photo, or why it cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                orientation = int(im.getexif().get(ORIENTATION, 1) or 1)
                im.draft("RGB", (2 * THUMB, 2 * THUMB))  # JPEG: decode at 1/2..1/8 scale
                gray = ImageOps.exif_transpose(im).convert("L")
    except Exception as err:  # noqa: BLE001  (any unreadable file is reported, not raised)
        return f"cannot read image {path}: {str(err).strip() or type(err).__name__}"
    size = (h, w) if orientation in SWAPS_SIZE else (w, h)
    thumb = gray.resize((THUMB, THUMB), Image.LANCZOS)
    side = 4 * HASH_SIZE  # the size imagehash.phash works at: it does not resize again
    rows = []
    for left, top, right, bottom in WINDOWS:
        box = (left * THUMB, top * THUMB, (1 - right) * THUMB, (1 - bottom) * THUMB)
        window = thumb.resize((side, side), Image.BILINEAR, box=box)
        rows.append(_bits(imagehash.phash(window, HASH_SIZE)))
    rows.append(_bits(imagehash.phash(ImageOps.mirror(thumb), HASH_SIZE)))
    small = thumb.resize((64, 64), Image.LANCZOS).filter(ImageFilter.GaussianBlur(2))
    d = np.asarray(small.resize((DESC, DESC), Image.BILINEAR), np.float32).ravel()
    d -= d.mean()
    d /= max(float(np.linalg.norm(d)), 1e-6)  # a flat photo stays a zero vector
    return size, d, np.stack(rows)


def _chunk(paths: Sequence[str]) -> list:
    return [photo_hashes(p) for p in paths]


def _cache_file(folder: str, cache: Path) -> Path:
    key = hashlib.sha256(os.path.realpath(folder).encode()).hexdigest()[:24]
    return cache / f"{key}.npz"


def _load(path: Path) -> dict[str, tuple]:
    """name -> (size, mtime_ns, wh, desc, hashes) of a cache file (empty when unusable)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["format"]) != CACHE_FORMAT or z["hashes"].shape[1:] != (MIRROR + 1, WORDS):
                return {}
            names, stats, wh, desc, hashes = (
                z[k] for k in ("names", "stats", "wh", "desc", "hashes")
            )
    except (OSError, ValueError, KeyError):
        return {}
    return {
        str(n): (int(s[0]), int(s[1]), wh[i], desc[i], hashes[i])
        for i, (n, s) in enumerate(zip(names, stats, strict=True))
    }


def _save(path: Path, entries: dict[str, tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(entries)
    with replacing(path) as tmp:
        np.savez(
            tmp,
            format=np.array(CACHE_FORMAT),
            names=np.array(names),
            stats=np.array([entries[n][:2] for n in names], np.int64).reshape(-1, 2),
            wh=np.array([entries[n][2] for n in names], np.int64).reshape(-1, 2),
            desc=np.array([entries[n][3] for n in names], np.float32).reshape(-1, DESC * DESC),
            hashes=np.array([entries[n][4] for n in names], np.uint64).reshape(
                -1, MIRROR + 1, WORDS
            ),
        )


def workers_for(count: int, workers: int | None) -> int:
    """Processes to hash ``count`` photos: ``workers``, else one per core (up to 8); one
    for a few photos, where starting processes costs more than it saves."""
    if workers is None:
        try:
            workers = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            workers = os.cpu_count() or 1
        workers = min(8, workers)
    return 1 if count < 64 else max(1, workers)


def hash_photos(
    paths: Sequence[str],
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> tuple[PhotoHashes, int]:
    """The hashes of ``paths`` and how many photos were read (the rest came from the cache in
    :func:`audit_cache_dir`), in ``workers`` processes (:func:`workers_for`)."""
    cache = audit_cache_dir(cache_dir)
    paths = list(paths)
    by_folder: dict[str, list[int]] = {}
    for i, p in enumerate(paths):
        by_folder.setdefault(os.path.dirname(os.path.abspath(p)), []).append(i)
    results: list = [None] * len(paths)
    caches: dict[str, dict[str, tuple]] = {}
    todo: list[tuple[int, str, int, int]] = []  # row, folder, size, mtime
    for folder, rows in by_folder.items():
        entries = caches[folder] = _load(_cache_file(folder, cache))
        for i in rows:
            try:
                st = os.stat(paths[i])
            except OSError as err:
                results[i] = f"cannot read image {paths[i]}: {err.strerror}"
                continue
            hit = entries.get(os.path.basename(paths[i]))
            if hit is not None and hit[:2] == (st.st_size, st.st_mtime_ns):
                results[i] = (tuple(hit[2]), hit[3], hit[4])
            else:
                todo.append((i, folder, st.st_size, st.st_mtime_ns))
    if todo:
        n = workers_for(len(todo), workers)
        size = max(8, min(128, len(todo) // (4 * n) + 1))
        chunks = [todo[k : k + size] for k in range(0, len(todo), size)]
        bar = tqdm(total=len(todo), desc="hashing photos", unit="photo", disable=not progress)
        pool = ProcessPoolExecutor(n) if n > 1 else None
        try:
            jobs = [[paths[t[0]] for t in c] for c in chunks]
            outs = pool.map(_chunk, jobs) if pool else map(_chunk, jobs)
            for chunk, out in zip(chunks, outs, strict=True):
                for (i, folder, st_size, mtime), res in zip(chunk, out, strict=True):
                    results[i] = res
                    if not isinstance(res, str):
                        name = os.path.basename(paths[i])
                        caches[folder][name] = (st_size, mtime, res[0], res[1], res[2])
                bar.update(len(chunk))
        finally:
            if pool:
                pool.shutdown(cancel_futures=True)
            bar.close()
        for folder in {t[1] for t in todo}:
            try:
                _save(_cache_file(folder, cache), caches[folder])
            except OSError as err:  # a read-only home: the audit still runs, uncached
                log.warning("photo hashes not cached (%s): %s", cache, err)
                break
    ok = [i for i, r in enumerate(results) if not isinstance(r, str)]
    hashes = PhotoHashes(
        paths=[paths[i] for i in ok],
        sizes=np.array([results[i][0] for i in ok], np.int64).reshape(-1, 2),
        desc=np.array([results[i][1] for i in ok], np.float32).reshape(-1, DESC * DESC),
        hashes=np.array([results[i][2] for i in ok], np.uint64).reshape(-1, MIRROR + 1, WORDS),
        errors={paths[i]: r for i, r in enumerate(results) if isinstance(r, str)},
    )
    return hashes, len(todo)
