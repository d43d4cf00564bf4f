"""The full PySODMetrics 1.6 set (issue 22 part 5): every registered metric against
PySODMetrics on toy maps (and, slow, on the real SOD maps), PySODMetrics' NaN cases, the
``metrics=`` selection in ``score`` and the dataset summaries of a subset of statistics."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ras_lightning.metrics import registry
from ras_lightning.metrics.functional import SODImage, hce, si_mae
from ras_lightning.metrics.per_image import add_up
from ras_lightning.utils.errors import UserError
from tests.conftest import SOD_DIR, compose_config, run_command, tiny_train, write_image

psm = pytest.importorskip("py_sod_metrics")

FORMS = {"max": "max", "mean": "avg", "adaptive": "adp"}
_HANDLER = {
    "iou": "IOUHandler",
    "dice": "DICEHandler",
    "ber": "BERHandler",
    "kappa": "KappaHandler",
    "oa": "OverallAccuracyHandler",
    "precision": "PrecisionHandler",
    "recall": "RecallHandler",
    "specificity": "SpecificityHandler",
    "fpr": "FPRHandler",
    "f": "FmeasureHandler",
}


def _handler(cls: str, **kw: object) -> object:
    extra = {"beta": 0.3} if cls == "FmeasureHandler" else {}
    return getattr(psm, cls)(**kw, **extra)


class Oracle:
    """PySODMetrics 1.6's classes for every registered metric (``msiou_dynamic=False``:
    MSIoU's dynamic curve left out, ~5 s per real map there)."""

    def __init__(self, msiou_dynamic: bool = True) -> None:
        gray = {"with_dynamic": True, "with_adaptive": True}
        sample_bin = {"with_dynamic": False, "with_adaptive": False, "with_binary": True}
        overall_bin = {**sample_bin, "sample_based": False}
        overall_gray = {"with_dynamic": True, "with_adaptive": False, "sample_based": False}
        handlers = {}
        si_handlers = {}
        for h, cls in _HANDLER.items():
            handlers[h] = _handler(cls, **gray)
            handlers[f"bin_{h}"] = _handler(cls, **sample_bin)
            handlers[f"overall_{h}"] = _handler(cls, **overall_bin)
            si_handlers[h] = _handler(cls, **gray)
            si_handlers[f"bin_{h}"] = _handler(cls, **sample_bin)
            si_handlers[f"overall_{h}"] = _handler(cls, **overall_gray)
            si_handlers[f"overall_bin_{h}"] = _handler(cls, **overall_bin)
        self.v2 = psm.FmeasureV2(handlers)
        self.si = psm.SizeInvarianceFmeasureV2(si_handlers)
        self.msiou_dynamic = msiou_dynamic
        self.msiou = psm.MSIoU(with_dynamic=msiou_dynamic, with_adaptive=True, with_binary=True)
        self.si_mae, self.hce, self.cm = psm.SizeInvarianceMAE(), None, psm.ContextMeasure()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.fm, self.em = psm.Fmeasure(), psm.Emeasure()
        self.mae, self.sm, self.wfm = psm.MAE(), psm.Smeasure(), psm.WeightedFmeasure()
        self.hce = psm.HumanCorrectionEffortMeasure()

    def step(self, pred: np.ndarray, gt: np.ndarray) -> None:
        for m in (self.v2, self.si, self.msiou, self.si_mae, self.hce, self.cm):
            m.step(pred=pred, gt=gt)
        for m in (self.fm, self.em, self.mae, self.sm, self.wfm):
            m.step(pred=pred, gt=gt)

    def results(self) -> dict[str, float]:
        v2, si = self.v2.get_results(), self.si.get_results()
        out: dict[str, float] = {}
        for h in _HANDLER:
            if h != "f":
                out[f"max_{h}"] = v2[h]["dynamic"].max()
                out[f"mean_{h}"] = v2[h]["dynamic"].mean()
                out[f"adaptive_{h}"] = v2[h]["adaptive"]
            out[f"binary_{h}"] = v2[f"bin_{h}"]["binary"]
            out[f"binary_{h}_dataset"] = v2[f"overall_{h}"]["binary"]
            per_sample = si[h]["dynamic"]  # N x [T x 256]
            out[f"si_max_{h}"] = np.mean([s.max(axis=-1).mean() for s in per_sample])
            out[f"si_mean_{h}"] = np.mean([s.mean(axis=-1).mean() for s in per_sample])
            out[f"si_adaptive_{h}"] = si[h]["adaptive"]
            out[f"si_binary_{h}"] = si[f"bin_{h}"]["binary"]
            out[f"si_max_{h}_dataset"] = si[f"overall_{h}"]["dynamic"].max()
            out[f"si_mean_{h}_dataset"] = si[f"overall_{h}"]["dynamic"].mean()
            out[f"si_binary_{h}_dataset"] = si[f"overall_bin_{h}"]["binary"]
        ms = self.msiou.get_results()
        if self.msiou_dynamic:
            out["max_msiou"], out["mean_msiou"] = ms["dynamic"].max(), ms["dynamic"].mean()
        out["adaptive_msiou"], out["binary_msiou"] = ms["adaptive"], ms["binary"]
        out["si_mae"] = self.si_mae.get_results()["si_mae"]
        out["hce"] = self.hce.get_results()["hce"]
        out["context_measure"] = self.cm.get_results()["cm"]
        f, e = self.fm.get_results(), self.em.get_results()["em"]
        p, r = f["pr"]["p"], f["pr"]["r"]
        dataset_pr_f = np.where(p + r > 0, 1.3 * p * r / np.where(p + r > 0, 0.3 * p + r, 1), 0)
        out |= {
            "mae": self.mae.get_results()["mae"],
            "s_measure": self.sm.get_results()["sm"],
            "weighted_f": self.wfm.get_results()["wfm"],
            "max_f": f["fm"]["curve"].max(),
            "mean_f": f["fm"]["curve"].mean(),
            "adaptive_f": f["fm"]["adp"],
            "max_e": e["curve"].max(),
            "mean_e": e["curve"].mean(),
            "adaptive_e": e["adp"],
            "max_f_dataset_pr": dataset_pr_f.max(),
        }
        return {k: float(v) for k, v in out.items()}


def _ours(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    families = registry.select("all").families
    totals = add_up(registry.image_stats(p, g, families) for p, g in pairs)
    return registry.summarise(totals, len(pairs))


def _blobs(rng: np.random.Generator, h: int, w: int, n: int) -> np.ndarray:
    gt = np.zeros((h, w), np.uint8)
    yy, xx = np.ogrid[:h, :w]
    for _ in range(n):
        y, x, r = rng.integers(0, h), rng.integers(0, w), rng.integers(2, 14)
        gt[(yy - y) ** 2 + (xx - x) ** 2 < r * r] = 255
    return gt


def toy_pairs(seed: int, n: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    """Small maps: several objects (size invariance), noisy and random maps, and the
    degenerate ones that PySODMetrics scores (an empty mask, a constant map)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(24, 56, 2))
        gt = _blobs(rng, h, w, int(rng.integers(1, 5)))
        pred = np.clip(gt * 0.7 + rng.normal(0, 50, (h, w)), 0, 255).astype(np.uint8)
        if i % 3 == 0:
            pred = rng.integers(0, 256, (h, w)).astype(np.uint8)
        pairs.append((pred, gt))
    z = np.zeros((20, 20), np.uint8)
    pairs += [(z, z), (np.full_like(z, 255), z), (pairs[0][0][:20, :20].copy(), z)]
    return pairs


def test_every_metric_agrees_with_pysodmetrics_on_toy_maps() -> None:
    pairs = toy_pairs(0, 6)
    oracle = Oracle()
    for p, g in pairs:
        oracle.step(p, g)
    theirs, ours = oracle.results(), _ours(pairs)
    assert set(ours) == set(registry.METRICS) == set(theirs)  # every metric checked
    bad = {k: (ours[k], theirs[k]) for k in theirs if not abs(ours[k] - theirs[k]) <= 1e-6}
    assert not bad


# ------------------------------------------------------------------- PySODMetrics' NaN cases
def test_si_mae_without_background_is_the_targets_mean_not_nan() -> None:
    """An object touching all four borders: its box is the image, PySODMetrics gives NaN;
    here the background term (weight 0) is left out."""
    gt = np.zeros((30, 40), np.uint8)
    gt[0:30, 10:12] = 255  # a vertical bar touching top and bottom
    gt[14:16, 0:40] = 255  # a horizontal bar touching left and right
    pred = np.clip(gt * 0.8 + 20, 0, 255).astype(np.uint8)
    theirs = psm.SizeInvarianceMAE()
    with np.errstate(all="ignore"):
        theirs.step(pred, gt)
    assert math.isnan(theirs.get_results()["si_mae"])
    ours = si_mae(pred, gt)["si_mae"]
    lv = SODImage(pred, gt).levels[pred]
    assert ours == pytest.approx(np.abs(lv - (gt > 128)).mean())  # one target: the image
    # and it does not poison a dataset mean
    pairs = [(pred, gt), *toy_pairs(0, 2)]
    totals = add_up(registry.image_stats(p, g, ["si_mae"]) for p, g in pairs)
    assert math.isfinite(registry.summarise(totals, len(pairs))["si_mae"])


def test_size_invariant_metrics_of_an_all_foreground_mask() -> None:
    """PySODMetrics stops with an AssertionError; here one target, the whole image."""
    gt = np.full((20, 20), 255, np.uint8)
    pred = np.arange(400, dtype=np.uint8).reshape(20, 20)
    with pytest.raises(AssertionError):
        psm.SizeInvarianceMAE().step(pred, gt)
    stats = registry.image_stats(pred, gt, registry.select("all").families)
    values = registry.summarise(stats, 1)
    assert all(math.isfinite(v) for v in values.values())
    assert values["si_mae"] == pytest.approx(values["mae"])
    assert values["si_max_iou"] == pytest.approx(values["max_iou"])


def test_every_metric_is_finite_on_degenerate_images() -> None:
    z, o = np.zeros((12, 12), np.uint8), np.full((12, 12), 255, np.uint8)
    families = registry.select("all").families
    for pred, gt in ((z, z), (o, o), (z, o), (o, z)):
        values = registry.summarise(registry.image_stats(pred, gt, families), 1)
        assert all(math.isfinite(v) for v in values.values()), (pred[0, 0], gt[0, 0])
    assert hce(z, z)["hce"] == 0


def test_the_readme_table_names_every_metric_and_its_direction() -> None:
    from tests.conftest import REPO

    text = (REPO / "README.md").read_text()
    table = text[text.index("### The full PySODMetrics set") : text.index("### Adding a metric")]
    rows = [r for r in table.splitlines() if r.startswith("| `")]
    for name, info in registry.METRICS.items():
        row = next((r for r in rows if f"`{name}`" in r.split(" | ")[0]), None)
        assert row, f"{name} missing from the README's table"
        assert row.rstrip(" |").endswith("↑" if info.higher_is_better else "↓"), name


# ------------------------------------------------------------------------------ selection
def test_select_names_families_and_errors() -> None:
    sel = registry.select(["hce", "max_iou"])
    assert sel.names == ("max_iou", "hce")  # the registry's order
    assert set(sel.families) == {"f_measure", "iou", "hce"}  # f_measure: the PR/F curves
    assert registry.select(None).families == registry.default_families()
    assert registry.select("all").families == tuple(registry.FAMILIES)
    assert registry.select(["all"]).names is None
    with pytest.raises(UserError, match=r"unknown metric max_iuo; .* max_iou") as err:
        registry.select(["max_iuo"])
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="convention=f3net defines only .*max_iou need"):
        registry.select(["mae", "max_iou"], "f3net")
    with pytest.raises(UserError, match="all need convention=pysodmetrics"):
        registry.select("all", "f3net")
    assert registry.select(["mae"], "f3net").names == ("mae",)
    with pytest.raises(UserError, match="convention=f3net defines only"):  # score's both
        registry.select(["hce"], "both")
    assert registry.widen(["hce"], ("mae", "hce")) == ["hce", "mae"]
    assert registry.widen("all", ("mae",)) == "all" and registry.widen(None, ("mae",)) is None


def test_summarise_computes_the_families_present() -> None:
    pairs = toy_pairs(2, 3)
    totals = add_up(registry.image_stats(p, g, ["mae", "iou"]) for p, g in pairs)
    assert set(registry.summarise(totals, 3)) == {
        "mae",
        "max_iou",
        "mean_iou",
        "adaptive_iou",
        "binary_iou",
    }
    default = add_up(registry.image_stats(p, g) for p, g in pairs)
    assert list(registry.summarise(default, 3)) == list(registry.METRIC_NAMES)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("metric_set")
    for i, (pred, gt) in enumerate(toy_pairs(3, 4)[:4]):
        write_image(root / "gt" / f"{i}.png", gt)
        write_image(root / "maps" / f"{i}.png", pred)
    return root / "gt", root / "maps"


def _score(folder: tuple[Path, Path], out: Path, *extra: str) -> dict:
    gt, maps = folder
    run_command(
        "score", f"gt_dir={gt}", f"pred_dir={maps}", f"output_dir={out}", "workers=1",
        "plots=false", "progress=false", "report=false", "ci=null", *extra,
    )  # fmt: skip
    return json.loads((out / "metrics.json").read_text())


def _csv_header(out: Path, name: str = "per_image.csv") -> list[str]:
    return (out / name).read_text().splitlines()[0].split(",")


def test_score_with_a_selection_and_all(tiny_folder: tuple[Path, Path], tmp_path: Path) -> None:
    default = _score(tiny_folder, tmp_path / "default")
    assert [k for k in default if k != "convention"] == list(registry.METRIC_NAMES)
    some = _score(tiny_folder, tmp_path / "some", "metrics=[hce,mae,si_max_iou_dataset]")
    assert list(some) == ["mae", "si_max_iou_dataset", "hce", "convention"]
    assert some["mae"] == default["mae"]
    assert _csv_header(tmp_path / "some") == ["dataset", "method", "image", *list(some)[:-1]]
    everything = _score(tiny_folder, tmp_path / "all", "metrics=all")
    assert set(everything) - {"convention"} == set(registry.METRICS)
    assert all(everything[k] == v for k, v in default.items())
    assert len(_csv_header(tmp_path / "all")) == 3 + len(registry.METRICS)
    f3net = _score(tiny_folder, tmp_path / "f3net", "convention=f3net", "metrics=[max_f,mae]")
    assert list(f3net) == ["mae", "max_f", "convention"]


def test_score_refuses_an_unknown_metric_before_reading(
    tiny_folder: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(UserError, match="unknown metric maxiou"):
        _score(tiny_folder, tmp_path / "x", "metrics=[maxiou]")
    with pytest.raises(UserError, match="convention=f3net defines only"):
        _score(tiny_folder, tmp_path / "y", "metrics=all", "convention=f3net")
    assert not (tmp_path / "x").exists()


def test_training_tests_the_selected_metrics() -> None:
    """train's metrics= reaches the module's test metrics (plain strings in the checkpoint's
    hyper-parameters); validation keeps the default set."""
    import torch
    from omegaconf import OmegaConf

    from ras_lightning.metrics import SODMetrics
    from ras_lightning.training.module import RASModule

    cfg = compose_config("metrics=[hce,max_iou]")
    assert OmegaConf.to_container(cfg.model, resolve=True)["test_metrics"] == ["hce", "max_iou"]
    assert compose_config().model.test_metrics is None

    class Net(torch.nn.Module):
        backbone_name, channels = "none", 1

        def __init__(self, **kw: object) -> None:
            super().__init__()

    model = RASModule(net=Net, test_metrics=cfg.model.test_metrics)  # a ListConfig, as Hydra
    assert type(model.hparams.test_metrics) is list
    metrics = SODMetrics(metrics=model.hparams.test_metrics)
    pred, gt = toy_pairs(4, 2)[0]
    metrics.update(torch.from_numpy(pred), torch.from_numpy(gt))
    assert list(metrics.compute()) == ["max_iou", "hce"]


@pytest.mark.slow
def test_a_training_run_tests_the_selection(demo_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    tiny_train(
        demo_root, run, "metrics=[mae,max_iou,hce]", "trainer.max_epochs=1",
        "+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1",
        "+trainer.limit_test_batches=1",
    )  # fmt: skip
    logged = json.loads((run / "metrics.json").read_text())
    tested = {k.rsplit("/", 1)[1] for k in logged if k.startswith("test/")}
    assert tested == {"mae", "max_iou", "hce"}
    assert any(k.startswith("val/") and k.endswith("/max_e") for k in logged)
    assert _csv_header(run, "test_per_image.csv")[3:] == ["mae", "max_iou", "hce"]


@pytest.mark.slow
def test_eval_reports_the_selection_and_its_paper_table(tiny_ckpt: Path, tmp_path: Path) -> None:
    from tests.conftest import tiny_set

    root, out = tiny_set(tmp_path / "data", n=3), tmp_path / "eval"
    args = [f"weights={tiny_ckpt}", f"data.root={root}", "data.test_sets=[TINY]"]
    args += ["backend=torch", "fps=false", "workers=1", "progress=false", "report=false"]
    with pytest.raises(UserError, match="convention=f3net defines only"):
        run_command("eval", *args, f"output_dir={out}", "metrics=[hce]")
    assert not out.exists()
    run_command("eval", *args, f"output_dir={out}", "metrics=[hce]", "convention=pysodmetrics")
    got = json.loads((out / "metrics.json").read_text())["sets"]["TINY"]
    assert list(got) == ["mae", "s_measure", "max_f", "adaptive_f", "adaptive_e", "hce"]
    assert _csv_header(out)[3:] == list(got)


# ------------------------------------------------------------------------------ real data
def _sod_pairs(method: str) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for gt_path in sorted((SOD_DIR / "gt").glob("*.png")):
        gt = np.asarray(Image.open(gt_path).convert("L"))
        pred = np.asarray(Image.open(SOD_DIR / "maps" / method / gt_path.name).convert("L"))
        pairs.append((pred, gt))
    return pairs


@pytest.mark.skipif(not SOD_DIR.is_dir(), reason="../shared/data/SOD absent")
@pytest.mark.slow
@pytest.mark.parametrize("method", ["Amulet", "DSS", "PiCANet"])
def test_every_metric_agrees_with_pysodmetrics_on_real_sod_maps(method: str) -> None:
    """All 300 maps; MSIoU's dynamic curve (PySODMetrics: ~5 s per map) on every 10th.
    PySODMetrics' si_mae is NaN on the images whose boxes cover the image: compared on the
    others, and checked finite here."""
    pairs = _sod_pairs(method)
    assert len(pairs) == 300
    oracle, nan_free, sub = Oracle(msiou_dynamic=False), [], Oracle()
    for i, (p, g) in enumerate(pairs):
        with np.errstate(all="ignore"):
            oracle.step(p, g)
            one = psm.SizeInvarianceMAE()
            one.step(p, g)
        if math.isfinite(one.get_results()["si_mae"]):
            nan_free.append((p, g))
        if i % 10 == 0:
            sub.msiou.step(pred=p, gt=g)
    theirs, ours = oracle.results(), _ours(pairs)
    theirs["si_mae"] = float(psm_mean_si_mae(nan_free))
    ours["si_mae"] = _ours_family(nan_free, "si_mae")
    ms = sub.msiou.get_results()["dynamic"]
    theirs["max_msiou"], theirs["mean_msiou"] = float(ms.max()), float(ms.mean())
    msiou_ours = registry.summarise(
        add_up(registry.image_stats(p, g, ["msiou"]) for p, g in pairs[::10]), len(pairs[::10])
    )
    ours["max_msiou"], ours["mean_msiou"] = msiou_ours["max_msiou"], msiou_ours["mean_msiou"]
    diffs = {k: abs(ours[k] - theirs[k]) for k in theirs}
    print(method, json.dumps({k: f"{v:.2e}" for k, v in diffs.items()}))
    assert set(theirs) == set(registry.METRICS)
    assert max(diffs.values()) <= 1e-6, {k: v for k, v in diffs.items() if v > 1e-6}


def psm_mean_si_mae(pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    m = psm.SizeInvarianceMAE()
    for p, g in pairs:
        m.step(p, g)
    return m.get_results()["si_mae"]


def _ours_family(pairs: list[tuple[np.ndarray, np.ndarray]], family: str) -> float:
    totals = add_up(registry.image_stats(p, g, [family]) for p, g in pairs)
    return registry.summarise(totals, len(pairs))[family]
