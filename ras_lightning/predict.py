"""``python -m ras_lightning.predict``: saliency maps, masks and cut-outs for your own photos
and videos.

``input`` is a file, a folder (``recursive=true``: sub-folders too) or a glob (``**`` allowed);
outputs mirror the input's sub-folders under ``output``: ``<stem>.png`` per photo (at its
size; ``type=`` picks what, :mod:`ras_lightning.inference.outputs`) and ``<name>`` per video
(same frame rate, size and container). Two inputs that would write the same name (``0001.jpg``,
``0001.png``) both keep their extension (``0001.jpg.png``, ``0001.png.png``). ``output=FILE``
with one input writes that file. Unreadable and non-image files are named and skipped,
``overwrite=false`` skips outputs already there; the last line counts what was written and
skipped; nothing written is exit status 1. Every setting and the output folder are checked
before the network is loaded; folders are created only to write a file; nothing is written
into the input folder.
"""

from __future__ import annotations

import glob
import logging
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import hydra
import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from ras_lightning.data.discovery import IMAGE_EXTS
from ras_lightning.data.readers import read_photo
from ras_lightning.inference.backends import make_predictor
from ras_lightning.inference.outputs import check_type, has_alpha, render, to_bgr
from ras_lightning.inference.video import VIDEO_EXTS, is_video, predict_video
from ras_lightning.utils.errors import DataError, UserError, require, user_errors

log = logging.getLogger("ras_lightning.predict")

PHOTO_EXTS = IMAGE_EXTS | {".webp", ".tif", ".tiff"}
#: an ``output=`` ending in one of these names a file (with a single input), not a folder
FILE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"} | VIDEO_EXTS
EXAMPLE = "python -m ras_lightning.predict weights=RAS.v2.pth input=photos output=masks"
# the reasons a file is skipped, in the summary's order
UNREADABLE, NOT_MEDIA, EXISTING = "unreadable", "not an image or video", "already there"


@dataclass(frozen=True)
class Job:
    """One input file and the output it writes."""

    src: Path
    dest: Path

    @property
    def video(self) -> bool:
        return is_video(self.src)


def collect_inputs(spec: str, recursive: bool = False) -> tuple[Path, list[Path]]:
    """(base folder, files) for a file, a folder or a glob pattern; outputs mirror the files'
    folders relative to the base."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path.parent, [path]
    if path.is_dir():
        found = path.rglob("*") if recursive else path.iterdir()
        return path, sorted(p for p in found if p.is_file() and not p.name.startswith("."))
    matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if not matches:
        raise UserError(f"input: no such file or folder, and no file matches: {spec}")
    fixed = []  # the pattern's leading folders without wildcards
    for part in path.parts:
        if any(c in part for c in "*?["):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path("."), matches


def plan_outputs(base: Path, files: list[Path], out: Path, to_file: bool) -> list[Job]:
    """The output of every photo and video in ``files``; ``to_file``: ``out`` is the one
    output file. Inputs that would write the same name (also differing in case only, as on
    case-insensitive disks) keep their extension in it; ``UserError`` lists any left."""
    media = [f for f in files if f.suffix.lower() in PHOTO_EXTS or is_video(f)]
    if to_file:
        if len(media) > 1:
            raise UserError(
                f"output={out} names one file but input has {len(media)} photos/videos; "
                "give a folder"
            )
        return [Job(f, out) for f in media]
    rels = [f.relative_to(base) for f in media]
    dests = [out / (r if is_video(r) else r.with_suffix(".png")) for r in rels]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, d in enumerate(dests):
        groups[str(d).casefold()].append(i)
    for same in groups.values():
        if len(same) > 1:  # 0001.jpg + 0001.png -> 0001.jpg.png + 0001.png.png
            for i in same:
                dests[i] = out / rels[i].parent / f"{rels[i].name}.png"
    seen: dict[str, list[Path]] = defaultdict(list)
    for f, d in zip(media, dests, strict=True):
        seen[str(d).casefold()].append(f)
    clashes = [fs for fs in seen.values() if len(fs) > 1]
    if clashes:
        listed = "; ".join(", ".join(str(f) for f in fs) for fs in clashes)
        raise UserError(f"input: these files would write the same output, rename one: {listed}")
    return [Job(f, d) for f, d in zip(media, dests, strict=True)]


def _check_output(base: Path, out: Path, to_file: bool, one_file: bool) -> None:
    """Refuse an output inside the input folder (``one_file``: a single input file, whose
    folder may take outputs of other names), under a file, or in a folder this user cannot
    write: before any work, creating nothing."""
    folder = out.parent if to_file else out
    b, o = base.resolve(), folder.resolve()
    if not one_file and (o == b or b in o.parents):
        raise UserError(
            f"output {out} is inside the input folder {base}; choose another folder "
            "(predict never writes into its input)"
        )
    if to_file and out.is_dir():
        raise UserError(f"output={out} is a folder; name a file, or drop its extension")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"output: cannot create {folder}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"output: cannot write into {existing}: permission denied")


def write_image(dest: Path, image: np.ndarray) -> None:
    """Write an output (gray, RGB or RGBA) as ``dest``'s extension says, whole or not at all:
    into a hidden file beside it, renamed when complete. ``UserError`` names a file that could
    not be written (read-only folder, full disk, a folder in the way)."""
    ok, data = cv2.imencode(dest.suffix.lower() or ".png", to_bgr(image))
    if not ok:
        raise UserError(f"cannot write {dest}: OpenCV cannot encode {dest.suffix} images")
    part = dest.with_name(f".{dest.name}.part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "wb") as f:
            f.write(data.tobytes())
        os.replace(part, dest)
    except OSError as err:
        if part.parent.is_dir():
            part.unlink(missing_ok=True)
        raise UserError(f"cannot write {dest}: {err.strerror or err}") from None


def _settings(cfg: DictConfig) -> tuple[str, float, np.ndarray | None]:
    """(type, threshold, background image) from the config, checked."""
    kind = str(cfg.type)
    if cfg.get("cutout"):
        log.warning("cutout=true is deprecated: it is type=rgba (<stem>.png holds the cut-out)")
        kind = "rgba" if kind == "map" else kind
    background = None
    if cfg.get("background"):
        if kind not in ("map", "background"):
            raise UserError(f"background= composites on an image; it cannot go with type={kind}")
        kind = "background"
        try:
            background = read_photo(str(Path(str(cfg.background)).expanduser()))
        except DataError as err:
            raise UserError(f"background: {err}") from None
    elif kind == "background":
        raise UserError("type=background needs background=PATH (an image)")
    try:
        threshold = float(cfg.threshold)
    except (TypeError, ValueError):
        raise UserError(f"threshold must be a number in 0..1, got {cfg.threshold!r}") from None
    try:
        check_type(kind, threshold)
    except ValueError as err:
        raise UserError(str(err).replace("type must", "type= must")) from None
    return kind, threshold, background


@dataclass
class Tally:
    """Files written and skipped (by reason): the summary line, true when a run stops too."""

    written: int = 0
    skipped: Counter = field(default_factory=Counter)

    def line(self, out: Path) -> str:
        reasons = [f"{n} {r}" for r in (UNREADABLE, NOT_MEDIA, EXISTING) if (n := self.skipped[r])]
        total = sum(self.skipped.values())
        why = f" ({', '.join(reasons)})" if total else ""
        return f"predict: {self.written} written, {total} skipped{why} -> {out}"

    def skip(self, path: Path, reason: str, detail: str) -> None:
        self.skipped[reason] += 1
        log.warning("skipped %s: %s", path, detail)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Predict for ``cfg.input`` into ``cfg.output``; return the counts."""
    what = {
        "weights": "our .ckpt, the authors' RAS.vN.pth or an exported .onnx",
        "input": "a photo, video, folder or glob",
        "output": "a folder, or with one input a file",
    }
    require(cfg, what, EXAMPLE)
    kind, threshold, background = _settings(cfg)
    base, files = collect_inputs(str(cfg.input), bool(cfg.recursive))
    out = Path(str(cfg.output)).expanduser()
    to_file = out.suffix.lower() in FILE_EXTS and not out.is_dir()
    one_file = Path(str(cfg.input)).expanduser().is_file()
    _check_output(base, out, to_file, one_file)
    jobs = plan_outputs(base, files, out, to_file)
    inputs = {f.resolve() for f in files}
    for job in jobs:
        if job.dest.resolve() in inputs:
            raise UserError(f"output {job.dest} is an input file; predict never overwrites one")
    if to_file and jobs and jobs[0].video != is_video(out):
        what = "a video" if jobs[0].video else "a photo"
        raise UserError(f"output={out}: input {jobs[0].src} is {what}; name a matching file")
    if has_alpha(kind):
        if to_file and out.suffix.lower() not in (".png", ".tif", ".tiff", ".webp"):
            raise UserError(f"type={kind} has an alpha channel: output={out} must be .png")
        videos = [str(j.src) for j in jobs if j.video]
        if videos:
            raise UserError(
                f"type={kind} has no video form (videos have no alpha channel); use "
                f"type=green|white|blur|overlay or background= for: {', '.join(videos)}"
            )

    tally = Tally()
    media = {j.src for j in jobs}
    for f in files:
        if f not in media:
            tally.skip(f, NOT_MEDIA, "not an image or video file")
    if not cfg.overwrite:  # resume: outputs already there are kept, their inputs not read
        todo = [j for j in jobs if not j.dest.exists()]
        tally.skipped[EXISTING] += len(jobs) - len(todo)
        jobs = todo
    try:
        if jobs:
            _predict(cfg, jobs, kind, threshold, background, tally)
    finally:  # also when a write fails: the counts so far
        print(tally.line(out), flush=True)
    if tally.written == 0 and not tally.skipped[EXISTING]:
        raise UserError(f"nothing written: no photo or video in input={cfg.input} could be read")
    return {"written": tally.written, "skipped": sum(tally.skipped.values()), **tally.skipped}


def _predict(
    cfg: DictConfig,
    jobs: list[Job],
    kind: str,
    threshold: float,
    background: np.ndarray | None,
    tally: Tally,
) -> None:
    """Run the network over the jobs' photos, then their videos, counting in ``tally``."""
    predictor = make_predictor(cfg)

    def make(photo: np.ndarray, smap: np.ndarray) -> np.ndarray:
        return render(photo, smap, kind, threshold, background)

    photos = [j for j in jobs if not j.video]
    bar = tqdm(total=len(photos), unit="photo", disable=not cfg.progress, leave=False)

    def decoded() -> Any:
        for job in photos:
            try:  # fully decoded, EXIF orientation applied: the outputs are as the photo shows
                img = read_photo(str(job.src))
            except DataError as err:
                tally.skip(job.src, UNREADABLE, str(err))
                bar.update(1)
                continue
            yield (job, img), img

    for (job, img), smap in predictor.iter_predict(decoded()):
        write_image(job.dest, make(img, smap))
        tally.written += 1
        bar.update(1)
    bar.close()
    for job in (j for j in jobs if j.video):
        try:
            predict_video(job.src, job.dest, predictor, make, bool(cfg.progress))
        except DataError as err:
            tally.skip(job.src, UNREADABLE, str(err))
            continue
        tally.written += 1


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    with user_errors():
        run(cfg)


if __name__ == "__main__":
    main()
