"""Near-duplicate photos between two sets (or within one) from their perceptual hashes
(:mod:`ras_lightning.data.photo_hashes`), and the audit record training reads.

Matching has two steps. Every pair is first compared by the cosine of the photos' blurred
16x16 thumbnails (one matrix product per block of photos, the mirrored thumbnail too);
pairs at or above :data:`FILTER` go on. For those, the distance is the smallest Hamming
distance between one photo's whole-photo pHash (or its mirror's) and any of the other's 81
window pHashes, both ways round: a resized, re-encoded, flipped copy cropped by up to 5 % per
side of either photo lands within a few bits of one window. Pairs at or below
``max_distance`` (of 256 bits) are reported.

Calibration on the 100 real ECSSD photos of ``../shared/data/ECSSD-100``
(``tests/test_audit.py``, README "Auditing a dataset for leaks"): copies resized to half,
JPEG at quality 60, flipped and cropped by 5 % score 0-24 bits (2 % crops between the grid's
windows are the worst); the closest two distinct photos score 78; the default threshold is
:data:`MAX_DISTANCE`. The first filter passes every such copy (cosine >= 0.78) and about
1 % of distinct pairs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ras_lightning.data.photo_hashes import DESC, MIRROR, PhotoHashes, audit_cache_dir
from ras_lightning.utils.errors import DataError
from ras_lightning.utils.files import write_atomic

log = logging.getLogger("ras_lightning.audit")

#: default largest distance (bits of 256) reported as a copy
MAX_DISTANCE = 40
#: the first filter's cosine: pairs below it are never hashed against each other
FILTER = 0.6
AUDIT_FILE = "audit.json"
RECORD_FORMAT = 1

if hasattr(np, "bitwise_count"):  # NumPy >= 2.0

    def _popcount(x: np.ndarray) -> np.ndarray:
        return np.bitwise_count(x)

else:  # pragma: no cover - NumPy 1.x
    _TABLE = np.array([bin(i).count("1") for i in range(256)], np.uint8)

    def _popcount(x: np.ndarray) -> np.ndarray:
        return _TABLE[x.view(np.uint8)].reshape(*x.shape, 8).sum(-1, dtype=np.uint8)


@dataclass
class Pairs:
    """Pairs of rows (``a[i]`` of the first set, ``b[i]`` of the second), their distance in
    bits and whether one is the other's mirror image."""

    a: np.ndarray
    b: np.ndarray
    distance: np.ndarray
    flipped: np.ndarray


def _blocks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _mirror(desc: np.ndarray) -> np.ndarray:
    return desc.reshape(-1, DESC, DESC)[:, :, ::-1].reshape(len(desc), DESC * DESC)


def candidates(a: np.ndarray, b: np.ndarray | None, threshold: float = FILTER) -> tuple:
    """(rows of ``a``, rows of ``b``) whose thumbnails' cosine (the better of ``b`` and its
    mirror) is at least ``threshold``; ``b=None``: pairs within ``a``, each once."""
    same = b is None
    b = a if b is None else b
    bm = _mirror(b)
    ia, ib = [], []
    for rows in _blocks(len(a), 1024):
        sim = np.maximum(a[rows] @ b.T, a[rows] @ bm.T)
        if same:  # each pair once, never a photo with itself
            sim[np.tril_indices(rows.stop - rows.start, rows.start, len(b))] = -1
        i, j = np.nonzero(sim >= threshold)
        ia.append(i + rows.start)
        ib.append(j)
    if not ia:  # no photo on one side
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(ia).astype(np.int64), np.concatenate(ib).astype(np.int64)


def _one_way(win: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """(P,) smallest distance between each row's windows (P, words, W) and a hash (P, words),
    word by word on contiguous (P, W) slices (a sum over a short last axis is slow)."""
    acc = _popcount(win[:, 0] ^ whole[:, 0, None]).astype(np.uint16)
    for w in range(1, win.shape[1]):
        acc += _popcount(win[:, w] ^ whole[:, w, None])
    return acc.min(-1)


def distances(ha: np.ndarray, hb: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> tuple:
    """(distance, flipped) of the pairs (``ha[ia]``, ``hb[ib]``) of hashes (N, windows + 1,
    words): the smallest over windows of either photo against the other's whole photo or its
    mirror image."""
    ta = np.ascontiguousarray(ha.transpose(0, 2, 1))  # (N, words, windows + 1)
    tb = ta if hb is ha else np.ascontiguousarray(hb.transpose(0, 2, 1))
    dist = np.empty(len(ia), np.int32)
    flip = np.zeros(len(ia), bool)
    for rows in _blocks(len(ia), 1024):
        a, b = ta[ia[rows]], tb[ib[rows]]
        wa, wb = a[:, :, :MIRROR], b[:, :, :MIRROR]
        straight = np.minimum(_one_way(wa, b[:, :, 0]), _one_way(wb, a[:, :, 0]))
        mirrored = np.minimum(_one_way(wa, b[:, :, MIRROR]), _one_way(wb, a[:, :, MIRROR]))
        dist[rows] = np.minimum(straight, mirrored)
        flip[rows] = mirrored < straight
    return dist, flip


def match(
    a: PhotoHashes, b: PhotoHashes | None, max_distance: int = MAX_DISTANCE, keep: int = 0
) -> tuple[Pairs, Pairs]:
    """(copies: pairs at or below ``max_distance``, closest: the ``keep`` closest pairs the
    filter passed, copies or not) between ``a`` and ``b`` (``None``: within ``a``)."""
    ia, ib = candidates(a.desc, None if b is None else b.desc)
    dist, flip = distances(a.hashes, a.hashes if b is None else b.hashes, ia, ib)
    hit = dist <= max_distance
    copies = Pairs(ia[hit], ib[hit], dist[hit], flip[hit])
    order = np.argsort(dist, kind="stable")[:keep]
    return copies, Pairs(ia[order], ib[order], dist[order], flip[order])


# -- the audit record: what training reads ------------------------------------------------
def _record_file(train_images: str | os.PathLike, cache_dir: str | None = None) -> Path:
    key = hashlib.sha256(os.path.realpath(train_images).encode()).hexdigest()[:24]
    return audit_cache_dir(cache_dir) / "records" / f"{key}.json"


def save_record(record: dict, out: Path, cache_dir: str | None = None) -> Path:
    """``out/audit.json``, and a copy in the cache keyed by the training photos' folder, where
    training finds it (:func:`find_record`) whatever ``out`` was."""
    text = json.dumps(record, indent=1, sort_keys=True)
    path = write_atomic(out / AUDIT_FILE, text)
    try:
        copy = _record_file(record["train_images"], cache_dir)
        copy.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(copy, text)
    except Exception as err:  # noqa: BLE001  (a read-only cache: the audit's own file stays)
        log.warning("audit record not copied into the cache: %s", err)
    return path


def find_record(train_images: str, audit_dir: str | None = None) -> tuple[dict, Path] | None:
    """The audit of the training photos in ``train_images``: ``audit_dir/audit.json`` when
    given (a :class:`DataError` naming ``data.audit_dir`` if it is not there or not of these
    photos), else the latest audit of that folder from the cache, else None."""
    real = os.path.realpath(train_images)
    if audit_dir:
        path = Path(audit_dir).expanduser() / AUDIT_FILE
        if not path.is_file():
            raise DataError(f"data.audit_dir: no {AUDIT_FILE} in {audit_dir} (run ras-audit)")
    else:
        path = _record_file(real)
        if not path.is_file():
            return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read the audit {path}: {err}") from None
    if record.get("format") != RECORD_FORMAT or record.get("train_images") != real:
        if audit_dir:
            raise DataError(
                f"data.audit_dir: the audit {path} is of the training photos in "
                f"{record.get('train_images')}, not {real}"
            )
        return None
    return record, path


def leaked_names(record: dict, image_dir: str) -> list[str] | None:
    """File names of the photos of the set in ``image_dir`` that the audit found in the
    training set (None: the audit did not look at that folder)."""
    real = os.path.realpath(image_dir)
    for entry in record.get("sets", {}).values():
        if entry.get("images_dir") == real and entry.get("role") == "test":
            return list(entry.get("leaks", []))
    return None


def audit_leaks(
    train_images: str, test_images: dict[str, str], train_set: str, audit_dir: str | None = None
) -> tuple[str | None, dict[str, list[str]], bool]:
    """(one line for the log, set -> file names of its photos that the audit found in the
    training set, whether there is an audit) for the test sets ``test_images`` (set -> photo
    folder); no audit: (None, {}, False)."""
    found = find_record(train_images, audit_dir)
    if found is None:
        return None, {}, False
    record, path = found
    leaks: dict[str, list[str]] = {}
    missing = []
    for name, folder in test_images.items():
        names = leaked_names(record, folder)
        if names is None:
            missing.append(name)
        else:
            leaks[name] = names
    total = sum(len(v) for v in leaks.values())
    per_set = ", ".join(f"{k} {len(v)}" for k, v in leaks.items())
    where = record.get("output_dir") or path
    line = f"leak audit {where}: {total} test photos also in {train_set} ({per_set or 'no set'})"
    if missing:
        line += f"; not audited: {', '.join(missing)}"
    return line, leaks, True


def no_audit(train_images: str | os.PathLike, root: str) -> DataError:
    """The error of ``data.exclude_leaks=true`` with no audit of ``train_images``."""
    return DataError(
        f"data.exclude_leaks=true: no audit of the training photos in {train_images}; "
        f"run `ras-audit data.root={root} output_dir=DIR` first (or set data.audit_dir=DIR)"
    )


def drop_leaked(
    samples: list, leaked: set[str], name: str, train_set: str, warn: bool = True
) -> tuple[list, list]:
    """(the ``samples`` whose photo's file name is not in ``leaked``, the sorted file names
    left out), the left-out ones named in a warning (``warn``); none kept is a
    :class:`DataError`."""
    kept = [s for s in samples if os.path.basename(s.image) not in leaked]
    dropped = sorted(os.path.basename(s.image) for s in samples if s not in kept)
    if not kept:
        raise DataError(f"dataset '{name}': every photo is a leak of {train_set}")
    if dropped and warn:
        log.warning(
            "dataset '%s': left out %d photos found in %s by the audit: %s%s",
            name,
            len(dropped),
            train_set,
            ", ".join(dropped[:10]),
            " ..." if len(dropped) > 10 else "",
        )
    return kept, dropped


def write_excluded(out: Path, excluded: dict[str, list[str]]) -> Path:
    """``out/excluded_leaks.csv`` (set, image): the test photos a run left out as leaks."""
    rows = [f"{name},{image}" for name, images in excluded.items() for image in images]
    return write_atomic(out / "excluded_leaks.csv", "\n".join(["set,image", *rows]) + "\n")
