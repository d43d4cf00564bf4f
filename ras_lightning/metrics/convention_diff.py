"""``score convention=both``: the two conventions side by side, and which images make them differ.

``OUT/pysodmetrics/`` and ``OUT/f3net/`` hold exactly what ``score convention=<that one>``
writes (metrics.json, metrics.md/.csv/.tex, metrics_ci.json, per_image.csv, the curves file
and plots); at the top of ``OUT``:

* ``metrics.json``: ``{"pysodmetrics": <its metrics.json>, "f3net": <its metrics.json>,
  "convention": "both"}`` (``metrics_ci.json`` likewise when ``ci`` is set);
* ``metrics.md`` / ``metrics.csv``: one row per dataset and method, each metric's two values
  side by side (columns ``<metric>_pysodmetrics``, ``<metric>_f3net`` in the CSV; a metric one
  convention lacks, e.g. ``max_e`` in f3net, is left empty);
* ``convention_diff.csv``: for every dataset, method and metric of both conventions, the
  dataset's difference ``pysodmetrics - f3net`` and the :data:`TOP` images that contribute most
  to it, largest ``|contribution|`` first (columns ``dataset, method, metric, difference,
  rank, image, contribution, pysodmetrics, f3net``; the last two are the image's own values,
  as in the conventions' ``per_image.csv``). Images whose contribution is rounding only
  (``|c| <= 1e-12``) are not named: a metric on which the conventions agree has no rows.

**Contribution** of image ``i`` to the difference ``D = v_pysodmetrics - v_f3net``:

* a metric that is the mean of its per-image values in both conventions (``mae``,
  ``s_measure``, ``weighted_f``, ``adaptive_f``, ``adaptive_e``): its share
  ``(a_i - b_i) / n`` of ``D`` (``a_i``, ``b_i``: the image's values; the shares add up to D);
* any other metric (``max_f``, ``mean_f``, ``max_f_dataset_pr``: from mean curves): how much
  the difference changes when the image is left out, ``D - D_without_i`` (each convention's
  metric recomputed from the other ``n - 1`` images; with one image, ``D``).

Images are matched between the conventions by dataset, method and file stem (both score the
same files; any scored in one only are left out of the comparison).
"""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ras_lightning.metrics.intervals import CI_FILE
from ras_lightning.metrics.per_image import CURVES_FILE, KEYS, add_up, mean_metrics, read_curves
from ras_lightning.metrics.registry import CONVENTIONS, TITLES, metric_names
from ras_lightning.utils.files import write_atomic

__all__ = ["BOTH", "DIFF_FILE", "TOP", "contributions", "convention_diff", "score_both"]

BOTH = ("pysodmetrics", "f3net")
DIFF_FILE = "convention_diff.csv"
TOP = 10  # images named per metric
# contributions this small are rounding (the two conventions' sums added in other orders)
NOISE = 1e-12


def score_both(cfg: Any, run: Callable[[Any], dict]) -> dict:
    """``score``'s ``run`` once per convention of :data:`BOTH` into ``OUT/<convention>/``,
    then the side-by-side files and ``convention_diff.csv`` in ``OUT`` (see the module);
    returns ``{convention: run's result}``."""
    out = Path(str(cfg.output_dir)).expanduser()
    results = {}
    for convention in BOTH:
        sub = copy.deepcopy(cfg)
        sub.convention, sub.output_dir = convention, str(out / convention)
        results[convention] = run(sub)
    for name in ("metrics.json", CI_FILE):
        parts = {c: out / c / name for c in BOTH}
        if all(p.is_file() for p in parts.values()):
            both = {c: json.loads(p.read_text()) for c, p in parts.items()}
            write_atomic(out / name, json.dumps({**both, "convention": "both"}, indent=2) + "\n")
        else:  # ci=null: no intervals, none left from an earlier run either
            (out / name).unlink(missing_ok=True)
    curves = {c: read_curves(out / c / CURVES_FILE) for c in BOTH}
    write_side_by_side(results, curves, out)
    reported = [{k for m in r.values() for v in m.values() for k in v} for r in results.values()]
    write_atomic(out / DIFF_FILE, convention_diff(curves, set.intersection(*reported)))
    print((out / "metrics.md").read_text(), end="")
    return results


def _groups(curves: Mapping[str, np.ndarray]) -> list[tuple[str, str]]:
    """The (dataset, method) pairs of a curves file, in row order."""
    pairs = zip(curves["dataset"].tolist(), curves["method"].tolist(), strict=True)
    return list(dict.fromkeys(pairs))


def _stats(curves: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[rows] for k, v in curves.items() if k not in (*KEYS, "convention")}


def write_side_by_side(
    results: Mapping[str, dict], curves: Mapping[str, Mapping[str, np.ndarray]], out: Path
) -> None:
    """``metrics.md`` and ``metrics.csv``: every dataset and method with each metric's value
    in both conventions side by side (``results``: ``{convention: {dataset: {method:
    {metric: value}}}}`` as ``score.run`` returns)."""
    first = results[BOTH[0]]
    pairs = [(d, m) for d in first for m in first[d]]
    names = [
        k for k in metric_names() if any(k in results[c][d][m] for c in BOTH for d, m in pairs)
    ]
    cols = [(k, c) for k in names for c in BOTH]
    table = io.StringIO(newline="")
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["dataset", "method", "count", *(f"{k}_{c}" for k, c in cols)])
    head = ["dataset", "method", "images", *(f"{TITLES[k]} ({c})" for k, c in cols)]
    lines = [
        f"Conventions side by side: {' and '.join(BOTH)} (each one's own tables, intervals and "
        f"per-image values in its folder; the images behind the differences in {DIFF_FILE}).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for d, m in pairs:
        counts = {
            c: int(np.count_nonzero((curves[c]["dataset"] == d) & (curves[c]["method"] == m)))
            for c in BOTH
        }
        count = "/".join(dict.fromkeys(str(n) for n in counts.values()))  # one number if equal
        values = [results[c][d][m].get(k) for k, c in cols]
        writer.writerow([d, m, count, *("" if v is None else repr(v) for v in values)])
        cells = ["" if v is None else f"{v:.4f}" for v in values]
        lines.append("| " + " | ".join([d, m, count, *cells]).replace("\n", " ") + " |")
    write_atomic(out / "metrics.csv", table.getvalue())
    write_atomic(out / "metrics.md", "\n".join(lines) + "\n")


def contributions(
    stats: Mapping[str, Mapping[str, np.ndarray]],
) -> dict[str, tuple[float, np.ndarray]]:
    """``{metric: (D, contribution of each image)}`` for every metric of both conventions,
    ``stats``: ``{convention: {statistic: (n, ...) array}}`` of the same ``n`` images in the
    same order (see the module for the two kinds of contribution)."""
    a, b = BOTH
    n = len(next(iter(stats[a].values())))
    totals = {c: add_up({k: v[i] for k, v in stats[c].items()} for i in range(n)) for c in BOTH}
    values = {c: CONVENTIONS[c].summarise(totals[c], n) for c in BOTH}
    common = [k for k in values[a] if k in values[b]]
    first = {c: {k: v[0] for k, v in stats[c].items()} for c in BOTH}
    means = set(mean_metrics(first[a], a)) & set(mean_metrics(first[b], b))
    out: dict[str, tuple[float, np.ndarray]] = {}
    left_out: dict[str, list[dict[str, float]]] = {}
    if n > 1 and any(k not in means for k in common):  # each image left out, each convention
        left_out = {
            c: [
                CONVENTIONS[c].summarise(
                    {k: totals[c][k] - v[i] for k, v in stats[c].items()}, n - 1
                )
                for i in range(n)
            ]
            for c in BOTH
        }
    for k in common:
        diff = values[a][k] - values[b][k]
        if k in means:
            share = (stats[a][k].astype(np.float64) - stats[b][k]) / n
        elif n == 1:
            share = np.array([diff])
        else:
            without = np.array([x[k] - y[k] for x, y in zip(left_out[a], left_out[b], strict=True)])
            share = diff - without
        out[k] = (diff, share)
    return out


def convention_diff(
    curves: Mapping[str, Mapping[str, np.ndarray]],
    names: set[str] | None = None,
    top: int = TOP,
) -> str:
    """``convention_diff.csv``'s text from the two conventions' curves files
    (:func:`~ras_lightning.metrics.per_image.read_curves`): the metrics of both, those in
    ``names`` only if given (the ones the runs report: ``metrics=`` selects)."""
    a, b = BOTH
    table = io.StringIO(newline="")
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(
        ["dataset", "method", "metric", "difference", "rank", "image", "contribution", a, b]
    )
    for dataset, method in _groups(curves[a]):
        rows = {}
        for c in BOTH:
            keep = np.flatnonzero(
                (curves[c]["dataset"] == dataset) & (curves[c]["method"] == method)
            )
            rows[c] = {str(s): i for s, i in zip(curves[c]["image"][keep], keep, strict=True)}
        stems = [s for s in rows[a] if s in rows[b]]
        if not stems:
            continue
        stats = {c: _stats(curves[c], np.array([rows[c][s] for s in stems])) for c in BOTH}
        own = {  # each image's own values, as in per_image.csv
            c: [
                CONVENTIONS[c].summarise({k: v[i] for k, v in stats[c].items()}, 1)
                for i in range(len(stems))
            ]
            for c in BOTH
        }
        for metric, (diff, share) in _ordered(contributions(stats)).items():
            if names is not None and metric not in names:
                continue
            order = np.argsort(-np.abs(share), kind="stable")[:top]
            order = order[np.abs(share[order]) > NOISE]  # agreement up to rounding: no row
            for rank, i in enumerate(order, 1):
                writer.writerow(
                    [
                        dataset,
                        method,
                        metric,
                        repr(float(diff)),
                        rank,
                        stems[i],
                        repr(float(share[i])),
                        repr(float(own[a][i][metric])),
                        repr(float(own[b][i][metric])),
                    ]
                )
    return table.getvalue()


def _ordered(values: Mapping[str, Any]) -> dict[str, Any]:
    names = metric_names()
    return {
        k: values[k]
        for k in sorted(values, key=lambda k: names.index(k) if k in names else len(names))
    }
