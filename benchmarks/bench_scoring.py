"""Scoring speed: PySODMetrics' per-image loop vs ``python -m ras_lightning.score``.

    .venv/bin/python benchmarks/bench_scoring.py [--gt ../shared/data/SOD/gt]
        [--maps ../shared/data/SOD/maps/DSS] [--repeat 3]

Both are timed as whole processes (start-up, reading the files, every metric: MAE,
S-measure, weighted F, F-measure, E-measure), in one run, alternating, best of ``--repeat``.
Prints a table and the speed ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The reference: the loop PySODEvalToolkit / the PySODMetrics README run, one image at a time.
PYSOD_LOOP = r"""
import sys, os, cv2, warnings
warnings.simplefilter("ignore")
import py_sod_metrics as M
gt_dir, pred_dir = sys.argv[1], sys.argv[2]
fm, wfm, sm, em, mae = M.Fmeasure(), M.WeightedFmeasure(), M.Smeasure(), M.Emeasure(), M.MAE()
for name in sorted(os.listdir(gt_dir)):
    gt = cv2.imread(os.path.join(gt_dir, name), cv2.IMREAD_GRAYSCALE)
    pred = cv2.imread(os.path.join(pred_dir, name), cv2.IMREAD_GRAYSCALE)
    if pred.shape != gt.shape:
        pred = cv2.resize(pred, gt.shape[::-1], interpolation=cv2.INTER_LINEAR)
    for m in (fm, wfm, sm, em, mae):
        m.step(pred=pred, gt=gt)
f, e = fm.get_results()["fm"], em.get_results()["em"]
print("max_f", f["curve"].max(), "s_measure", sm.get_results()["sm"],
      "weighted_f", wfm.get_results()["wfm"], "mae", mae.get_results()["mae"])
"""


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gt", default=str(REPO.parent / "shared/data/SOD/gt"))
    ap.add_argument("--maps", default=str(REPO.parent / "shared/data/SOD/maps/DSS"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = len(list(Path(args.gt).glob("*.png")))
    with tempfile.TemporaryDirectory() as out:
        ours_cmd = [
            sys.executable,
            "-m",
            "ras_lightning.score",
            f"gt_dir={args.gt}",
            f"pred_dir={args.maps}",
            f"output_dir={out}",
            "plots=false",
            "progress=false",
        ]
        theirs_cmd = [sys.executable, "-c", PYSOD_LOOP, args.gt, args.maps]
        theirs, ours = [], []
        for _ in range(args.repeat):
            theirs.append(_time(theirs_cmd))
            ours.append(_time(ours_cmd))
    t, o = min(theirs), min(ours)
    print(f"scoring {n} maps ({args.maps}), whole process, best of {args.repeat}")
    print("| scorer | seconds | maps/s |")
    print("|---|---|---|")
    print(f"| PySODMetrics loop | {t:.2f} | {n / t:.1f} |")
    print(f"| ras_lightning.score | {o:.2f} | {n / o:.1f} |")
    print(f"speed-up: {t / o:.2f}x")


if __name__ == "__main__":
    main()
