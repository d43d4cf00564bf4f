"""``ras-audit`` time on DUTS-sized data: cold (empty hash cache) and a second run (cached).

    .venv/bin/python benchmarks/bench_audit.py [--photos 10000] [--test-share 0.25]
        [--plants 50] [--root /tmp/ras-audit-bench] [--workers N]

Generates ``--photos`` demo scenes at DUTS-like sizes (400x300, 300x400, 400x267, 400x400 JPEG
at quality 92, each with its PNG mask) once into ``--root`` (reused while the settings match),
split into ``DUTS-TR`` and ``DUTS-TE`` in the DUTS layout (``DUTS-TR/DUTS-TR-Image`` ...), and
plants ``--plants`` copies of test photos into the training set (resized to half, JPEG quality
60, flipped, cropped by 5 %, or all four). Then runs the real command twice in a subprocess,
``python -m ras_lightning.audit data.root=ROOT data.test_sets=[DUTS-TE] output_dir=...``,
with a fresh hash cache (``RAS_LIGHTNING_CACHE``): wall time of each, and how many planted
copies were found and how many other pairs were reported.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image, ImageOps

from ras_lightning.data.demo import make_scene

SIZES = [(400, 300), (300, 400), (400, 267), (400, 400)]
KINDS = ("half", "q60", "flip", "crop", "all")


def _write(job: tuple[str, str, int, int]) -> None:
    folder, name, seed, i = job
    photo, mask = make_scene(seed, SIZES[i % len(SIZES)])
    photo.save(Path(folder) / f"{name}-Image" / f"{name}_{i:05d}.jpg", quality=92)
    mask.save(Path(folder) / f"{name}-Mask" / f"{name}_{i:05d}.png")


def _plant(photo: Path, dest: Path, kind: str, corner: bool) -> None:
    im = Image.open(photo).convert("RGB")
    w, h = im.size
    if kind in ("crop", "all"):
        dx, dy = round(0.05 * w), round(0.05 * h)
        im = im.crop((dx, dy, w, h) if corner else (dx, dy, w - dx, h - dy))
    if kind in ("flip", "all"):
        im = ImageOps.mirror(im)
    if kind in ("half", "all"):
        im = im.resize((im.width // 2, im.height // 2), Image.BICUBIC)
    im.save(dest, quality=60 if kind != "half" else 90)


def generate(root: Path, photos: int, test_share: float, plants: int) -> dict[str, str]:
    """The data under ``root`` (made once); returns planted file name -> its test photo."""
    n_test = round(photos * test_share)
    counts = {"DUTS-TR": photos - n_test, "DUTS-TE": n_test}
    meta = {"counts": counts, "plants": plants, "version": 1}
    stamp = root / "bench.json"
    if stamp.is_file() and json.loads(stamp.read_text())["meta"] == meta:
        return json.loads(stamp.read_text())["planted"]
    shutil.rmtree(root, ignore_errors=True)
    jobs = []
    for offset, (name, count) in enumerate(counts.items()):
        for sub in ("Image", "Mask"):
            (root / name / f"{name}-{sub}").mkdir(parents=True)
        jobs += [
            (str(root / name), name, 10_000_000 + offset * 1_000_000 + i, i) for i in range(count)
        ]
    start = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_write, jobs, chunksize=64))
    planted = {}
    tests = sorted((root / "DUTS-TE" / "DUTS-TE-Image").iterdir())
    step = max(1, len(tests) // max(1, plants))
    for k in range(plants):
        src = tests[k * step]
        kind = KINDS[k % len(KINDS)]
        name = f"planted_{k:03d}_{kind}"
        _plant(src, root / "DUTS-TR" / "DUTS-TR-Image" / f"{name}.jpg", kind, k % 2 == 0)
        shutil.copy(
            root / "DUTS-TE" / "DUTS-TE-Mask" / f"{src.stem}.png",
            root / "DUTS-TR" / "DUTS-TR-Mask" / f"{name}.png",
        )
        planted[f"{name}.jpg"] = src.name
    print(f"generated {photos} photos + {plants} planted in {time.perf_counter() - start:.0f} s")
    stamp.write_text(json.dumps({"meta": meta, "planted": planted}))
    return planted


def audit(root: Path, out: Path, cache: Path, workers: int | None) -> tuple[float, float]:
    """(wall s, CPU s of the process tree) of one audit run."""
    args = [f"data.root={root}", "data.test_sets=[DUTS-TE]", f"output_dir={out}", "progress=false"]
    if workers:
        args.append(f"workers={workers}")
    env = {**os.environ, "RAS_LIGHTNING_CACHE": str(cache)}
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "ras_lightning.audit", *args],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    if run.returncode:
        raise SystemExit(f"audit failed:\n{run.stderr[-3000:]}")
    print(run.stdout.strip())
    print(f"wall {seconds:.1f} s, CPU {cpu:.1f} s, load average {os.getloadavg()[0]:.1f}")
    return seconds, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=10_000)
    ap.add_argument("--test-share", type=float, default=0.25)
    ap.add_argument("--plants", type=int, default=50)
    ap.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "ras-audit-bench")
    ap.add_argument("--workers", type=int, default=None)
    a = ap.parse_args()
    planted = generate(a.root / "data", a.photos, a.test_share, a.plants)
    cache = Path(tempfile.mkdtemp(prefix="ras-audit-cache-"))
    try:
        (cold, cold_cpu) = audit(a.root / "data", a.root / "out-cold", cache, a.workers)
        (warm, warm_cpu) = audit(a.root / "data", a.root / "out-warm", cache, a.workers)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    with open(a.root / "out-cold" / "leaks.csv", newline="") as f:
        leaks = list(csv.DictReader(f))
    with open(a.root / "out-cold" / "duplicates.csv", newline="") as f:
        dups = list(csv.DictReader(f))
    pairs = {(r["image"], r["training_image"]) for r in leaks}
    found = sum((v, k) in pairs for k, v in planted.items())
    false = len(pairs - {(v, k) for k, v in planted.items()})
    total = sum(1 for _ in (a.root / "data").rglob("*-Image/*"))
    print("\n| photos | cold: wall (CPU) | cached: wall (CPU) | planted found | other pairs |")
    print("|---|---|---|---|---|")
    print(
        f"| {total} | {cold:.0f} s ({cold_cpu:.0f} s) | {warm:.1f} s ({warm_cpu:.1f} s) | "
        f"{found}/{len(planted)} | {false} leaks, {len(dups)} duplicate pairs |"
    )


if __name__ == "__main__":
    main()
