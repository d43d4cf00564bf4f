"""Writing scores: metrics.json, Markdown and CSV tables, PR and F-measure curve plots and
their numbers (CSV)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ras_lightning.metrics.registry import TITLES, metric_names

__all__ = ["TITLES", "plot_curves", "write_curves", "write_json", "write_tables"]


def write_tables(rows: list[dict], out_dir: Path, name: str = "metrics") -> None:
    """``rows`` of {dataset, method, count, <metric>: value} as ``name``.md and ``name``.csv."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [k for k in metric_names() if any(k in r for r in rows)]  # a convention may lack some
    keys = ["dataset", "method", "count", *names]
    with open(out_dir / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    head = ["dataset", "method", "images", *(TITLES[k] for k in names)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        vals = [f"{r[k]:.4f}" if k in r else "" for k in names]
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['count']} | " + " | ".join(vals) + " |"
        )
    (out_dir / f"{name}.md").write_text("\n".join(lines) + "\n")


def write_json(data: dict, path: Path) -> None:
    """``data`` as indented JSON at ``path`` (its folder created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def plot_curves(
    curves: dict[str, dict[str, list[float]]], out_dir: Path, dataset: str
) -> list[Path]:
    """PR curve and F-measure-vs-threshold curve of every method on ``dataset`` (PNG), and
    the curves' numbers in ``curves_<dataset>.csv`` (one row per method and threshold)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    thresholds = list(range(255, -1, -1))
    write_curves(curves, out_dir / f"curves_{safe}.csv")
    pr = {m: (c["recall"], c["precision"]) for m, c in curves.items()}
    fm = {m: (thresholds, c["f"]) for m, c in curves.items()}
    return [
        _plot(
            pr,
            ("recall", "precision"),
            f"PR curves: {dataset}",
            (0, 1),
            out_dir / f"pr_curve_{safe}.png",
        ),
        _plot(
            fm,
            ("threshold", "F-measure (beta^2 = 0.3)"),
            f"F-measure: {dataset}",
            (0, 255),
            out_dir / f"f_curve_{safe}.png",
        ),
    ]


def write_curves(curves: dict[str, dict[str, list[float]]], path: Path) -> Path:
    """``curves`` ({method: {precision, recall, f, ...}}, thresholds 255..0) as CSV rows
    ``method, threshold, precision, recall, f[, e]`` at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kinds = [k for k in ("precision", "recall", "f", "e") if all(k in c for c in curves.values())]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "threshold", *kinds])
        for method, c in curves.items():
            for i, t in enumerate(range(255, -1, -1)):
                writer.writerow([method, t, *(f"{c[k][i]:.6f}" for k in kinds)])
    return path


def _plot(
    lines: dict, labels: tuple[str, str], title: str, xlim: tuple[int, int], path: Path
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    for method, (x, y) in lines.items():
        ax.plot(x, y, label=method, lw=1.5)
    ax.set(xlabel=labels[0], ylabel=labels[1], title=title, xlim=xlim, ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
