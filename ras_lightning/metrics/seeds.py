"""The spread of a metric over runs (``compare runs=GLOB``: e.g. the run folders of a
``train -m seed=1,2,3`` sweep): ``seeds.json`` and ``seeds.md``.

Per dataset and metric, over the runs: the mean, the sample standard deviation (``ddof=1``),
the min and the max of the runs' values, each run's value computed from its per-image rows as
its own ``metrics.json`` (:func:`ras_lightning.metrics.comparison.aligned`), on the images
every run scored (the others named); and the percentile interval of a two-level bootstrap of
the mean over runs: each replicate resamples the runs (``default_rng([seed, 2])``) and one
image resample (``default_rng(seed)``) shared by the runs, since they scored the same images
(:func:`ras_lightning.metrics.comparison.run_replicates`). The interval covers both sources
of variation, seeds and test images; with 3 runs it sees little of the first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ras_lightning.metrics.bootstrap import percentile_interval, resample_indices
from ras_lightning.metrics.comparison import (
    META,
    Source,
    aligned,
    metric_title,
    paired_rows,
    run_replicates,
    sanitize,
)
from ras_lightning.metrics.registry import ordered
from ras_lightning.metrics.reports import cell, write_json
from ras_lightning.utils.errors import UserError
from ras_lightning.utils.files import write_atomic

log = logging.getLogger("ras_lightning.compare")

__all__ = ["seed_spread", "seeds_markdown", "write_seeds"]


def seed_spread(
    runs: Sequence[Source], *, ci: float = 0.95, bootstrap: int = 1000, seed: int = 0
) -> dict:
    """``seeds.json``'s content: ``{dataset: {metric: {mean, std, min, max, low, high,
    runs}}, "_meta": {...}}`` (module docstring); ``runs``: one method of each run folder."""
    if len(runs) < 2:
        raise UserError(
            f"runs= names {len(runs)} folder ({runs[0].folder}): the spread over seeds needs "
            "at least 2 runs, e.g. runs='logs/train/multiruns/<date>_<time>/*'"
        )
    convention = runs[0].convention
    paired, skipped = paired_rows({"runs": runs})
    if names := skipped["runs"]:
        log.warning("datasets not in every run, left out: %s", ", ".join(names))
    draws = np.random.default_rng([seed, 2])
    results: dict[str, dict] = {}
    for p in paired:
        if left := p.unpaired["runs"]:
            more = " ..." if len(left) > 10 else ""
            log.warning(
                "%s: %d images not scored by every run, left out (%s%s)",
                p.dataset,
                len(left),
                ", ".join(left[:10]),
                more,
            )
        if not p.images:
            continue
        stats, values = zip(*(aligned(s, p) for s in runs), strict=True)
        images = resample_indices(len(p.images), bootstrap, seed)
        reps = run_replicates(
            stats, convention, images, draws.integers(0, len(runs), (bootstrap, len(runs)))
        )
        table = {}
        for name in ordered(values[0]):
            v = np.array([x[name] for x in values], dtype=np.float64)
            low, high = percentile_interval(reps[name], ci)
            table[name] = {
                "mean": float(v.mean()),
                "std": float(v.std(ddof=1)),
                "min": float(v.min()),
                "max": float(v.max()),
                "low": low,
                "high": high,
                "runs": v.tolist(),
            }
        results[p.dataset] = table
    if not results:
        raise UserError("runs=: the runs have no image of one dataset in common")
    results[META] = {
        "runs": [{"folder": str(s.folder), "method": s.method} for s in runs],
        "convention": convention,
        "ci": ci,
        "bootstrap": bootstrap,
        "seed": seed,
        "std": "sample standard deviation over runs (ddof=1)",
        "interval": "percentile, two-level bootstrap of the mean over runs: runs, then images",
        "images": {p.dataset: len(p.images) for p in paired if p.images},
        "unpaired": {p.dataset: p.unpaired["runs"] for p in paired if p.unpaired["runs"]},
        "datasets_not_in_every_run": skipped["runs"],
    }
    return results


def _f(value: float | None) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.4f}"


def seeds_markdown(result: Mapping) -> str:
    """``seeds.md``: the runs, how the numbers were made, one table per dataset."""
    meta = result[META]
    level = f"{meta['ci'] * 100:g}%"
    lines = [
        f"# Spread over {len(meta['runs'])} runs ({meta['convention']} convention)",
        "",
        *(
            f"- run {i}: {cell(r['method'])} in {cell(r['folder'])}"
            for i, r in enumerate(meta["runs"], 1)
        ),
        "",
        f"std: sample standard deviation over the runs (ddof=1); {level} interval of the mean: "
        f"two-level bootstrap, runs then images ({meta['bootstrap']} replicates, seed "
        f"{meta['seed']}).",
    ]
    for dataset, table in result.items():
        if dataset == META:
            continue
        lines += [
            "",
            f"## {cell(dataset)} ({meta['images'][dataset]} images in every run)",
            "",
            f"| metric | mean | std | min | max | {level} interval | runs |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, r in table.items():
            lines.append(
                f"| {cell(metric_title(name))} | {_f(r['mean'])} | {_f(r['std'])} | "
                f"{_f(r['min'])} | {_f(r['max'])} | [{_f(r['low'])}, {_f(r['high'])}] | "
                f"{', '.join(_f(v) for v in r['runs'])} |"
            )
        if images := meta["unpaired"].get(dataset):
            lines += ["", f"Not scored by every run (left out): {cell(', '.join(images))}"]
    return "\n".join(lines) + "\n"


def write_seeds(result: Mapping, out: Path) -> list[Path]:
    """``seeds.json`` and ``seeds.md`` in ``out``."""
    write_json(sanitize(dict(result)), out / "seeds.json")
    write_atomic(out / "seeds.md", seeds_markdown(result))
    return [out / "seeds.json", out / "seeds.md"]
