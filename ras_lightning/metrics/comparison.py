"""Paired comparisons of two scored folders (``compare a=DIR b=DIR``) or two groups of runs
(``compare a=GLOB b=GLOB``): per metric and dataset, the two values, the difference ``b - a``
with its bootstrap interval, a two-sided p-value and a verdict after Holm's correction.

Inputs are the per-image files: a ``score``/``eval`` output folder's ``per_image_curves.npz``
or a training run's ``test_per_image_curves.npz`` (:mod:`ras_lightning.metrics.per_image`).
Images are paired by dataset and stem; a value is its folder's convention ``summarise`` of the
paired rows added up in the folder's own row order (with every image paired: bit for bit the
folder's ``metrics.json``). A group's value is the mean of its runs' values.

* **Interval**: percentile bootstrap of ``b - a`` (:mod:`.bootstrap`). Each replicate draws one
  image resample (``default_rng(seed)``, as ``score``'s intervals) used for a and b alike (the
  images are paired), and, for groups, resamples the runs within each group
  (``default_rng([seed, 2])``): the replicate's value of a group is the mean, over its resampled
  runs, of each run's metric on the resampled images (a two-level bootstrap: runs, then images).
* **p-value**, one folder against one folder: paired permutation test. Under "a and b are
  exchangeable on every image", each of ``permutations`` draws (``default_rng([seed, 1])``)
  swaps a's and b's statistics on each image with probability 1/2 and recomputes ``b - a``;
  ``p = (1 + #{|d*| >= |d|}) / (1 + permutations)``. Groups of runs: the two-sided bootstrap
  p-value of ``permutations`` two-level replicates of its own (``default_rng([seed, 3])``),
  ``p = min(1, 2 min(1 + #{d* <= 0}, 1 + #{d* >= 0}) / (1 + permutations))`` (about: 0 is
  outside the percentile interval of level 1 - p). Many draws, so that Holm's smallest
  threshold ``alpha / tests`` is reachable (a warning says when it is not); they are summed in
  chunks (memory stays small on 5000-image sets). With few runs per group (3 seeds) the
  bootstrap sees little of the seed spread: read group verdicts with care.
* **Verdict**: Holm's step-down correction over every metric x dataset at ``alpha = 1 - ci``;
  a rejected difference is ``"a better"`` or ``"b better"`` by the metric's direction in the
  registry, otherwise ``"not distinguishable"`` (also when the difference is undefined).
"""

from __future__ import annotations

import glob
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ras_lightning.metrics.bootstrap import percentile_interval, replicate_values, resample_indices
from ras_lightning.metrics.per_image import CURVES_FILE, KEYS, add_up, read_curves
from ras_lightning.metrics.registry import CONVENTIONS, METRICS, ordered
from ras_lightning.metrics.reports import cell, write_json, write_tables
from ras_lightning.utils.errors import DataError, UserError
from ras_lightning.utils.files import write_atomic
from ras_lightning.utils.text import plural

log = logging.getLogger("ras_lightning.compare")

__all__ = [
    "META",
    "Source",
    "check_ci",
    "compare_groups",
    "comparison_markdown",
    "holm",
    "metric_title",
    "paired_rows",
    "read_folder",
    "read_group",
    "sanitize",
    "verdict",
    "write_comparison",
]

#: the key of comparison.json / seeds.json that is not a dataset: settings, inputs, unpaired
META = "_meta"
#: the per-image file of each kind of folder
FOLDER_FILES = {"score/eval output": CURVES_FILE, "training run": f"test_{CURVES_FILE}"}
_CHUNK = 1000  # permutations summed at once


@dataclass
class Source:
    """One method of one folder: each dataset's per-image statistics, in the folder's row
    order (``images[d]``: stems; ``stats[d]``: arrays rows first)."""

    folder: Path
    kind: str
    method: str
    convention: str
    images: dict[str, list[str]] = field(default_factory=dict)
    stats: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def check_ci(ci: object) -> float:
    """``ci`` as a level strictly between 0 and 1 (a one-line error otherwise)."""
    if isinstance(ci, bool) or not isinstance(ci, int | float) or not 0 < ci < 1:
        raise UserError(f"ci={ci!r}: must be a number between 0 and 1 (e.g. 0.95)")
    return float(ci)


def read_folder(folder: str | Path, method: str | None = None, setting: str = "a") -> Source:
    """The per-image statistics of ``method`` (None: the folder's only one) in ``folder``, a
    ``score``/``eval`` output folder or a training run folder (``setting``: the key naming
    it, for the error lines)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UserError(f"{setting}={folder}: no such folder")
    found = [(k, folder / f) for k, f in FOLDER_FILES.items() if (folder / f).is_file()]
    if not found:
        raise UserError(
            f"{setting}={folder}: holds neither {CURVES_FILE} (a score or eval output folder) "
            f"nor test_{CURVES_FILE} (a training run that ran its test)"
        )
    kind, path = found[0]
    try:
        curves = read_curves(path)
    except Exception as err:  # zip, format and pickle errors of a damaged file alike
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataError(f"cannot read {path}: {reason}") from None
    if lacking := [k for k in (*KEYS, "convention") if k not in curves]:
        raise DataError(f"{path}: not a per-image curves file (no {', '.join(lacking)})")
    convention = str(curves["convention"])
    if convention not in CONVENTIONS:
        raise DataError(f"{path}: unknown convention {convention!r}")
    methods = list(dict.fromkeys(str(m) for m in curves["method"]))
    if method is None and len(methods) > 1:
        raise UserError(
            f"{setting}={folder} holds {len(methods)} methods ({', '.join(methods)}); "
            f"pick one with {setting}_method=NAME"
        )
    if method is not None and method not in methods:
        raise UserError(
            f"{setting}_method={method!r}: not in {path} (it holds {', '.join(methods)})"
        )
    method = method if method is not None else methods[0]
    source = Source(folder, kind, method, convention)
    names = [k for k in curves if k not in (*KEYS, "convention")]
    mine = curves["method"] == method
    for dataset in dict.fromkeys(str(d) for d in curves["dataset"][mine]):
        rows = np.flatnonzero(mine & (curves["dataset"] == dataset))
        stems = [str(s) for s in curves["image"][rows]]
        if len(set(stems)) != len(stems):
            twice = sorted({s for s in stems if stems.count(s) > 1})
            raise DataError(f"{path}: {dataset} lists images twice ({', '.join(twice[:5])})")
        source.images[dataset] = stems
        source.stats[dataset] = {k: curves[k][rows] for k in names}
    return source


def _folders(value: object, setting: str) -> list[Path]:
    """The folders a setting names: a folder, a glob (``*``, ``?``, ``[``) or a list of them.
    Of a glob's matches only the folders holding per-image files count: files (a sweep's
    ``multirun.yaml``) and other folders (an earlier output_dir) are left out, the folders
    named in a warning."""
    items = [value] if isinstance(value, str | os.PathLike) else list(value)  # type: ignore[arg-type]
    found: list[Path] = []
    for item in items:
        text = os.path.expanduser(str(item))
        if not glob.has_magic(text):
            found.append(Path(text))
            continue
        matches = sorted(Path(p) for p in glob.glob(text) if Path(p).is_dir())
        kept = [m for m in matches if any((m / f).is_file() for f in FOLDER_FILES.values())]
        if other := [str(m) for m in matches if m not in kept]:
            log.warning(
                "%s=%s: left out %s without per-image files: %s",
                setting,
                item,
                plural(len(other), "folder"),
                ", ".join(other),
            )
        if not kept:
            raise UserError(
                f"{setting}={item}: matches no folder holding {CURVES_FILE} or test_{CURVES_FILE}"
            )
        found += kept
    return list(dict.fromkeys(found))


def read_group(value: object, method: str | None, setting: str) -> list[Source]:
    """:func:`read_folder` of every folder ``value`` names (:func:`_folders`); all in one
    convention."""
    if value in (None, "", []):
        raise UserError(f"{setting}=: names no folder")
    sources = [read_folder(f, method, setting) for f in _folders(value, setting)]
    conventions = {s.convention for s in sources}
    if len(conventions) > 1:
        raise UserError(
            f"{setting}: the folders were scored in different conventions "
            f"({', '.join(sorted(conventions))}); score them alike"
        )
    return sources


def _check_same_convention(a: Sequence[Source], b: Sequence[Source]) -> str:
    if a[0].convention != b[0].convention:
        raise UserError(
            f"a was scored in the {a[0].convention} convention and b in {b[0].convention}: "
            "the numbers are not comparable; score both with the same convention="
        )
    return a[0].convention


@dataclass
class Paired:
    """The images every source scored on one dataset (in the first source's order) and,
    per side, the images left out (scored by some of that side's sources only)."""

    dataset: str
    images: list[str]
    unpaired: dict[str, list[str]]


def paired_rows(
    groups: Mapping[str, Sequence[Source]],
) -> tuple[list[Paired], dict[str, list[str]]]:
    """(each dataset every source has, with the images all of them scored; per side the
    datasets some of its sources have but not every source)."""
    sources = [s for group in groups.values() for s in group]
    first = sources[0]
    common = [d for d in first.images if all(d in s.images for s in sources)]
    skipped = {
        side: list(
            dict.fromkeys(d for s in group for d in s.images if d not in common),
        )
        for side, group in groups.items()
    }
    out = []
    for dataset in common:
        shared = set.intersection(*(set(s.images[dataset]) for s in sources))
        images = [i for i in first.images[dataset] if i in shared]
        unpaired = {
            side: list(
                dict.fromkeys(i for s in group for i in s.images[dataset] if i not in shared)
            )
            for side, group in groups.items()
        }
        out.append(Paired(dataset, images, unpaired))
    return out, skipped


def aligned(source: Source, paired: Paired) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """(``source``'s statistics of ``paired``'s images, rows in ``paired``'s order; its
    metrics of those images, added up in the folder's own row order as its metrics.json)."""
    where = {s: i for i, s in enumerate(source.images[paired.dataset])}
    rows = np.array([where[i] for i in paired.images], dtype=np.int64)
    stats = source.stats[paired.dataset]
    totals = add_up({k: v[i] for k, v in stats.items()} for i in np.sort(rows))
    values = CONVENTIONS[source.convention].summarise(totals, len(rows))
    return {k: v[rows] for k, v in stats.items()}, values


def run_replicates(
    runs: Sequence[Mapping[str, np.ndarray]],
    convention: str,
    images: np.ndarray,
    draws: np.ndarray,
) -> dict[str, np.ndarray]:
    """``{metric: (reps,)}``: two-level bootstrap replicates of a group's mean over runs.
    ``images``: ``(reps, n)`` image draws shared by every run; ``draws``: ``(reps, R)`` run
    draws; replicate k is the mean over the runs ``draws[k]`` of each one's metric on the
    images ``images[k]`` (one run: its image-bootstrap replicates)."""
    per_run = [replicate_values(stats, convention, images) for stats in runs]
    out = {}
    for name in per_run[0]:
        values = np.stack([v[name] for v in per_run], axis=1)  # (reps, R)
        out[name] = np.take_along_axis(values, draws, axis=1).mean(axis=1)
    return out


def _permutation_p(
    a: Mapping[str, np.ndarray],
    b: Mapping[str, np.ndarray],
    convention: str,
    permutations: int,
    seed: int,
) -> dict[str, float]:
    """Two-sided paired permutation p-value of every metric's ``b - a`` (module docstring):
    swapping image i adds ``b_i - a_i`` to a's sums and takes it from b's."""
    n = len(next(iter(a.values())))
    rng = np.random.default_rng([seed, 1])
    summarise = CONVENTIONS[convention].summarise
    arrays = {k: (np.asarray(a[k], np.float64), np.asarray(b[k], np.float64)) for k in a}
    diffs: dict[str, np.ndarray] = {}
    # in chunks (a (chunk, n) draw, (chunk, 256) sums): 10^4 x 5000 images would be 400 MB
    for start in range(0, permutations + 1, _CHUNK):
        count = min(_CHUNK, permutations + 1 - start)
        block = rng.integers(0, 2, size=(count, n)).astype(np.float64)
        if start == 0:
            block[0] = 0  # row 0: no swap, the observed difference
        moved = {k: np.tensordot(block, vb - va, 1) for k, (va, vb) in arrays.items()}
        sums_a = {k: va.sum(axis=0) + moved[k] for k, (va, _) in arrays.items()}
        sums_b = {k: vb.sum(axis=0) - moved[k] for k, (_, vb) in arrays.items()}
        for r in range(count):
            va = summarise({k: v[r] for k, v in sums_a.items()}, n)
            vb = summarise({k: v[r] for k, v in sums_b.items()}, n)
            for name in va:
                d = diffs.setdefault(name, np.full(permutations + 1, np.nan))
                d[start + r] = vb[name] - va[name]
    out = {}
    for name, d in diffs.items():
        observed, rest = abs(d[0]), np.abs(d[1:])
        if not math.isfinite(observed):
            out[name] = math.nan
            continue
        # ties within rounding count as "as extreme" (a method against itself: p = 1)
        extreme = np.count_nonzero(rest >= observed - 1e-12)
        out[name] = (1 + extreme) / (1 + permutations)
    return out


def _bootstrap_p(
    a: Sequence[Mapping[str, np.ndarray]],
    b: Sequence[Mapping[str, np.ndarray]],
    convention: str,
    reps: int,
    seed: int,
) -> dict[str, float]:
    """Two-sided bootstrap p-value of every metric's ``b - a`` between groups of runs from
    ``reps`` two-level replicates of their own (``default_rng([seed, 3])``, drawn in chunks):
    ``min(1, 2 min(1 + #{d* <= 0}, 1 + #{d* >= 0}) / (1 + reps))``, NaN replicates left out."""
    rng = np.random.default_rng([seed, 3])
    n = len(next(iter(a[0].values())))
    diffs: dict[str, list[np.ndarray]] = {}
    for start in range(0, reps, _CHUNK):
        count = min(_CHUNK, reps - start)
        images = rng.integers(0, n, size=(count, n))
        rep_a = run_replicates(a, convention, images, rng.integers(0, len(a), (count, len(a))))
        rep_b = run_replicates(b, convention, images, rng.integers(0, len(b), (count, len(b))))
        for name in rep_a:
            diffs.setdefault(name, []).append(rep_b[name] - rep_a[name])
    out = {}
    for name, parts in diffs.items():
        d = np.concatenate(parts)
        d = d[~np.isnan(d)]
        if not d.size:
            out[name] = math.nan
            continue
        low, high = np.count_nonzero(d <= 0), np.count_nonzero(d >= 0)
        out[name] = min(1.0, 2 * (1 + min(low, high)) / (1 + d.size))
    return out


def holm(pvalues: Sequence[float], alpha: float) -> tuple[list[bool], list[float]]:
    """Holm's step-down correction: (rejected at family-wise level ``alpha``, adjusted p) of
    each p-value; a NaN p-value is not a test (never rejected, adjusted NaN, not counted)."""
    tested = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    m = len(tested)
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(tested, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return [not math.isnan(p) and p <= alpha for p in adjusted], adjusted


def verdict(difference: float, higher_is_better: bool, rejected: bool) -> str:
    """``"a better"``/``"b better"`` for a rejected non-zero ``difference`` (``b - a``) by
    the metric's direction, else ``"not distinguishable"``."""
    if not rejected or not math.isfinite(difference) or difference == 0:
        return "not distinguishable"
    return "b better" if (difference > 0) == higher_is_better else "a better"


def label(group: Sequence[Source], side: str) -> str:
    """A side's name in the tables: its method (one folder), or its runs' common parent
    folder (a sweep's ``<date>_<time>``), else the side's name."""
    if len(group) == 1:
        return group[0].method
    parents = {s.folder.resolve().parent for s in group}
    return parents.pop().name if len(parents) == 1 else side


def compare_groups(
    a: Sequence[Source],
    b: Sequence[Source],
    *,
    ci: float = 0.95,
    bootstrap: int = 1000,
    permutations: int = 10000,
    seed: int = 0,
    labels: tuple[str | None, str | None] = (None, None),
) -> dict:
    """``comparison.json``'s content: ``{dataset: {metric: {a, b, difference, low, high, p,
    p_holm, verdict}}, "_meta": {...}}`` (module docstring; one folder per side: a paired
    comparison; several: runs' groups)."""
    convention = _check_same_convention(a, b)
    paired, skipped = paired_rows({"a": a, "b": b})
    if META in {p.dataset for p in paired}:
        raise DataError(f"a dataset named {META!r} clashes with comparison.json's meta key")
    for side, names in skipped.items():
        if names:
            log.warning("datasets only in %s, not compared: %s", side, ", ".join(names))
    paired = [p for p in paired if _kept(p)]
    if not paired:
        raise UserError(
            f"a and b have no image of one dataset in common (a: {', '.join(a[0].images)}; "
            f"b: {', '.join(b[0].images)}); pairs are made by dataset name and file stem"
        )
    single = len(a) == 1 and len(b) == 1
    run_draws = np.random.default_rng([seed, 2])
    how = {"ci": ci, "bootstrap": bootstrap, "permutations": permutations, "seed": seed}
    results = {p.dataset: _dataset_table(a, b, p, convention, run_draws, **how) for p in paired}
    alpha = 1 - ci
    tested = _decide(results, alpha)
    if tested and (1 if single else 2) / (1 + permutations) > alpha / tested:
        log.warning(
            "with %d tests, permutations=%d cannot reach Holm's smallest threshold "
            "(alpha/%d = %.2g): no difference can be called; raise it",
            tested,
            permutations,
            tested,
            alpha / tested,
        )
    names = (labels[0] or label(a, "a"), labels[1] or label(b, "b"))
    if names[0] == names[1]:
        names = (f"{names[0]} (a)", f"{names[1]} (b)")
    results[META] = {
        "a": _side(a, names[0]),
        "b": _side(b, names[1]),
        "convention": convention,
        "ci": ci,
        "alpha": alpha,
        "bootstrap": bootstrap,
        "permutations": permutations,
        "seed": seed,
        "test": "paired permutation" if single else "two-level bootstrap",
        "correction": "holm",
        "tests": tested,
        "paired": {p.dataset: len(p.images) for p in paired},
        "unpaired": {p.dataset: p.unpaired for p in paired if any(p.unpaired.values())},
        "datasets_not_compared": skipped,
    }
    return results


def _dataset_table(
    a: Sequence[Source],
    b: Sequence[Source],
    p: Paired,
    convention: str,
    run_draws: np.random.Generator,
    *,
    ci: float,
    bootstrap: int,
    permutations: int,
    seed: int,
) -> dict[str, dict]:
    """``{metric: {a, b, difference, low, high, p}}`` of one dataset (module docstring)."""
    stats_a, values_a = zip(*(aligned(s, p) for s in a), strict=True)
    stats_b, values_b = zip(*(aligned(s, p) for s in b), strict=True)
    images = resample_indices(len(p.images), bootstrap, seed)  # one draw for a and b
    rep_a = run_replicates(
        stats_a, convention, images, run_draws.integers(0, len(a), (bootstrap, len(a)))
    )
    rep_b = run_replicates(
        stats_b, convention, images, run_draws.integers(0, len(b), (bootstrap, len(b)))
    )
    if len(a) == len(b) == 1:
        pvalues = _permutation_p(stats_a[0], stats_b[0], convention, permutations, seed)
    else:
        pvalues = _bootstrap_p(stats_a, stats_b, convention, permutations, seed)
    table = {}
    for name in (m for m in ordered(values_a[0]) if m in values_b[0]):
        va = float(np.mean([v[name] for v in values_a]))  # one run: its value, unchanged
        vb = float(np.mean([v[name] for v in values_b]))
        low, high = percentile_interval(rep_b[name] - rep_a[name], ci)
        table[name] = {"a": va, "b": vb, "difference": vb - va, "low": low, "high": high}
        table[name]["p"] = pvalues[name]
    return table


def _decide(results: Mapping[str, dict[str, dict]], alpha: float) -> int:
    """Add ``p_holm`` and ``verdict`` to every row of ``results`` (Holm over all of them);
    return the number of tests (rows with a p-value)."""
    tests = [(d, m) for d, t in results.items() for m in t]
    rejected, adjusted = holm([results[d][m]["p"] for d, m in tests], alpha)
    for (d, m), rej, adj in zip(tests, rejected, adjusted, strict=True):
        row = results[d][m]
        row["p_holm"] = adj
        higher = METRICS[m].higher_is_better if m in METRICS else True
        row["verdict"] = verdict(row["difference"], higher, rej)
    return sum(not math.isnan(adj) for adj in adjusted)


def _kept(p: Paired) -> bool:
    """Warn about ``p``'s unpaired images; False (skip the dataset) when none is paired."""
    parts = [
        f"{len(v)} only in {side} ({', '.join(v[:10])}{' ...' if len(v) > 10 else ''})"
        for side, v in p.unpaired.items()
        if v
    ]
    if parts and p.images:
        log.warning(
            "%s: %s; compared on the %d both scored", p.dataset, "; ".join(parts), len(p.images)
        )
    elif not p.images:
        log.warning("%s: no image scored on both sides, not compared", p.dataset)
    return bool(p.images)


def _side(group: Sequence[Source], name: str) -> dict:
    return {
        "label": name,
        "folders": [str(s.folder) for s in group],
        "methods": [s.method for s in group],
        "kinds": sorted({s.kind for s in group}),
    }


def sanitize(value: object) -> object:
    """``value`` with every non-finite float as None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitize(v) for v in value]
    return value


# ------------------------------------------------------------------------------- writing
def _f(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def metric_title(name: str) -> str:
    """A metric's table title with its direction (↑ higher is better, ↓ lower is better)."""
    if name not in METRICS:
        return name
    return f"{METRICS[name].title} {'↑' if METRICS[name].higher_is_better else '↓'}"


def comparison_markdown(result: Mapping) -> str:
    """``comparison.md``: the sides, how the numbers were made, one table per dataset."""
    meta = result[META]
    a, b = meta["a"], meta["b"]
    level = f"{meta['ci'] * 100:g}%"
    if meta["test"] == "paired permutation":
        test = (
            f"two-sided paired permutation test ({meta['permutations']} random swaps of a and "
            "b per image)"
        )
        boot = "paired bootstrap over images"
    else:
        test = "two-sided two-level bootstrap p-value"
        boot = "two-level bootstrap: runs, then images"
    lines = [
        f"# Comparison: b - a ({meta['convention']} convention)",
        "",
        *(
            f"- {side}: **{cell(s['label'])}**: "
            + "; ".join(
                cell(f"{m} in {f}") for m, f in zip(s["methods"], s["folders"], strict=True)
            )
            for side, s in (("a", a), ("b", b))
        ),
        "",
        f"Difference b - a with its {level} interval ({boot}, {meta['bootstrap']} replicates, "
        f"seed {meta['seed']}); p: {test}; "
        f"verdict after Holm's correction over the {meta['tests']} tests (metrics x datasets) "
        f"at alpha = {meta['alpha']:.3g} (↑ higher is better, ↓ lower is better).",
    ]
    for dataset, table in result.items():
        if dataset == META:
            continue
        lines += [
            "",
            f"## {cell(dataset)} ({meta['paired'][dataset]} images paired)",
            "",
            f"| metric | a | b | b - a | {level} interval | p | p (Holm) | verdict |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in table.items():
            lines.append(
                f"| {cell(metric_title(name))} | {_f(r['a'])} | {_f(r['b'])} | "
                f"{_f(r['difference'], '+.4f')} | [{_f(r['low'], '+.4f')}, "
                f"{_f(r['high'], '+.4f')}] | {_f(r['p'])} | {_f(r['p_holm'])} | "
                f"{r['verdict']} |"
            )
        for side, images in meta["unpaired"].get(dataset, {}).items():
            if images:
                lines += ["", f"Only in {side} (not compared): {cell(', '.join(images))}"]
    for side, names in meta["datasets_not_compared"].items():
        if names:
            lines += ["", f"Datasets only in {side} (not compared): {cell(', '.join(names))}"]
    return "\n".join(lines) + "\n"


def comparison_rows(result: Mapping) -> list[dict]:
    """The tables' rows (metrics.csv/.md/.tex): a and b per dataset, named by their labels."""
    meta = result[META]
    rows = []
    for dataset, table in result.items():
        if dataset != META:
            for side in ("a", "b"):
                values = {name: r[side] for name, r in table.items()}
                count = meta["paired"][dataset]
                rows.append(
                    {"dataset": dataset, "method": meta[side]["label"], "count": count, **values}
                )
    return rows


def write_comparison(result: Mapping, out: Path) -> list[Path]:
    """``comparison.json``, ``comparison.md`` and the tables (``metrics.md``/``.csv``/``.tex``,
    :func:`ras_lightning.metrics.reports.write_tables`) in ``out``."""
    write_json(sanitize(dict(result)), out / "comparison.json")
    write_atomic(out / "comparison.md", comparison_markdown(result))
    write_tables(comparison_rows(result), out, convention=result[META]["convention"])
    return [out / n for n in ("comparison.json", "comparison.md", "metrics.csv", "metrics.tex")]
