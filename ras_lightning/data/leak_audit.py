"""``ras-audit``'s work: which folders, the photos' hashes, the leaks between the training set
and each test set, the duplicates within each set, the masks' issues, and the files written.

Outputs (in ``out``, never in a data folder): ``leaks.csv`` (set, image, training_image,
distance, flipped), ``duplicates.csv`` (set, image, duplicate, distance, flipped),
``mask_issues.csv`` (set, image, mask, issue, detail), ``contact_sheet.png`` (the closest
pairs), ``summary.txt`` (a line per set) and ``audit.json`` (the record training reads:
:func:`~ras_lightning.data.leaks.find_record`).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ras_lightning.data.contact_sheet import draw_pairs
from ras_lightning.data.discovery import (
    IMAGE_EXTS,
    KNOWN_LAYOUTS,
    MASK_EXTS,
    find_set_dirs,
    list_files,
)
from ras_lightning.data.leaks import MAX_DISTANCE, RECORD_FORMAT, Pairs, match, save_record
from ras_lightning.data.mask_audit import all_mask_stats, mask_issues
from ras_lightning.data.photo_hashes import PhotoHashes, hash_photos
from ras_lightning.utils.errors import DataError
from ras_lightning.utils.files import atomic_path, write_atomic
from ras_lightning.utils.text import plural

log = logging.getLogger("ras_lightning.audit")


@dataclass
class AuditSet:
    """One set's photos (stem -> path) and masks (stem -> path; none for a photo folder)."""

    name: str
    role: str  # "train" or "test"
    image_dir: Path
    mask_dir: Path | None
    images: dict[str, str]
    masks: dict[str, str] = field(default_factory=dict)


def _set(name: str, role: str, image_dir: Path, mask_dir: Path | None) -> AuditSet:
    images = list_files(image_dir, IMAGE_EXTS)
    if not images:
        raise DataError(f"{name}: no jpg/jpeg/png/bmp photos in {image_dir}")
    masks = list_files(mask_dir, MASK_EXTS) if mask_dir else {}
    return AuditSet(name, role, image_dir, mask_dir, images, masks)


def sets_from_root(
    root: str, train_set: str, test_sets: list[str], layouts: Mapping | None = None
) -> list[AuditSet]:
    """The training set and the test sets under ``root``, found as the DataModule finds them
    (:func:`~ras_lightning.data.discovery.find_set_dirs`)."""
    layouts = dict(layouts or {})
    out = []
    for name in dict.fromkeys([train_set, *test_sets]):
        layout = layouts.get(name) or {}
        img, msk = find_set_dirs(root, name, layout.get("image_dir"), layout.get("mask_dir"))
        out.append(_set(name, "train" if name == train_set else "test", img, msk))
    return out


def set_from_folder(name: str, folder: str, role: str) -> AuditSet:
    """A set from an explicit folder: a set folder in a known layout (photos and masks), else
    a folder of photos (no masks checked)."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise DataError(f"{name}: no such folder: {path}")
    for img_name, mask_name in [(f"{path.name}-Image", f"{path.name}-Mask"), *KNOWN_LAYOUTS]:
        if (path / img_name).is_dir() and (path / mask_name).is_dir():
            return _set(name, role, path / img_name, path / mask_name)
    return _set(name, role, path, None)


@dataclass
class AuditResult:
    """Per set: its line of the summary; the record written as ``audit.json``."""

    lines: list[str]
    record: dict
    seconds: float
    hashed: int


def _rows(sets: list[AuditSet], hashes: PhotoHashes) -> dict[str, list[int]]:
    index = {p: i for i, p in enumerate(hashes.paths)}
    return {s.name: [index[p] for p in sorted(s.images.values()) if p in index] for s in sets}


def _sub(hashes: PhotoHashes, rows: list[int]) -> PhotoHashes:
    return PhotoHashes(
        [hashes.paths[i] for i in rows],
        hashes.sizes[rows],
        hashes.desc[rows],
        hashes.hashes[rows],
        {},
    )


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_atomic(path, buf.getvalue())


def run_audit(
    sets: list[AuditSet],
    out: Path,
    max_distance: int = MAX_DISTANCE,
    cache_dir: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    sheet_pairs: int = 24,
    data_root: str | None = None,
) -> AuditResult:
    """Audit ``sets`` (one with role ``train``) and write the outputs into ``out``."""
    start = time.perf_counter()
    train = next(s for s in sets if s.role == "train")
    paths = sorted({p for s in sets for p in s.images.values()})
    hashes, hashed = hash_photos(paths, cache_dir, workers, progress)
    rows = _rows(sets, hashes)
    sub = {s.name: _sub(hashes, rows[s.name]) for s in sets}
    name = os.path.basename
    leak_rows, dup_rows, closest = [], [], []

    def collect(pairs: Pairs, a: AuditSet, b: AuditSet, sink: list | None) -> None:
        ha, hb = sub[a.name], sub[b.name]
        for i, j, d, f in zip(pairs.a, pairs.b, pairs.distance, pairs.flipped, strict=True):
            pa, pb = ha.paths[i], hb.paths[j]
            if sink is not None:
                sink.append([a.name, name(pa), name(pb), int(d), "yes" if f else "no"])
            else:
                closest.append((int(d), bool(f), a.name, pa, b.name, pb))

    leaked: dict[str, list[str]] = {}
    dup_count: dict[str, int] = {}
    for s in sets:
        if s.role == "test" and sub[s.name].paths and sub[train.name].paths:
            copies, near = match(sub[s.name], sub[train.name], max_distance, sheet_pairs)
            before = len(leak_rows)
            collect(copies, s, train, leak_rows)
            collect(near, s, train, None)
            leaked[s.name] = sorted({r[1] for r in leak_rows[before:]})
        copies, near = match(sub[s.name], None, max_distance, sheet_pairs)
        dup_count[s.name] = len(copies.a)
        collect(copies, s, s, dup_rows)
        collect(near, s, s, None)
    leak_rows.sort(key=lambda r: (r[0], r[3], r[1]))
    dup_rows.sort(key=lambda r: (r[0], r[3], r[1]))
    _write_csv(
        out / "leaks.csv", ["set", "image", "training_image", "distance", "flipped"], leak_rows
    )
    _write_csv(
        out / "duplicates.csv", ["set", "image", "duplicate", "distance", "flipped"], dup_rows
    )

    # masks: every mask paired with a photo, against the photo's size as viewers show it
    size_of = {p: tuple(int(v) for v in hashes.sizes[i]) for i, p in enumerate(hashes.paths)}
    mask_paths = [s.masks[k] for s in sets for k in sorted(s.masks) if k in s.images]
    stats = all_mask_stats(mask_paths, cache_dir, workers or 4)
    issue_rows, issue_count = [], {}
    for s in sets:
        found = []
        for stem in sorted(set(s.images) | set(s.masks)):
            img, msk = s.images.get(stem), s.masks.get(stem)
            if img in hashes.errors:
                found.append([name(img), name(msk or ""), "unreadable photo", hashes.errors[img]])
            if s.mask_dir is None:
                continue
            if msk is None:
                found.append([name(img), "", "no mask", f"no mask named {stem}.* in {s.mask_dir}"])
            elif img is None:
                found.append(
                    ["", name(msk), "no photo", f"no photo named {stem}.* in {s.image_dir}"]
                )
            else:
                for issue, detail in mask_issues(stats[msk], size_of.get(img)):
                    found.append([name(img), name(msk), issue, detail])
        issue_count[s.name] = len(found)
        issue_rows += [[s.name, *r] for r in found]
    _write_csv(out / "mask_issues.csv", ["set", "image", "mask", "issue", "detail"], issue_rows)

    closest.sort(key=lambda c: (c[0], c[3], c[5]))
    pairs = [
        (
            pa,
            pb,
            f"{sa}/{name(pa)} ~ {sb}/{name(pb)}: {d} bits{' mirrored' if f else ''}"
            f"{'' if d <= max_distance else ' (not a copy)'}",
        )
        for d, f, sa, pa, sb, pb in closest[:sheet_pairs]
    ]
    with atomic_path(out / "contact_sheet.png") as tmp:
        draw_pairs(
            pairs, f"closest pairs (distance in bits of 256; copies at <= {max_distance})"
        ).save(tmp, format="PNG")

    lines, record_sets = [], {}
    for s in sets:
        n = len(sub[s.name].paths) + sum(p in hashes.errors for p in s.images.values())
        dups = plural(dup_count[s.name], "duplicate pair")
        issues = plural(issue_count[s.name], "mask issue") if s.mask_dir else "no masks"
        if s.role == "train":
            lines.append(f"{s.name} (training): {plural(n, 'photo')}, {dups} within, {issues}")
        else:
            k = len(leaked.get(s.name, []))
            lines.append(
                f"{s.name}: {k} of {plural(n, 'photo')} ({k / max(n, 1):.1%}) also in "
                f"{train.name}, {dups} within, {issues}"
            )
        record_sets[s.name] = {
            "role": s.role,
            "images_dir": os.path.realpath(s.image_dir),
            "photos": n,
            "leaks": leaked.get(s.name, []),
            "duplicate_pairs": dup_count[s.name],
            "mask_issues": issue_count[s.name],
        }
    write_atomic(out / "summary.txt", "\n".join(lines) + "\n")
    record = {
        "format": RECORD_FORMAT,
        "data_root": os.path.realpath(data_root) if data_root else None,
        "train_set": train.name,
        "train_images": os.path.realpath(train.image_dir),
        "max_distance": max_distance,
        "output_dir": os.path.realpath(out),
        "sets": record_sets,
    }
    save_record(record, out, cache_dir)
    return AuditResult(lines, record, time.perf_counter() - start, hashed)
