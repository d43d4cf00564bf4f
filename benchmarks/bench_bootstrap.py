"""What the confidence intervals cost: ``score`` with ``ci=null`` vs ``ci=0.95`` side by side.

    .venv/bin/python benchmarks/bench_bootstrap.py [--data ../shared/data/SOD] [--repeat 3]
        [--workers 2] [--bootstrap 1000]

``DATA/gt`` holds the masks and ``DATA/maps/<method>/`` each method's maps (the shared SOD
set: 300 maps of DSS, Amulet and PiCANet). Both rows are whole ``python -m
ras_lightning.score`` processes on every method (config form, one table), timed in one run,
alternating, best of ``--repeat``: wall-clock and CPU seconds of the process tree (less
sensitive to other work on a shared machine). The bootstrap is also timed on its own, in this
process, from the ``per_image_curves.npz`` the ``ci=0.95`` run wrote: ``metric_intervals`` of
every method (``--bootstrap`` resamples), the time the intervals add to a run.
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
sys.path.insert(0, str(REPO))

from ras_lightning.metrics.bootstrap import metric_intervals  # noqa: E402
from ras_lightning.metrics.per_image import CURVES_FILE, KEYS, read_curves  # noqa: E402


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _score(data: Path, out: Path, workers: int | None, ci: str, reps: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``score`` process on every method of ``data``."""
    methods = ", ".join(f"{m.name}: '{m}'" for m in sorted((data / "maps").iterdir()))
    cmd = [
        sys.executable,
        "-m",
        "ras_lightning.score",
        f"output_dir={out}",
        f"+datasets={{{data.name}: '{data / 'gt'}'}}",
        f"+methods={{{methods}}}",
        "plots=false",
        "progress=false",
        f"ci={ci}",
        f"bootstrap={reps}",
        *([f"workers={workers}"] if workers else []),
    ]
    t, c = time.perf_counter(), _cpu()
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - t, _cpu() - c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "SOD")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    maps = sorted(p.name for p in (args.data / "maps").iterdir())
    count = len(list((args.data / "gt").iterdir()))
    print(f"{os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{args.data}: {count} masks x {len(maps)} methods ({', '.join(maps)})")
    best: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for ci in ("null", "0.95"):
                out = Path(tmp) / f"ci_{ci}"
                wall, cpu = _score(args.data, out, args.workers, ci, args.bootstrap)
                old = best.get(ci, (float("inf"), float("inf")))
                best[ci] = (min(old[0], wall), min(old[1], cpu))
        curves = read_curves(Path(tmp) / "ci_0.95" / CURVES_FILE)
        assert (Path(tmp) / "ci_0.95" / "metrics_ci.json").is_file()
        assert not (Path(tmp) / "ci_null" / "metrics_ci.json").exists()
    stats = [k for k in curves if k not in (*KEYS, "convention")]
    t = time.perf_counter()
    for method in maps:
        rows = curves["method"] == method
        metric_intervals(
            {k: curves[k][rows] for k in stats}, str(curves["convention"]), 0.95, args.bootstrap
        )
    alone = time.perf_counter() - t
    (w0, c0), (w1, c1) = best["null"], best["0.95"]
    print(f"\n| score, best of {args.repeat} | wall s | CPU s |")
    print("|---|---|---|")
    print(f"| ci=null | {w0:.2f} | {c0:.2f} |")
    print(f"| ci=0.95, bootstrap={args.bootstrap} | {w1:.2f} | {c1:.2f} |")
    added = [f"{b - a:+.2f} ({100 * (b / a - 1):+.1f}%)" for a, b in ((w0, w1), (c0, c1))]
    print(f"| added | {added[0]} | {added[1]} |")
    share = 100 * alone / w0
    print(f"\nbootstrap alone, in process: {len(maps)} methods x {args.bootstrap} resamples")
    print(f"  {alone:.3f} s = {share:.1f}% of the ci=null run's wall time")
    print(json.dumps({"null": best["null"], "0.95": best["0.95"], "bootstrap_alone_s": alone}))
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
