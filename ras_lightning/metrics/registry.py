"""The one list of metrics: names, titles, directions, the kernel of each, the conventions.

Everything that names a metric reads it here: the torchmetrics classes (and so the logged
``val/<set>/<metric>`` keys), ``score``'s and ``eval``'s ``metrics.json`` and tables, the plots.

* A :class:`Family` is one functional kernel (:mod:`ras_lightning.metrics.functional`) with the
  per-image statistics it returns (numbers or 256-entry curves, summed over images) and the
  metrics computed from their means (:class:`MetricInfo`: name, titles, direction).
* A :class:`Convention` is a way to read and score a folder of maps: ``pysodmetrics`` runs
  every registered family; ``f3net`` is the port of F3Net's MATLAB evaluation
  (:mod:`ras_lightning.metrics.f3net`), which produces the published-table metrics only.

Adding a metric is one kernel and one :func:`register` call (see the README, "Adding a
metric"); :func:`unregister` removes it again. Registration is per process: ``score``'s workers
are forked from the process that registered (Linux).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from ras_lightning.metrics import f3net
from ras_lightning.metrics import functional as F
from ras_lightning.metrics.io import load_pair

NUM_BINS = 256  # thresholds 255..0 of every curve


@dataclass(frozen=True)
class MetricInfo:
    """One metric: its key everywhere (``name``), its table column (``title``), its title in
    plots and the paper table (``long_title``) and whether higher is better."""

    name: str
    title: str
    long_title: str
    higher_is_better: bool = True


Values = Callable[[dict[str, np.ndarray]], dict[str, float]]


@dataclass(frozen=True)
class Family:
    """A kernel and the metrics computed from the means of its statistics over images.

    ``kernel(SODImage) -> {statistic: number or (256,) curve}``; ``states`` gives each
    statistic's shape (default: one number per metric, named as the metric); ``values`` turns
    the means into ``{metric name: value}`` (default: the mean of the same-named statistic).
    ``class_name`` names its torchmetrics class in :mod:`ras_lightning.metrics`, if any.
    """

    name: str
    kernel: F.Kernel
    metrics: tuple[MetricInfo, ...]
    states: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    values: Values | None = None
    class_name: str | None = None

    def __post_init__(self) -> None:
        if not self.states:
            object.__setattr__(self, "states", {m.name: () for m in self.metrics})

    def stats(self, img: F.SODImage) -> dict[str, float | np.ndarray]:
        """The kernel's statistics of one image, checked against :attr:`states`."""
        out = self.kernel(img)
        if set(out) != set(self.states):
            raise KeyError(
                f"metric family {self.name!r}: kernel returned {sorted(out)}, "
                f"declared {sorted(self.states)}"
            )
        return out

    def compute(self, mean: dict[str, np.ndarray]) -> dict[str, float]:
        """The metric values from the means of the statistics over images."""
        if self.values is not None:
            return self.values(mean)
        return {m.name: float(mean[m.name]) for m in self.metrics}


FAMILIES: dict[str, Family] = {}
METRICS: dict[str, MetricInfo] = {}
METRIC_FAMILY: dict[str, str] = {}  # metric name -> family name


def register(family: Family) -> Family:
    """Add ``family`` and its metrics; a name already taken (family, metric or statistic) is
    an error. Returns ``family``."""
    if family.name in FAMILIES:
        raise ValueError(f"metric family {family.name!r} is already registered")
    for m in family.metrics:
        if m.name in METRICS:
            raise ValueError(f"metric {m.name!r} is already registered")
    taken = {s for f in FAMILIES.values() for s in f.states}
    if clash := taken & set(family.states):
        raise ValueError(f"statistics {sorted(clash)} are already another family's")
    FAMILIES[family.name] = family
    for m in family.metrics:
        METRICS[m.name] = m
        METRIC_FAMILY[m.name] = family.name
    return family


def unregister(name: str) -> None:
    """Remove the family ``name`` and its metrics (e.g. a test's extra metric)."""
    family = FAMILIES.pop(name)
    for m in family.metrics:
        del METRICS[m.name], METRIC_FAMILY[m.name]


def metric_names() -> list[str]:
    """Every registered metric name, the contract's ten first, in :data:`METRIC_NAMES` order."""
    return [
        *(n for n in METRIC_NAMES if n in METRICS),
        *(n for n in METRICS if n not in METRIC_NAMES),
    ]


def ordered(values: Mapping[str, float]) -> dict[str, float]:
    """``values`` in :func:`metric_names` order (names the registry lacks last)."""
    names = metric_names()
    return {
        **{k: values[k] for k in names if k in values},
        **{k: v for k, v in values.items() if k not in names},
    }


class _Titles(Mapping[str, str]):
    """Metric name -> table title, read from the registry at each look-up."""

    def __getitem__(self, name: str) -> str:
        return METRICS[name].title

    def __iter__(self) -> Iterator[str]:
        return iter(metric_names())

    def __len__(self) -> int:
        return len(METRICS)


TITLES: Mapping[str, str] = _Titles()


# ------------------------------------------------------------------------- the built-in ten
# The contract's order (logged keys, metrics.json, tables).
METRIC_NAMES = (
    "mae",
    "s_measure",
    "weighted_f",
    "max_f",
    "mean_f",
    "adaptive_f",
    "max_e",
    "mean_e",
    "adaptive_e",
    "max_f_dataset_pr",
)
_CURVE = (NUM_BINS,)

register(
    Family(
        "mae", F.mae, (MetricInfo("mae", "MAE", "MAE", higher_is_better=False),), class_name="MAE"
    )
)
register(
    Family(
        "s_measure",
        F.s_measure,
        (MetricInfo("s_measure", "S-measure", "S-measure"),),
        class_name="SMeasure",
    )
)
register(
    Family(
        "weighted_f",
        F.weighted_f,
        (MetricInfo("weighted_f", "wF", "weighted F-measure"),),
        class_name="WeightedFMeasure",
    )
)
register(
    Family(
        "f_measure",
        F.f_measure,
        (
            MetricInfo("max_f", "maxF", "F-measure (max)"),
            MetricInfo("mean_f", "meanF", "F-measure (mean)"),
            MetricInfo("adaptive_f", "adpF", "F-measure (adaptive)"),
            MetricInfo("max_f_dataset_pr", "maxF (dataset PR)", "F-measure (max, dataset PR)"),
        ),
        states={"f_curve": _CURVE, "precision": _CURVE, "recall": _CURVE, "adaptive_f": ()},
        values=F.f_measure_values,
        class_name="FMeasure",
    )
)
register(
    Family(
        "e_measure",
        F.e_measure,
        (
            MetricInfo("max_e", "maxE", "E-measure (max)"),
            MetricInfo("mean_e", "meanE", "E-measure (mean)"),
            MetricInfo("adaptive_e", "adpE", "E-measure (adaptive)"),
        ),
        states={"e_curve": _CURVE, "adaptive_e": ()},
        values=F.e_measure_values,
        class_name="EMeasure",
    )
)


# ------------------------------------------------------------------------------ conventions
def image_stats(pred: np.ndarray, gt: np.ndarray) -> dict[str, float | np.ndarray]:
    """Every registered family's statistics of one 8-bit map and mask (PySODMetrics)."""
    img = F.SODImage(pred, gt)
    out: dict[str, float | np.ndarray] = {}
    for family in FAMILIES.values():
        out.update(family.stats(img))
    return out


def summarise(totals: Mapping[str, float | np.ndarray], count: int) -> dict[str, float]:
    """Every registered metric from the sums of :func:`image_stats` over ``count`` images."""
    mean = {k: np.asarray(v, dtype=np.float64) / max(count, 1) for k, v in totals.items()}
    out: dict[str, float] = {}
    for family in FAMILIES.values():
        out.update(family.compute(mean))
    return ordered(out)


def _pysod_curves(totals: Mapping[str, np.ndarray], count: int) -> dict[str, list[float]]:
    n = max(count, 1)
    return {
        "precision": (totals["precision"] / n).tolist(),
        "recall": (totals["recall"] / n).tolist(),
        "f": (totals["f_curve"] / n).tolist(),
        "e": (totals["e_curve"] / n).tolist(),
    }


def _f3net_summarise(totals: Mapping[str, float | np.ndarray], count: int) -> dict[str, float]:
    return ordered(f3net.summarise(dict(totals), count))


def _f3net_curves(totals: Mapping[str, np.ndarray], count: int) -> dict[str, list[float]]:
    precision, recall = totals["precision"] / max(count, 1), totals["recall"] / max(count, 1)
    return {
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f": f3net.f_curve(precision, recall).tolist(),
    }


@dataclass(frozen=True)
class Convention:
    """How a folder of maps is read and scored (named by its key in :data:`CONVENTIONS`).

    ``description``: one line for the paper table's caption; ``load(gt_path, pred_path) ->
    (map, mask, resized)``; ``image_stats(map, mask)`` the summable statistics of one image;
    ``summarise(sums, count)`` the metric values; ``curves(sums, count)`` the mean precision,
    recall and F (and E) curves, thresholds 255..0.
    """

    description: str
    load: Callable[[str, str], tuple[np.ndarray, np.ndarray, bool]]
    image_stats: Callable[[np.ndarray, np.ndarray], dict[str, float | np.ndarray]]
    summarise: Callable[[Mapping[str, float | np.ndarray], int], dict[str, float]]
    curves: Callable[[Mapping[str, np.ndarray], int], dict[str, list[float]]]


CONVENTIONS: dict[str, Convention] = {
    "pysodmetrics": Convention(
        "PySODMetrics' definitions; the published tables use convention=f3net",
        load_pair,
        image_stats,
        summarise,
        _pysod_curves,
    ),
    "f3net": Convention(
        "F3Net's MATLAB evaluation, as the published tables",
        f3net.load_pair,
        f3net.image_stats,
        _f3net_summarise,
        _f3net_curves,
    ),
}
