"""One-command GPU check of RAS: speed as the authors measure it and as we run it, Lightning
training throughput per recipe, and a short real run (train -> test -> eval) on the demo data.

On the lent GPU machine, from the repository root (``.gpu_wheels`` carried; made first, where
PyPI is reachable, by ``bash benchmarks/gpu_wheels.sh``), with no network::

    PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --out $OUT

``--stages a,b`` reruns some stages into the same ``OUT`` (the other entries are kept).

It installs the missing packages offline when ``import hydra`` fails there (``--install``
forces it, ``--no-install`` never): the wheels of ``.gpu_wheels`` whose distribution the machine
lacks (or has too old for the others) go with ``pip --no-index --no-deps --target`` into
``/tmp/ras_gpu_site``, which every stage sees on ``PYTHONPATH`` together with the repository.
It writes ``OUT/gpu_check.json`` (rewritten after every stage, so a kill keeps what finished),
``OUT/gpu_check.md`` (the tables, naming the card, to paste into BENCHMARKS.md),
``OUT/gpu_check.log`` (every stage's output) and ``OUT/e2e_metrics.csv`` (the run's CSV log).
Bulky files (demo data, the run, the eval maps) go to ``--work`` (default
``$TMPDIR/ras_gpu_check``), outside ``OUT``. Sized for about 6 minutes on one H100 (an
estimate, not a measurement); a global budget (``--budget``, 450 s, the install included)
skips what would not fit, so it ends within 8 minutes whatever the card.

Each stage runs as ``python gpu_check.py --stage NAME`` in its own process (and process group)
under its own time limit, one at a time (``--jobs``: 1; timings must not overlap); a failure or
timeout is recorded (status and the tail of its output) and the next stage runs. Stages, in
order, with their limits on a GPU:

=================  ======  ===========================================================
stage              limit   measures
=================  ======  ===========================================================
env                  60 s  GPU name, count, memory, driver; torch, CUDA, cuDNN, Python,
                           Lightning, pytorch-lightning, torchmetrics, Hydra versions
fps_authors_v1/v2    90 s  the authors' protocol (their v1/v2 ``test.py``): fp32 eager,
                           batch 1, 352 px, PyTorch's default cuDNN settings, NO warm-up,
                           ``time.time()`` around the forward + ``torch.cuda.synchronize()``,
                           summed over 100 random inputs (already on the GPU), each version
                           in a fresh process; v1 with autograd on as in v1/test.py, v2 under
                           ``torch.no_grad()``. Also the first image's time and the FPS
                           without it
fps_ours            150 s  batch 1, 352 px, after warm-up: eager fp32 (warm-up only), then
                           BatchNorm folded (``models.fusion.fold_batchnorm``),
                           channels-last, cuDNN autotuning, ``inference_mode``, in fp32 and
                           fp16 autocast; and batched throughput, fp16 autocast, batch 32
                           (images/s, peak memory)
train_v2_amp        120 s  the real ``Trainer`` + ``RASModule`` (built as ``train.py`` does
train_v2_fp32       120 s  from ``strategy=v2|v1``): v2 batch 32 SGD (conf/optimizer/sgd.yaml)
train_v1_fp32       120 s  in 16-mixed and 32-true, v1 batch 10 Adam in 32-true; in-memory
                           random batches at 352 px (pinned, no disk), 10 warm-up + 30 timed
                           steps: images/s and peak GPU memory (``max_memory_allocated``)
demo_data            90 s  the built-in demo sets (784 scenes) into ``WORK/data/demo``
e2e_train           240 s  ``python -m ras_lightning.train trainer=gpu`` on the demo data at
                           352 px, batch 16, 25 epochs (sized for about 2 minutes on an H100,
                           an estimate; ``trainer.max_time`` caps the training at 150 s),
                           model.pretrained_backbone=false: per-epoch train loss from the CSV log
                           (asserted finite and decreasing, first vs last epoch) and the test
                           metrics from ``metrics.json``
eval                120 s  ``python -m ras_lightning.eval`` of the run's ``last.ckpt``
                           (backend=torch, device=cuda, DEMO-TE): its metrics and FPS
ddp                 240 s  with >= 2 GPUs: the same run with ``trainer=ddp`` (fewer epochs)
                           and its test metrics against a single-GPU test of the same
                           checkpoint; else "skipped: 1 GPU"
compile_v2/v1       100 s  ``torch.compile`` (inductor, cold cache) of the folded,
                           channels-last network under fp16 autocast, if it compiles within
                           60 s ("skipped: timeout" otherwise): compile time and batch-1 FPS
=================  ======  ===========================================================

The RAS paper's figures, for comparison only, are from an RTX 2080Ti: v1 94 FPS, v2 110 FPS
(batch 1, 352x352). This script claims no GPU figure by itself: every number in its output
is what the machine that ran it measured, named in the output.

It cannot rot: ``python benchmarks/gpu_check.py --device cpu --quick --out DIR`` runs every
stage at toy sizes (64 px, a few steps, 2 epochs of a small demo set; bf16 autocast in place
of fp16; no compile, no install; two stages at a time, one thread each) in the test suite
(``tests/test_gpu_check.py``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PAPER = {"device": "RTX 2080Ti", "batch": 1, "size": 352, "fps": {"v1": 94.0, "v2": 110.0}}
DEFAULT_SITE = Path("/tmp/ras_gpu_site")
DEFAULT_WHEELS = REPO / ".gpu_wheels"
IMPORT_CHECK = "import hydra, omegaconf, albumentations, lightning, ras_lightning.train"

# name, limit on a GPU (s), limit in quick mode (s)
STAGES: list[tuple[str, int, int]] = [
    ("env", 60, 60),
    ("fps_authors_v1", 90, 60),
    ("fps_authors_v2", 90, 60),
    ("fps_ours", 150, 90),
    ("train_v2_amp", 120, 90),
    ("train_v2_fp32", 120, 90),
    ("train_v1_fp32", 120, 90),
    ("demo_data", 90, 60),
    ("e2e_train", 240, 120),
    ("eval", 120, 90),
    ("ddp", 240, 120),
    ("compile_v2", 100, 60),
    ("compile_v1", 100, 60),
]
MIN_STAGE_S = 20  # a stage is not started with less of the budget left
# a stage starts once these have finished (whatever their status)
DEPENDS = {"e2e_train": ("demo_data",), "eval": ("e2e_train",), "ddp": ("env", "demo_data")}


# -- sizes ---------------------------------------------------------------------------------
def sizes(quick: bool) -> dict[str, Any]:
    """Every size the stages use: the real check, or toy sizes for the CPU test."""
    if quick:
        return {
            "size": 64,
            "authors_images": 3,
            "warmup": 1,
            "runs": 3,
            "batch": 2,
            "batch_runs": 2,
            "train_batch": {"v1": 2, "v2": 2},
            "train_warmup": 1,
            "train_steps": 2,
            "demo_sets": {"DEMO-TR": 12, "DEMO-VAL": 4, "DEMO-TE": 4},
            "e2e_batch": 4,
            "e2e_epochs": 2,
            "e2e_max_time_s": 100,  # a cap (exercises the override), not reached
            "ddp_epochs": 1,
            "compile_limit_s": 20,
            "fps_runs_eval": 3,
        }
    return {
        "size": 352,
        "authors_images": 100,
        "warmup": 20,
        "runs": 200,
        "batch": 32,
        "batch_runs": 20,
        "train_batch": {"v1": 10, "v2": 32},  # the recipes' batches
        "train_warmup": 10,
        "train_steps": 30,
        "demo_sets": None,  # the full demo sets (ras_lightning.data.demo.DEMO_SETS)
        "e2e_batch": 16,
        "e2e_epochs": 25,
        "e2e_max_time_s": 150,  # a cap, not expected to trigger on an H100
        "ddp_epochs": 5,
        "compile_limit_s": 60,
        "fps_runs_eval": 50,
    }


# -- shared helpers --------------------------------------------------------------------------
def _write_json(path: Path, data: Any) -> None:
    """Write atomically (a kill never leaves half a file)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str))
    os.replace(tmp, path)


def _tail(text: str, n: int = 2000) -> str:
    return text[-n:]


class Ctx:
    """What a stage process gets: its options and ``save`` for (partial) results."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = bool(args.quick)
        self.device_name = args.device
        self.work = Path(args.work)
        self.sz = sizes(self.quick)
        self.result: dict[str, Any] = {}
        self._path = Path(args.result)

    @property
    def cuda(self) -> bool:
        return self.device_name.startswith("cuda")

    def save(self, **fields: Any) -> None:
        self.result.update(fields)
        _write_json(self._path, self.result)

    # torch-side helpers (imported in the stage process only)
    def device(self) -> Any:
        import torch

        if self.cuda and not torch.cuda.is_available():
            raise RuntimeError("--device cuda but PyTorch sees no CUDA GPU")
        return torch.device(self.device_name)

    def sync(self) -> Callable[[], None]:
        import torch

        return torch.cuda.synchronize if self.cuda else (lambda: None)

    def amp_dtype(self) -> Any:
        import torch

        # fp16 autocast on a GPU; bf16 on a CPU, where fp16 autocast is not what one runs
        return torch.float16 if self.cuda else torch.bfloat16


def _seed_torch() -> None:
    import torch

    torch.manual_seed(0)


def _net(version: str, device: Any) -> Any:
    from ras_lightning.models import RAS

    _seed_torch()
    return RAS(version=version, pretrained_backbone=False).to(device).eval()


# -- stages ---------------------------------------------------------------------------------
def _cudnn_version() -> str | None:
    import torch

    if not torch.backends.cudnn.is_available():
        return None
    v = torch.backends.cudnn.version()  # e.g. 91002 for 9.10.2
    return f"{v // 10000}.{v % 10000 // 100}.{v % 100}" if v else None


def stage_env(ctx: Ctx) -> None:
    import importlib.metadata as md

    import torch

    from ras_lightning.utils.devices import cpu_name

    def ver(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": _cudnn_version(),
        "cuda_available": torch.cuda.is_available(),
        # PyTorch's defaults, left as they are: TF32 convolutions on, TF32 matmuls off
        "tf32": {
            "cudnn": bool(torch.backends.cudnn.allow_tf32),
            "matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        },
        "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "versions": {
            n: ver(n)
            for n in (
                "lightning",
                "pytorch-lightning",
                "torchmetrics",
                "torchvision",
                "triton",
                "hydra-core",
                "omegaconf",
                "albumentations",
                "numpy",
                "onnxruntime",
                "opencv-python-headless",
            )
        },
    }
    if ctx.cuda:
        dev = ctx.device()
        props = torch.cuda.get_device_properties(dev)
        info.update(
            gpu_name=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            gpu_multiprocessors=props.multi_processor_count,
            gpu_capability=f"{props.major}.{props.minor}",
            gpus=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        )
        try:
            info["cuda_driver_api"] = torch._C._cuda_getDriverVersion()
        except Exception:  # noqa: BLE001 (a private helper: optional)
            pass
        try:
            smi = subprocess.run(
                [
                    "nvidia-smi",
                    "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                    "--format=csv,noheader",
                ],
                capture_output=True,
                text=True,
                timeout=20,
            )
            first = smi.stdout.strip().splitlines()[0] if smi.stdout.strip() else ""
            parts = [p.strip() for p in first.split(",")]
            if len(parts) >= 2:
                info["driver"] = parts[1]
                info["nvidia_smi"] = first
        except (OSError, subprocess.SubprocessError):
            info["driver"] = None
        info["card"] = info["gpu_name"]
    else:
        info["card"] = f"CPU: {info['cpu']}"
        info["torch_threads"] = torch.get_num_threads()
    ctx.save(**info)


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


def _throughput(
    net: Any, x: Any, warmup: int, runs: int, sync: Callable[[], None], amp: Any = None
) -> float:
    """Images/s of ``net`` on ``x`` after ``warmup`` passes (synchronised at both ends)."""
    import torch

    with (
        torch.inference_mode(),
        torch.autocast(x.device.type, dtype=amp or torch.float32, enabled=amp is not None),
    ):
        for _ in range(warmup):
            net(x)
        sync()
        start = time.perf_counter()
        for _ in range(runs):
            net(x)
        sync()
        elapsed = time.perf_counter() - start
    return runs * x.shape[0] / elapsed


def stage_fps_ours(ctx: Ctx) -> None:
    import torch

    from ras_lightning.models.fusion import fold_batchnorm

    dev, sync, amp = ctx.device(), ctx.sync(), ctx.amp_dtype()
    s = ctx.sz
    size, cl = s["size"], torch.channels_last
    ctx.save(
        size=size,
        amp_dtype=str(amp).replace("torch.", ""),
        warmup=s["warmup"],
        runs=s["runs"],
        batch=s["batch"],
        settings="BatchNorm folded, channels-last, cudnn.benchmark (CUDA), inference_mode",
    )
    for version in ("v2", "v1"):
        net = _net(version, dev)
        x = torch.randn(1, 3, size, size, device=dev)
        torch.backends.cudnn.benchmark = False
        eager = _throughput(net, x, s["warmup"], s["runs"], sync)
        if ctx.cuda:
            torch.backends.cudnn.benchmark = True
        folded = fold_batchnorm(net).to(dev, memory_format=cl)
        with torch.inference_mode():
            ref = torch.sigmoid(net(x)[0])
            got = torch.sigmoid(folded(x.contiguous(memory_format=cl))[0])
            fold_diff = float((ref - got).abs().max())
        xcl = x.contiguous(memory_format=cl)
        fp32 = _throughput(folded, xcl, s["warmup"], s["runs"], sync)
        half = _throughput(folded, xcl, s["warmup"], s["runs"], sync, amp)
        xb = torch.randn(s["batch"], 3, size, size, device=dev).contiguous(memory_format=cl)
        if ctx.cuda:
            torch.cuda.reset_peak_memory_stats(dev)
        batched = _throughput(folded, xb, 2, s["batch_runs"], sync, amp)
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

    limit = float(ctx.args.compile_limit or ctx.sz["compile_limit_s"])
    dev, sync, amp = ctx.device(), ctx.sync(), ctx.amp_dtype()
    s = ctx.sz
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
    with (
        torch.inference_mode(),
        torch.autocast(dev.type, dtype=amp, enabled=True),
    ):
        compiled(x)
        sync()
    watchdog.cancel()
    compile_s = time.perf_counter() - start
    ctx.save(compile_s=compile_s)
    fps = _throughput(compiled, x, s["warmup"], s["runs"], sync, amp)
    ctx.save(amp_fps=fps, amp_dtype=str(amp).replace("torch.", ""))


def _compose(version: str, accelerator: str) -> Any:
    from hydra import compose, initialize_config_dir

    import ras_lightning.utils.resolvers  # noqa: F401  (resolvers)
    from ras_lightning import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"strategy={version}",
                "model.pretrained_backbone=false",
                f"trainer.accelerator={accelerator}",
            ],
        )


def stage_train(ctx: Ctx, version: str, precision: str) -> None:
    """Images/s and peak memory of the real Trainer + RASModule on in-memory batches."""
    import lightning as L
    import torch
    from hydra.utils import instantiate
    from torch.utils.data import DataLoader, Dataset

    from ras_lightning.train import instantiate_model
    from ras_lightning.utils.timing import peak_rss_mb

    s = ctx.sz
    dev = ctx.device()
    sync = ctx.sync()
    if not ctx.cuda and precision == "16-mixed":
        precision = "bf16-mixed"  # Lightning's CPU mixed precision
    batch, size = s["train_batch"][version], s["size"]
    warmup, steps = s["train_warmup"], s["train_steps"]
    total = warmup + steps
    cfg = _compose(version, "gpu" if ctx.cuda else "cpu")
    _seed_torch()
    module = instantiate_model(cfg)

    class Batches(Dataset):
        """A few pre-collated random batches, pinned, cycled: no disk, no collation."""

        def __init__(self) -> None:
            g = torch.Generator().manual_seed(0)
            self.items = []
            for _ in range(min(4, total)):
                item = {
                    "image": torch.randn(batch, 3, size, size, generator=g),
                    "mask": (torch.rand(batch, 1, size, size, generator=g) > 0.5).float(),
                }
                if ctx.cuda:
                    item = {k: v.pin_memory() for k, v in item.items()}
                self.items.append(item)

        def __len__(self) -> int:
            return total

        def __getitem__(self, i: int) -> dict:
            return self.items[i % len(self.items)]

    stamps: dict[str, float] = {}
    losses: list[float] = []

    class Clock(L.Callback):
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            sync()
            stamps["start"] = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if batch_idx == 0:
                sync()
                stamps["first"] = time.perf_counter()
            if batch_idx == warmup - 1:
                sync()
                stamps["t0"] = time.perf_counter()
            if batch_idx == total - 1:
                sync()
                stamps["t1"] = time.perf_counter()
                loss = outputs["loss"] if isinstance(outputs, dict) else outputs
                losses.append(float(loss))

    loader = DataLoader(Batches(), batch_size=None, shuffle=False, num_workers=0)
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    trainer = instantiate(
        cfg.trainer,
        accelerator="gpu" if ctx.cuda else "cpu",
        devices=1,
        precision=precision,
        max_steps=total,
        default_root_dir=str(ctx.work / "train_throughput"),
        logger=False,
        callbacks=[Clock()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, train_dataloaders=loader)
    elapsed = stamps["t1"] - stamps["t0"]
    ctx.save(
        version=version,
        precision=precision,
        batch=batch,
        size=size,
        optimizer=str(cfg.optimizer._target_).rsplit(".", 1)[-1],
        lr=float(cfg.optimizer.lr),
        channels_last=bool(cfg.model.channels_last),
        cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
        warmup_steps=warmup,
        timed_steps=steps,
        images_per_s=steps * batch / elapsed,
        step_ms=elapsed / steps * 1e3,
        first_step_s=stamps["first"] - stamps["start"],
        last_loss=losses[-1] if losses else None,
        peak_gpu_gib=torch.cuda.max_memory_allocated(dev) / 2**30 if ctx.cuda else None,
        peak_rss_mb=peak_rss_mb(),
        note="fixed size (no multiscale), in-memory random batches",
    )
    if not losses or not math.isfinite(losses[-1]):
        raise AssertionError(f"non-finite training loss: {losses}")


def _demo_root(ctx: Ctx) -> Path:
    return ctx.work / "data" / "demo"


def stage_demo_data(ctx: Ctx) -> None:
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
        raise RuntimeError(f"{module} exited {proc.returncode}:\n{_tail(output, 3000)}")
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


def stage_e2e_train(ctx: Ctx) -> None:
    s = ctx.sz
    run = ctx.work / "train"
    shutil.rmtree(run, ignore_errors=True)
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


def stage_eval(ctx: Ctx) -> None:
    ckpt = ctx.work / "train" / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        ctx.save(_status="skipped: no checkpoint (e2e_train failed)")
        return
    out = ctx.work / "eval"
    shutil.rmtree(out, ignore_errors=True)
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
        shutil.rmtree(out16, ignore_errors=True)
        args16 = [a if not a.startswith("output_dir=") else f"output_dir={out16}" for a in args]
        _cli(ctx, "eval", [*args16, "half=true", "fps=false"], "eval_fp16")
        import cv2
        import numpy as np

        worst, means = 0, []
        for p in sorted((out / "DEMO-TE").glob("*.png")):
            a = cv2.imread(str(p), cv2.IMREAD_UNCHANGED).astype(int)
            b = cv2.imread(str(out16 / "DEMO-TE" / p.name), cv2.IMREAD_UNCHANGED).astype(int)
            d = np.abs(a - b)
            worst, means = max(worst, int(d.max())), [*means, float(d.mean())]
        ctx.save(
            fp16_vs_fp32_maps={
                "max_gray_levels": worst,
                "mean_gray_levels": float(np.mean(means)) if means else None,
            }
        )


def stage_ddp(ctx: Ctx) -> None:
    import torch

    gpus = torch.cuda.device_count() if ctx.cuda and torch.cuda.is_available() else 0
    if gpus < 2:
        ctx.save(_status="skipped: 1 GPU" if ctx.cuda else "skipped: cpu", gpus=gpus)
        return
    run, single = ctx.work / "train_ddp", ctx.work / "test_single"
    for d in (run, single):
        shutil.rmtree(d, ignore_errors=True)
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


def run_stage(name: str, ctx: Ctx) -> None:
    table: dict[str, Callable[[], None]] = {
        "env": lambda: stage_env(ctx),
        "fps_authors_v1": lambda: stage_fps_authors(ctx, "v1"),
        "fps_authors_v2": lambda: stage_fps_authors(ctx, "v2"),
        "fps_ours": lambda: stage_fps_ours(ctx),
        "train_v2_amp": lambda: stage_train(ctx, "v2", "16-mixed"),
        "train_v2_fp32": lambda: stage_train(ctx, "v2", "32-true"),
        "train_v1_fp32": lambda: stage_train(ctx, "v1", "32-true"),
        "demo_data": lambda: stage_demo_data(ctx),
        "e2e_train": lambda: stage_e2e_train(ctx),
        "eval": lambda: stage_eval(ctx),
        "ddp": lambda: stage_ddp(ctx),
        "compile_v2": lambda: stage_compile(ctx, "v2"),
        "compile_v1": lambda: stage_compile(ctx, "v1"),
    }
    table[name]()


# -- offline install ----------------------------------------------------------------------------
def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _wheel_requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode("utf-8", "replace")
    return [
        ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Requires-Dist:")
    ]


def plan_install(wheels: list[Path], installed: dict[str, str]) -> dict[str, Any]:
    """Which wheels to install: those whose distribution is not installed, plus an installed
    one's wheel where its version fails a requirement of the wheels being installed. Returns
    the wheels, and the requirements nothing here satisfies (to report)."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    by_name = {_canon(w.name.split("-")[0]): w for w in wheels}
    version = {n: w.name.split("-")[1] for n, w in by_name.items()}
    chosen = {n for n in by_name if n not in installed}
    unmet: list[str] = []
    changed = True
    while changed:
        changed = False
        unmet = []
        for n in sorted(chosen):
            for spec in _wheel_requires(by_name[n]):
                req = Requirement(spec)
                if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                    continue
                dep = _canon(req.name)
                if dep in chosen:
                    have = version[dep]
                elif dep in installed:
                    have = installed[dep]
                else:
                    unmet.append(f"{n}: {spec} (not installed, no wheel)")
                    continue
                try:
                    ok = req.specifier.contains(Version(have), prereleases=True)
                except Exception:  # noqa: BLE001 (an odd version string: trust it)
                    ok = True
                if ok:
                    continue
                if dep in by_name and dep not in chosen:
                    chosen.add(dep)
                    changed = True
                else:
                    unmet.append(f"{n}: {spec} (have {have})")
    return {"wheels": [by_name[n] for n in sorted(chosen)], "unmet": sorted(set(unmet))}


def _installed_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name:
            out.setdefault(_canon(name), dist.version)
    return out


def offline_install(wheel_dir: Path, site: Path) -> dict[str, Any]:
    """pip install the needed wheels offline into ``site`` (--no-index --no-deps --target)."""
    wheels = sorted(wheel_dir.glob("*.whl"))
    if not wheels:
        raise RuntimeError(
            f"no wheels in {wheel_dir}: run `bash benchmarks/gpu_wheels.sh` where PyPI is "
            "reachable and carry the folder"
        )
    plan = plan_install(wheels, _installed_versions())
    chosen = plan["wheels"]
    info: dict[str, Any] = {
        "wheel_dir": str(wheel_dir),
        "site": str(site),
        "installed": [w.name for w in chosen],
        "kept_machine_copy": sorted(w.name for w in wheels if w not in chosen),
        "unmet": plan["unmet"],
    }
    if chosen:
        site.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
            "--no-compile", "--no-cache-dir", "--upgrade", "--disable-pip-version-check",
            "--target", str(site), *map(str, chosen),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        info["pip_output"] = _tail(proc.stdout + proc.stderr, 2000)
        if proc.returncode != 0:
            raise RuntimeError(f"pip install failed:\n{info['pip_output']}")
    return info


# -- the driver ---------------------------------------------------------------------------------
def _stage_env(site: Path | None, quick: bool) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(site)] if site else []
    paths.append(str(REPO))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env.update(
        PYTHONPATH=os.pathsep.join(paths),
        PYTHONUNBUFFERED="1",
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        NO_ALBUMENTATIONS_UPDATE="1",
        HYDRA_FULL_ERROR="1",
    )
    if quick:  # toy sizes: one thread is as fast, and spins no second core
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _importable(env: dict[str, str]) -> tuple[bool, str]:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK], capture_output=True, text=True, env=env, timeout=120
    )
    return proc.returncode == 0, _tail(proc.stderr, 1500)


def _fmt(x: Any, nd: int = 1) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _res(report: dict, name: str) -> dict:
    st = report["stages"].get(name) or {}
    return st.get("result") or {}


def _cell(report: dict, name: str, value: Any, nd: int = 1) -> str:
    """The value, or the stage's status where it did not run or failed before it."""
    st = report["stages"].get(name)
    if value is not None:
        return _fmt(value, nd)
    if not st:
        return "not run"
    return st["status"] if st["status"] != "ok" else "—"


def render_md(report: dict) -> str:
    env = _res(report, "env")
    card = report.get("card") or "unknown device"
    lines = [f"## GPU check: {card}", ""]
    lines.append(
        f"`{report['command']}` ({report['started']}, {_fmt(report.get('elapsed_s'), 0)} s"
        f"{', quick toy sizes' if report['mode']['quick'] else ''}). "
        f"Driver {env.get('driver', '—')}, torch {env.get('torch', '—')}, CUDA "
        f"{env.get('cuda', '—')}, cuDNN {env.get('cudnn', '—')}, Python {env.get('python', '—')}, "
        f"lightning {env.get('versions', {}).get('lightning', '—')}, pytorch-lightning "
        f"{env.get('versions', {}).get('pytorch-lightning', '—')}; GPUs: "
        f"{env.get('gpu_count', '—')}. Every figure below was measured on this device; the "
        f"paper's are an {PAPER['device']}'s."
    )
    lines.append("")
    size = sizes(report["mode"]["quick"])["size"]
    batch = sizes(report["mode"]["quick"])["batch"]
    ours = _res(report, "fps_ours")
    amp = ours.get("amp_dtype", "fp16")
    lines += [
        f"### Inference, {size}x{size} (FPS at batch 1 unless named)",
        "",
        f"| RAS | authors' protocol (fp32 eager, no warm-up) | ... without the first image "
        f"| eager fp32, warmed up | ours fp32 (BN folded, channels-last, cuDNN autotune) "
        f"| ours {amp} autocast | torch.compile {amp} | batch {batch} {amp}, images/s "
        f"| paper ({PAPER['device']}) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in ("v1", "v2"):
        a = _res(report, f"fps_authors_{v}")
        o = ours.get(v) or {}
        c = _res(report, f"compile_{v}")
        comp = _cell(report, f"compile_{v}", c.get("amp_fps"))
        if c.get("compile_s") is not None:
            comp += f" (compiled in {c['compile_s']:.0f} s)"
        lines.append(
            f"| {v} | {_cell(report, f'fps_authors_{v}', a.get('fps'))} "
            f"| {_cell(report, f'fps_authors_{v}', a.get('fps_without_first'))} "
            f"| {_cell(report, 'fps_ours', o.get('eager_fp32_warm_fps'))} "
            f"| {_cell(report, 'fps_ours', o.get('fp32_fps'))} "
            f"| {_cell(report, 'fps_ours', o.get('amp_fps'))} | {comp} "
            f"| {_cell(report, 'fps_ours', o.get('batched_amp_images_per_s'))} "
            f"| {PAPER['fps'][v]:.0f} |"
        )
    lines += [
        "",
        "### Training throughput (Lightning Trainer + RASModule, in-memory random batches)",
        "",
        "| recipe | batch | precision | optimizer | images/s | ms/step | peak GPU memory GiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("train_v2_amp", "train_v2_fp32", "train_v1_fp32"):
        r = _res(report, name)
        lines.append(
            f"| {name.split('_')[1]} | {_fmt(r.get('batch'))} | {_fmt(r.get('precision'))} "
            f"| {_fmt(r.get('optimizer'))} | {_cell(report, name, r.get('images_per_s'))} "
            f"| {_cell(report, name, r.get('step_ms'))} "
            f"| {_cell(report, name, r.get('peak_gpu_gib'), 2)} |"
        )
    e2e, ev, ddp = _res(report, "e2e_train"), _res(report, "eval"), _res(report, "ddp")
    losses = e2e.get("train_loss_per_epoch") or []
    test = e2e.get("test") or {}
    lines += [
        "",
        "### Short real run on the demo data (train -> test -> eval)",
        "",
        f"- `python -m ras_lightning.train` ({_cell(report, 'e2e_train', e2e.get('epochs'))} "
        f"epochs, {_cell(report, 'e2e_train', e2e.get('seconds'), 0)} s): train loss per "
        f"epoch {', '.join(f'{x:.3f}' for x in losses) or '—'}; "
        f"test DEMO-TE max_f {_fmt(test.get('test/DEMO-TE/max_f'), 3)}, "
        f"MAE {_fmt(test.get('test/DEMO-TE/mae'), 3)}.",
    ]
    em = ev.get("metrics") or {}
    lines.append(
        f"- `python -m ras_lightning.eval` (last.ckpt, {_fmt(ev.get('backend'))}): "
        f"max_f {_cell(report, 'eval', em.get('max_f'), 3)}, MAE "
        f"{_cell(report, 'eval', em.get('mae'), 3)}, S-measure "
        f"{_cell(report, 'eval', em.get('s_measure'), 3)}; "
        f"{_cell(report, 'eval', ev.get('fps'))} FPS on {_fmt(ev.get('fps_device'))}."
    )
    ddp_status = (report["stages"].get("ddp") or {}).get("status", "not run")
    lines.append(
        f"- DDP ({_fmt(ddp.get('gpus'))} GPUs): {ddp_status}"
        + (
            f"; max |test metric difference| against one GPU {ddp['max_abs_diff']:.2e}"
            if ddp.get("max_abs_diff") is not None
            else ""
        )
    )
    lines += ["", "### Stages", "", "| stage | status | seconds | limit s |", "|---|---|---|---|"]
    order = [n for n, _, _ in STAGES if n in report["stages"]]
    for name in order + [n for n in report["stages"] if n not in order]:
        st = report["stages"][name]
        lines.append(
            f"| {name} | {st['status']} | {_fmt(st.get('seconds'))} | {_fmt(st.get('limit_s'))} |"
        )
    inst = report.get("install") or {}
    if inst:
        lines.append(
            f"\nOffline install: {inst.get('status')}"
            + (f" ({len(inst.get('installed', []))} wheels)" if inst.get("installed") else "")
        )
    return "\n".join(lines) + "\n"


def _summary(name: str, res: dict) -> str:
    """A short line of the stage's main figures for the progress print."""
    keys = (
        "card", "driver", "torch", "fps", "fps_without_first", "images_per_s", "peak_gpu_gib",
        "epochs", "loss_decreasing", "compile_s", "amp_fps", "max_abs_diff",
    )  # fmt: skip
    parts = [f"{k}={_fmt(res[k], 2)}" for k in keys if res.get(k) is not None]
    for v in ("v1", "v2"):
        if isinstance(res.get(v), dict):
            r = res[v]
            parts.append(
                f"{v}: fp32 {_fmt(r.get('fp32_fps'))} amp {_fmt(r.get('amp_fps'))} "
                f"batched {_fmt(r.get('batched_amp_images_per_s'))} FPS"
            )
    if isinstance(res.get("metrics"), dict):
        parts.append(f"max_f={_fmt(res['metrics'].get('max_f'), 3)}")
    return ", ".join(parts)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def drive(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    out = Path(args.out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = (
        Path(args.work).expanduser().resolve()
        if args.work
        else (Path(tempfile.gettempdir()) / "ras_gpu_check")
    )
    work.mkdir(parents=True, exist_ok=True)
    (work / "stages").mkdir(exist_ok=True)
    quick, cpu = bool(args.quick), args.device == "cpu"
    budget = float(args.budget or (600 if quick else 450))
    jobs = max(1, int(args.jobs or (2 if quick and cpu else 1)))
    json_path, md_path, log_path = (
        out / "gpu_check.json",
        out / "gpu_check.md",
        out / "gpu_check.log",
    )
    only = [s.strip() for s in args.stages.split(",")] if args.stages else None
    names = [n for n, _, _ in STAGES]
    if only and (unknown := [s for s in only if s not in names]):
        raise SystemExit(f"unknown stage(s) {unknown}; stages: {', '.join(names)}")

    def elapsed() -> float:
        return time.perf_counter() - t_start

    def say(msg: str) -> None:
        print(f"[gpu_check {elapsed():6.1f} s] {msg}", flush=True)

    report: dict[str, Any] = {
        "tool": "benchmarks/gpu_check.py",
        "schema": 1,
        "command": " ".join(["python", "benchmarks/gpu_check.py", *sys.argv[1:]]),
        "started": _dt.datetime.now().isoformat(timespec="seconds"),
        "mode": {
            "device": args.device,
            "quick": quick,
            "budget_s": budget,
            "jobs": jobs,
            "work": str(work),
        },
        "paper": PAPER,
        "card": None,
        "install": None,
        "stages": {},
    }
    if only and json_path.is_file():  # a partial rerun keeps the other stages' entries
        old = json.loads(json_path.read_text())
        report["stages"] = old.get("stages", {})
        report["card"] = old.get("card")
    log = log_path.open("a" if only else "w")

    def flush() -> None:
        report["elapsed_s"] = elapsed()
        _write_json(json_path, report)
        md_path.write_text(render_md(report))

    # the offline install: where the imports fail (by default never in quick/cpu mode)
    site = Path(args.site)
    use_site = site if site.is_dir() else None
    t0 = time.perf_counter()
    if args.install is False or (args.install is None and (quick or cpu)):
        why = "--no-install" if args.install is False else "quick/cpu mode"
        report["install"] = {"status": f"skipped ({why})"}
    else:
        ok, err = _importable(_stage_env(use_site, quick))
        if args.install or not ok:
            say(f"offline install from {args.wheels} into {site} ...")
            try:
                info = offline_install(Path(args.wheels), site)
                use_site = site
                ok, err = _importable(_stage_env(use_site, quick))
                info["status"] = "ok" if ok else "error: imports still fail"
                if not ok:
                    info["error"] = err
            except Exception as exc:  # noqa: BLE001 (recorded; the stages report the rest)
                info = {"status": "error", "error": _tail(str(exc), 2000)}
            say(f"install: {info['status']} ({len(info.get('installed', []))} wheels)")
        else:
            info = {"status": "not needed (imports work)"}
        info["seconds"] = time.perf_counter() - t0
        report["install"] = info
    env = _stage_env(use_site, quick)
    flush()

    state: dict[str, Any] = {"gpus": None}
    pending = [
        (n, args.limit or (q if quick else g)) for n, g, q in STAGES if not only or n in only
    ]
    if jobs > 1:  # the longest chain first
        pending.sort(key=lambda item: item[0] not in ("demo_data", "e2e_train", "eval"))
    planned = {n for n, _ in pending}
    running: dict[str, dict[str, Any]] = {}
    done: set[str] = set()

    def ready(name: str) -> bool:
        return all(d not in planned or d in done for d in DEPENDS.get(name, ()))

    def skip_reason(name: str) -> str | None:
        if name.startswith("compile_") and quick and not args.compile_limit:
            return "skipped: quick mode"
        if name == "ddp" and state["gpus"] is not None and state["gpus"] < 2:
            return "skipped: 1 GPU" if not cpu else "skipped: cpu"
        need = MIN_STAGE_S
        if name.startswith("compile_"):  # no point starting what cannot finish
            need = (args.compile_limit or sizes(quick)["compile_limit_s"]) + 15
        if budget - elapsed() < need:
            return "skipped: budget"
        return None

    def start(name: str, limit: float) -> None:
        if name.startswith("compile_") and args.compile_limit:
            limit = max(limit, args.compile_limit + 40)  # imports, model, measurement
        timeout = min(limit, budget - elapsed())
        result_file = work / "stages" / f"{name}.json"
        result_file.unlink(missing_ok=True)
        cmd = [
            sys.executable, str(Path(__file__).resolve()), "--stage", name, "--out", str(out),
            "--work", str(work), "--device", args.device, "--result", str(result_file),
        ] + (["--quick"] if quick else []) + (
            ["--compile-limit", str(args.compile_limit)] if args.compile_limit else []
        )  # fmt: skip
        say(f"{name}: start (limit {timeout:.0f} s)")
        stage_log = work / "stages" / f"{name}.log"
        f = stage_log.open("w")
        # its own process group (killed whole on a timeout), in this session: whatever ends
        # this session's processes (the device tool's limit) ends the stage's too
        group = {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=work, **group)
        running[name] = {
            "proc": proc, "file": f, "log": stage_log, "result": result_file,
            "t0": time.perf_counter(), "timeout": timeout, "limit": limit,
        }  # fmt: skip

    def finish(name: str, rc: int | None, forced: str | None = None) -> None:
        r = running.pop(name)
        _kill_group(r["proc"])  # whatever the stage left running
        r["proc"].wait()
        r["file"].close()
        seconds = time.perf_counter() - r["t0"]
        text = r["log"].read_text(errors="replace")
        log.write(f"\n===== {name} (rc {rc}, {seconds:.1f} s) =====\n{_tail(text, 30000)}\n")
        log.flush()
        result = json.loads(r["result"].read_text()) if r["result"].is_file() else {}
        status = result.pop("_status", None)
        cpu_s = result.pop("_cpu_s", None)
        if forced:
            status = forced
        elif rc is None:
            status = f"timeout after {r['timeout']:.0f} s"
        elif status is None:
            status = "ok" if rc == 0 else f"error (exit {rc})"
        entry = {"status": status, "seconds": seconds, "cpu_s": cpu_s, "limit_s": r["limit"]}
        entry["result"] = result
        if status.startswith(("error", "timeout", "stopped")):
            entry["error"] = _tail(text, 2500)
        report["stages"][name] = entry
        done.add(name)
        if name == "env":
            report["card"] = result.get("card")
            state["gpus"] = result.get("gpu_count")
        say(f"{name}: {status} in {seconds:.1f} s. {_summary(name, result)}")
        if status.startswith(("error", "timeout")):
            for ln in _tail(text, 1200).splitlines()[-8:]:
                print(f"    | {ln}", flush=True)
        flush()

    def stop(signum: int, frame: Any) -> None:  # SIGTERM/SIGINT: keep what finished
        for name in list(running):
            _kill_group(running[name]["proc"])
            finish(name, None, f"stopped (signal {signum})")
        report["stopped"] = f"signal {signum}"
        flush()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # stages in order, up to --jobs at a time (1 on a GPU: timings must not overlap)
    while pending or running:
        for item in list(pending):
            if len(running) >= jobs:
                break
            name, limit = item
            if not ready(name):
                continue
            pending.remove(item)
            reason = skip_reason(name)
            if reason:
                report["stages"][name] = {"status": reason, "seconds": 0.0, "limit_s": limit}
                done.add(name)
                say(f"{name}: {reason}")
                flush()
                continue
            start(name, limit)
        for name, r in list(running.items()):
            rc = r["proc"].poll()
            if rc is not None:
                finish(name, rc)
            elif time.perf_counter() - r["t0"] > r["timeout"]:
                finish(name, None)
        if running:
            time.sleep(0.1)
    report["finished"] = _dt.datetime.now().isoformat(timespec="seconds")
    flush()
    log.close()
    bad = [
        n
        for n, st in report["stages"].items()
        if n in planned and st["status"].startswith(("error", "timeout"))
    ]
    say(f"done: {json_path}, {md_path}" + (f"; failed: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for gpu_check.json/.md/.log")
    p.add_argument("--work", help="folder for the bulky files (default $TMPDIR/ras_gpu_check)")
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--quick", action="store_true", help="toy sizes (the CPU test)")
    p.add_argument("--budget", type=float, help="seconds for all stages (450; quick 600)")
    p.add_argument("--stages", help="comma-separated subset (merged into an existing json)")
    p.add_argument(
        "--jobs", type=int, help="stages at a time (1; quick CPU mode 2); timings need 1"
    )
    p.add_argument("--limit", type=float, help="every stage's time limit, s (tests)")
    p.add_argument("--compile-limit", type=float, help="seconds torch.compile may take (60)")
    inst = p.add_mutually_exclusive_group()
    inst.add_argument("--install", dest="install", action="store_true", default=None)
    inst.add_argument("--no-install", dest="install", action="store_false")
    p.add_argument("--wheels", default=str(DEFAULT_WHEELS), help="the wheel folder")
    p.add_argument("--site", default=str(DEFAULT_SITE), help="where the wheels are installed")
    p.add_argument("--stage", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.stage:
        ctx = Ctx(args)
        ctx.save()
        run_stage(args.stage, ctx)
        import resource

        own, kids = (
            resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        )
        ctx.save(_cpu_s=own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime)
        return 0
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
