"""The paper-run stages (issue 24): a DUTS-sized set of real JPEG files made here by the demo
generator, the data pipelines alone, our v2 recipe end to end (``python -m
ras_lightning.train strategy=v2``, as a user runs it) against the network alone and against
the authors' loop (:mod:`benchmarks.gpu.authors_v2`) on the same data, the 32-epoch paper
run extrapolated from whole epochs, and the checked fast batch-1 inference mode."""

from __future__ import annotations

import json
import os
import statistics
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from benchmarks.gpu.context import Ctx

#: (width, height) of the generated photos, cycled: DUTS-TR's photos are at most 400 px on
#: their long side, most of them 400x300 landscape (an approximation of its size mix)
DUTS_SIZES = [(400, 300)] * 10 + [(300, 400)] * 3 + [(400, 267)] * 3 + [(400, 225), (400, 400)]
DUTS_TR = 10_553
PAPER_EPOCHS = 32


def _duts_root(ctx: Ctx) -> Path:
    return ctx.work / "data" / "duts"


def _one_scene(args: tuple[int, str, str]) -> int:
    from ras_lightning.data.demo import make_scene

    i, images, masks = args
    photo, mask = make_scene(7_000_000 + i, DUTS_SIZES[i % len(DUTS_SIZES)])
    photo.save(f"{images}/duts_{i:05d}.jpg", quality=92)
    mask.save(f"{masks}/duts_{i:05d}.png")
    return i


def stage_duts_data(ctx: Ctx) -> None:
    """``WORK/data/duts/DUTS-TR/{images,masks}``: DUTS-TR's count of photos (quick: a few) at
    its sizes, made by the demo generator on every core (kept for a rerun with the same count)."""
    n = ctx.sz["duts_count"] or DUTS_TR
    set_dir = _duts_root(ctx) / "DUTS-TR"
    images, masks = set_dir / "images", set_dir / "masks"
    stamp = set_dir / "made.json"
    start = time.perf_counter()
    if not (stamp.is_file() and json.loads(stamp.read_text()).get("count") == n):
        images.mkdir(parents=True, exist_ok=True)
        masks.mkdir(parents=True, exist_ok=True)
        jobs = [(i, str(images), str(masks)) for i in range(n)]
        with Pool(os.cpu_count() or 1) as pool:
            for _ in pool.imap_unordered(_one_scene, jobs, chunksize=16):
                pass
        stamp.write_text(json.dumps({"count": n, "sizes": DUTS_SIZES}))
    jpeg_bytes = sum(p.stat().st_size for p in images.glob("*.jpg"))
    ctx.save(
        root=str(_duts_root(ctx)),
        photos=len(list(images.glob("*.jpg"))),
        masks=len(list(masks.glob("*.png"))),
        seconds=time.perf_counter() - start,
        jpeg_mb=jpeg_bytes / 1e6,
        sizes="400 px long side: 400x300 (10 of 18), 300x400 (3), 400x267 (3), 400x225, 400x400",
        processes=os.cpu_count(),
    )


def _images_per_s(batches: Any, count: int) -> tuple[float, int]:
    """Images/s over ``count`` batches after the first (workers started, not timed)."""
    it = iter(batches)
    next(it)
    start, images = time.perf_counter(), 0
    for _ in range(count):
        try:
            b = next(it)
        except StopIteration:
            break
        images += int((b["image"] if isinstance(b, dict) else b[0]).shape[0])
    return images / (time.perf_counter() - start), images


def _our_datamodule(ctx: Ctx, workers: int) -> Any:
    from hydra.utils import instantiate

    from benchmarks.bench_training import compose_train

    s = ctx.sz
    cfg = compose_train(
        "v2",
        f"data.root={_duts_root(ctx)}",
        "data.test_sets=[]",
        f"data.num_workers={workers}",
        f"data.batch_size={s['duts_batch']}",
        f"data.image_size={max(s['duts_sizes'])}",
        f"data.multiscale=[{','.join(map(str, s['duts_sizes']))}]",
        f"trainer.accelerator={'gpu' if ctx.cuda else 'cpu'}",
    )
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    return cfg, dm


def default_workers(ctx: Ctx) -> int:
    """``data.num_workers`` as the recipe resolves it on this machine (``loader_workers``)."""
    from benchmarks.bench_training import compose_train

    accel = "gpu" if ctx.cuda else "cpu"
    return int(compose_train("v2", f"trainer.accelerator={accel}").data.num_workers)


def stage_duts_loader(ctx: Ctx) -> None:
    """The data pipelines alone (decode, augment, collate; no network): ours with the default
    workers and with one per core, the authors' with their 8 (quick: 0); and our set-up's
    one-off check that decodes every photo and mask (cached for later runs)."""
    from torch.utils.data import DataLoader

    from benchmarks.gpu.authors_v2 import AuthorsData, Collate

    s, cores = ctx.sz, os.cpu_count() or 1
    start = time.perf_counter()
    _our_datamodule(ctx, 0)  # the first set-up: every file decoded once, the outcome cached
    ctx.save(first_setup_s=time.perf_counter() - start, cores=cores)
    for name, workers in (("default", default_workers(ctx)), ("all_cores", cores)):
        if ctx.quick:
            workers = min(workers, 1)
        _, dm = _our_datamodule(ctx, workers)
        ips, n = _images_per_s(dm.train_dataloader(), s["loader_batches"])
        ctx.save(**{f"ours_{name}": {"workers": workers, "images_per_s": ips, "images": n}})
    set_dir = _duts_root(ctx) / "DUTS-TR"
    data = AuthorsData(set_dir / "images", set_dir / "masks")
    workers = 0 if ctx.quick else 8
    loader = DataLoader(
        data, batch_size=s["duts_batch"], shuffle=True, num_workers=workers,
        collate_fn=Collate(s["duts_sizes"]),
    )  # fmt: skip
    ips, n = _images_per_s(loader, s["loader_batches"])
    ctx.save(authors={"workers": workers, "images_per_s": ips, "images": n})


def _network_only(ctx: Ctx) -> dict[str, Any]:
    """Our Trainer + RASModule (v2 recipe) on in-memory batches cycling the recipe's sizes:
    the images/s with no decoding or augmentation."""
    import torch
    from torch.utils.data import DataLoader, Dataset

    from benchmarks.bench_training import StepClock, compose_train, fit_steps

    s = ctx.sz
    sizes, batch = s["duts_sizes"], s["duts_batch"]
    warmup, steps = s["train_warmup"], s["train_steps"]
    total = warmup + steps
    g = torch.Generator().manual_seed(0)
    items = [
        {
            "image": torch.randn(batch, 3, size, size, generator=g),
            "mask": (torch.rand(batch, 1, size, size, generator=g) > 0.5).float(),
        }
        for size in sizes
    ]
    if ctx.cuda:
        items = [{k: v.pin_memory() for k, v in it.items()} for it in items]

    class Cycle(Dataset):
        def __len__(self) -> int:
            return total

        def __getitem__(self, i: int) -> dict:
            return items[i % len(items)]

    accelerator = "gpu" if ctx.cuda else "cpu"
    cfg = compose_train("v2", f"trainer.accelerator={accelerator}")
    clock = StepClock(ctx.sync(), synced={warmup - 1, total - 1})
    fit_steps(
        cfg,
        DataLoader(Cycle(), batch_size=None, num_workers=0),
        total,
        str(ctx.work / "network_only"),
        clock,
        accelerator=accelerator,
        devices=1,
        precision=_precision(ctx),
        num_sanity_val_steps=0,
    )
    elapsed = clock.ends[total - 1] - clock.ends[warmup - 1]
    return {"images_per_s": steps * batch / elapsed, "steps": steps, "sizes": sizes}


def _precision(ctx: Ctx) -> str:
    return "16-mixed" if ctx.cuda else "32-true"


def paper_run(setup_s: float, epochs: list[float], total: int = PAPER_EPOCHS) -> dict[str, Any]:
    """A ``total``-epoch run extrapolated from whole epochs: the set-up, the first epoch as
    measured, every later one at the mean of the later measured epochs."""
    later = epochs[1:] or epochs
    later_names = ", ".join(str(i + 1) for i in range(1, len(epochs)))
    steady = statistics.fmean(later)
    seconds = setup_s + epochs[0] + (total - 1) * steady
    return {
        "epochs": total,
        "seconds": seconds,
        "hours": seconds / 3600,
        "how": f"extrapolated from {len(epochs)} whole epoch(s): set-up + first epoch + "
        f"{total - 1} x the mean of epoch(s) {later_names or '1'}",
        "steady_epoch_s": steady,
    }


def _our_run(ctx: Ctx, name: str, workers: int, epochs: int) -> dict[str, Any]:
    """``python -m ras_lightning.train strategy=v2`` on the DUTS-sized set for ``epochs``
    whole epochs of the 32-epoch schedule (validation and test off, as the authors: no
    held-out data), timed by :class:`benchmarks.gpu.clock.EpochClock`."""
    from benchmarks.gpu.stages.demo_run import _cli

    s = ctx.sz
    run, clock = ctx.work / f"duts_{name}", ctx.work / f"duts_{name}_epochs.json"
    clock.unlink(missing_ok=True)
    args = [
        "strategy=v2",
        f"trainer={'gpu' if ctx.cuda else 'cpu'}",
        f"data.root={_duts_root(ctx)}",
        "data.test_sets=[]",
        "test=false",
        f"data.num_workers={workers}",
        f"data.batch_size={s['duts_batch']}",
        f"data.image_size={max(s['duts_sizes'])}",
        f"data.multiscale=[{','.join(map(str, s['duts_sizes']))}]",
        "model.pretrained_backbone=false",  # no download; the same network and time
        "logger=csv",
        f"hydra.run.dir={run}",
        "+callbacks.epoch_clock._target_=benchmarks.gpu.clock.EpochClock",
        f"+callbacks.epoch_clock.out={clock}",
        f"+callbacks.epoch_clock.stop_after={epochs}",
    ]
    launched = time.time()
    seconds, cmd = _cli(ctx, "train", args, f"duts_{name}")
    timed = json.loads(clock.read_text())
    per_epoch = [e["seconds"] for e in timed["epochs"]]
    images = timed["epochs"][-1]["images"]
    setup = timed["epochs"][0]["start"] - launched
    return {
        "command": cmd,
        "workers": workers,
        "process_s": seconds,
        "setup_s": setup,
        "epoch_s": per_epoch,
        "images_per_epoch": images,
        "images_per_s_first_epoch": timed["epochs"][0]["images"] / per_epoch[0],
        "images_per_s": images / (per_epoch[-1] if len(per_epoch) > 1 else per_epoch[0]),
        "paper_run": paper_run(setup, per_epoch),
        "checkpoint": str(run / "checkpoints" / "last.ckpt"),
    }


def stage_train_duts_ours(ctx: Ctx) -> None:
    """The network alone, then our v2 recipe end to end on the DUTS-sized JPEGs (default
    workers); where the pipeline holds the GPU back (its end-to-end rate under 90% of the
    network's), the fix: one worker per core, measured again."""
    ctx.save(network_only=_network_only(ctx), precision=_precision(ctx))
    epochs = ctx.sz["duts_epochs"]
    workers = 0 if ctx.quick else default_workers(ctx)
    ours = _our_run(ctx, "ours", workers, epochs)
    ctx.save(ours=ours)
    ratio = ours["images_per_s"] / ctx.result["network_only"]["images_per_s"]
    data_bound = ratio < 0.9
    ctx.save(end_to_end_vs_network=ratio, data_bound=data_bound)
    cores = os.cpu_count() or 1
    if data_bound and not ctx.quick and cores - 1 > workers:
        fixed = _our_run(ctx, "ours_all_cores", cores - 1, epochs)
        ctx.save(ours_fixed=fixed, fix=f"data.num_workers={cores - 1} (one per core but one)")


def stage_train_duts_authors(ctx: Ctx) -> None:
    """The authors' v2 loop (native AMP) on the same files, same epochs; ours beside it."""
    from benchmarks.gpu.authors_v2 import train

    s = ctx.sz
    set_dir = _duts_root(ctx) / "DUTS-TR"
    start = time.time()
    epochs: list[dict] = []
    ctx.save(workers=0 if ctx.quick else 8, amp="fp16 autocast + GradScaler (for apex O2)")
    train(
        set_dir / "images",
        set_dir / "masks",
        ctx.device(),
        s["duts_epochs"],
        batch=s["duts_batch"],
        workers=0 if ctx.quick else 8,
        sizes=s["duts_sizes"],
        amp_dtype=ctx.amp_dtype(),
        on_epoch=lambda e: (epochs.append(e), ctx.save(epochs=epochs)),
    )
    per_epoch = [e["seconds"] for e in epochs]
    setup = epochs and (time.time() - start - sum(per_epoch))
    images = epochs[-1]["images"]
    ips = images / (per_epoch[-1] if len(per_epoch) > 1 else per_epoch[0])
    ctx.save(
        epoch_s=per_epoch,
        images_per_epoch=images,
        images_per_s=ips,
        paper_run=paper_run(float(setup or 0.0), per_epoch),
    )
    ours_file = ctx.work / "stages" / "train_duts_ours.json"
    if ours_file.is_file():
        ours = json.loads(ours_file.read_text())
        best = ours.get("ours_fixed") or ours.get("ours") or {}
        if best.get("images_per_s"):
            ctx.save(ours_images_per_s=best["images_per_s"], speedup=best["images_per_s"] / ips)


def stage_fps_fast(ctx: Ctx) -> None:
    """Batch-1 FPS at the recipe's size: strict fp32 eager (the authors' test scripts, warmed
    up), our previous default (BatchNorm folded, channels-last) and the checked fast mode
    (``fast=auto``, what predict/eval run on a GPU), and the fast maps' largest difference
    from strict fp32 over real photos of the DUTS-sized set."""
    import cv2
    import numpy as np
    import torch

    from ras_lightning.inference.fast import set_tf32
    from ras_lightning.inference.torch_predictor import TorchPredictor
    from ras_lightning.models import RAS
    from ras_lightning.models.weights import Weights, load_weights
    from ras_lightning.utils.timing import measure_fps

    s, dev = ctx.sz, ctx.device()
    ckpt = Path(ctx.work / "duts_ours" / "checkpoints" / "last.ckpt")

    def weights() -> Weights:
        if ckpt.is_file():
            return load_weights(ckpt)
        torch.manual_seed(0)
        net = RAS(version="v2", pretrained_backbone=False).eval()
        return Weights(net, "v2", s["size"], "random", "")

    timed = {"runs": s["runs"], "warmup": s["warmup"], "size": s["size"]}
    set_tf32(False)
    strict = TorchPredictor(weights(), str(dev), 1, fold_bn=False, channels_last=False)
    ctx.save(weights=str(ckpt) if ckpt.is_file() else "random (no checkpoint)", size=s["size"])
    ctx.save(strict_fp32_fps=strict.measure_fps(**timed))
    set_tf32(True)  # PyTorch's default for cuDNN convolutions
    default = TorchPredictor(weights(), str(dev), 1)
    ctx.save(previous_default_fps=default.measure_fps(**timed))
    fast = TorchPredictor(weights(), str(dev), 1, fast=True)
    photos = sorted((_duts_root(ctx) / "DUTS-TR" / "images").glob("*.jpg"))[: s["drift_photos"]]
    rgb = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in photos]
    got = fast.predict(rgb)  # the first batch runs the check
    state = fast.fast.state if fast.fast else "off (not a CUDA GPU)"
    ctx.save(fast_state=state, fast_check_drift=fast.fast.drift if fast.fast else None)
    ctx.save(fast_fps=fast.measure_fps(**timed), predictor=fast.name)
    set_tf32(False)
    ref = strict.predict(rgb)
    pairs = zip(got, ref, strict=True)
    drift = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in pairs)
    ctx.save(photos=len(rgb), max_gray_levels_vs_fp32=drift)
    if ctx.cuda:  # the graph alone, without TF32
        from ras_lightning.inference.fast import GraphRunner

        graph = GraphRunner(default.net)
        ctx.save(graph_no_tf32_fps=measure_fps(graph, dev, channels_last=True, **timed))
    ctx.save(goal_fps=500, goal_met=bool(ctx.result["fast_fps"] >= 500))
    if drift > 2:
        raise AssertionError(f"fast maps {drift} gray levels from fp32 (allowed: 2)")
