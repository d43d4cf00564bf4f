"""The short real run on the demo data: make the data, ``train`` (test at its end), ``eval``
of its last checkpoint, and with two GPUs or more the same run under DDP. Each command runs as
``python -m ras_lightning.<command>``, as a user runs it."""

from __future__ import annotations

import csv
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.gpu.context import Ctx


def _demo_root(ctx: Ctx) -> Path:
    return ctx.work / "data" / "demo"


def stage_demo_data(ctx: Ctx) -> None:
    """The built-in demo sets into ``WORK/data/demo``."""
    from ras_lightning.data.demo import make_demo_data

    root = make_demo_data(_demo_root(ctx), ctx.sz["demo_sets"])
    counts = {
        p.name: len(list((p / "images").glob("*")))
        for p in sorted(root.iterdir())
        if (p / "images").is_dir()
    }
    ctx.save(root=str(root), counts=counts)


def _cli(ctx: Ctx, module: str, args: list[str], log_name: str) -> tuple[float, str]:
    """Run ``python -m ras_lightning.<module>`` (cwd: the work folder); raise on failure."""
    cmd = [sys.executable, "-m", f"ras_lightning.{module}", *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ctx.work, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    (ctx.work / f"{log_name}.log").write_text(" ".join(cmd) + "\n" + output)
    print(output[-4000:], flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} exited {proc.returncode}:\n{output[-3000:]}")
    return seconds, " ".join(cmd[1:])


def _train_args(ctx: Ctx, run: Path, epochs: int, trainer: str) -> list[str]:
    s = ctx.sz
    args = [
        f"trainer={trainer}",
        f"data.root={_demo_root(ctx)}",
        "data.demo=false",
        f"data.image_size={s['size']}",
        f"data.batch_size={s['e2e_batch']}",
        f"data.eval_batch_size={s['e2e_batch']}",
        "model.pretrained_backbone=false",
        f"trainer.max_epochs={epochs}",
        f"trainer.log_every_n_steps={1 if ctx.quick else 5}",
        "logger=csv",
        f"paths.data_dir={ctx.work / 'data'}",
        f"hydra.run.dir={run}",
    ]
    if s["e2e_max_time_s"]:
        # Lightning's "DD:HH:MM:SS" (a dict would arrive as a DictConfig, which it rejects)
        mins, secs = divmod(int(s["e2e_max_time_s"]), 60)
        args.append(f"+trainer.max_time='00:00:{mins:02d}:{secs:02d}'")
    if ctx.quick:
        args.append("data.num_workers=0")
    return args


def _epoch_losses(metrics_csv: Path) -> list[float]:
    """Mean ``train/loss`` per epoch from the CSV logger's per-step rows."""
    per_epoch: dict[int, list[float]] = {}
    with metrics_csv.open() as f:
        for row in csv.DictReader(f):
            value = row.get("train/loss") or row.get("train/loss_step")
            if value not in (None, "") and row.get("epoch") not in (None, ""):
                per_epoch.setdefault(int(float(row["epoch"])), []).append(float(value))
    return [statistics.fmean(per_epoch[e]) for e in sorted(per_epoch)]


def _fresh(*folders: Path) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def stage_e2e_train(ctx: Ctx) -> None:
    """``train`` on the demo data: per-epoch loss (finite, decreasing) and the test metrics."""
    s = ctx.sz
    run = ctx.work / "train"
    _fresh(run)
    args = _train_args(ctx, run, s["e2e_epochs"], "gpu" if ctx.cuda else "cpu")
    seconds, cmd = _cli(ctx, "train", args, "e2e_train")
    ctx.save(command=cmd, seconds=seconds, run_dir=str(run))
    found = sorted(run.rglob("metrics.csv"))
    if not found:
        raise AssertionError(f"no metrics.csv under {run}")
    shutil.copyfile(found[0], Path(ctx.args.out) / "e2e_metrics.csv")
    losses = _epoch_losses(found[0])
    metrics = json.loads((run / "metrics.json").read_text())
    test = {k: v for k, v in metrics.items() if k.startswith("test/")}
    last = run / "checkpoints" / "last.ckpt"
    finite = bool(losses) and all(math.isfinite(v) for v in losses)
    decreasing = finite and len(losses) >= 2 and losses[-1] < losses[0]
    ctx.save(
        epochs=len(losses),
        train_loss_per_epoch=losses,
        loss_finite=finite,
        loss_decreasing=decreasing,
        test=test,
        checkpoint=str(last) if last.is_file() else None,
        settings={
            "size": s["size"],
            "batch": s["e2e_batch"],
            "max_epochs": s["e2e_epochs"],
            "max_time_s": s["e2e_max_time_s"],
        },
    )
    if not finite:
        raise AssertionError(f"train loss not finite: {losses}")
    if not decreasing:
        raise AssertionError(f"train loss not decreasing (first vs last epoch): {losses}")
    if not last.is_file():
        raise AssertionError(f"no {last}")


def _map_drift(fp32: Path, fp16: Path) -> dict[str, float | int | None]:
    """Gray levels between two folders of the same 8-bit maps (worst and mean)."""
    import cv2
    import numpy as np

    worst, means = 0, []
    for p in sorted(fp32.glob("*.png")):
        a = cv2.imread(str(p), cv2.IMREAD_UNCHANGED).astype(int)
        b = cv2.imread(str(fp16 / p.name), cv2.IMREAD_UNCHANGED).astype(int)
        d = np.abs(a - b)
        worst, means = max(worst, int(d.max())), [*means, float(d.mean())]
    return {
        "max_gray_levels": worst,
        "mean_gray_levels": float(np.mean(means)) if means else None,
    }


def stage_eval(ctx: Ctx) -> None:
    """``eval`` of the run's ``last.ckpt`` against the run's own test; on a GPU, fp16's drift."""
    ckpt = ctx.work / "train" / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        ctx.save(_status="skipped: no checkpoint (e2e_train failed)")
        return
    out = ctx.work / "eval"
    _fresh(out)
    args = [
        f"weights={ckpt}",
        "backend=torch",
        f"device={'cuda' if ctx.cuda else 'cpu'}",
        f"data.root={_demo_root(ctx)}",
        "data.test_sets=[DEMO-TE]",
        f"output_dir={out}",
        f"fps_runs={ctx.sz['fps_runs_eval']}",
        "progress=false",
        # the convention training logs: its test/DEMO-TE/* must equal these (issue contract)
        "convention=pysodmetrics",
    ]
    if ctx.quick:
        args.append("workers=1")
    seconds, cmd = _cli(ctx, "eval", args, "eval")
    metrics = json.loads((out / "metrics.json").read_text())
    ctx.save(
        command=cmd,
        seconds=seconds,
        metrics=metrics.get("sets", {}).get("DEMO-TE"),
        fps=metrics.get("fps"),
        fps_device=metrics.get("fps_device"),
        backend=metrics.get("backend"),
        model_size_mb=metrics.get("model_size_mb"),
    )
    m = ctx.result["metrics"]
    if not m or not 0 <= m["max_f"] <= 1 or not 0 <= m["mae"] <= 1:
        raise AssertionError(f"eval metrics out of range: {m}")
    # the end-of-training test (in the run's metrics.json) against this eval of last.ckpt
    run_metrics = json.loads((ctx.work / "train" / "metrics.json").read_text())
    diffs = {
        k: abs(run_metrics[f"test/DEMO-TE/{k}"] - v)
        for k, v in m.items()
        if f"test/DEMO-TE/{k}" in run_metrics
    }
    ctx.save(train_test_vs_eval_max_abs_diff=max(diffs.values()) if diffs else None)
    if ctx.cuda:
        # fp16 autocast (half=true) against the default fp32 maps: how far do they drift?
        out16 = ctx.work / "eval_fp16"
        _fresh(out16)
        args16 = [a if not a.startswith("output_dir=") else f"output_dir={out16}" for a in args]
        _cli(ctx, "eval", [*args16, "half=true", "fps=false"], "eval_fp16")
        ctx.save(fp16_vs_fp32_maps=_map_drift(out / "DEMO-TE", out16 / "DEMO-TE"))


def stage_ddp(ctx: Ctx) -> None:
    """The run under DDP against one GPU's test of the same checkpoint (two GPUs or more)."""
    import torch

    gpus = torch.cuda.device_count() if ctx.cuda and torch.cuda.is_available() else 0
    if gpus < 2:
        ctx.save(_status="skipped: 1 GPU" if ctx.cuda else "skipped: cpu", gpus=gpus)
        return
    run, single = ctx.work / "train_ddp", ctx.work / "test_single"
    _fresh(run, single)
    seconds, cmd = _cli(ctx, "train", _train_args(ctx, run, ctx.sz["ddp_epochs"], "ddp"), "ddp")
    m_ddp = json.loads((run / "metrics.json").read_text())
    ckpt = run / "checkpoints" / "last.ckpt"
    # the same checkpoint tested by one GPU (the run tests its last epoch's weights)
    one = _train_args(ctx, single, ctx.sz["ddp_epochs"], "gpu")
    _cli(ctx, "train", [*one, "train=false", f"ckpt_path={ckpt}"], "ddp_single")
    m_one = json.loads((single / "metrics.json").read_text())
    keys = sorted(k for k in m_one if k.startswith("test/"))
    diffs = {k: abs(m_ddp[k] - m_one[k]) for k in keys if k in m_ddp}
    ctx.save(
        gpus=gpus,
        command=cmd,
        seconds=seconds,
        test_ddp={k: m_ddp.get(k) for k in keys},
        test_single_gpu={k: m_one[k] for k in keys},
        max_abs_diff=max(diffs.values()) if diffs else None,
    )
    if not diffs or max(diffs.values()) > 2e-3:
        raise AssertionError(f"DDP and single-GPU test metrics differ: {diffs}")
