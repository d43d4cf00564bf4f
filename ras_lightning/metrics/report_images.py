"""The pictures of ``report.html``: small thumbnails and full-size views of every image.

For each image of a dataset (one *job*): the photo (``eval``), the mask, each method's map and
an error overlay per method, each as a thumbnail (fitting :data:`THUMB` px) under
``report_files/thumbs/`` and full size under ``report_files/full/``. A map already inside the
output folder (``eval``'s) is linked where it is; everything else is copied or converted, so
the page works from a copied output folder: masks and maps as 8-bit gray PNGs read by the one
mask and map readers (a 0/1 or 16-bit file shows as it scores), photos as they are when a
browser shows them and they fit :data:`FULL_CAP` px, else re-encoded to fit it.

The error overlay is at the mask's size: the map resized to it (bilinear), min-max normalised
as both conventions score it, and thresholded at :data:`THRESHOLD` (0..255); the mask likewise
at 128. Correct foreground is light gray, correct background dark, false positives (map says
object, mask says background) :data:`FP_COLOR`, false negatives (missed object)
:data:`FN_COLOR`.

Pictures are made once: ``report_files/index.json`` keeps each image's sources (path, size,
modification time) and the settings; an image whose sources and settings are unchanged and
whose files are all there is not read again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ras_lightning.data.readers import read_map, read_mask, read_photo
from ras_lightning.utils.errors import DataError, UserError
from ras_lightning.utils.files import make_folder, replacing, write_atomic

#: thumbnails fit a square of this many pixels
THUMB = 80
#: full-size views larger than this (long side, px) are scaled down to it
FULL_CAP = 1024
#: map gray level (after min-max normalisation, 0..255) from which a pixel counts as object
THRESHOLD = 128
FP_COLOR = (230, 60, 40)  # false positive: red
FN_COLOR = (40, 130, 255)  # false negative: blue
TP_COLOR = (215, 215, 215)
TN_COLOR = (25, 25, 25)
#: photo formats shown as they are (others are re-encoded)
_AS_IS = {".jpg", ".jpeg", ".png"}
#: bump when the pictures' look changes, so every index entry is made again
VERSION = 1
FILES = "report_files"


def slug(text: str) -> str:
    """A file-name-safe name for ``text``: itself when it is plain ASCII letters, digits,
    ``-``, ``_`` and ``.`` (not leading), else its safe part and a short hash (no clashes)."""
    if re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,79}", text):
        return text
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", text)[:40]
    return f"{safe}~{hashlib.sha1(text.encode()).hexdigest()[:8]}"


@dataclass
class Job:
    """One image's pictures: its sources (None where absent) and where each picture goes
    (paths relative to the output folder; a full-size map already inside it is only linked)."""

    key: str
    photo: str | None
    mask: str | None
    maps: list[str | None]
    thumbs: dict[str, str] = field(default_factory=dict)
    full: dict[str, str] = field(default_factory=dict)
    linked: set[str] = field(default_factory=set)

    def signature(self) -> list:
        """What the pictures depend on: every source's path, size and mtime, the settings."""
        sig: list = [VERSION, THUMB, FULL_CAP, THRESHOLD, sorted(self.linked)]
        for path in (self.photo, self.mask, *self.maps):
            try:
                st = os.stat(path) if path else None
            except OSError:
                st = None
            sig.append([path, st.st_size, st.st_mtime_ns] if st else [path])
        return sig

    def outputs(self) -> list[str]:
        return [*self.thumbs.values(), *(v for k, v in self.full.items() if k not in self.linked)]


def _ext(path: str) -> str:
    """A full-size mask's or map's extension: its own when a browser may show the file as it
    is (:func:`_plain`), else ``.png``."""
    ext = Path(path).suffix.lower()
    return ext if ext in _AS_IS else ".png"


def plan_jobs(
    out_dir: Path,
    dataset: str,
    images: Sequence[str],
    photos: dict[str, str] | None,
    masks: dict[str, str],
    maps: Sequence[dict[str, str]],
) -> list[Job]:
    """A :class:`Job` per image of ``dataset`` (stems ``images``) from the files by stem of
    its photos (None: no photos), masks and each method's maps, in method order."""
    base = f"{FILES}/%s/{slug(dataset)}/%s/%s"
    out_real = Path(os.path.realpath(out_dir))
    jobs = []
    for stem in images:
        name = slug(stem)
        photo = photos.get(stem) if photos else None
        job = Job(f"{dataset}/{stem}", photo, masks.get(stem), [m.get(stem) for m in maps])
        if photo:
            ext = Path(photo).suffix.lower()
            job.thumbs["photo"] = base % ("thumbs", "photo", f"{name}.jpg")
            job.full["photo"] = base % ("full", "photo", name + (ext if ext in _AS_IS else ".jpg"))
        if job.mask:
            job.thumbs["mask"] = base % ("thumbs", "mask", f"{name}.png")
            job.full["mask"] = base % ("full", "mask", name + _ext(job.mask))
        for k, path in enumerate(job.maps):
            if not path:
                continue
            job.thumbs[f"map{k}"] = base % ("thumbs", f"map{k}", f"{name}.png")
            job.full[f"map{k}"] = base % ("full", f"map{k}", name + _ext(path))
            real = Path(os.path.realpath(path))
            if real.suffix.lower() == ".png" and real.is_relative_to(out_real):
                # eval's own 8-bit map: linked where it is (relative: the folder may move)
                job.full[f"map{k}"] = real.relative_to(out_real).as_posix()
                job.linked.add(f"map{k}")
            if job.mask:
                job.thumbs[f"err{k}"] = base % ("thumbs", f"err{k}", f"{name}.png")
                job.full[f"err{k}"] = base % ("full", f"err{k}", f"{name}.png")
        jobs.append(job)
    return jobs


def _fit(size: tuple[int, int], cap: int) -> tuple[int, int]:
    w, h = size
    scale = min(1.0, cap / max(w, h, 1))
    return max(1, round(w * scale)), max(1, round(h * scale))


_MADE: set[Path] = set()  # folders made by this process (one check per folder, not per file)


def forget_folders() -> None:
    """Check every folder again (they may have gone since an earlier report)."""
    _MADE.clear()


def _folder(path: Path) -> None:
    if path.parent not in _MADE:
        make_folder(path.parent)
        _MADE.add(path.parent)


def _save(im: Image.Image, path: Path, **kw: object) -> None:
    _folder(path)
    with replacing(path) as tmp:  # the index says what is done: see make_pictures
        # PNG level 1: several times faster to write than the default, a little larger
        jpeg = path.suffix in (".jpg", ".jpeg")
        kw = kw or ({"quality": 92} if jpeg else {"compress_level": 1})
        im.save(tmp, format="JPEG" if jpeg else "PNG", **kw)


def link_or_copy(src: Path, dest: Path) -> None:
    """``dest`` as a hard link to ``src`` where the file system allows it (no extra space; a
    copied output folder gets real files), else a copy. The link goes to a temporary name
    first and is renamed onto ``dest``; nothing is ever written through it (every picture is
    replaced by a rename), so the data file is never changed, nor its permissions."""
    _folder(dest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
        os.replace(tmp, dest)
        return
    except OSError:  # another file system, no permission to link: a copy
        tmp.unlink(missing_ok=True)
    with replacing(dest) as part:
        shutil.copy2(src, part)  # its modification time too (compare checks a copy by it)


def _thumb(im: Image.Image, path: Path) -> None:
    small = im.resize(_fit(im.size, THUMB), Image.Resampling.BOX) if max(im.size) > THUMB else im
    _save(small, path, **({"quality": 80} if path.suffix == ".jpg" else {}))


def _photo(job: Job, out: Path) -> None:
    src, full = Path(job.photo or ""), out / job.full["photo"]
    with Image.open(src) as im:
        size, oriented = im.size, im.getexif().get(0x0112, 1) not in (0, 1)
        if "photo" in job.thumbs:  # JPEG draft: decoded at a fraction of its size, fast
            im.draft("RGB", (THUMB * 2, THUMB * 2))
            _thumb(ImageOps.exif_transpose(im).convert("RGB"), out / job.thumbs["photo"])
    if src.suffix.lower() in _AS_IS and max(size) <= FULL_CAP and not oriented:
        link_or_copy(src, full)
        return
    big = Image.fromarray(read_photo(str(src)))
    big = big.resize(_fit(big.size, FULL_CAP), Image.Resampling.LANCZOS)
    _save(big, full, **({"quality": 90} if full.suffix == ".jpg" else {}))


def _plain(path: str, arr: np.ndarray) -> bool:
    """Whether a browser shows the mask or map file ``path`` (read as ``arr``) as it scores:
    an 8-bit gray PNG/JPEG within :data:`FULL_CAP`, no orientation tag, whose levels are
    kept as they are (not 0/1 labels, which read as 0/255)."""
    if Path(path).suffix.lower() not in _AS_IS or max(arr.shape) > FULL_CAP:
        return False
    with Image.open(path) as im:
        if im.mode != "L" or im.getexif().get(0x0112, 1) not in (0, 1):
            return False
        return int(im.getextrema()[1]) > 1


def _full(im: Image.Image, arr: np.ndarray, src: str, dest: Path, resample: int) -> None:
    """The full-size view of a mask or map: the file itself when a browser shows it as read,
    else the array as read, scaled down to fit :data:`FULL_CAP`."""
    if _plain(src, arr):
        link_or_copy(Path(src), dest)
    else:
        _save(im.resize(_fit(im.size, FULL_CAP), resample), dest)


def overlay(mask: np.ndarray, saliency: np.ndarray) -> Image.Image:
    """The error overlay (a 4-colour palette image) of a uint8 map, resized to the mask's
    size if needed, against a uint8 mask (see the module's docstring)."""
    if saliency.shape != mask.shape:
        im = Image.fromarray(saliency).resize(mask.shape[::-1], Image.Resampling.BILINEAR)
        saliency = np.asarray(im)
    lo, hi = int(saliency.min()), int(saliency.max())
    if hi > lo:  # min-max, as scored: p >= THRESHOLD after scaling to 0..255
        pred = (saliency.astype(np.int32) - lo) * 255 >= THRESHOLD * (hi - lo)
    else:
        pred = saliency >= THRESHOLD
    code = pred.astype(np.uint8) + 2 * (mask >= 128).astype(np.uint8)
    out = Image.fromarray(code, "P")
    out.putpalette([*TN_COLOR, *FP_COLOR, *FN_COLOR, *TP_COLOR])
    return out


def run_job(job: Job, out: Path) -> list[str]:
    """Make ``job``'s pictures under ``out``; return the problems (a file that cannot be
    read: its pictures are left out, the others made)."""
    problems = []
    if job.photo:
        try:
            _photo(job, out)
        except (DataError, OSError, ValueError) as err:
            problems.append(f"photo {job.photo}: {err}")
    mask = None
    if job.mask:
        try:
            mask = read_mask(job.mask, np.uint8)
            im = Image.fromarray(mask)
            _thumb(im, out / job.thumbs["mask"])
            _full(im, mask, job.mask, out / job.full["mask"], Image.Resampling.NEAREST)
        except DataError as err:
            problems.append(str(err))
            mask = None
    for k, path in enumerate(job.maps):
        if not path:
            continue
        try:
            saliency = read_map(path)
        except DataError as err:
            problems.append(str(err))
            continue
        im = Image.fromarray(saliency)
        _thumb(im, out / job.thumbs[f"map{k}"])
        if f"map{k}" not in job.linked:
            _full(im, saliency, path, out / job.full[f"map{k}"], Image.Resampling.BILINEAR)
        if mask is not None:
            err_im = overlay(mask, saliency)
            _thumb(err_im.convert("RGB"), out / job.thumbs[f"err{k}"])
            size = _fit(err_im.size, FULL_CAP)
            _save(err_im.resize(size, Image.Resampling.NEAREST), out / job.full[f"err{k}"])
    return problems


def _run_chunk(jobs: list[Job], out: Path) -> list[tuple[str, list[str]]]:
    return [(job.key, run_job(job, out)) for job in jobs]


def make_pictures(out: Path, jobs: list[Job], workers: int = 1) -> tuple[int, list[str]]:
    """Make the pictures of ``jobs`` that are not up to date (``report_files/index.json``),
    in ``workers`` forked processes; return (how many images were made, the problems)."""
    forget_folders()
    index_path = out / FILES / "index.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    todo, fresh = [], {}
    for job in jobs:
        sig = job.signature()
        fresh[job.key] = sig
        stored = index.get(job.key)
        if stored != sig or not all((out / p).is_file() for p in job.outputs()):
            todo.append(job)
    problems: list[str] = []
    chunks = [todo[i : i + 32] for i in range(0, len(todo), 32)]
    results: Iterable[list[tuple[str, list[str]]]]
    try:
        if workers > 1 and len(todo) > 64:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(_run_chunk, chunks, [out] * len(chunks)))
        else:
            results = [_run_chunk(c, out) for c in chunks]
    except OSError as err:  # a full disk, a read-only folder: one line
        reason = err.strerror or str(err)
        raise UserError(f"cannot write the report's pictures in {out / FILES}: {reason}") from None
    for part in results:
        for key, bad in part:
            problems += bad
            if bad:  # not recorded: tried again next time
                fresh.pop(key, None)
    write_atomic(index_path, json.dumps(fresh, separators=(",", ":")))
    _prune(out, {p for job in jobs for p in job.outputs()})
    return len(todo), problems


def _prune(out: Path, keep: set[str]) -> None:
    """Remove the pictures of an earlier report that this one does not show (images no longer
    scored, a method dropped), so the folder holds what the page shows."""
    for top in ("thumbs", "full"):
        root = out / FILES / top
        if not root.is_dir():
            continue
        for path in root.rglob("*"):
            if path.is_file() and path.relative_to(out).as_posix() not in keep:
                path.unlink(missing_ok=True)
