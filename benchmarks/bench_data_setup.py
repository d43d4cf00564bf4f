"""Data set-up time: the header reader of the set-up checks, and discovery of DUTS-TR.

    .venv/bin/python benchmarks/bench_data_setup.py [--photos 1000] [--pairs 10553] [--rounds 7]

One run, in a temporary folder:

1. **The set-up checks' reader on ``--photos`` ECSSD-size JPEGs** (400x300 synthetic scenes,
   every tenth tagged with EXIF orientation 6 and a few camera tags, each with its PNG mask):
   the hand-written JPEG/PNG/BMP header parser (:func:`ras_lightning.data.checks.header_size`)
   against PIL's lazy ``Image.open`` (size + ``getexif()`` orientation, no decode:
   :func:`pil_header_size`), first on the photos alone, then as
   ``check_headers`` runs on the photo/mask pairs. The two readers alternate within each
   round; the best of ``--rounds`` is kept. The issue's rule: PIL replaces the hand-written
   parser unless it is more than 2x slower here.
2. **Discovery of a DUTS-TR layout** of ``--pairs`` photo/mask pairs (list, pair by stem,
   header checks: :func:`ras_lightning.data.discover_set`), and for comparison
   ``PIL.Image.open`` of every file. Nothing is decoded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from PIL import Image

from ras_lightning.data import checks, discover_set
from ras_lightning.data.demo import make_scene
from ras_lightning.data.sample import Sample

ORIENTATION, MAKE, MODEL, DATETIME = 0x0112, 0x010F, 0x0110, 0x0132
DISTINCT = 50  # distinct scenes; the other files are copies (only headers are read)


def pil_header_size(path: str) -> tuple[int, int] | None:
    """:func:`ras_lightning.data.checks.header_size` by PIL's lazy ``Image.open``: the same
    answer (orientation from a JPEG's EXIF only; ``getexif()`` of a PNG would decode it)."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(ORIENTATION, 1) if im.format == "JPEG" else 1
    except Exception:  # noqa: BLE001  (as the header parser: any failure is "unreadable")
        return None
    return (h, w) if orientation in checks.SWAPS_SIZE else (w, h)


def _write_ecssd_like(folder: Path, n: int) -> list[Sample]:
    """``n`` 400x300 JPEG photos (quality 92, as the demo data) with PNG masks; every tenth
    photo carries EXIF orientation 6 and its mask is drawn as the photo is shown (300x400)."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir(parents=True)
    for i in range(min(n, DISTINCT)):
        photo, mask = make_scene(i, (400, 300))
        kwargs = {}
        if i % 10 == 0:
            exif = Image.Exif()
            exif[MAKE], exif[MODEL], exif[DATETIME] = "Camera", "Model 1", "2026:01:01 12:00:00"
            exif[ORIENTATION] = 6  # shown rotated 90 degrees clockwise
            kwargs["exif"] = exif
            mask = mask.transpose(Image.Transpose.ROTATE_270)
        photo.save(folder / "images" / f"{i:04d}.jpg", quality=92, **kwargs)
        mask.save(folder / "masks" / f"{i:04d}.png")
    samples = []
    for i in range(n):
        image, mask = folder / "images" / f"{i:04d}.jpg", folder / "masks" / f"{i:04d}.png"
        if i >= DISTINCT:
            j = i % DISTINCT
            shutil.copyfile(folder / "images" / f"{j:04d}.jpg", image)
            shutil.copyfile(folder / "masks" / f"{j:04d}.png", mask)
        samples.append(Sample(f"{i:04d}", str(image), str(mask)))
    return samples


def _best(rounds: int, jobs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best wall-clock seconds of each job over ``rounds``, the jobs alternating per round."""
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(rounds):
        for name, job in jobs.items():
            t = time.perf_counter()
            job()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def compare_readers(root: Path, photos: int, rounds: int) -> None:
    samples = _write_ecssd_like(root / "ECSSD-like", photos)
    paths = [s.image for s in samples]
    by_hand = [checks.header_size(p) for p in paths]
    assert by_hand == [pil_header_size(p) for p in paths], "the readers disagree"
    assert sum(w < h for w, h in by_hand) == -(-photos // 10), "EXIF orientation not seen"

    def check_with_pil() -> object:
        with mock.patch.object(checks, "header_size", pil_header_size):
            return checks.check_headers(samples)

    assert checks.check_headers(samples) == [] == check_with_pil()
    t = _best(
        rounds,
        {
            "hand": lambda: [checks.header_size(p) for p in paths],
            "pil": lambda: [pil_header_size(p) for p in paths],
            "hand_pairs": lambda: checks.check_headers(samples),
            "pil_pairs": check_with_pil,
        },
    )
    print(
        f"| set-up check reader, {photos} ECSSD-size JPEGs | hand-written parser | PIL lazy open "
        "| PIL / hand |"
    )
    print("|---|---|---|---|")
    for label, unit, a, b in (
        (f"size + EXIF orientation of {photos} photos", "photo", "hand", "pil"),
        (f"`check_headers` of {photos} photo/mask pairs", "pair", "hand_pairs", "pil_pairs"),
    ):
        hand, pil = (f"{t[k] * 1e3:.1f} ms ({t[k] / photos * 1e6:.1f} us/{unit})" for k in (a, b))
        print(f"| {label} | {hand} | {pil} | {t[b] / t[a]:.2f}x |")


def time_discovery(root: Path, pairs: int) -> None:
    img_dir, mask_dir = root / "DUTS-TR" / "DUTS-TR-Image", root / "DUTS-TR" / "DUTS-TR-Mask"
    img_dir.mkdir(parents=True)
    mask_dir.mkdir(parents=True)
    photo, mask = make_scene(0, (400, 300))
    photo.save(root / "a.jpg", quality=92)
    mask.save(root / "a.png")
    for i in range(pairs):
        shutil.copyfile(root / "a.jpg", img_dir / f"ILSVRC2012_test_{i:08d}.jpg")
        shutil.copyfile(root / "a.png", mask_dir / f"ILSVRC2012_test_{i:08d}.png")
    t = time.perf_counter()
    samples = discover_set(root, "DUTS-TR")
    ours = time.perf_counter() - t
    t = time.perf_counter()
    for s in samples:
        with Image.open(s.image) as a, Image.open(s.mask) as b:
            _ = a.size, b.size
    pil = time.perf_counter() - t
    print(f"\n| set-up of {len(samples)} pairs | seconds |")
    print("|---|---|")
    print(f"| ras_lightning: list + pair + header checks | {ours:.3f} |")
    print(f"| (for comparison) PIL.Image.open of every file | {pil:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=1000)
    ap.add_argument("--pairs", type=int, default=10553)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    print(f"load average before: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    with tempfile.TemporaryDirectory() as tmp:
        compare_readers(Path(tmp), args.photos, args.rounds)
        time_discovery(Path(tmp), args.pairs)
    print(f"\nload average after: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
