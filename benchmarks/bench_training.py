"""Training speed: our ``Trainer.fit`` against a plain PyTorch loop (the authors' way).

    .venv/bin/python benchmarks/bench_training.py [--versions v1 v2] [--size 352] [--batch 4]
        [--warmup 3] [--steps 8] [--repeat 2] [--threads 0] [--quick]

BENCHMARKS.md's tables: ``--repeat 2 --warmup 2 --steps 5`` (and the same with ``--threads 1``).

Every contender trains the same network (RAS v1 or v2 from scratch), with the same loss
(``training.losses.deep_supervision_loss``), the same optimizer as the version's recipe
(v1: Adam 5e-5, loss / batch; v2: SGD nesterov, backbone lr x0.1, conv1/bn1 frozen) and the
same batches of in-memory synthetic 352 px images (a DataLoader, no workers, shuffled), in
its own subprocess (so its peak RSS is its own):

* ``plain loop``: zero_grad / forward / loss / backward / step, as the authors' train.py;
* ``Trainer.fit, fast defaults off``: ``strategy=vN`` composed from ``conf/`` (RASModule, its
  optimizer groups, logging) with ``model.channels_last=false optimizer.fused=false``:
  the same computation as the plain loop, so the difference is the framework's overhead;
* ``Trainer.fit, defaults``: the configs' defaults (what a user gets);
* ``Trainer.fit, defaults with channels_last flipped``: what the other memory format gives;
* (``--contenders ... plain_cl``: the plain loop in channels-last memory format.)

Images/s is steady state: the median of the steps after ``--warmup`` warm-up steps, each
timed between the ends of consecutive optimizer steps (the DataLoader fetch is inside).
Contenders alternate, best of ``--repeat``. GFLOP per image is counted
(``torch.utils.flop_counter``, forward + backward).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Container
from pathlib import Path
from typing import Any

import lightning as L
import torch

from ras_lightning import CONFIG_DIR
from ras_lightning.utils.timing import peak_rss_mb

REPO = Path(__file__).resolve().parents[1]
CORE_GFLOPS = 78.4  # 2.45 GHz x 2 FMA units x 8 fp32 lanes x 2 flops; 2 cores: 156
CONTENDERS = {
    "plain": "plain loop (authors' way, fp32, contiguous)",
    "fit_off": "Trainer.fit, fast defaults off",
    "fit": "Trainer.fit, defaults",
    "fit_flip": "Trainer.fit, defaults with channels_last flipped",
    "plain_cl": "plain loop + channels_last",
}
# what each contender overrides in the composed config ({cl}: the default flipped)
OVERRIDES = {
    "plain": [],
    "plain_cl": [],
    "fit_off": ["model.channels_last=false", "optimizer.fused=false"],
    "fit": [],
    "fit_flip": ["model.channels_last={cl}"],
}


def _data(n: int, size: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        {
            "image": torch.randn(3, size, size, generator=g),
            "mask": (torch.rand(1, size, size, generator=g) > 0.5).float(),
        }
        for _ in range(n)
    ]


def compose_train(version: str, *overrides: str) -> Any:
    """``train``'s config for ``strategy=<version>``, from scratch (no pretrained backbone)."""
    from hydra import compose, initialize_config_dir

    import ras_lightning.utils.resolvers  # noqa: F401  (resolvers)

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(
            "train",
            overrides=[f"strategy={version}", "model.pretrained_backbone=false", *overrides],
        )


def _plain(
    cfg: Any, loader: Any, channels_last: bool, stamps: list[float], cpu: list[float]
) -> None:
    """The authors' loop: the same network, loss, optimizer groups and batches."""
    from ras_lightning.models import RAS
    from ras_lightning.training.losses import deep_supervision_loss

    net = RAS(version=cfg.model.version, pretrained_backbone=False).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    base, head = [], []
    for name, p in net.named_parameters():
        if cfg.model.freeze_stem and name.startswith(("backbone.conv1.", "backbone.bn1.")):
            p.requires_grad_(False)
        elif name.startswith("backbone."):
            base.append(p)
        else:
            head.append(p)
    o = cfg.optimizer
    mult = cfg.model.backbone_lr_mult
    groups = [{"params": base, "lr": o.lr * mult}, {"params": head, "lr": o.lr}]
    if o._target_.endswith("SGD"):
        opt = torch.optim.SGD(
            groups, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=o.nesterov
        )
    else:
        opt = torch.optim.Adam(groups, lr=o.lr, weight_decay=o.weight_decay)
    for batch in loader:
        x = batch["image"].contiguous(memory_format=fmt)
        sides = net(x)
        loss, _ = deep_supervision_loss(sides, batch["mask"], cfg.model.divide_loss_by_batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        stamps.append(time.perf_counter())
        cpu.append(time.process_time())


class StepClock(L.Callback):
    """Wall and CPU time at the start of training and at the end of every optimizer step, and
    the last step's loss. ``sync`` (``torch.cuda.synchronize`` on a GPU) runs before the
    stamps of the steps in ``synced`` only (all when None): a sync on every step would stop
    the host queueing work ahead of the GPU and so slow the steps it times."""

    def __init__(
        self, sync: Callable[[], None] | None = None, synced: Container[int] | None = None
    ) -> None:
        self.sync = sync or (lambda: None)
        self.synced = synced
        self.start = 0.0
        self.ends: list[float] = []
        self.cpu: list[float] = []
        self._loss: torch.Tensor | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.sync()
        self.start = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.synced is None or batch_idx in self.synced:
            self.sync()
        self.ends.append(time.perf_counter())
        self.cpu.append(time.process_time())
        # kept as a tensor: reading its value would synchronise every step
        self._loss = outputs["loss"] if isinstance(outputs, dict) else outputs

    @property
    def last_loss(self) -> float | None:
        return None if self._loss is None else float(self._loss)


def fit_steps(
    cfg: Any, loader: Any, steps: int, root: str, clock: StepClock, **overrides: Any
) -> None:
    """``Trainer.fit`` of ``cfg``'s RASModule for ``steps`` optimizer steps on ``loader``,
    timed by ``clock``: no logger, checkpoints, progress bar or validation; ``overrides``
    replace more of ``cfg.trainer``."""
    from hydra.utils import instantiate

    from ras_lightning.training.fit import instantiate_model

    module = instantiate_model(cfg)
    trainer = instantiate(
        cfg.trainer,
        default_root_dir=root,
        max_steps=steps,
        logger=False,
        callbacks=[clock],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        **overrides,
    )
    trainer.fit(module, train_dataloaders=loader)


def worker(
    name: str, version: str, size: int, batch: int, warmup: int, steps: int, threads: int = 0
) -> dict:
    """Run one contender in this process; return its throughput and peak RSS."""
    import tempfile

    if threads:
        torch.set_num_threads(threads)

    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    total = warmup + steps
    # one epoch holds every step, so no contender pays an epoch boundary
    loader = DataLoader(_data(total * batch, size), batch_size=batch, shuffle=True)
    default_cl = bool(compose_train(version).model.channels_last)
    extra = [o.format(cl=str(not default_cl).lower()) for o in OVERRIDES[name]]
    cfg = compose_train(version, *extra)
    stamps: list[float] = [time.perf_counter()]
    cpu: list[float] = [time.process_time()]
    if name.startswith("plain"):
        _plain(cfg, loader, name == "plain_cl", stamps, cpu)
    else:
        clock = StepClock()
        with tempfile.TemporaryDirectory() as tmp:
            fit_steps(cfg, loader, total, tmp, clock)
        stamps += clock.ends
        cpu += clock.cpu
    assert len(stamps) == total + 1, f"{name}: {len(stamps) - 1} steps, expected {total}"
    # the median step: steady state, robust to another process taking the CPU for a while
    ends, cpu_ends = stamps[warmup:], cpu[warmup:]
    step_s = statistics.median(b - a for a, b in zip(ends, ends[1:], strict=False))
    return {
        # CPU seconds (all threads) per step, mean over the timed steps: with --threads 1 it
        # hardly depends on what else runs on the machine
        "cpu_step_s": (cpu_ends[-1] - cpu_ends[0]) / steps,
        "images_per_s": batch / step_s,
        "step_s": step_s,
        "first_step_s": stamps[1] - stamps[0],
        "rss_mb": peak_rss_mb(),
        "channels_last": bool(cfg.model.channels_last) if name.startswith("fit") else None,
        "fused": bool(cfg.optimizer.fused) if name.startswith("fit") else None,
        "precision": str(cfg.trainer.precision),
    }


def train_gflop_per_image(version: str, size: int) -> float:
    """Forward + backward FLOPs of one training image (counted, batch 2, BN in train mode)."""
    from torch.utils.flop_counter import FlopCounterMode

    from ras_lightning.models import RAS
    from ras_lightning.training.losses import deep_supervision_loss

    net = RAS(version=version, pretrained_backbone=False).train()
    x = torch.randn(2, 3, size, size)
    m = (torch.rand(2, 1, size, size) > 0.5).float()
    with FlopCounterMode(display=False) as counter:
        loss, _ = deep_supervision_loss(net(x), m)
        loss.backward()
    return counter.get_total_flops() / 2 / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", nargs="+", default=["v1", "v2"])
    ap.add_argument("--size", type=int, default=352)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--contenders", nargs="+", default=list(CONTENDERS)[:4], choices=list(CONTENDERS)
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: v2, 128 px, 1+2 steps")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.versions, args.size, args.warmup, args.steps, args.repeat = ["v2"], 128, 1, 2, 1
    if args.worker:
        name, version = args.worker.split(":")
        out = worker(name, version, args.size, args.batch, args.warmup, args.steps, args.threads)
        print("RESULT " + json.dumps(out))
        return

    results: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.repeat):
        for version in args.versions:
            for name in args.contenders:
                cmd = [sys.executable, __file__, "--worker", f"{name}:{version}"]
                cmd += ["--size", str(args.size), "--batch", str(args.batch)]
                cmd += ["--warmup", str(args.warmup), "--steps", str(args.steps)]
                cmd += ["--threads", str(args.threads)]
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
                if proc.returncode:
                    sys.exit(f"{name} {version} failed:\n{proc.stderr[-3000:]}")
                line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
                res = json.loads(line[7:])
                results.setdefault((version, name), []).append(res)
                print(f"# {version} {name}: {res['images_per_s']:.3f} images/s", file=sys.stderr)

    threads = args.threads or torch.get_num_threads()
    peak = CORE_GFLOPS * min(threads, os.cpu_count() or 1)
    print(
        f"RAS training at {args.size}x{args.size}, batch {args.batch}, fp32 CPU, {threads} "
        f"thread(s), median of {args.steps} timed steps after {args.warmup} warm-up, "
        f"best of {args.repeat} alternating runs"
    )
    print(
        "| version | contender | images/s | s/step | vs plain loop | CPU s/step | CPU vs plain "
        f"| GFLOP/image (fwd+bwd) | % of peak ({peak:.0f} GFLOP/s) | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for version in args.versions:
        gflop = train_gflop_per_image(version, args.size)
        best = {
            n: max(results[(version, n)], key=lambda r: r["images_per_s"])
            for n in args.contenders
            if (version, n) in results
        }
        ref = best.get("plain", next(iter(best.values())))
        base = ref["images_per_s"]
        plain = results.get((version, "plain"), [])
        cpu_base = min(r["cpu_step_s"] for r in plain) if plain else 0.0
        for n, r in best.items():
            ips = r["images_per_s"]
            label = CONTENDERS[n]
            if n.startswith("fit"):
                label += f" (channels_last={str(r['channels_last']).lower()}"
                label += f", fused optimizer={str(r['fused']).lower()})"
            cpu_s = min(x["cpu_step_s"] for x in results[(version, n)])
            cpu_rel = f"{cpu_s / cpu_base:.3f}" if cpu_base else "-"
            print(
                f"| {version} | {label} | {ips:.3f} | {r['step_s']:.2f} | {ips / base:.3f}x "
                f"| {cpu_s:.2f} | {cpu_rel} | {gflop:.1f} | {100 * gflop * ips / peak:.0f}% "
                f"| {r['rss_mb']:.0f} |"
            )


if __name__ == "__main__":
    main()
