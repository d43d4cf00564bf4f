"""Scoring speed: PySODMetrics' per-image loop vs ``python -m ras_lightning.score``.

    .venv/bin/python benchmarks/bench_scoring.py [--gt ../shared/data/SOD/gt]
        [--maps ../shared/data/SOD/maps/DSS] [--repeat 5] [--workers 2]

Three whole processes (start-up, reading the files, every metric: MAE, S-measure, weighted F,
F-measure and E-measure curves), timed in one run, alternating, best of ``--repeat``:

* the PySODMetrics loop (one process, one image at a time, as PySODEvalToolkit runs it);
* ``ras_lightning.score workers=1`` (one process);
* ``ras_lightning.score`` with its default worker processes (``--workers`` overrides).

The two one-process rows run with ``OPENCV_FOR_THREADS_NUM=1`` (one OpenCV thread), so that
one process is one core on both sides; the default-workers row runs as a user would run it.

Prints the machine state (CPUs, load average before and after), a table with the process
count of each row, the wall-clock speed-ups, the CPU seconds of each process tree (user + system,
its workers included: less sensitive to other work on a shared machine than wall-clock time),
and the largest difference between the ten metrics of the PySODMetrics loop and of each
``score`` run (the agreement tests allow 1e-6).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The reference: the loop PySODEvalToolkit / the PySODMetrics README run, one image at a time.
# It prints the ten metrics under score's names (as tests/test_metrics.py maps them).
PYSOD_LOOP = r"""
import sys, os, json, cv2, warnings
import numpy as np
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
f, e = fm.get_results(), em.get_results()["em"]
p, r = f["pr"]["p"], f["pr"]["r"]
pr_f = np.where(p + r > 0, 1.3 * p * r / np.where(p + r > 0, 0.3 * p + r, 1), 0)
print(json.dumps({
    "mae": float(mae.get_results()["mae"]), "s_measure": float(sm.get_results()["sm"]),
    "weighted_f": float(wfm.get_results()["wfm"]), "max_f": float(f["fm"]["curve"].max()),
    "mean_f": float(f["fm"]["curve"].mean()), "adaptive_f": float(f["fm"]["adp"]),
    "max_e": float(e["curve"].max()), "mean_e": float(e["curve"].mean()),
    "adaptive_e": float(e["adp"]), "max_f_dataset_pr": float(pr_f.max()),
}))
"""


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _time(cmd: list[str], one_thread: bool) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the process and its workers, stdout)."""
    t, c = time.perf_counter(), _cpu()
    env = {**os.environ, "OPENCV_FOR_THREADS_NUM": "1"} if one_thread else None
    res = subprocess.run(cmd, check=True, capture_output=True, cwd=REPO, text=True, env=env)
    return time.perf_counter() - t, _cpu() - c, res.stdout


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    sys.path.insert(0, str(REPO))
    from ras_lightning.metrics.scoring import default_workers

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gt", default=str(REPO.parent / "shared/data/SOD/gt"))
    ap.add_argument("--maps", default=str(REPO.parent / "shared/data/SOD/maps/DSS"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=None, help="default: score's own default")
    args = ap.parse_args()
    n = len(list(Path(args.gt).glob("*.png")))
    workers = args.workers or default_workers()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {cpus} CPUs for this process, load average {_load()} (1, 5, 15 min)")
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:

        def ours(w: int | None) -> list[str]:
            out = Path(tmp) / f"w{w}"
            cmd = [sys.executable, "-m", "ras_lightning.score", f"gt_dir={args.gt}"]
            cmd += [f"pred_dir={args.maps}", f"output_dir={out}", "plots=false", "progress=false"]
            return cmd + ([f"workers={w}"] if w else [])

        label = f"workers={args.workers}" if args.workers else "default workers"
        rows = {  # name: (processes that score, command)
            "PySODMetrics loop": ("1", [sys.executable, "-c", PYSOD_LOOP, args.gt, args.maps]),
            "ras_lightning.score workers=1": ("1", ours(1)),
            f"ras_lightning.score {label}": (
                f"{workers} workers (+ the idle main process)",
                ours(args.workers),
            ),
        }
        for _ in range(args.repeat):
            for name, (procs, cmd) in rows.items():
                seconds, cpu_seconds, stdout = _time(cmd, one_thread=procs == "1")
                times.setdefault(name, []).append(seconds)
                cpu.setdefault(name, []).append(cpu_seconds)
                if name.startswith("PySOD"):
                    results[name] = json.loads(stdout.strip().splitlines()[-1])
                else:
                    out = next(c for c in cmd if c.startswith("output_dir="))
                    results[name] = json.loads((Path(out[11:]) / "metrics.json").read_text())
    print(f"machine after: load average {_load()}")
    ref_name = next(iter(rows))
    ref, ref_t = results[ref_name], min(times[ref_name])
    print(f"\nscoring {n} maps ({args.maps}), whole process, alternating, best of {args.repeat}\n")
    print(
        "| scorer | processes | seconds (best) | all runs | maps/s | speed-up "
        "| CPU seconds (best) | max abs diff |"
    )
    print("|---|---|---|---|---|---|---|---|")
    ref_cpu = min(cpu[ref_name])
    for name, (procs, _cmd) in rows.items():
        best = min(times[name])
        diff = max(abs(results[name][k] - ref[k]) for k in ref)
        runs = " ".join(f"{t:.2f}" for t in times[name])
        print(
            f"| {name} | {procs} | {best:.2f} | {runs} | {n / best:.1f} | {ref_t / best:.2f}x "
            f"| {min(cpu[name]):.2f} ({ref_cpu / min(cpu[name]):.2f}x) | {diff:.1e} |"
        )


if __name__ == "__main__":
    main()
