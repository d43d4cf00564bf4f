"""What the GPU check runs: its stages in order with their time limits, which wait for which,
the sizes they use, and the paper's figures they are set beside."""

from __future__ import annotations

from typing import Any

PAPER = {"device": "RTX 2080Ti", "batch": 1, "size": 352, "fps": {"v1": 94.0, "v2": 110.0}}

PAPER_STAGES = ["duts_data", "duts_loader", "train_duts_ours", "train_duts_authors", "fps_fast"]
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
    # the paper-run suite (issue 24): --suite paper
    ("duts_data", 150, 60),
    ("duts_loader", 150, 90),
    ("train_duts_ours", 300, 150),
    ("train_duts_authors", 200, 120),
    ("fps_fast", 120, 90),
]
#: what a run does (``--suite``): ``check``, the GPU check of issue 15 (the default); ``paper``,
#: the paper run's questions of issue 24 (DUTS-sized JPEGs, our loop against the authors',
#: the 32-epoch time, the fast batch-1 mode); each sized for one device call (< 10 minutes)
SUITES = {
    "check": [n for n, _, _ in STAGES if n not in PAPER_STAGES],
    "paper": ["env", *PAPER_STAGES],
}
#: each suite's default budget on a GPU (s; quick mode: 600)
PAPER_BUDGET_S = {"check": 450, "paper": 540}
MIN_STAGE_S = 20  # a stage is not started with less of the budget left
# a stage starts once these have finished (whatever their status)
DEPENDS = {
    "e2e_train": ("demo_data",),
    "eval": ("e2e_train",),
    "ddp": ("env", "demo_data"),
    "duts_loader": ("duts_data",),
    "train_duts_ours": ("duts_loader",),
    "train_duts_authors": ("train_duts_ours",),
    "fps_fast": ("train_duts_ours",),
}
# the longest chain, started first when stages run side by side
CHAIN = ("demo_data", "e2e_train", "eval")


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
            "duts_count": 12,
            "duts_batch": 4,
            "duts_sizes": [48, 64],
            "loader_batches": 2,
            "duts_epochs": 2,
            "drift_photos": 3,
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
        "duts_count": None,  # DUTS-TR's 10,553
        "duts_batch": 32,
        "duts_sizes": [224, 256, 288, 320, 352],
        "loader_batches": 40,
        "duts_epochs": 2,
        "drift_photos": 200,
    }
