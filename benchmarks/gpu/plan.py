"""What the GPU check runs: its stages in order with their time limits, which wait for which,
the sizes they use, and the paper's figures they are set beside."""

from __future__ import annotations

from typing import Any

PAPER = {"device": "RTX 2080Ti", "batch": 1, "size": 352, "fps": {"v1": 94.0, "v2": 110.0}}

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
