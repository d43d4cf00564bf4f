"""Writing scores: metrics.json, Markdown and CSV tables, PR and F-measure curve plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from ras_lightning.metrics import METRIC_NAMES

# Column titles of the tables, in METRIC_NAMES order.
TITLES = {
    "mae": "MAE",
    "s_measure": "S-measure",
    "weighted_f": "wF",
    "max_f": "maxF",
    "mean_f": "meanF",
    "adaptive_f": "adpF",
    "max_e": "maxE",
    "mean_e": "meanE",
    "adaptive_e": "adpE",
    "max_f_dataset_pr": "maxF (dataset PR)",
}


def write_tables(rows: list[dict], out_dir: Path, name: str = "metrics") -> None:
    """``rows`` of {dataset, method, count, <metric>: value} as ``name``.md and ``name``.csv."""
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = ["dataset", "method", "count", *METRIC_NAMES]
    with open(out_dir / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    head = ["dataset", "method", "images", *(TITLES[k] for k in METRIC_NAMES)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        vals = [f"{r[k]:.4f}" for k in METRIC_NAMES]
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['count']} | " + " | ".join(vals) + " |"
        )
    (out_dir / f"{name}.md").write_text("\n".join(lines) + "\n")


def write_json(data: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def plot_curves(
    curves: dict[str, dict[str, list[float]]], out_dir: Path, dataset: str
) -> list[Path]:
    """PR curve and F-measure-vs-threshold curve of every method on ``dataset`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    thresholds = np.arange(255, -1, -1)
    paths = []
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for method, c in curves.items():
        ax.plot(c["recall"], c["precision"], label=method, lw=1.5)
    ax.set(
        xlabel="recall",
        ylabel="precision",
        title=f"PR curves: {dataset}",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    paths.append(out_dir / f"pr_curve_{safe}.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for method, c in curves.items():
        ax.plot(thresholds, c["f"], label=method, lw=1.5)
    ax.set(
        xlabel="threshold",
        ylabel="F-measure (beta^2 = 0.3)",
        title=f"F-measure: {dataset}",
        xlim=(0, 255),
        ylim=(0, 1.02),
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    paths.append(out_dir / f"f_curve_{safe}.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
