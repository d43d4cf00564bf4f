"""Videos through ``predict``: every frame's output type, as a video of the same frame rate and
size (OpenCV's FFmpeg reads and writes them).

The container follows the output's extension: ``.mp4`` / ``.mov`` with the ``mp4v`` codec,
``.avi`` / ``.mkv`` with ``MJPG``. The video is written to a hidden ``.<name>.part<ext>`` beside
its destination and renamed when complete, so an interrupted run never leaves a partial video
under the final name (``overwrite=false`` would take it as done).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ras_lightning.inference.outputs import to_video_frame
from ras_lightning.inference.predictor import BatchedPredictor
from ras_lightning.utils.errors import DataError, UserError

VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv"}
FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
DEFAULT_FPS = 25.0  # when a file does not tell its frame rate


def is_video(path: Path) -> bool:
    """Whether ``path`` has a video extension ``predict`` turns into a video."""
    return path.suffix.lower() in VIDEO_EXTS


# FFmpeg's own stderr lines ("moov atom not found", "Invalid mdhd time scale") say nothing a
# user can act on: predict names a file it cannot read in one line of its own. OpenCV sets
# FFmpeg's log level from OPENCV_FFMPEG_LOGLEVEL once, when FFmpeg is first used in the
# process, so it is set here, before predict opens or writes any video (-8: AV_LOG_QUIET); a
# value the user set wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def open_video(path: Path) -> cv2.VideoCapture:
    """``cv2.VideoCapture`` of ``path`` without OpenCV's own ``[ERROR]`` lines for a file it
    cannot open ("Failed to initialize VideoCapture"): the caller names the file instead."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(str(path))
    finally:
        cv2.utils.logging.setLogLevel(level)


def _frames(cap: cv2.VideoCapture) -> Iterator[tuple[int, np.ndarray]]:
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            return
        yield i, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        i += 1


def predict_video(
    src: Path,
    dest: Path,
    predictor: BatchedPredictor,
    make: Callable[[np.ndarray, np.ndarray], np.ndarray],
    progress: bool = True,
) -> int:
    """Write ``make(frame, map)`` for every frame of ``src`` to the video ``dest`` (same frame
    rate and size); return the number of frames. ``DataError`` names a video OpenCV cannot
    read (or one without frames), ``UserError`` a destination it cannot write."""
    cap = open_video(src)
    if not cap.isOpened():
        raise DataError(f"cannot read video {src}")
    fps = cap.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    part = dest.with_name(f".{dest.stem}.part{dest.suffix}")
    fourcc = cv2.VideoWriter_fourcc(*FOURCC.get(dest.suffix.lower(), "mp4v"))
    writer: cv2.VideoWriter | None = None  # opened at the first frame: no folder before that
    n = 0
    bar = tqdm(total=total, unit="frame", desc=src.name, disable=not progress, leave=False)
    try:
        for (_, frame), smap in predictor.iter_predict(((i, f), f) for i, f in _frames(cap)):
            if writer is None:
                dest.parent.mkdir(parents=True, exist_ok=True)
                size = frame.shape[1], frame.shape[0]  # the decoded frames' own size
                writer = cv2.VideoWriter(str(part), fourcc, fps, size)
                if not writer.isOpened():
                    raise UserError(f"cannot write video {dest}: OpenCV cannot open it to write")
            writer.write(to_video_frame(make(frame, smap)))
            n += 1
            bar.update(1)
        if writer is None:
            raise DataError(f"cannot read video {src}: no frame could be decoded")
        writer.release()
        if not part.is_file() or part.stat().st_size == 0:
            raise UserError(f"cannot write video {dest}: nothing was written (disk full?)")
        os.replace(part, dest)
    except OSError as err:
        raise UserError(f"cannot write video {dest}: {err.strerror or err}") from None
    finally:
        bar.close()
        cap.release()
        if writer is not None:
            writer.release()
            part.unlink(missing_ok=True)
    return n
