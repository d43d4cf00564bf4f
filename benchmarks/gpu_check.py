"""One-command GPU check of RAS: speed as the authors measure it and as we run it, Lightning
training throughput per recipe, and a short real run (train -> test -> eval) on the demo data.

On the lent GPU machine, from the repository root (``.gpu_wheels`` carried; made first, where
PyPI is reachable, by ``bash benchmarks/gpu_wheels.sh``), with no network::

    PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --out $OUT

``--stages a,b`` reruns some stages into the same ``OUT`` (the other entries are kept).

It installs the missing packages offline when ``import hydra`` fails there (``--install``
forces it, ``--no-install`` never; ``benchmarks/gpu_install.py`` is that installer alone): the
wheels of ``.gpu_wheels`` whose distribution the machine lacks (or has too old for the others)
go with ``pip --no-index --no-deps --target`` into ``/tmp/ras_gpu_site``, which every stage
sees on ``PYTHONPATH`` together with the repository.
It writes ``OUT/gpu_check.json`` (rewritten after every stage, so a kill keeps what finished),
``OUT/gpu_check.md`` (the tables, naming the card, to paste into BENCHMARKS.md),
``OUT/gpu_check.log`` (every stage's output) and ``OUT/e2e_metrics.csv`` (the run's CSV log).
Bulky files (demo data, the run, the eval maps) go to ``--work`` (default
``$TMPDIR/ras_gpu_check``), outside ``OUT``. Sized for about 6 minutes on one H100 (an
estimate, not a measurement); a global budget (``--budget``, 450 s, the install included)
skips what would not fit, so it ends within 8 minutes whatever the card.

Each stage runs as ``python gpu_check.py --stage NAME`` in its own process (and process group)
under its own time limit, one at a time (``--jobs``: 1; timings must not overlap); a failure or
timeout is recorded (status and the tail of its output) and the next stage runs. This file is
the command line; the parts are in ``benchmarks/gpu/`` (``runner``, ``stages``, ``report``).
FPS is timed by ``ras_lightning.utils.timing.measure_fps`` (but for the authors' protocol),
training throughput by ``benchmarks/bench_training.py``'s ``fit_steps``. Stages, in order, with
their limits on a GPU:

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

``--suite paper`` (issue 24; budget 540 s) answers a paper run's questions instead
(``benchmarks/gpu/stages/paper.py``): ``duts_data`` makes DUTS-TR's 10,553 photos as JPEG
files at its sizes with the demo generator on every core; ``duts_loader`` times the data
pipelines alone (ours with the recipe's workers and one per core, the authors' with their 8)
and our one-off first set-up; ``train_duts_ours`` times the network alone on in-memory
batches at the recipe's sizes, then ``python -m ras_lightning.train strategy=v2`` on those
files for 2 whole epochs of the 32-epoch schedule (``benchmarks/gpu/clock.py`` on its command
line), again with one worker per core where the data held the GPU back; ``train_duts_authors``
runs the authors' v2 loop (``benchmarks/gpu/authors_v2.py``, native AMP for apex) on the same
files; both extrapolate the 32-epoch run from their whole epochs; ``fps_fast`` times batch-1
inference in strict fp32, our previous default and the checked fast mode that predict/eval
use on a GPU, and measures the fast maps' largest difference from fp32 over 200 photos::

    PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --suite paper --out $OUT

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
import sys
from pathlib import Path


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The check's options (``--stage``/``--result``: a stage process, given by the runner)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for gpu_check.json/.md/.log")
    p.add_argument("--work", help="folder for the bulky files (default $TMPDIR/ras_gpu_check)")
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--quick", action="store_true", help="toy sizes (the CPU test)")
    p.add_argument("--budget", type=float, help="seconds for all stages (450; quick 600)")
    p.add_argument(
        "--suite",
        choices=("check", "paper"),
        default="check",
        help="check: the GPU check (default); paper: the paper run's questions (issue 24)",
    )
    p.add_argument("--stages", help="comma-separated subset (merged into an existing json)")
    p.add_argument(
        "--jobs", type=int, help="stages at a time (1; quick CPU mode 2); timings need 1"
    )
    p.add_argument("--limit", type=float, help="every stage's time limit, s (tests)")
    p.add_argument("--compile-limit", type=float, help="seconds torch.compile may take (60)")
    inst = p.add_mutually_exclusive_group()
    inst.add_argument("--install", dest="install", action="store_true", default=None)
    inst.add_argument("--no-install", dest="install", action="store_false")
    p.add_argument("--wheels", help="the wheel folder (default .gpu_wheels in the repository)")
    p.add_argument("--site", help="where the wheels are installed (default /tmp/ras_gpu_site)")
    p.add_argument("--stage", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the check (exit 1 when a stage failed), or, with ``--stage``, one stage."""
    args = parse(argv)
    # imported here, after the repository is on sys.path (see below); neither imports torch
    # or the project: a stage imports what it measures when it runs
    if args.stage:
        from benchmarks.gpu.stages import run_stage_process

        return run_stage_process(args)
    from benchmarks.gpu.runner import Runner

    return Runner(args).run()


if __name__ == "__main__":
    # run as a script, sys.path[0] is benchmarks/: the repository instead, so that the parts
    # import as the package ``benchmarks.gpu`` (and no name in benchmarks/ shadows another)
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    sys.exit(main())
