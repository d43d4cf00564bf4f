"""``predict``'s run over its planned jobs (:mod:`.inputs`): the photos batched through the
network, then the videos; every output written whole (:func:`.outputs.write_image`), every
file skipped counted by reason for the summary line. A photo whose header (or a video whose
container) claims more than ``max_pixels`` pixels a frame is skipped, named, before anything
decodes it."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ras_lightning.data.checks import too_large
from ras_lightning.data.readers import read_photo
from ras_lightning.inference.inputs import Job
from ras_lightning.inference.outputs import write_image
from ras_lightning.inference.predictor import BatchedPredictor
from ras_lightning.inference.video import open_video, predict_video
from ras_lightning.utils.errors import DataError

log = logging.getLogger("ras_lightning.predict")

# the reasons a file is skipped, in the summary's order
UNREADABLE, NOT_MEDIA, EXISTING = "unreadable", "not an image or video", "already there"
TOO_LARGE = "too large"
REASONS = (UNREADABLE, TOO_LARGE, NOT_MEDIA, EXISTING)


@dataclass
class Tally:
    """Files written and skipped (by reason): the summary line, true when a run stops too."""

    written: int = 0
    skipped: Counter = field(default_factory=Counter)

    def line(self, out: Path) -> str:
        reasons = [f"{n} {r}" for r in REASONS if (n := self.skipped[r])]
        total = sum(self.skipped.values())
        why = f" ({', '.join(reasons)})" if total else ""
        return f"predict: {self.written} written, {total} skipped{why} -> {out}"

    def skip(self, path: Path, reason: str, detail: str) -> None:
        self.skipped[reason] += 1
        log.warning("skipped %s: %s", path, detail)

    @classmethod
    def total(cls, parts: list[Tally]) -> Tally:
        """The counts of every process's tally together (``predict`` across processes)."""
        out = cls()
        for part in parts:
            out.written += part.written
            out.skipped.update(part.skipped)
        return out


def video_too_large(path: Path, limit: int) -> str | None:
    """The one-line problem of a video whose container claims frames of more than ``limit``
    pixels (``max_pixels``), else None (also when OpenCV cannot open it: the run names it)."""
    cap = open_video(path)
    try:
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if w * h <= limit:
        return None
    return f"video {path} is too large: {w}x{h} pixels a frame, over max_pixels={limit}"


def predict_files(
    predictor: BatchedPredictor,
    jobs: list[Job],
    make: Callable[[np.ndarray, np.ndarray], np.ndarray],
    tally: Tally,
    progress: bool = True,
    max_pixels: int | None = None,
) -> None:
    """Write ``make(photo, map)`` for the jobs' photos (batched), then for every frame of their
    videos, counting in ``tally``; an unreadable input, or a photo whose header claims more
    than ``max_pixels`` pixels (None: no limit), is skipped and counted."""
    photos = [j for j in jobs if not j.video]
    bar = tqdm(total=len(photos), unit="photo", disable=not progress, leave=False)

    def decoded() -> Iterator[tuple[tuple[Job, np.ndarray], np.ndarray]]:
        for job in photos:
            big = max_pixels and too_large(str(job.src), max_pixels, "max_pixels", "photo")
            if big:  # never decoded: a few header bytes can claim gigabytes of pixels
                tally.skip(job.src, TOO_LARGE, big)
                bar.update(1)
                continue
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
        big = max_pixels and video_too_large(job.src, max_pixels)
        if big:
            tally.skip(job.src, TOO_LARGE, big)
            continue
        try:
            predict_video(job.src, job.dest, predictor, make, progress)
        except DataError as err:
            tally.skip(job.src, UNREADABLE, str(err))
            continue
        tally.written += 1
