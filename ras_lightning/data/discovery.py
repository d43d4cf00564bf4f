"""Find a dataset's image and mask folders and pair the files by stem.

The benchmark downloads each use their own folder names; we recognise them with no
configuration. Pairing is by file stem, never by position: the authors' v2 loader zips two
unsorted ``os.listdir`` results, which silently mismatches photos and masks on file systems
that list them in different orders. We fix that.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ras_lightning.data.checks import check_headers, pixel_limit
from ras_lightning.data.sample import Sample
from ras_lightning.utils.errors import DataError
from ras_lightning.utils.text import plural

log = logging.getLogger("ras_lightning.data")

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp"}
MASK_EXTS = {".png", ".jpg", ".jpeg", ".bmp"}
# (image folder, mask folder) pairs of the real downloads, tried in this order after
# '<name>-Image' / '<name>-Mask' (DUTS-TR, DUTS-TE, ...).
KNOWN_LAYOUTS: list[tuple[str, str]] = [
    ("imgs", "gts"),  # the authors' own
    ("images", "ground_truth_mask"),  # ECSSD
    ("Imgs", "GT"),  # HKU-IS, DUT-OMRON, PASCAL-S as redistributed
    ("images", "masks"),  # our demo data
    ("image", "mask"),
    ("Image", "GT"),
    ("Image", "Mask"),
    ("img", "gt"),
]


def _layouts_for(name: str) -> list[tuple[str, str]]:
    return [(f"{name}-Image", f"{name}-Mask"), *KNOWN_LAYOUTS]


def find_set_dirs(
    root: str | Path, name: str, image_dir: str | None = None, mask_dir: str | None = None
) -> tuple[Path, Path]:
    """The (image folder, mask folder) of set ``name`` under ``root``."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data.root: no such folder: {root}")
    set_dir = root / name
    if not set_dir.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir())[:10]
        raise DataError(
            f"dataset '{name}' not found: no folder {set_dir} (folders in data.root: "
            f"{', '.join(found) or 'none'})"
        )
    if image_dir or mask_dir:
        if not (image_dir and mask_dir):
            raise DataError(f"dataset '{name}': give both image_dir and mask_dir")
        img, msk = set_dir / image_dir, set_dir / mask_dir
        for p in (img, msk):
            if not p.is_dir():
                raise DataError(f"dataset '{name}': no such folder: {p}")
        return img, msk
    for img_name, mask_name in _layouts_for(name):
        img, msk = set_dir / img_name, set_dir / mask_name
        if img.is_dir() and msk.is_dir():
            return img, msk
    looked = ", ".join(f"{a}/+{b}/" for a, b in _layouts_for(name))
    raise DataError(
        f"dataset '{name}': no image/mask folders in {set_dir}; looked for {looked} "
        f"(set image_dir/mask_dir for another layout)"
    )


def scan_files(folder: Path, exts: set[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(stem -> path, stem -> all its paths for stems held by more than one file) of the files
    with one of ``exts`` (any letter case), hidden ones skipped. Of a duplicated stem the
    first file name in sorted order is kept, so the choice never depends on listing order."""
    found: dict[str, list[str]] = {}
    with os.scandir(folder) as it:
        for entry in it:
            if entry.name.startswith("."):
                continue
            stem, ext = os.path.splitext(entry.name)
            if ext.lower() in exts and entry.is_file():
                found.setdefault(stem, []).append(entry.path)
    files = {stem: min(paths) for stem, paths in found.items()}
    dups = {stem: sorted(paths) for stem, paths in found.items() if len(paths) > 1}
    return files, dups


def list_files(folder: Path, exts: set[str]) -> dict[str, str]:
    """stem -> path of the files with one of ``exts`` (see :func:`scan_files`)."""
    return scan_files(folder, exts)[0]


def name_some(items: list[str], limit: int = 10) -> str:
    """Up to ``limit`` items, comma-separated, with '...' when there are more."""
    return ", ".join(items[:limit]) + (" ..." if len(items) > limit else "")


def describe_duplicates(groups: list[list[str]]) -> str:
    """'N file names used by more than one file (0001.jpg + 0001.png, ...)' of ``groups`` of
    paths sharing a stem (from :func:`scan_files`), up to 10 named."""
    listed = sorted(" + ".join(os.path.basename(p) for p in paths) for paths in groups)
    return f"{len(listed)} file names used by more than one file ({name_some(listed)})"


def pair_by_stem(
    images: dict[str, str], masks: dict[str, str], where: str, on_unpaired: str = "error"
) -> tuple[list[Sample], list[str], list[str]]:
    """Pair photos and masks by stem, sorted by name.

    Returns (pairs, unpaired image stems, unpaired mask stems). With ``on_unpaired='error'``
    any unpaired file raises :class:`DataError` naming up to 10 of each kind.
    """
    lonely_images = sorted(set(images) - set(masks))
    lonely_masks = sorted(set(masks) - set(images))
    if (lonely_images or lonely_masks) and on_unpaired == "error":
        parts = []
        if lonely_images:
            some = name_some(lonely_images)
            parts.append(f"{plural(len(lonely_images), 'image')} without masks ({some})")
        if lonely_masks:
            some = name_some(lonely_masks)
            parts.append(f"{plural(len(lonely_masks), 'mask')} without images ({some})")
        raise DataError(f"{where}: {'; '.join(parts)}; fix the files or set data.on_unpaired=skip")
    pairs = [Sample(s, images[s], masks[s]) for s in sorted(set(images) & set(masks))]
    return pairs, lonely_images, lonely_masks


def discover_set(
    root: str | Path,
    name: str,
    on_unpaired: str = "error",
    layout: dict[str, str] | None = None,
    max_pixels: int | None = None,
) -> list[Sample]:
    """List and pair set ``name`` under ``root`` (no image is decoded).

    Two files with one stem in a folder, unpaired files, unreadable headers, photo/mask size
    mismatches and files whose header claims more than ``max_pixels`` pixels (the setting
    ``data.max_pixels``; None: :data:`~ras_lightning.data.checks.MAX_PIXELS`) raise one
    :class:`DataError` naming them, or with ``on_unpaired='skip'`` are skipped with a warning
    naming them.
    """
    limit = pixel_limit(max_pixels, "data.max_pixels")
    layout = layout or {}
    img_dir, mask_dir = find_set_dirs(root, name, layout.get("image_dir"), layout.get("mask_dir"))
    (images, dup_i), (masks, dup_m) = (
        scan_files(img_dir, IMAGE_EXTS),
        scan_files(mask_dir, MASK_EXTS),
    )
    if not images:
        raise DataError(f"dataset '{name}': no jpg/jpeg/png/bmp images in {img_dir}")
    where = f"dataset '{name}'"
    # two files with one stem: which is the photo (or mask) of the pair is anyone's guess
    dups = {**dup_i, **dup_m}
    if dups:
        what = describe_duplicates([*dup_i.values(), *dup_m.values()])
        if on_unpaired == "error":
            raise DataError(f"{where}: {what}; keep one file per name or set data.on_unpaired=skip")
        log.warning("%s: skipped %s", where, what)
        for stem in dups:
            images.pop(stem, None)
            masks.pop(stem, None)
    pairs, lonely_i, lonely_m = pair_by_stem(images, masks, where, on_unpaired)
    if lonely_i or lonely_m:
        log.warning(
            "dataset '%s': skipped %s without masks and %s without images",
            name,
            plural(len(lonely_i), "image"),
            plural(len(lonely_m), "mask"),
        )
    if not pairs:
        raise DataError(
            f"dataset '{name}': no image has a mask (images in {img_dir}, masks in {mask_dir})"
        )
    problems = check_headers(pairs, limit, "data.max_pixels")
    return drop_problems(pairs, problems, where, on_unpaired) if problems else pairs


def drop_problems(
    samples: list[Sample], problems: list[tuple[Sample, str]], where: str, on_unpaired: str
) -> list[Sample]:
    """``samples`` without the problem ones (``on_unpaired='skip'``, a warning naming them),
    or a :class:`DataError` naming up to 10 problems with their count."""
    texts = [text for _, text in problems]
    if on_unpaired == "error":
        if len(texts) == 1:
            raise DataError(f"{where}: {texts[0]}")
        raise DataError(
            f"{where}: {len(texts)} bad files: {'; '.join(texts[:10])}"
            f"{' ...' if len(texts) > 10 else ''} (fix them or set data.on_unpaired=skip)"
        )
    log.warning("%s: skipped %s: %s", where, plural(len(texts), "pair"), "; ".join(texts[:10]))
    bad = {s.name for s, _ in problems}
    kept = [s for s in samples if s.name not in bad]
    if not kept:
        raise DataError(f"{where}: every pair was skipped as bad; nothing left to read")
    return kept
