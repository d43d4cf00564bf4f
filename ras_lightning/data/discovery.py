"""Find a dataset's image and mask folders and pair the files by stem.

The benchmark downloads each use their own folder names; we recognise them with no
configuration. Pairing is by file stem, never by position: the authors' v2 loader zips two
unsorted ``os.listdir`` results, which silently mismatches photos and masks on file systems
that list them in different orders. We fix that.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ras_lightning.data.checks import check_headers
from ras_lightning.utils.errors import DataError

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


@dataclass(frozen=True)
class Sample:
    """One photo and its mask (``mask`` is None for unlabelled inputs)."""

    name: str
    image: str
    mask: str | None


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


def list_files(folder: Path, exts: set[str]) -> dict[str, str]:
    """stem -> path of the files with one of ``exts`` (any letter case), skipping hidden ones."""
    out: dict[str, str] = {}
    with os.scandir(folder) as it:
        for entry in it:
            if entry.name.startswith("."):
                continue
            stem, ext = os.path.splitext(entry.name)
            if ext.lower() in exts and entry.is_file():
                out[stem] = entry.path
    return out


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
            parts.append(
                f"{len(lonely_images)} images without masks ({', '.join(lonely_images[:10])}"
                f"{' ...' if len(lonely_images) > 10 else ''})"
            )
        if lonely_masks:
            parts.append(
                f"{len(lonely_masks)} masks without images ({', '.join(lonely_masks[:10])}"
                f"{' ...' if len(lonely_masks) > 10 else ''})"
            )
        raise DataError(f"{where}: {'; '.join(parts)}; fix the files or set data.on_unpaired=skip")
    pairs = [Sample(s, images[s], masks[s]) for s in sorted(set(images) & set(masks))]
    return pairs, lonely_images, lonely_masks


def discover_set(
    root: str | Path, name: str, on_unpaired: str = "error", layout: dict[str, str] | None = None
) -> list[Sample]:
    """List and pair set ``name`` under ``root`` (no image is decoded)."""
    layout = layout or {}
    img_dir, mask_dir = find_set_dirs(root, name, layout.get("image_dir"), layout.get("mask_dir"))
    images, masks = list_files(img_dir, IMAGE_EXTS), list_files(mask_dir, MASK_EXTS)
    if not images:
        raise DataError(f"dataset '{name}': no jpg/jpeg/png/bmp images in {img_dir}")
    pairs, lonely_i, lonely_m = pair_by_stem(images, masks, f"dataset '{name}'", on_unpaired)
    if lonely_i or lonely_m:
        log.warning(
            "dataset '%s': skipped %d images without masks and %d masks without images",
            name,
            len(lonely_i),
            len(lonely_m),
        )
    if not pairs:
        raise DataError(
            f"dataset '{name}': no image has a mask (images in {img_dir}, masks in {mask_dir})"
        )
    check_headers(pairs, f"dataset '{name}'")
    return pairs
