"""Trivial baselines on the demo test split, to put the default run's numbers in context.

    .venv/bin/python benchmarks/demo_baselines.py [--root data/demo]

Prints max F-measure and MAE of an all-background map and of a centred ellipse (the classic
centre-bias prior) on DEMO-TE, scored exactly as training scores the network.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image, ImageDraw

from ras_lightning.data import discover_set, make_demo_data
from ras_lightning.data.readers import read_mask
from ras_lightning.metrics import MAE, FMeasure


def centred_ellipse(h: int, w: int) -> np.ndarray:
    im = Image.new("L", (w, h), 0)
    ImageDraw.Draw(im).ellipse([w * 0.25, h * 0.25, w * 0.75, h * 0.75], fill=255)
    return np.asarray(im, np.float32) / 255


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="data/demo")
    args = ap.parse_args()
    make_demo_data(args.root)
    samples = discover_set(args.root, "DEMO-TE")
    baselines = {
        "all background": lambda h, w: np.zeros((h, w), np.float32),
        "centred ellipse": centred_ellipse,
    }
    print(f"| baseline (DEMO-TE, {len(samples)} scenes) | max_f | mae |")
    print("|---|---|---|")
    for name, make in baselines.items():
        mae, fm = MAE(), FMeasure()
        for s in samples:
            gt = torch.from_numpy(read_mask(s.mask))
            pred = torch.from_numpy(make(*gt.shape))
            mae.update(pred, gt)
            fm.update(pred, gt)
        print(f"| {name} | {fm.compute()['max_f']:.4f} | {mae.compute():.4f} |")


if __name__ == "__main__":
    main()
