"""SOD metrics against PySODMetrics, on random maps and (when present) the real SOD maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ras_lightning.metrics import METRIC_NAMES, FMeasure, SODMetrics
from tests.conftest import SOD_DIR

psm = pytest.importorskip("py_sod_metrics")


def _ours(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    metrics = SODMetrics()
    for pred, gt in pairs:
        metrics.update(torch.from_numpy(pred / 255.0), torch.from_numpy(gt / 255.0))
    return {k: v.item() for k, v in metrics.compute().items()}


def _theirs(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fm, mae, em = psm.Fmeasure(), psm.MAE(), psm.Emeasure()
        sm, wfm = psm.Smeasure(), psm.WeightedFmeasure()
        for pred, gt in pairs:
            for m in (fm, mae, em, sm, wfm):
                m.step(pred=pred, gt=gt)
    f, e = fm.get_results(), em.get_results()["em"]
    p, r = f["pr"]["p"], f["pr"]["r"]
    dataset_pr_f = np.where(p + r > 0, 1.3 * p * r / np.where(p + r > 0, 0.3 * p + r, 1), 0)
    return {
        "mae": float(mae.get_results()["mae"]),
        "s_measure": float(sm.get_results()["sm"]),
        "weighted_f": float(wfm.get_results()["wfm"]),
        "max_f": float(f["fm"]["curve"].max()),
        "mean_f": float(f["fm"]["curve"].mean()),
        "adaptive_f": float(f["fm"]["adp"]),
        "max_e": float(e["curve"].max()),
        "mean_e": float(e["curve"].mean()),
        "adaptive_e": float(e["adp"]),
        "max_f_dataset_pr": float(dataset_pr_f.max()),
    }


def _random_pairs(seed: int, n: int = 12) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        h, w = rng.integers(20, 60, 2)
        gt = (rng.random((h, w)) > rng.uniform(0.3, 0.9)).astype(np.uint8) * 255
        pred = rng.integers(0, 256, (h, w)).astype(np.uint8)
        if i % 4 == 0:  # smooth, correlated maps
            pred = np.clip(gt * 0.7 + rng.normal(0, 40, (h, w)), 0, 255).astype(np.uint8)
        pairs.append((pred, gt))
    # degenerate cases: all-background / all-foreground masks, constant maps
    z, o = np.zeros((16, 16), np.uint8), np.full((16, 16), 255, np.uint8)
    pairs += [(z, z), (o, z), (z, o), (o, o), (pairs[0][0][:16, :16].copy(), z)]
    return pairs


def _ours_numpy(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    from ras_lightning.metrics.functional import image_stats, summarise

    totals: dict = {}
    for pred, gt in pairs:
        for k, v in image_stats(pred, gt).items():
            totals[k] = totals[k] + v if k in totals else v
    return summarise(totals, len(pairs))


@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_pysodmetrics_on_random_maps(seed: int) -> None:
    pairs = _random_pairs(seed)
    theirs = _theirs(pairs)
    for ours in (_ours(pairs), _ours_numpy(pairs)):  # torchmetrics classes and the scorer's
        assert set(ours) == set(METRIC_NAMES)
        for k in theirs:
            assert abs(ours[k] - theirs[k]) <= 1e-6, (k, ours[k], theirs[k])


def test_degenerate_masks_give_no_nan() -> None:
    z, o = torch.zeros(8, 8), torch.ones(8, 8)
    metrics = SODMetrics()
    for pred, gt in ((z, z), (o, o), (z, o), (o, z)):
        metrics.update(pred, gt)
    assert all(torch.isfinite(v).all() for v in metrics.compute().values())
    assert set(metrics.compute()) == set(METRIC_NAMES)


def test_states_are_sums_and_merge() -> None:
    """Two halves merged equal one pass: the property DDP's sum-reduction relies on."""
    pairs = _random_pairs(3)
    a, b, whole = FMeasure(), FMeasure(), FMeasure()
    for i, (p, g) in enumerate(pairs):
        pt, gt = torch.from_numpy(p).double() / 255, torch.from_numpy(g).double() / 255
        (a if i % 2 else b).update(pt, gt)
        whole.update(pt, gt)
    a.merge_state(b)
    for k, v in whole.compute().items():
        torch.testing.assert_close(a.compute()[k], v)


@pytest.mark.skipif(not SOD_DIR.is_dir(), reason="../shared/data/SOD absent")
@pytest.mark.parametrize("method", ["Amulet", "DSS", "PiCANet"])
def test_agrees_with_pysodmetrics_on_real_sod_maps(method: str) -> None:
    from PIL import Image

    pairs = []
    for gt_path in sorted((SOD_DIR / "gt").glob("*.png")):
        gt = np.asarray(Image.open(gt_path).convert("L"))
        pred = np.asarray(Image.open(SOD_DIR / "maps" / method / gt_path.name).convert("L"))
        pairs.append((pred, gt))
    assert len(pairs) == 300
    ours, theirs = _ours(pairs), _theirs(pairs)
    for k in theirs:
        assert abs(ours[k] - theirs[k]) <= 1e-6, (k, ours[k], theirs[k])
