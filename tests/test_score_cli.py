"""``score`` on real files, in process (``score.run``, as ``python -m ras_lightning.score``
runs it); the cross-check on the real SOD maps is in the slow set."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ras_lightning.metrics import METRIC_NAMES
from ras_lightning.utils.errors import DataError
from tests.conftest import SOD_DIR, run_command, toy_maps
from tests.test_metrics import _theirs


def test_score_one_folder_jpg_maps_resized(
    tmp_path: Path, command_output: Callable[[], str]
) -> None:
    gt, pred = toy_maps(tmp_path, ext=".jpg", size=(80, 60))
    out = tmp_path / "out"
    run_command("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={out}", "workers=2")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics.pop("convention") == "pysodmetrics"  # recorded beside the metrics (README)
    assert list(metrics) == list(METRIC_NAMES)
    # E-measure divides by (pixels - 1), as PySODMetrics, so a perfect map scores just above 1
    assert all(0 <= v <= 1.01 for v in metrics.values())
    assert metrics["max_f"] > 0.8
    assert "6 maps scored, 6 resized" in command_output()
    for name in ("metrics.md", "metrics.csv"):
        assert (out / name).is_file(), name
    assert len(list(out.glob("pr_curve_*.png"))) == 1
    assert next(out.glob("f_curve_*.png")).stat().st_size > 1000


def test_missing_maps_error_or_skip(tmp_path: Path, command_output: Callable[[], str]) -> None:
    gt, pred = toy_maps(tmp_path)
    (pred / "img3.png").unlink()
    # a DataError: the CLI's one error line, no traceback
    with pytest.raises(DataError, match="1 of 6 masks") as err:
        run_command("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={tmp_path / 'o'}")
    assert "img3" in str(err.value)
    command_output()
    run_command(
        "score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={tmp_path / 'o'}", "missing=skip"
    )
    assert "5 maps scored" in command_output()


def test_config_form_methods_by_datasets(tmp_path: Path) -> None:
    gt, pred = toy_maps(tmp_path / "A")
    gt2, pred2 = toy_maps(tmp_path / "B", n=4)
    out = tmp_path / "out"
    run_command(
        "score",
        f"output_dir={out}",
        "workers=1",
        f"+datasets={{A: {gt}, B: {gt2}}}",
        f"+methods={{m1: '{tmp_path}/{{dataset}}/pred', m2: '{tmp_path}/{{dataset}}/pred'}}",
    )
    data = json.loads((out / "metrics.json").read_text())
    assert data.pop("convention") == "pysodmetrics"  # recorded beside the metrics (README)
    assert set(data) == {"A", "B"} and set(data["A"]) == {"m1", "m2"}
    assert data["A"]["m1"] == data["A"]["m2"]
    # the table's lines (under it: what ± means, the intervals being on by default)
    table = [ln for ln in (out / "metrics.md").read_text().splitlines() if ln.startswith("|")]
    assert len(table) == 2 + 4
    assert (out / "pr_curve_A.png").is_file() and (out / "pr_curve_B.png").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not SOD_DIR.is_dir(), reason="../shared/data/SOD absent")
def test_score_real_sod_maps_equal_pysodmetrics(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_command(
        "score",
        f"gt_dir={SOD_DIR / 'gt'}",
        f"pred_dir={SOD_DIR / 'maps' / 'PiCANet'}",
        f"output_dir={out}",
    )
    ours = json.loads((out / "metrics.json").read_text())
    assert ours.pop("convention") == "pysodmetrics"  # recorded beside the metrics (README)
    pairs = []
    for g in sorted((SOD_DIR / "gt").glob("*.png")):
        gt = np.asarray(Image.open(g).convert("L"))
        pairs.append(
            (np.asarray(Image.open(SOD_DIR / "maps" / "PiCANet" / g.name).convert("L")), gt)
        )
    theirs = _theirs(pairs)
    assert list(ours) == list(METRIC_NAMES)
    for k, v in theirs.items():
        assert abs(ours[k] - v) <= 1e-6, (k, ours[k], v)
