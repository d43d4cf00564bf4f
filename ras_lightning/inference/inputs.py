"""What ``predict`` reads and where each output goes, checked before the network is loaded.

``input`` is a file, a folder (``recursive``: sub-folders too) or a glob (``**`` allowed);
outputs mirror the input's sub-folders under ``output``: ``<stem>.png`` per photo and
``<name>`` per video. Two inputs that would write the same name (``0001.jpg``, ``0001.png``)
both keep their extension (``0001.jpg.png``, ``0001.png.png``; a warning names them), and a
name still shared after that is a one-line error listing the files. ``output=FILE`` with one
input writes that file. Nothing is written into the input folder, and no input is overwritten.
"""

from __future__ import annotations

import glob
import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ras_lightning.data.discovery import IMAGE_EXTS
from ras_lightning.inference.outputs import has_alpha
from ras_lightning.inference.video import VIDEO_EXTS, is_video
from ras_lightning.utils.errors import UserError

log = logging.getLogger("ras_lightning.predict")

PHOTO_EXTS = IMAGE_EXTS | {".webp", ".tif", ".tiff"}
#: an ``output=`` ending in one of these names a file (with a single input), not a folder
FILE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"} | VIDEO_EXTS
#: the file types that keep an alpha channel
ALPHA_EXTS = (".png", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Job:
    """One input file and the output it writes."""

    src: Path
    dest: Path

    @property
    def video(self) -> bool:
        return is_video(self.src)


@dataclass
class Plan:
    """Every file found under ``input`` and the jobs of those that are photos or videos."""

    files: list[Path]
    jobs: list[Job]


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
    renamed = []
    for same in groups.values():
        if len(same) > 1:  # 0001.jpg + 0001.png -> 0001.jpg.png + 0001.png.png
            for i in same:
                dests[i] = out / rels[i].parent / f"{rels[i].name}.png"
            renamed.append(" + ".join(str(rels[i]) for i in same))
    if renamed:  # named: the outputs are not <stem>.png as usual
        log.warning(
            "%d names used by more than one photo (%s): each output keeps its photo's "
            "extension (<name>.<ext>.png)",
            len(renamed),
            ", ".join(renamed[:10]) + (" ..." if len(renamed) > 10 else ""),
        )
    seen: dict[str, list[Path]] = defaultdict(list)
    for f, d in zip(media, dests, strict=True):
        seen[str(d).casefold()].append(f)
    clashes = [fs for fs in seen.values() if len(fs) > 1]
    if clashes:
        listed = "; ".join(", ".join(str(f) for f in fs) for fs in clashes)
        raise UserError(f"input: these files would write the same output, rename one: {listed}")
    return [Job(f, d) for f, d in zip(media, dests, strict=True)]


def check_output(base: Path, out: Path, to_file: bool, one_file: bool) -> None:
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


def plan(spec: str, out: Path, kind: str, recursive: bool = False) -> Plan:
    """The files of ``spec`` and the job of each photo and video, writing outputs of ``kind``
    into ``out`` (a folder, or a file when it has an image or video extension and is no
    folder); ``UserError`` for any output that cannot be written as asked."""
    base, files = collect_inputs(spec, recursive)
    to_file = out.suffix.lower() in FILE_EXTS and not out.is_dir()
    check_output(base, out, to_file, Path(spec).expanduser().is_file())
    jobs = plan_outputs(base, files, out, to_file)
    inputs = {f.resolve() for f in files}
    for job in jobs:
        if job.dest.resolve() in inputs:
            raise UserError(f"output {job.dest} is an input file; predict never overwrites one")
    if to_file and jobs and jobs[0].video != is_video(out):
        what = "a video" if jobs[0].video else "a photo"
        raise UserError(f"output={out}: input {jobs[0].src} is {what}; name a matching file")
    if has_alpha(kind):
        if to_file and out.suffix.lower() not in ALPHA_EXTS:
            raise UserError(f"type={kind} has an alpha channel: output={out} must be .png")
        videos = [str(j.src) for j in jobs if j.video]
        if videos:
            raise UserError(
                f"type={kind} has no video form (videos have no alpha channel); use "
                f"type=green|white|blur|overlay or background= for: {', '.join(videos)}"
            )
    return Plan(files, jobs)
