"""``compare`` (issue 22 parts 3 and 4): paired comparisons of two scored folders, groups of
runs, the spread over seeds; on folders that ``score`` wrote from small synthetic map sets
(ground-truth rectangles; maps: the masks slightly blurred, or noise)."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from ras_lightning.metrics.comparison import holm, verdict
from ras_lightning.metrics.per_image import CURVES_FILE, read_curves
from ras_lightning.metrics.registry import METRICS
from ras_lightning.utils.errors import UserError
from tests.conftest import one_line, run_cli, run_command, tiny_train_args, toy_maps, write_image
from tests.test_latex import _balanced, _body

FAST = ("bootstrap=200", "permutations=1000")


def map_sets(root: Path, n: int, kinds: dict[str, tuple[str, int]]) -> Path:
    """``root/DS/gt`` with ``n`` 32x32 rectangle masks and one folder of maps per ``kinds``
    entry (name -> ("blur", seed) or ("noise", seed))."""
    rng = np.random.default_rng(1)
    masks = []
    for i in range(n):
        m = np.zeros((32, 32), np.uint8)
        y, x = rng.integers(3, 14, 2)
        h, w = rng.integers(8, 16, 2)
        m[y : y + h, x : x + w] = 255
        write_image(root / "DS" / "gt" / f"i{i:02d}.png", m)
        masks.append(m)
    for name, (kind, seed) in kinds.items():
        noise = np.random.default_rng(seed)
        for i, m in enumerate(masks):
            if kind == "blur":  # ground truth blurred slightly: a good map, a little off
                out = gaussian_filter(m.astype(float), 0.8 + 0.1 * seed)
            else:
                out = m * 0.3 + noise.normal(100, 60, m.shape)
            write_image(root / "DS" / name / f"i{i:02d}.png", np.clip(out, 0, 255).astype(np.uint8))
    return root / "DS"


def score(gt: Path, pred: Path, out: Path, *extra: str) -> Path:
    run_command(
        "score",
        f"gt_dir={gt}",
        f"pred_dir={pred}",
        f"output_dir={out}",
        "workers=1",
        "plots=false",
        "progress=false",
        *extra,
    )
    return out


def as_run(score_dir: Path, run: Path) -> Path:
    """A training run folder holding ``score_dir``'s per-image statistics under the test's
    file name, the method named as the run folder (as a run's test writes them)."""
    curves = read_curves(score_dir / CURVES_FILE)
    curves["method"] = np.full(len(curves["method"]), run.name)
    run.mkdir(parents=True)
    np.savez(run / f"test_{CURVES_FILE}", **curves)
    return run


@pytest.fixture(scope="module")
def scored(module_tmp: Path) -> dict[str, Path]:
    """Score folders of 40 images: ``good`` (blurred masks), ``bad`` (noise), and ``good``
    scored again with 2 masks removed and 1 image only in its folder (``partial``)."""
    ds = map_sets(module_tmp / "maps", 40, {"good": ("blur", 0), "bad": ("noise", 0)})
    out = {k: score(ds / "gt", ds / k, module_tmp / k) for k in ("good", "bad")}
    part = module_tmp / "partial_maps" / "DS" / "gt"
    shutil.copytree(ds / "gt", part)
    (part / "i00.png").unlink()
    (part / "i01.png").unlink()
    write_image(part / "extra.png", np.full((32, 32), 255, np.uint8))
    write_image(ds / "good" / "extra.png", np.full((32, 32), 250, np.uint8))
    out["partial"] = score(part, ds / "good", module_tmp / "partial", "missing=skip")
    return out


def compare(out: Path, *args: str) -> dict:
    run_command("compare", *args, f"output_dir={out}")
    return json.loads((out / "comparison.json").read_text())


def tables(result: dict) -> dict[str, dict]:
    return {d: t for d, t in result.items() if d != "_meta"}


def check_tex(out: Path, methods: list[str]) -> None:
    tex = (out / "metrics.tex").read_text()
    assert _balanced(tex)
    assert [c[1].strip() for c in _body(tex)] == methods  # one row per method


def test_a_method_against_itself(scored: dict[str, Path], tmp_path: Path) -> None:
    result = compare(tmp_path, f"a={scored['good']}", f"b={scored['good']}", *FAST)
    metrics = json.loads((scored["good"] / "metrics.json").read_text())
    table = tables(result)["DS"]
    assert set(table) == {k for k in metrics if k in METRICS}
    for name, r in table.items():
        # each value is the folder's metrics.json number, bit for bit
        assert r["a"] == r["b"] == metrics[name], name
        assert r["difference"] == 0 and r["low"] == r["high"] == 0
        assert r["p"] == 1 and r["verdict"] == "not distinguishable"
    meta = result["_meta"]
    assert meta["paired"] == {"DS": 40} and meta["unpaired"] == {}
    assert meta["test"] == "paired permutation" and meta["tests"] == len(table)
    check_tex(tmp_path, ["good (a)", "good (b)"])
    md = (tmp_path / "comparison.md").read_text()
    assert "## DS (40 images paired)" in md and "not distinguishable" in md
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["good (a)", "good (b)"]
    assert float(rows[0]["mae"]) == metrics["mae"]


def test_clearly_better_maps_win(scored: dict[str, Path], tmp_path: Path) -> None:
    result = compare(tmp_path, f"a={scored['bad']}", f"b={scored['good']}", *FAST)
    bad = json.loads((scored["bad"] / "metrics.json").read_text())
    good = json.loads((scored["good"] / "metrics.json").read_text())
    for name, r in tables(result)["DS"].items():
        assert (r["a"], r["b"]) == (bad[name], good[name])
        assert r["difference"] == good[name] - bad[name]
        assert r["low"] <= r["difference"] <= r["high"]
        assert r["p"] < 0.01 and r["p_holm"] < 0.05, name
        assert r["verdict"] == "b better", name
    assert tables(result)["DS"]["mae"]["difference"] < 0  # lower is better: still "b better"
    check_tex(tmp_path, ["bad", "good"])
    # swapped sides: the same numbers with the opposite sign, "a better"
    back = compare(tmp_path / "back", f"a={scored['good']}", f"b={scored['bad']}", *FAST)
    assert {r["verdict"] for r in tables(back)["DS"].values()} == {"a better"}


def test_unpaired_images_are_named(scored: dict[str, Path], tmp_path: Path, command_output) -> None:
    result = compare(tmp_path, f"a={scored['good']}", f"b={scored['partial']}", *FAST)
    meta = result["_meta"]
    assert meta["paired"] == {"DS": 38}
    assert meta["unpaired"] == {"DS": {"a": ["i00", "i01"], "b": ["extra"]}}
    assert "DS: 2 only in a (i00, i01); 1 only in b (extra); compared on the 38" in (
        command_output()
    )
    md = (tmp_path / "comparison.md").read_text()
    assert "Only in a (not compared): i00, i01" in md and "Only in b (not compared): extra" in md
    # the values are those of the paired rows alone: a's MAE is its column's mean over them
    with open(scored["good"] / "per_image.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["image"] not in ("i00", "i01")]
    mae = tables(result)["DS"]["mae"]
    assert mae["a"] == pytest.approx(np.mean([float(r["mae"]) for r in rows]), abs=1e-15)
    assert mae["a"] == pytest.approx(mae["b"], abs=1e-15)  # the same maps on the same images


def test_holm_and_verdicts() -> None:
    # sorted 0.001, 0.01, 0.02, 0.04 against 0.05/4, /3, /2, /1: every one passes
    rejected, adjusted = holm([0.04, 0.001, 0.02, 0.01], 0.05)
    assert rejected == [True] * 4
    assert adjusted == pytest.approx([0.04, 0.004, 0.04, 0.03])
    # a NaN p-value is no test: m = 4, never rejected
    rejected, adjusted = holm([0.03, 0.001, 0.02, 0.012, math.nan], 0.05)
    assert adjusted[:4] == pytest.approx([0.04, 0.004, 0.04, 0.036])
    assert rejected == [True, True, True, True, False] and math.isnan(adjusted[4])
    # 0.011 * 3 and 0.02 * 2 pass, 0.3 stops
    rejected, adjusted = holm([0.011, 0.02, 0.3], 0.05)
    assert rejected == [True, True, False] and adjusted == pytest.approx([0.033, 0.04, 0.3])
    # step-down: the smallest fails (3 x 0.02 > 0.05), so none passes although 0.02 < 0.05
    rejected, _ = holm([0.02, 0.02, 0.02], 0.05)
    assert rejected == [False] * 3
    # a later p below its own threshold is not rejected once an earlier one failed
    rejected, adjusted = holm([0.03, 0.026], 0.05)
    assert rejected == [False, False] and adjusted == pytest.approx([0.052, 0.052])
    assert verdict(0.1, True, True) == "b better" and verdict(0.1, False, True) == "a better"
    assert verdict(-0.1, True, True) == "a better" and verdict(-0.1, False, True) == "b better"
    assert verdict(0.1, True, False) == "not distinguishable"
    assert verdict(math.nan, True, True) == verdict(0.0, True, True) == "not distinguishable"


def test_several_methods_and_conventions(tmp_path: Path) -> None:
    toy_maps(tmp_path / "A", n=5)
    both = tmp_path / "both"
    run_command(
        "score",
        f"+datasets={{A: '{tmp_path}/A/gt'}}",
        f"+methods={{m1: '{tmp_path}/A/pred', m2: '{tmp_path}/A/gt'}}",
        f"output_dir={both}",
        "workers=1",
        "plots=false",
        "progress=false",
    )
    with pytest.raises(UserError) as err:
        compare(tmp_path / "o", f"a={both}", f"b={both}")
    assert "holds 2 methods (m1, m2); pick one with a_method=NAME" in one_line(err)
    with pytest.raises(UserError, match="a_method='m3': not in .* holds m1, m2"):
        compare(tmp_path / "o", f"a={both}", f"b={both}", "a_method=m3")
    result = compare(tmp_path / "o", f"a={both}", f"b={both}", "a_method=m1", "b_method=m2", *FAST)
    assert result["_meta"]["a"]["methods"] == ["m1"] and result["_meta"]["b"]["label"] == "m2"
    f3 = score(tmp_path / "A" / "gt", tmp_path / "A" / "pred", tmp_path / "f3", "convention=f3net")
    with pytest.raises(UserError, match="a was scored in the pysodmetrics convention and b in"):
        compare(tmp_path / "o2", f"a={both}", "a_method=m1", f"b={f3}")


def test_bad_settings_one_line(scored: dict[str, Path], tmp_path: Path) -> None:
    good = scored["good"]
    cases = [
        ((f"a={good}", f"b={good}", "runs=x"), "runs= (the spread over seeds) or a= and b="),
        ((f"a={good}",), "missing b="),
        ((f"a={good}", f"b={good}", "ci=1.5"), "ci=1.5: must be a number between 0 and 1"),
        ((f"a={good}", f"b={good}", "bootstrap=0"), "bootstrap=0: must be a whole number"),
        ((f"a={tmp_path}", f"b={good}"), "holds neither per_image_curves.npz"),
        ((f"a={tmp_path}/nope", f"b={good}"), "no such folder"),
        ((f"a={tmp_path}/*", f"b={good}"), "matches no folder holding"),
    ]
    for args, message in cases:
        with pytest.raises(UserError) as err:
            compare(tmp_path / "out", *args)
        assert message in one_line(err), args
    with pytest.raises(UserError, match="is inside a"):
        compare(good / "cmp", f"a={good}", f"b={scored['bad']}")
    assert not (tmp_path / "out").exists() and not (good / "cmp").exists()


@pytest.fixture(scope="module")
def runs(module_tmp: Path) -> dict[str, list[Path]]:
    """Two sweeps of three "runs" each (training run folders: ``test_per_image_curves.npz``)
    on 12 images: ``noisy/<n>`` noise maps, ``blurred/<n>`` blurred masks (seeds 1, 2, 3)."""
    kinds = {f"{k}{s}": (k, s) for k in ("noise", "blur") for s in (1, 2, 3)}
    ds = map_sets(module_tmp / "seed_maps", 12, kinds)
    out: dict[str, list[Path]] = {"noisy": [], "blurred": [], "scores": []}
    for name, (kind, s) in kinds.items():
        scored_dir = score(ds / "gt", ds / name, module_tmp / "seed_scores" / name)
        out["scores"].append(scored_dir)
        sweep = "noisy" if kind == "noise" else "blurred"
        out[sweep].append(as_run(scored_dir, module_tmp / "sweeps" / sweep / str(s - 1)))
    # what else a sweep folder may hold: a file, a folder without per-image files (left out)
    (module_tmp / "sweeps" / "noisy" / "multirun.yaml").write_text("hydra: {}\n")
    (module_tmp / "sweeps" / "noisy" / "stray").mkdir()
    return out


def test_seed_spread(runs: dict[str, list[Path]], tmp_path: Path, command_output) -> None:
    sweep = runs["noisy"][0].parent
    run_command("compare", f"runs={sweep}/*", f"output_dir={tmp_path}", "bootstrap=300")
    assert "left out 1 folder without per-image files" in command_output()
    result = json.loads((tmp_path / "seeds.json").read_text())
    per_run = [json.loads((p / "metrics.json").read_text()) for p in runs["scores"][:3]]
    table = result["DS"]
    for name, r in table.items():
        values = np.array([m[name] for m in per_run])
        assert r["runs"] == values.tolist()  # each run's own metrics.json value
        assert r["mean"] == pytest.approx(values.mean(), abs=1e-15)
        assert r["std"] == pytest.approx(values.std(ddof=1), abs=1e-15)
        assert (r["min"], r["max"]) == (values.min(), values.max())
        assert r["low"] <= r["mean"] <= r["high"], name
    assert result["_meta"]["images"] == {"DS": 12}
    assert [r["method"] for r in result["_meta"]["runs"]] == ["0", "1", "2"]
    md = (tmp_path / "seeds.md").read_text()
    assert "sample standard deviation over the runs (ddof=1)" in md and "## DS (12 images" in md
    with pytest.raises(UserError, match="at least 2 runs"):
        run_command("compare", f"runs={runs['noisy'][0]}", f"output_dir={tmp_path}/one")


def test_group_comparison(runs: dict[str, list[Path]], tmp_path: Path) -> None:
    noisy, blurred = runs["noisy"][0].parent, runs["blurred"][0].parent
    result = compare(tmp_path, f"a={noisy}/*", f"b='{blurred}/[0-9]'", *FAST)
    meta = result["_meta"]
    assert meta["test"] == "two-level bootstrap" and meta["permutations"] == 1000
    assert (meta["a"]["label"], meta["b"]["label"]) == ("noisy", "blurred")
    assert len(meta["a"]["folders"]) == len(meta["b"]["folders"]) == 3
    for name, r in tables(result)["DS"].items():
        assert r["verdict"] == "b better", name
        assert r["low"] <= r["difference"] <= r["high"] and r["p"] < 0.01
    check_tex(tmp_path, ["noisy", "blurred"])
    # a group against itself: nothing to tell apart (the runs are drawn apart for a and b,
    # so the replicates spread around 0 and p is near 1, not 1)
    listed = f"b=[{','.join(map(str, runs['noisy']))}]"  # a list of folders
    same = compare(tmp_path / "same", f"a={noisy}/*", listed, "bootstrap=50", "permutations=50")
    for r in tables(same)["DS"].values():
        assert r["difference"] == 0 and r["p"] > 0.5 and r["verdict"] == "not distinguishable"
        assert r["low"] <= 0 <= r["high"]


@pytest.mark.slow
def test_sweep_then_compare_through_the_cli(demo_root: Path, tmp_path: Path) -> None:
    """The README's workflow: ``train -m seed=1,2`` (tiny), then ``compare runs=...`` and
    ``compare a=<run 0> b=<run 1>`` on the run folders the sweep wrote."""
    sweep = tmp_path / "sweep"
    args = [a for a in tiny_train_args(demo_root, sweep) if not a.startswith("hydra.run.dir")]
    res = run_cli(
        "train",
        "-m",
        "seed=1,2",
        *args,
        f"hydra.sweep.dir={sweep}",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    res = run_cli("compare", f"runs={sweep}/*", f"output_dir={tmp_path / 'seeds'}")
    assert res.returncode == 0, res.stderr[-3000:]
    spread = json.loads((tmp_path / "seeds" / "seeds.json").read_text())
    logged = [json.loads((sweep / r / "metrics.json").read_text()) for r in ("0", "1")]
    for name, r in spread["DEMO-TE"].items():
        # each run's value: its logged test metric (the logged one adds up in batches)
        expected = [m[f"test/DEMO-TE/{name}"] for m in logged]
        assert r["runs"] == pytest.approx(expected, abs=1e-9), name
    res = run_cli("compare", f"a={sweep}/0", f"b={sweep}/1", f"output_dir={tmp_path / 'ab'}")
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads((tmp_path / "ab" / "comparison.json").read_text())
    assert result["_meta"]["paired"] == {"DEMO-TE": 7}
    assert result["_meta"]["a"]["kinds"] == ["training run"]
    assert "| MAE ↓ |" in res.stdout
