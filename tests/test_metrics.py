"""The metric engine: PySODMetrics' numbers (random maps and, when present, the real SOD maps),
summed states, the registry, and a metric added from outside the package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ras_lightning.metrics import (
    MAE,
    METRIC_NAMES,
    EMeasure,
    FMeasure,
    SMeasure,
    SODMetrics,
    WeightedFMeasure,
    registry,
)
from tests.conftest import REPO, SOD_DIR, run_command, tiny_train

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
    from ras_lightning.metrics.registry import image_stats, summarise

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
        assert list(ours) == list(METRIC_NAMES)
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
# real-data cross-checks: with `pytest -m slow` (`make test-all`); random maps above in `make test`
@pytest.mark.slow
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


def test_family_classes_equal_the_collection_and_the_functional_kernels() -> None:
    from ras_lightning.metrics import functional as F

    pairs = _random_pairs(4, n=6)
    whole = SODMetrics()
    singles = [MAE(), SMeasure(), WeightedFMeasure(), FMeasure(), EMeasure()]
    for pred, gt in pairs:
        whole.update(torch.from_numpy(pred), torch.from_numpy(gt))  # uint8 as it is
        for m in singles:
            m.update(torch.from_numpy(pred / 255.0), torch.from_numpy(gt > 128))
    all_values = whole.compute()
    for m in singles:
        out = m.compute()
        out = out if isinstance(out, dict) else {m.family: out}
        for k, v in out.items():
            assert v.item() == pytest.approx(all_values[k].item(), abs=1e-12), (k, type(m))
    # a kernel takes (map, mask) arrays or a prepared image
    pred, gt = pairs[1]
    assert F.s_measure(pred, gt) == F.s_measure(F.SODImage(pred, gt))
    with pytest.raises(ValueError, match="8-bit"):
        F.SODImage(pred.astype(np.float32), gt)


def test_registry_names_titles_and_classes() -> None:
    import ras_lightning.metrics as metrics

    # the contract's ten first, then the rest of PySODMetrics' set (tests/test_metric_set.py)
    assert registry.metric_names()[: len(METRIC_NAMES)] == list(METRIC_NAMES)
    assert list(registry.TITLES)[: len(METRIC_NAMES)] == list(METRIC_NAMES)
    assert registry.TITLES["weighted_f"] == "wF" and not registry.METRICS["mae"].higher_is_better
    for family in registry.FAMILIES.values():
        if family.class_name is None:  # a family with no torchmetrics class of its own
            continue
        cls = getattr(metrics, family.class_name)
        assert cls.family == family.name
        assert [m.name for m in family.metrics] == [
            k for k in METRIC_NAMES if registry.METRIC_FAMILY[k] == family.name
        ]
        # the states are sums (summed by DDP), one per statistic, plus the image count
        assert set(cls().metric_state) == {f"sum_{s}" for s in family.states} | {"count"}
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.FAMILIES["mae"])


def test_folder_scorer_imports_no_torch() -> None:
    code = "import sys, ras_lightning.metrics.scoring; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --------------------------------------------------------------- adding a metric (README)
def _adaptive_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """The plugin's metric computed directly, pixel by pixel."""
    p = pred / 255.0
    if p.max() > p.min():
        p = (p - p.min()) / (p.max() - p.min())
    b, g = p >= min(2 * p.mean(), 1), gt > 128
    union = (b | g).sum()
    return (b & g).sum() / union if union else 1.0


@pytest.fixture
def plugin():
    from tests import metric_plugin

    registry.register(metric_plugin.FAMILY)
    yield metric_plugin
    registry.unregister(metric_plugin.FAMILY.name)
    assert metric_plugin.FAMILY.metrics[0].name not in registry.metric_names()


def test_a_registered_metric_reaches_the_classes(plugin) -> None:
    pairs = _random_pairs(5, n=8)
    metrics = SODMetrics()
    for pred, gt in pairs:
        metrics.update(torch.from_numpy(pred), torch.from_numpy(gt))
    values = metrics.compute()
    assert list(values) == [*METRIC_NAMES, "adaptive_jaccard"]
    expected = np.mean([_adaptive_iou(p, g) for p, g in pairs])
    assert values["adaptive_jaccard"].item() == pytest.approx(expected, abs=1e-12)
    assert registry.TITLES["adaptive_jaccard"] == "adpJ"


def _write_pairs(root: Path, n: int = 5) -> tuple[Path, Path, list[tuple[np.ndarray, np.ndarray]]]:
    gt_dir, pred_dir = root / "gt", root / "pred"
    gt_dir.mkdir(parents=True)
    pred_dir.mkdir()
    pairs = _random_pairs(6, n=n)[:n]
    for i, (pred, gt) in enumerate(pairs):
        Image.fromarray(gt).save(gt_dir / f"{i}.png")
        Image.fromarray(pred).save(pred_dir / f"{i}.png")
    return gt_dir, pred_dir, pairs


def _plugin_cli(module: str, *args: str) -> subprocess.CompletedProcess:
    """The real ``python -m ras_lightning.<module>`` with the plugin's metric registered."""
    cmd = [sys.executable, "-m", "tests.metric_plugin", module, *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_a_registered_metric_reaches_score(plugin, tmp_path: Path) -> None:
    gt_dir, pred_dir, pairs = _write_pairs(tmp_path)
    out = tmp_path / "out"
    run_command("score", f"gt_dir={gt_dir}", f"pred_dir={pred_dir}", f"output_dir={out}")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics.pop("convention") == "pysodmetrics"  # recorded beside the metrics (README)
    assert list(metrics) == [*METRIC_NAMES, "adaptive_jaccard"]
    expected = np.mean([_adaptive_iou(p, g) for p, g in pairs])
    assert metrics["adaptive_jaccard"] == pytest.approx(expected, abs=1e-12)
    assert "| adpJ |" in (out / "metrics.md").read_text()


@pytest.mark.slow
def test_a_registered_metric_reaches_the_real_score_cli(tmp_path: Path) -> None:
    """``python tests/metric_plugin.py score ...``: registered before the real CLI runs."""
    gt_dir, pred_dir, _ = _write_pairs(tmp_path)
    out = tmp_path / "out"
    res = _plugin_cli("score", f"gt_dir={gt_dir}", f"pred_dir={pred_dir}", f"output_dir={out}")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "adaptive_jaccard" in json.loads((out / "metrics.json").read_text())


def test_a_registered_metric_is_logged_by_training(plugin, demo_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    tiny_train(
        demo_root,
        run,
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=1",
        "+trainer.limit_val_batches=1",
        "+trainer.limit_test_batches=1",
    )
    logged = json.loads((run / "metrics.json").read_text())
    for stage in ("val", "test"):
        keys = [k for k in logged if k.startswith(f"{stage}/") and k.endswith("/adaptive_jaccard")]
        assert keys, sorted(logged)
        assert all(0 <= logged[k] <= 1 for k in keys)
