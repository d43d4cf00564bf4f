"""The one list of metrics: names, titles, directions, the kernel of each, the conventions.

Everything that names a metric reads it here: the torchmetrics classes (and so the logged
``val/<set>/<metric>`` keys), ``score``'s and ``eval``'s ``metrics.json`` and tables, the plots.

* A :class:`Family` is one functional kernel (:mod:`ras_lightning.metrics.functional`) with the
  per-image statistics it returns (numbers or 256-entry curves, summed over images) and the
  metrics computed from their means (:class:`MetricInfo`: name, titles, direction).
* A :class:`Convention` is a way to read and score a folder of maps: ``pysodmetrics`` runs
  every registered family; ``f3net`` is the port of F3Net's MATLAB evaluation
  (:mod:`ras_lightning.metrics.f3net`), which produces the published-table metrics only.

The contract's ten metrics (and a plug-in's) are the *default* set; the rest of PySODMetrics
1.6 (``FmeasureV2`` handlers, size-invariant, MSIoU, HCE, context measure: ``default=False``)
is computed only when selected: :func:`select` turns ``metrics=`` (None, ``"all"`` or names)
into the families to compute and the names to report, and :func:`summarise` computes every
family whose statistics it is given.

Adding a metric is one kernel and one :func:`register` call (see the README, "Adding a
metric"); :func:`unregister` removes it again. Registration is per process: ``score``'s workers
are forked from the process that registered (Linux).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
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
    # the PySODMetrics class (and form) that gives the same number (the README's table)
    pysod: str = ""


Values = Callable[[dict[str, np.ndarray]], dict[str, float]]


@dataclass(frozen=True)
class Family:
    """A kernel and the metrics computed from the means of its statistics over images.

    ``kernel(SODImage) -> {statistic: number or (256,) curve}``; ``states`` gives each
    statistic's shape (default: one number per metric, named as the metric); ``values`` turns
    the means into ``{metric name: value}`` (default: the mean of the same-named statistic).
    ``class_name`` names its torchmetrics class in :mod:`ras_lightning.metrics`, if any.
    ``default``: computed when no metrics are selected (the contract's ten and a plug-in's;
    the rest of PySODMetrics' set only when selected: ``metrics=[...]`` or ``metrics=all``).
    """

    name: str
    kernel: F.Kernel
    metrics: tuple[MetricInfo, ...]
    states: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    values: Values | None = None
    class_name: str | None = None
    default: bool = True

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
_FM = "Fmeasure (= FmeasureV2 + FmeasureHandler)"

register(
    Family(
        "mae",
        F.mae,
        (MetricInfo("mae", "MAE", "MAE", higher_is_better=False, pysod="MAE"),),
        class_name="MAE",
    )
)
register(
    Family(
        "s_measure",
        F.s_measure,
        (MetricInfo("s_measure", "S-measure", "S-measure", pysod="Smeasure"),),
        class_name="SMeasure",
    )
)
register(
    Family(
        "weighted_f",
        F.weighted_f,
        (MetricInfo("weighted_f", "wF", "weighted F-measure", pysod="WeightedFmeasure"),),
        class_name="WeightedFMeasure",
    )
)
register(
    Family(
        "f_measure",
        F.f_measure,
        (
            MetricInfo("max_f", "maxF", "F-measure (max)", pysod=_FM + ", max"),
            MetricInfo("mean_f", "meanF", "F-measure (mean)", pysod=_FM + ", avg"),
            MetricInfo("adaptive_f", "adpF", "F-measure (adaptive)", pysod=_FM + ", adp"),
            MetricInfo(
                "max_f_dataset_pr",
                "maxF (dataset PR)",
                "F-measure (max, dataset PR)",
                pysod="Fmeasure: F of the mean PR curve, max",
            ),
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
            MetricInfo("max_e", "maxE", "E-measure (max)", pysod="Emeasure, max"),
            MetricInfo("mean_e", "meanE", "E-measure (mean)", pysod="Emeasure, avg"),
            MetricInfo("adaptive_e", "adpE", "E-measure (adaptive)", pysod="Emeasure, adp"),
        ),
        states={"e_curve": _CURVE, "adaptive_e": ()},
        values=F.e_measure_values,
        class_name="EMeasure",
    )
)


# ------------------------------------------------- the rest of PySODMetrics 1.6 (selected only)
# computed only when selected (metrics=[...] or metrics=all): the default set and its speed stay
_V2 = "FmeasureV2 + "
_SI = "SizeInvarianceFmeasureV2 + "


def _register_extended() -> None:
    for h, (_, cls, t, up) in F.HANDLERS.items():
        forms = [] if h == "f" else [("max", "max"), ("mean", "avg"), ("adaptive", "adp")]
        metrics = tuple(
            MetricInfo(
                f"{form}_{h}",
                f"{form[:4] if form != 'adaptive' else 'adp'}{t}",
                f"{t} ({form})",
                up,
                f"{_V2}{cls}, {how}",
            )
            for form, how in forms
        ) + (MetricInfo(f"binary_{h}", f"bin{t}", f"{t} (map > 0.5)", up, f"{_V2}{cls}, bin"),)
        states = {f"binary_{h}": ()}
        if h != "f":
            states = {f"{h}_curve": _CURVE, f"adaptive_{h}": (), **states}
        name = h if h != "f" else "binary_f"
        register(
            Family(name, F.handler_kernel(h), metrics, states, F.handler_values(h), default=False)
        )
    register(
        Family(
            "binary_dataset",
            F.binary_dataset,
            tuple(
                MetricInfo(
                    f"binary_{h}_dataset",
                    f"bin{t} (dataset)",
                    f"{t} (map > 0.5, dataset counts)",
                    up,
                    f"{_V2}{cls}, bin, sample_based=False",
                )
                for h, (_, cls, t, up) in F.HANDLERS.items()
            ),
            {k: () for k in F.BINARY_STATES},
            F.binary_dataset_values,
            default=False,
        )
    )
    for h, (_, cls, t, up) in F.HANDLERS.items():
        metrics = tuple(
            MetricInfo(
                f"si_{form}_{h}",
                f"SI-{short}{t}",
                f"size-invariant {t} ({form})",
                up,
                f"{_SI}{cls}, si-{how}",
            )
            for form, short, how in (
                ("max", "max", "max"),
                ("mean", "mean", "avg"),
                ("adaptive", "adp", "adp"),
                ("binary", "bin", "bin"),
            )
        )
        register(Family(f"si_{h}", F.si_handler_kernel(h), metrics, default=False))
    si_states: dict[str, tuple[int, ...]] = {"si_targets": ()}
    si_states |= {f"si_{h}_curve_sum": _CURVE for h in F.HANDLERS}
    si_states |= {k: () for k in F.SI_BINARY_STATES}
    register(
        Family(
            "si_dataset",
            F.si_dataset,
            tuple(
                MetricInfo(
                    f"si_{form}_{h}_dataset",
                    f"SI-{short}{t} (dataset)",
                    f"size-invariant {t} ({form}, over all targets)",
                    up,
                    f"{_SI}{cls}, si-{how}, sample_based=False",
                )
                for h, (_, cls, t, up) in F.HANDLERS.items()
                for form, short, how in (
                    ("max", "max", "max"),
                    ("mean", "mean", "avg"),
                    ("binary", "bin", "bin"),
                )
            ),
            si_states,
            F.si_dataset_values,
            default=False,
        )
    )
    register(
        Family(
            "si_mae",
            F.si_mae,
            (MetricInfo("si_mae", "SI-MAE", "size-invariant MAE", False, "SizeInvarianceMAE"),),
            default=False,
        )
    )
    register(
        Family(
            "msiou",
            F.msiou,
            tuple(
                MetricInfo(
                    f"{form}_msiou",
                    f"{short}MSIoU",
                    f"multi-scale IoU ({form})",
                    pysod=f"MSIoU, {how}",
                )
                for form, short, how in (
                    ("max", "max", "max"),
                    ("mean", "mean", "avg"),
                    ("adaptive", "adp", "adp"),
                    ("binary", "bin", "bin"),
                )
            ),
            {"msiou_curve": (F.MSIOU_CURVE,), "adaptive_msiou": (), "binary_msiou": ()},
            F.msiou_values,
            default=False,
        )
    )
    register(
        Family(
            "hce",
            F.hce,
            (
                MetricInfo(
                    "hce", "HCE", "human correction effort", False, "HumanCorrectionEffortMeasure"
                ),
            ),
            default=False,
        )
    )
    register(
        Family(
            "context_measure",
            F.context_measure,
            (MetricInfo("context_measure", "Cm", "context measure", pysod="ContextMeasure"),),
            default=False,
        )
    )


_register_extended()


# ---------------------------------------------------------------------------- selection
ALL = "all"


@dataclass(frozen=True)
class Selection:
    """The metrics asked for: the families to compute and the metric names to report
    (``None``: every metric the computed families, or the convention, give)."""

    families: tuple[str, ...]
    names: tuple[str, ...] | None = None

    def keep(self, values: Mapping[str, float]) -> dict[str, float]:
        """``values`` restricted to the selection."""
        if self.names is None:
            return dict(values)
        return {k: v for k, v in values.items() if k in self.names}


def default_families() -> tuple[str, ...]:
    """The families computed when no metrics are selected (the contract's ten, plug-ins)."""
    return tuple(name for name, f in FAMILIES.items() if f.default)


def _as_names(metrics: object) -> list[str] | str | None:
    if metrics is None:
        return None
    if isinstance(metrics, str):
        return ALL if metrics.strip() == ALL else [metrics.strip()]
    names = [str(m).strip() for m in metrics]  # type: ignore[union-attr]
    return ALL if names == [ALL] else names


def widen(metrics: object, extra: Sequence[str]) -> object:
    """A selection ``metrics`` with the names ``extra`` added (None and ``"all"`` as they
    are): what a command always reports (``eval``'s paper table) stays in a selection."""
    names = _as_names(metrics)
    if names is None or names == ALL:
        return names
    return [*names, *(n for n in extra if n not in names)]


def select(metrics: object = None, convention: str = "pysodmetrics") -> Selection:
    """The :class:`Selection` of ``metrics`` (None: the default set; ``"all"``: every
    registered metric; or metric names) in ``convention``. Unknown names, or names the
    convention does not define (``f3net`` has only its published-table metrics), are a
    one-line :class:`~ras_lightning.utils.errors.UserError` listing the valid ones."""
    from ras_lightning.utils.errors import UserError

    if convention == "both":  # score's two conventions: a selection both define
        select(metrics, "f3net")
        convention = "pysodmetrics"
    names = _as_names(metrics)
    own = CONVENTIONS[convention].metrics
    if own is not None:  # a convention with its own fixed metrics (f3net)
        if names is None:
            return Selection(())
        if names == ALL or not set(names) <= set(own):
            asked = "all" if names == ALL else ", ".join(n for n in names if n not in own)
            raise UserError(
                f"metrics: convention={convention} defines only {', '.join(own)}; "
                f"{asked} need convention=pysodmetrics"
            )
        return Selection((), tuple(n for n in metric_names() if n in names))
    if names is None:
        return Selection(default_families())
    if names == ALL:
        return Selection(tuple(FAMILIES))
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise UserError(
            f"metrics: unknown metric {', '.join(unknown) or '(none given)'}; give null (the "
            f"default set), all, or a list of: {', '.join(metric_names())}"
        )
    wanted = {METRIC_FAMILY[n] for n in names} | {"f_measure"}  # the PR/F curves (plots)
    return Selection(
        tuple(f for f in FAMILIES if f in wanted), tuple(n for n in metric_names() if n in names)
    )


# ------------------------------------------------------------------------------ conventions
def image_stats(
    pred: np.ndarray, gt: np.ndarray, families: Sequence[str] | None = None
) -> dict[str, float | np.ndarray]:
    """The statistics of one 8-bit map and mask (PySODMetrics) of ``families`` (None: the
    default ones, :func:`default_families`)."""
    img = F.SODImage(pred, gt)
    out: dict[str, float | np.ndarray] = {}
    for name in default_families() if families is None else families:
        out.update(FAMILIES[name].stats(img))
    return out


def summarise(totals: Mapping[str, float | np.ndarray], count: int) -> dict[str, float]:
    """The metrics from the sums of :func:`image_stats` over ``count`` images: those of every
    registered family whose statistics are all in ``totals`` (a selection's, a subset's)."""
    mean = {k: np.asarray(v, dtype=np.float64) / max(count, 1) for k, v in totals.items()}
    out: dict[str, float] = {}
    for family in FAMILIES.values():
        if all(s in mean for s in family.states):
            out.update(family.compute(mean))
    return ordered(out)


def _pysod_curves(totals: Mapping[str, np.ndarray], count: int) -> dict[str, list[float]]:
    n = max(count, 1)
    keys = {"precision": "precision", "recall": "recall", "f": "f_curve", "e": "e_curve"}
    return {k: (totals[s] / n).tolist() for k, s in keys.items() if s in totals}


def _f3net_image_stats(
    pred: np.ndarray, gt: np.ndarray, families: Sequence[str] | None = None
) -> dict[str, float | np.ndarray]:
    return f3net.image_stats(pred, gt)  # its metrics are fixed: families do not apply


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
    (map, mask, resized)``; ``image_stats(map, mask, families=None)`` the summable statistics
    of one image (``families``: a :class:`Selection`'s; a convention with its own ``metrics``
    ignores it);
    ``summarise(sums, count)`` the metric values; ``curves(sums, count)`` the mean precision,
    recall and F (and E) curves, thresholds 255..0.
    """

    description: str
    load: Callable[[str, str], tuple[np.ndarray, np.ndarray, bool]]
    image_stats: Callable[..., dict[str, float | np.ndarray]]
    summarise: Callable[[Mapping[str, float | np.ndarray], int], dict[str, float]]
    curves: Callable[[Mapping[str, np.ndarray], int], dict[str, list[float]]]
    # the metrics it defines when not the registry's (f3net: the published tables' only)
    metrics: tuple[str, ...] | None = None


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
        _f3net_image_stats,
        _f3net_summarise,
        _f3net_curves,
        (
            "mae",
            "s_measure",
            "weighted_f",
            "max_f",
            "mean_f",
            "adaptive_f",
            "adaptive_e",
            "max_f_dataset_pr",
        ),
    ),
}
