"""Inference speed stages: the authors' FPS protocol, ours (``utils.timing.measure_fps`` on
the BatchNorm-folded, channels-last network) and ``torch.compile``'s."""

from __future__ import annotations

import os
import shutil
import statistics
import time
from typing import Any

from benchmarks.gpu.context import Ctx
from benchmarks.gpu.plan import PAPER


def _net(version: str, device: Any) -> Any:
    import torch

    from ras_lightning.models import RAS

    torch.manual_seed(0)
    return RAS(version=version, pretrained_backbone=False).to(device).eval()


def _amp_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def stage_fps_authors(ctx: Ctx, version: str) -> None:
    """The authors' FPS protocol (v1/test.py, v2/test.py), fp32 eager, in a fresh process."""
    import torch

    dev, sync = ctx.device(), ctx.sync()
    n, size = ctx.sz["authors_images"], ctx.sz["size"]
    torch.backends.cudnn.benchmark = False  # PyTorch's default: the authors set nothing
    net = _net(version, dev)
    g = torch.Generator().manual_seed(1)
    photos = [torch.randn(1, 3, size, size, generator=g) for _ in range(n)]
    # v1/test.py runs the forward with autograd on; v2/test.py under torch.no_grad()
    grad = torch.enable_grad() if version == "v1" else torch.no_grad()
    times: list[float] = []
    with grad:
        for photo in photos:
            x = photo.to(dev)  # moved before the clock starts, as theirs
            start = time.time()
            out = net(x)
            sync()
            times.append(time.time() - start)
            del out
    ctx.save(
        version=version,
        protocol="fp32 eager, batch 1, no warm-up, time.time() around forward + synchronize, "
        f"summed over {n} random inputs; cudnn.benchmark=False; "
        + ("autograd on (v1/test.py)" if version == "v1" else "torch.no_grad() (v2/test.py)"),
        images=n,
        size=size,
        fps=n / sum(times),
        first_image_ms=times[0] * 1e3,
        fps_without_first=(n - 1) / sum(times[1:]) if n > 1 else None,
        median_ms=statistics.median(times) * 1e3,
        paper_fps_2080ti=PAPER["fps"][version],
    )


def stage_fps_ours(ctx: Ctx) -> None:
    """Batch-1 FPS as we run it (eager fp32 warmed up, then BatchNorm folded and channels-last
    in fp32 and autocast) and batched autocast throughput, for v2 then v1."""
    import torch

    from ras_lightning.models.fusion import fold_batchnorm
    from ras_lightning.utils.timing import measure_fps

    dev, amp, s = ctx.device(), ctx.amp_dtype(), ctx.sz
    size, cl = s["size"], torch.channels_last
    ctx.save(
        size=size,
        amp_dtype=_amp_name(amp),
        warmup=s["warmup"],
        runs=s["runs"],
        batch=s["batch"],
        settings="BatchNorm folded, channels-last, cudnn.benchmark (CUDA), inference_mode",
    )
    timed = {"size": size, "runs": s["runs"], "warmup": s["warmup"]}
    for version in ("v2", "v1"):
        net = _net(version, dev)
        x = torch.randn(1, 3, size, size, device=dev)
        torch.backends.cudnn.benchmark = False
        eager = measure_fps(net, dev, **timed)
        if ctx.cuda:
            torch.backends.cudnn.benchmark = True
        folded = fold_batchnorm(net).to(dev, memory_format=cl)
        with torch.inference_mode():
            ref = torch.sigmoid(net(x)[0])
            got = torch.sigmoid(folded(x.contiguous(memory_format=cl))[0])
            fold_diff = float((ref - got).abs().max())
        fp32 = measure_fps(folded, dev, channels_last=True, **timed)
        half = measure_fps(folded, dev, channels_last=True, autocast=amp, **timed)
        if ctx.cuda:
            torch.cuda.reset_peak_memory_stats(dev)
        batched = measure_fps(
            folded, dev, size, s["batch_runs"], 2, True, batch=s["batch"], autocast=amp
        )
        peak = torch.cuda.max_memory_allocated(dev) / 2**30 if ctx.cuda else None
        ctx.save(
            **{
                version: {
                    "eager_fp32_warm_fps": eager,
                    "fp32_fps": fp32,
                    "amp_fps": half,
                    "batched_amp_images_per_s": batched,
                    "batched_peak_gib": peak,
                    "fold_max_abs_diff": fold_diff,
                    "paper_fps_2080ti": PAPER["fps"][version],
                }
            }
        )
        del net, folded


def stage_compile(ctx: Ctx, version: str) -> None:
    """torch.compile of the fast network; a watchdog gives up after the compile limit."""
    import threading

    # a cold compile: inductor's and Triton's caches start empty (not an earlier run's)
    cache = ctx.work / f"inductor_{version}"
    shutil.rmtree(cache, ignore_errors=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache)
    os.environ["TRITON_CACHE_DIR"] = str(cache / "triton")

    import torch

    from ras_lightning.models.fusion import fold_batchnorm
    from ras_lightning.utils.timing import measure_fps

    limit = float(ctx.args.compile_limit or ctx.sz["compile_limit_s"])
    dev, sync, amp, s = ctx.device(), ctx.sync(), ctx.amp_dtype(), ctx.sz
    if ctx.cuda:
        torch.backends.cudnn.benchmark = True
    net = fold_batchnorm(_net(version, dev)).to(dev, memory_format=torch.channels_last)
    x = torch.randn(1, 3, s["size"], s["size"], device=dev)
    x = x.contiguous(memory_format=torch.channels_last)
    ctx.save(version=version, mode="default (inductor), cold cache", compile_limit_s=limit)

    def give_up() -> None:
        ctx.save(_status="skipped: timeout", note=f"not compiled within {limit:g} s")
        os._exit(0)

    watchdog = threading.Timer(limit, give_up)
    watchdog.daemon = True
    compiled = torch.compile(net)
    start = time.perf_counter()
    watchdog.start()
    with torch.inference_mode(), torch.autocast(dev.type, dtype=amp, enabled=True):
        compiled(x)
        sync()
    watchdog.cancel()
    ctx.save(compile_s=time.perf_counter() - start)
    fps = measure_fps(
        compiled, dev, s["size"], s["runs"], s["warmup"], channels_last=True, autocast=amp
    )
    ctx.save(amp_fps=fps, amp_dtype=_amp_name(amp))
