"""PySODMetrics' ``FmeasureV2`` family: metrics of the confusion counts of a binarised map.

Each *handler* (:data:`HANDLERS`: IoU, Dice, BER, Kappa, overall accuracy, precision, recall
(= TPR, sensitivity), specificity (= TNR), FPR, F-measure with beta^2 = 0.3) turns the counts
(tp, fp, tn, fn) into a number, a ratio taken as 0 where its denominator is 0 (PySODMetrics'
``divide``). The map is binarised three ways, as ``FmeasureV2`` does:

* *dynamic*: at every threshold 255..0 of the 8-bit map (:attr:`SODImage.counts`): a curve per
  image; the dataset's ``max_<h>`` / ``mean_<h>`` are the max / mean over thresholds of the
  mean curve over images;
* *adaptive*: at min(2 * mean, 1) (``adaptive_<h>``, the mean over images);
* *binary*: ``map > 0.5`` (``binary_<h>``: the mean over images of each image's value, i.e.
  ``sample_based=True``; ``binary_<h>_dataset``: the handler of the counts summed over the
  dataset, ``sample_based=False``).

Kappa is PySODMetrics 1.6's: its chance agreement is
``((tp + fp)(tp + fn) + (tn + fn)(tn + tp)) / n^2`` (the textbook form has ``(tn + fp)`` in the
second product); kept so that the numbers agree with PySODMetrics.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ras_lightning.metrics.functional.image import SODImage, Stats, kernel

Counts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def divide(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    """``num / den`` in float64, 0 where ``den`` is 0 (PySODMetrics' ``divide``)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape))
    return np.divide(num, den, out=out, where=den != 0)


def _iou(tp, fp, tn, fn):  # noqa: ANN001, ANN202
    return divide(tp, tp + fp + fn)


def _dice(tp, fp, tn, fn):  # noqa: ANN001, ANN202
    return divide(2 * tp, tp + fn + tp + fp)


def _ber(tp, fp, tn, fn):  # noqa: ANN001, ANN202
    return 1 - 0.5 * (divide(tp, tp + fn) + divide(tn, tn + fp))


def _oa(tp, fp, tn, fn):  # noqa: ANN001, ANN202
    return divide(tp + tn, tp + fp + tn + fn)


def _kappa(tp, fp, tn, fn):  # noqa: ANN001, ANN202
    chance = divide((tp + fp) * (tp + fn) + (tn + fn) * (tn + tp), (tp + fp + tn + fn) ** 2)
    return divide(_oa(tp, fp, tn, fn) - chance, 1 - chance)


def _precision(tp, fp, tn, fn):  # noqa: ANN001, ANN202
    return divide(tp, tp + fp)


def _recall(tp, fp, tn, fn):  # noqa: ANN001, ANN202
    return divide(tp, tp + fn)


def _specificity(tp, fp, tn, fn):  # noqa: ANN001, ANN202
    return divide(tn, tn + fp)


def _fpr(tp, fp, tn, fn):  # noqa: ANN001, ANN202
    return divide(fp, tn + fp)


def _f(tp, fp, tn, fn, beta2: float = 0.3):  # noqa: ANN001, ANN202
    p, r = _precision(tp, fp, tn, fn), _recall(tp, fp, tn, fn)
    return divide((beta2 + 1) * p * r, beta2 * p + r)


Handler = Callable[..., np.ndarray]
#: key -> (function of (tp, fp, tn, fn), PySODMetrics handler class, title, higher is better)
HANDLERS: dict[str, tuple[Handler, str, str, bool]] = {
    "iou": (_iou, "IOUHandler", "IoU", True),
    "dice": (_dice, "DICEHandler", "Dice", True),
    "ber": (_ber, "BERHandler", "BER", False),
    "kappa": (_kappa, "KappaHandler", "Kappa", True),
    "oa": (_oa, "OverallAccuracyHandler", "OA", True),
    "precision": (_precision, "PrecisionHandler", "Precision", True),
    "recall": (_recall, "RecallHandler (TPRHandler, SensitivityHandler)", "Recall", True),
    "specificity": (_specificity, "SpecificityHandler (TNRHandler)", "Specificity", True),
    "fpr": (_fpr, "FPRHandler", "FPR", False),
    "f": (_f, "FmeasureHandler (beta^2 = 0.3)", "F", True),
}


def confusion(tp: np.ndarray | float, pp: np.ndarray | float, fg: float, size: float) -> Counts:
    """(tp, fp, tn, fn) from true positives ``tp``, predicted positives ``pp``, mask pixels
    ``fg`` and image pixels ``size`` (numbers or curves)."""
    tp, pp = np.asarray(tp, dtype=np.float64), np.asarray(pp, dtype=np.float64)
    fp = pp - tp
    return tp, fp, (size - fg) - fp, fg - tp


def binary_counts(img: SODImage) -> tuple[float, float]:
    """(true positives, predicted positives) of ``map > 0.5`` (the normalised map)."""
    above = img.levels > 0.5
    return float(img.fg_h[above].sum()), float(img.all_h[above].sum())


def handler_kernel(name: str) -> Callable[..., Stats]:
    """The kernel of handler ``name``: its curve over the thresholds 255..0 (``<name>_curve``;
    not for ``f``, whose curve is the F-measure family's), its adaptive and binary values."""
    fn = HANDLERS[name][0]

    @kernel
    def _kernel(img: SODImage) -> Stats:
        out: Stats = {}
        if name != "f":
            out[f"{name}_curve"] = fn(*confusion(*img.counts, img.gt_fg, img.size))
            out[f"adaptive_{name}"] = float(fn(*confusion(*img.adaptive, img.gt_fg, img.size)))
        out[f"binary_{name}"] = float(fn(*confusion(*binary_counts(img), img.gt_fg, img.size)))
        return out

    _kernel.__name__ = _kernel.__qualname__ = f"{name}_measure"
    _kernel.__doc__ = f"{HANDLERS[name][2]}: dynamic curve, adaptive and binary values."
    return _kernel


def handler_values(name: str) -> Callable[[dict[str, np.ndarray]], dict[str, float]]:
    """max / mean of the mean curve, adaptive and binary values of handler ``name``."""

    def values(mean: dict[str, np.ndarray]) -> dict[str, float]:
        out: dict[str, float] = {}
        if name != "f":
            curve = mean[f"{name}_curve"]
            out[f"max_{name}"] = float(curve.max())
            out[f"mean_{name}"] = float(curve.mean())
            out[f"adaptive_{name}"] = float(mean[f"adaptive_{name}"])
        out[f"binary_{name}"] = float(mean[f"binary_{name}"])
        return out

    return values


BINARY_STATES = ("binary_tp", "binary_fp", "binary_tn", "binary_fn")


@kernel
def binary_dataset(img: SODImage) -> Stats:
    """The confusion counts of ``map > 0.5``, summed over the dataset for the
    ``binary_<h>_dataset`` metrics (PySODMetrics' ``sample_based=False``)."""
    counts = confusion(*binary_counts(img), img.gt_fg, img.size)
    return {k: float(v) for k, v in zip(BINARY_STATES, counts, strict=True)}


def binary_dataset_values(mean: dict[str, np.ndarray]) -> dict[str, float]:
    """Every handler of the dataset's summed (here: mean) binary counts; each handler is a
    ratio of counts, so the mean counts give the value of the sums."""
    counts = [mean[k] for k in BINARY_STATES]
    return {f"binary_{h}_dataset": float(fn(*counts)) for h, (fn, *_) in HANDLERS.items()}
