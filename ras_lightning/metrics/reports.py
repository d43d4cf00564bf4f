"""Writing scores: metrics.json, Markdown and CSV tables, the paper's table (``eval``'s
``metrics.md``), PR and F-measure curve plots and their numbers (CSV)."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

from ras_lightning.metrics.intervals import CI_KEY, Intervals
from ras_lightning.metrics.latex import write_latex
from ras_lightning.metrics.published import PAPER_COLUMNS, PUBLISHED_FPS, PUBLISHED_MB, published
from ras_lightning.metrics.registry import CONVENTIONS, METRICS, TITLES, metric_names
from ras_lightning.metrics.scoring import FolderScore
from ras_lightning.utils.files import atomic_path, make_folder, write_atomic
from ras_lightning.utils.text import plural

__all__ = [
    "TITLES",
    "describe_score",
    "paper_caveats",
    "paper_table",
    "plot_curves",
    "speed_lines",
    "write_curves",
    "write_json",
    "write_tables",
]

#: how the paper's numbers were made: a ResNet-50 RAS at 352 x 352, scored by the MATLAB
#: evaluation (our ``f3net`` convention); a run that differs is not a like-for-like comparison
PAPER_SETUP = {"backbone": "resnet50", "input_size": 352, "convention": "f3net"}


# the paper-comparison warnings are eval's: logged under its name
log = logging.getLogger("ras_lightning.eval")


def cell(value: object) -> str:
    """``value`` as a Markdown table cell: ``|`` escaped (a method or set name holding one
    would split the cell) and line breaks as spaces (they would end the row)."""
    return " ".join(str(value).splitlines()).replace("|", "\\|")


def paper_caveats(convention: str, backbone: str | None, input_size: int) -> list[str]:
    """One sentence per way this evaluation differs from the paper's (``PAPER_SETUP``):
    backbone (unknown: not compared), input size, convention; empty when it matches."""
    notes = []
    if backbone is not None and backbone != PAPER_SETUP["backbone"]:
        notes.append(f"backbone {backbone}, the paper's is ResNet-50")
    if int(input_size) != PAPER_SETUP["input_size"]:
        notes.append(f"input {input_size}x{input_size} px, the paper's is 352x352")
    if convention != PAPER_SETUP["convention"]:
        notes.append(
            f"scored in the {convention} convention, the paper's numbers in f3net's "
            "(MATLAB; convention=f3net)"
        )
    return notes


def describe_score(what: str, score: FolderScore) -> str:
    """One line on a scored folder: the maps scored, resized, and skipped (and why)."""
    msg = f"{what}: {plural(score.count, 'map')} scored"
    if score.resized:
        msg += f", {score.resized} resized to their mask's size"
    if score.missing:
        msg += f", {plural(len(score.missing), 'mask')} without a map skipped"
    if score.broken:
        msg += f", {len(score.broken)} unreadable skipped ({'; '.join(score.broken)})"
    return msg


def write_tables(
    rows: list[dict],
    out_dir: Path,
    name: str = "metrics",
    convention: str | None = None,
    tex_ci: bool = False,
) -> None:
    """``rows`` of {dataset, method, count, <metric>: value} as ``name``.md and ``name``.csv,
    and as ``metrics.tex`` whatever ``name`` (:mod:`.latex`; eval's ``metrics.md`` is its paper
    table, its ``metrics.tex`` has every metric); ``convention``: the scoring convention as a
    last column of the tables and in the LaTeX comment line (numbers of the two conventions
    differ, so a row copied elsewhere keeps how it was scored). A row with intervals
    (:data:`.intervals.CI_KEY`) prints ``value ± half-width`` in the Markdown table (a note
    under it says what ± means), and in ``metrics.tex`` with ``tex_ci``; the CSV keeps the
    values alone (the intervals are in ``metrics_ci.json``)."""
    names = [k for k in metric_names() if any(k in r for r in rows)]  # a convention may lack some
    keys = ["dataset", "method", "count", *names, *(["convention"] if convention else [])]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({**r, "convention": convention} if convention else r for r in rows)
    write_atomic(out_dir / f"{name}.csv", table.getvalue())
    head = ["dataset", "method", "images", *(TITLES[k] for k in names)]
    head += ["convention"] if convention else []
    lines = ["| " + " | ".join(map(cell, head)) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ci = _intervals(r)
        vals = [(ci.cell(k, r[k]) if ci else f"{r[k]:.4f}") if k in r else "" for k in names]
        vals += [cell(convention)] if convention else []
        lines.append(
            f"| {cell(r['dataset'])} | {cell(r['method'])} | {r['count']} | "
            + " | ".join(vals)
            + " |"
        )
    lines += ci_note(rows)
    write_atomic(out_dir / f"{name}.md", "\n".join(lines) + "\n")
    write_latex(rows, out_dir / "metrics.tex", convention, tex_ci)


def ci_note(rows: list[dict]) -> list[str]:
    """A blank line and what ``±`` means, when a row has intervals; else nothing."""
    ci = next((c for r in rows if (c := _intervals(r))), None)
    return ["", ci.note()] if ci else []


def _intervals(row: dict) -> Intervals | None:
    """The row's :class:`.intervals.Intervals`, if it has some."""
    ci = row.get(CI_KEY)
    return ci if isinstance(ci, Intervals) else None


def paper_table(rows: list[dict], convention: str, version: str, compare: bool) -> list[str]:
    """The published figure's columns (adaptive E, S, adaptive F, MAE) for every set, with
    the convention in the heading; with ``compare`` the paper's RAS ``version`` row and the
    difference (ours - paper) under each set the figure has."""
    head = ["dataset", "method", "images", *(METRICS[k].long_title for k in PAPER_COLUMNS)]
    lines = [
        f"Convention: {convention} ({CONVENTIONS[convention].description})",
        "",
        "| " + " | ".join(map(cell, head)) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        ours = [r[k] for k in PAPER_COLUMNS]
        name = cell(r["dataset"])
        lines.append(
            f"| {name} | {cell(r['method'])} | {r['count']} | "
            + " | ".join(
                ci.cell(k, v, 3) if (ci := _intervals(r)) else f"{v:.3f}"
                for k, v in zip(PAPER_COLUMNS, ours, strict=True)
            )
            + " |"
        )
        paper = published(version, r["dataset"]) if compare else None
        if paper is not None:
            theirs = [paper[k] for k in PAPER_COLUMNS]
            lines.append(
                f"| {name} | paper (RAS {version}) | | "
                + " | ".join(f"{v:.3f}" for v in theirs)
                + " |"
            )
            lines.append(
                f"| {name} | difference | | "
                + " | ".join(f"{a - b:+.3f}" for a, b in zip(ours, theirs, strict=True))
                + " |"
            )
        elif compare:
            lines.append(f"| {name} | paper (RAS {version}) | | - | - | - | - |")
    return lines


def speed_lines(info: dict, method: str, compare: bool) -> list[str]:
    """The lines under the paper's table: our FPS (batch 1, network only) and model size from
    ``info`` (``eval``'s metrics.json fields), with ``compare`` the paper's."""
    version, size, fps = info["version"], info["input_size"], info["fps"]
    fps_text = f"{fps:.1f} FPS on {info['fps_device']}" if fps else "FPS not measured"
    lines = [
        f"RAS {version} ({method}), input {size}x{size}: {fps_text} (batch 1, network only, "
        f"{info['backend']}); model size {info['model_size_mb']} MB."
    ]
    if compare:
        lines.append(
            f"Paper (RAS {version}, RTX 2080Ti): {PUBLISHED_FPS.get(version)} FPS, "
            f"{PUBLISHED_MB.get(version)} MB."
        )
    return lines


def write_json(data: dict, path: Path) -> None:
    """``data`` as indented JSON at ``path`` (its folder created), whole or not at all."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def plot_curves(
    curves: dict[str, dict[str, list[float]]], out_dir: Path, dataset: str
) -> list[Path]:
    """PR curve and F-measure-vs-threshold curve of every method on ``dataset`` (PNG), and
    the curves' numbers in ``curves_<dataset>.csv`` (one row per method and threshold)."""
    make_folder(out_dir)
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
    kinds = [k for k in ("precision", "recall", "f", "e") if all(k in c for c in curves.values())]
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["method", "threshold", *kinds])
    for method, c in curves.items():
        for i, t in enumerate(range(255, -1, -1)):
            writer.writerow([method, t, *(f"{c[k][i]:.6f}" for k in kinds)])
    return write_atomic(path, table.getvalue())


def _plot(
    lines: dict, labels: tuple[str, str], title: str, xlim: tuple[int, int], path: Path
) -> Path:
    # matplotlib only when a plot is drawn: `--help`, plots=false and the tables skip it
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
    try:
        with atomic_path(path) as tmp:  # the temporary name keeps .png: savefig goes by it
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
    return path


def eval_report(
    rows: list[dict], info: dict, method: str, convention: str, compare: bool, backbone: str | None
) -> list[str]:
    """eval's ``metrics.md``: the published figure's table (:func:`paper_table`), the speed
    and size lines, and with ``compare`` a note under them, and a warning line on the console,
    for every way the setup differs from the paper's (:func:`paper_caveats`): a 64-px
    ResNet-18 or a pysodmetrics table beside the paper's row is no like-for-like comparison."""
    lines = paper_table(rows, convention, info["version"], compare)
    lines += ci_note(rows)
    lines += ["", *speed_lines(info, method, compare)]
    caveats = paper_caveats(convention, backbone, info["input_size"]) if compare else []
    for caveat in caveats:
        log.warning("compare=paper: %s; the differences are not like for like", caveat)
    if caveats:
        lines += ["", "Note: not the paper's setup: " + "; ".join(caveats) + "."]
    return lines
