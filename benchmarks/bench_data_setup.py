"""Data set-up time on a DUTS-TR-sized folder (10,553 photo/mask pairs).

    .venv/bin/python benchmarks/bench_data_setup.py [--pairs 10553]

Writes a temporary DUTS-TR layout of small real JPEG/PNG files, then times, in one run:
our set-up (list, pair by stem, check every file's signature and size from its header) and,
side by side, what a PIL header read of every file would cost. Nothing is decoded by ours.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ras_lightning.data import discover_set


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=10553)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        img_dir, mask_dir = root / "DUTS-TR" / "DUTS-TR-Image", root / "DUTS-TR" / "DUTS-TR-Mask"
        img_dir.mkdir(parents=True)
        mask_dir.mkdir(parents=True)
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (300, 400, 3), np.uint8)).save(root / "a.jpg")
        Image.fromarray((rng.random((300, 400)) > 0.5).astype(np.uint8) * 255).save(root / "a.png")
        for i in range(args.pairs):
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
    print(f"| set-up of {len(samples)} pairs | seconds |")
    print("|---|---|")
    print(f"| ras_lightning: list + pair + header checks | {ours:.3f} |")
    print(f"| (for comparison) PIL.Image.open of every file | {pil:.3f} |")


if __name__ == "__main__":
    main()
