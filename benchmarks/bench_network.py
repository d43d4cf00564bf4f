"""Network-only inference: the authors' eager fp32 forward against each optimisation.

    .venv/bin/python benchmarks/bench_network.py [--version v2] [--size 352] [--batches 1 8]
        [--iters 5] [--repeat 2] [--no-compile] [--timeout 600] [--quick]

BENCHMARKS.md's table: ``--iters 3 --repeat 2 --timeout 480``.

RAS at 352x352 on seeded random weights, one contender per subprocess (its peak RSS is its
own, torch's import included), contenders alternating, ``--repeat`` rounds; a contender's
speed is its best timed forward (``--iters`` after 2 warm-ups) over all rounds:

* eager fp32, contiguous, ``torch.no_grad`` (the authors' test scripts);
* channels-last; BatchNorm folded (``models.fusion.fold_batchnorm``); both;
* ``torch.compile`` (inductor, with weight freezing) of the folded channels-last network;
  its compile time (first call) is reported separately; first round only (minutes here);
* ONNX Runtime (CPU provider, all cores) on the folded network exported with ``torch.onnx``;
  the child process does not import torch.

GFLOP per image: the convolutions of one forward, counted with ``torch.utils.flop_counter``;
"% of peak" is GFLOP x images/s over this CPU's 156 GFLOP/s fp32 peak.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ras_lightning.utils.timing import peak_rss_mb

REPO = Path(__file__).resolve().parents[1]
PEAK_GFLOPS = 156.0  # 2 cores x 2.45 GHz x 2 FMA units x 8 fp32 lanes x 2 flops
CONTENDERS = {
    "eager": "eager fp32 (authors' way)",
    "cl": "channels_last",
    "fold": "BN folded",
    "fold_cl": "BN folded + channels_last (predict backend=torch)",
    "compile": "torch.compile (inductor, freezing) of folded + channels_last",
    "onnx": "ONNX Runtime (folded, CPU provider; predict/eval default on a CPU)",
}


def _net(version: str, fold: bool, channels_last: bool):  # noqa: ANN202
    import torch

    from ras_lightning.models import RAS
    from ras_lightning.models.fusion import fold_batchnorm

    torch.manual_seed(0)
    net = RAS(version=version, pretrained_backbone=False).eval()
    if fold:
        net = fold_batchnorm(net)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net


def _time_calls(call, x, iters: int) -> tuple[float, float]:  # noqa: ANN001
    """(first call seconds, best of ``iters`` timed calls after one more warm-up)."""
    t = time.perf_counter()
    call(x)
    first = time.perf_counter() - t
    call(x)
    best = float("inf")
    for _ in range(iters):
        t = time.perf_counter()
        call(x)
        best = min(best, time.perf_counter() - t)
    return first, best


def worker(name: str, version: str, size: int, batch: int, iters: int, onnx_file: str) -> dict:
    """Run one contender in this process; return its timings and peak RSS."""
    if name == "onnx":  # no torch in this process
        import numpy as np
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = os.cpu_count() or 1
        sess = ort.InferenceSession(onnx_file, opts, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).standard_normal((batch, 3, size, size), np.float32)
        first, best = _time_calls(lambda a: sess.run(["side0"], {"image": a}), x, iters)
    else:
        import torch

        cl = name in ("cl", "fold_cl", "compile")
        net = _net(version, name in ("fold", "fold_cl", "compile"), cl)
        if name == "compile":
            import torch._inductor.config as inductor_config

            inductor_config.freezing = True  # constant-fold weights, pre-pack for oneDNN
            net = torch.compile(net)
        fmt = torch.channels_last if cl else torch.contiguous_format
        x = torch.randn(batch, 3, size, size).contiguous(memory_format=fmt)

        def call(a: torch.Tensor) -> None:
            with torch.no_grad():
                net(a)

        first, best = _time_calls(call, x, iters)
    return {
        "first_s": first,
        "best_s": best,
        "rss_mb": peak_rss_mb(),
    }


def gflop_per_image(version: str, size: int) -> float:
    """Convolution GFLOP of one forward at ``size`` (counted)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    net = _net(version, False, False)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.randn(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def export_onnx(version: str, path: Path) -> None:
    from ras_lightning.models.export import export_onnx as write_onnx

    write_onnx(_net(version, True, False), path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", default="v2")
    ap.add_argument("--size", type=int, default=352)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per contender process")
    ap.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=list(CONTENDERS))
    ap.add_argument("--quick", action="store_true", help="smoke run: 128 px, batch 1, no compile")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--onnx-file", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.size, args.batches, args.iters, args.repeat = 128, [1], 2, 1
        args.no_compile = True
    if args.worker:
        name, batch = args.worker.split(":")
        out = worker(name, args.version, args.size, int(batch), args.iters, args.onnx_file)
        print("RESULT " + json.dumps(out))
        return
    names = [n for n in args.contenders if not (n == "compile" and args.no_compile)]

    results: dict[tuple[str, int], list[dict]] = {}
    errors: dict[tuple[str, int], str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = Path(tmp) / "ras.onnx"
        if "onnx" in names:
            export_onnx(args.version, onnx_file)
        for round_ in range(args.repeat):
            for batch in args.batches:
                for name in names:
                    if (name, batch) in errors or (name == "compile" and round_):
                        continue  # compiling takes minutes here: one round
                    cmd = [sys.executable, __file__, "--worker", f"{name}:{batch}"]
                    cmd += ["--version", args.version, "--size", str(args.size)]
                    cmd += ["--iters", str(args.iters), "--onnx-file", str(onnx_file)]
                    try:
                        proc = subprocess.run(
                            cmd, capture_output=True, text=True, cwd=REPO, timeout=args.timeout
                        )
                    except subprocess.TimeoutExpired:
                        errors[(name, batch)] = f"over {args.timeout:.0f} s (compile included)"
                        continue
                    if proc.returncode:
                        err = (proc.stderr.strip().splitlines() or ["?"])[-1]
                        errors[(name, batch)] = err[:120]
                        continue
                    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
                    res = json.loads(line[7:])
                    results.setdefault((name, batch), []).append(res)
                    ips = batch / res["best_s"]
                    print(f"# {name} b{batch}: {ips:.2f} images/s", file=sys.stderr)

    gflop = gflop_per_image(args.version, args.size)
    print(
        f"RAS {args.version} forward at {args.size}x{args.size}, {gflop:.1f} GFLOP/image "
        f"(convolutions, counted), fp32 CPU; best timed call of {args.iters} per process "
        f"x {args.repeat} alternating rounds"
    )
    print(
        "| contender | batch | images/s | ms/image | vs eager b1 | % of 156 GFLOP/s "
        "| first call s | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    base_runs = results.get(("eager", 1)) or results.get(("eager", args.batches[0]), [])
    base_b = 1 if ("eager", 1) in results else args.batches[0]
    base = base_b / min(r["best_s"] for r in base_runs) if base_runs else float("nan")
    for batch in args.batches:
        for name in names:
            label = CONTENDERS[name]
            if (name, batch) in errors:
                print(f"| {label} | {batch} | failed: {errors[(name, batch)]} | | | | | |")
                continue
            runs = results[(name, batch)]
            best = min(r["best_s"] for r in runs)
            ips = batch / best
            first = runs[0]["first_s"]  # the cold first call (compile time for compile)
            rss = max(r["rss_mb"] for r in runs)
            print(
                f"| {label} | {batch} | {ips:.2f} | {1000 * best / batch:.0f} | "
                f"{ips / base:.2f}x | {100 * gflop * ips / PEAK_GFLOPS:.0f}% | "
                f"{first:.1f} | {rss:.0f} |"
            )


if __name__ == "__main__":
    main()
