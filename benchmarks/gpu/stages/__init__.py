"""The stages by name, and how one runs in its own process (``gpu_check.py --stage NAME``):
its results and its CPU seconds go to the ``--result`` file the runner reads back."""

from __future__ import annotations

import argparse
import resource
from collections.abc import Callable

from benchmarks.gpu.context import Ctx
from benchmarks.gpu.stages import paper
from benchmarks.gpu.stages.demo_run import stage_ddp, stage_demo_data, stage_e2e_train, stage_eval
from benchmarks.gpu.stages.env import stage_env
from benchmarks.gpu.stages.speed import stage_compile, stage_fps_authors, stage_fps_ours
from benchmarks.gpu.stages.training import stage_train

STAGE_FUNCTIONS: dict[str, Callable[[Ctx], None]] = {
    "env": stage_env,
    "fps_authors_v1": lambda ctx: stage_fps_authors(ctx, "v1"),
    "fps_authors_v2": lambda ctx: stage_fps_authors(ctx, "v2"),
    "fps_ours": stage_fps_ours,
    "train_v2_amp": lambda ctx: stage_train(ctx, "v2", "16-mixed"),
    "train_v2_fp32": lambda ctx: stage_train(ctx, "v2", "32-true"),
    "train_v1_fp32": lambda ctx: stage_train(ctx, "v1", "32-true"),
    "demo_data": stage_demo_data,
    "e2e_train": stage_e2e_train,
    "eval": stage_eval,
    "ddp": stage_ddp,
    "compile_v2": lambda ctx: stage_compile(ctx, "v2"),
    "compile_v1": lambda ctx: stage_compile(ctx, "v1"),
    "duts_data": paper.stage_duts_data,
    "duts_loader": paper.stage_duts_loader,
    "train_duts_ours": paper.stage_train_duts_ours,
    "train_duts_authors": paper.stage_train_duts_authors,
    "fps_fast": paper.stage_fps_fast,
}


def run_stage_process(args: argparse.Namespace) -> int:
    """Run stage ``args.stage`` in this process, saving as it goes; add its CPU seconds."""
    ctx = Ctx(args)
    ctx.save()
    STAGE_FUNCTIONS[args.stage](ctx)
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    ctx.save(_cpu_s=own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime)
    return 0
