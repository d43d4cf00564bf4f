"""``eval`` and ``score`` never write into the data (symlinks resolved) and never score a
photo, mask or map that does not decode completely: named as an error, or named and skipped
on request; ``eval`` writes the PR/F curves and their numbers as ``score`` does (in process:
``<command>.run``; an error here is the one ``error:`` line the CLI prints)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ras_lightning.utils.errors import DataError, UserError
from tests.conftest import one_line, run_command, tiny_set, toy_maps, write_image

EVAL_FAST = ["backend=torch", "fps=false", "workers=1", "progress=false"]


@pytest.fixture
def ckpt(tiny_ckpt: Path, tmp_path: Path) -> Path:
    """The session's checkpoint as ``ras.ckpt`` (the name the tables show)."""
    link = tmp_path / "w" / "ras.ckpt"
    link.parent.mkdir()
    link.symlink_to(tiny_ckpt)
    return link


def snapshot(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` with its size (to show nothing was written there)."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")}


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_score_refuses_output_inside_its_inputs_also_through_a_symlink(tmp_path: Path) -> None:
    gt, pred = toy_maps(tmp_path, n=3)
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="^output_dir") as err:
        run_command("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={gt}")
    assert "gt_dir" in one_line(err)
    link = tmp_path.parent / f"{tmp_path.name}_link"
    link.symlink_to(pred)
    try:
        with pytest.raises(UserError, match="is inside pred_dir"):
            run_command("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={link}/plots")
    finally:
        link.unlink()
    assert snapshot(tmp_path) == before  # no plot, no table, no empty folder


def test_score_names_a_truncated_mask_or_map_and_skips_it_on_request(
    tmp_path: Path, command_output: Callable[[], str]
) -> None:
    gt, pred = toy_maps(tmp_path, n=5, size=(64, 48))
    bad_mask = truncate(sorted(gt.glob("*.png"))[1])
    with pytest.raises(DataError, match=re.escape(str(bad_mask))) as err:
        run_command("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={tmp_path / 'o'}")
    assert "missing=skip" in one_line(err)
    bad_map = truncate(sorted(pred.glob("*.png"))[3], 0.6)
    out = tmp_path / "o2"
    command_output()
    run_command("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={out}", "missing=skip")
    log = command_output()
    assert str(bad_mask) in log and str(bad_map) in log and "2 unreadable skipped" in log
    assert "| pred | 3 |" in (out / "metrics.md").read_text()  # 5 pairs, 2 unreadable
    assert (out / "pr_curve_o2.png").is_file() or list(out.glob("pr_curve_*.png"))
    rows = (next(out.glob("curves_*.csv"))).read_text().splitlines()
    assert rows[0] == "method,threshold,precision,recall,f,e" and len(rows) == 1 + 256


def test_eval_refuses_output_in_the_data_also_through_a_symlink(ckpt: Path, tmp_path: Path) -> None:
    root = tiny_set(tmp_path / "data")
    before = snapshot(root)
    link = tmp_path / "link"
    link.symlink_to(root / "TINY")
    for out in (root, link / "eval"):
        with pytest.raises(UserError, match=f"^output_dir {re.escape(str(out))} is") as err:
            run_command(
                "eval",
                f"weights={ckpt}",
                f"data.root={root}",
                "data.test_sets=[TINY]",
                f"output_dir={out}",
                *EVAL_FAST,
            )
        one_line(err)
    # a set reached through a symlink: its real folders are protected too
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "LINKED").symlink_to(root / "TINY")
    with pytest.raises(UserError, match="LINKED's photos"):
        run_command(
            "eval",
            f"weights={ckpt}",
            f"data.root={tmp_path / 'other'}",
            "data.test_sets=[LINKED]",
            f"output_dir={root / 'TINY' / 'images' / 'maps'}",
            *EVAL_FAST,
        )
    assert snapshot(root) == before


def test_eval_names_broken_photos_and_masks_skips_on_request_and_plots(
    ckpt: Path, tmp_path: Path, command_output: Callable[[], str]
) -> None:
    root = tiny_set(tmp_path / "data", n=5)
    bad_photo = truncate(root / "TINY" / "images" / "p1.jpg")
    args = [f"weights={ckpt}", f"data.root={root}", "data.test_sets=[TINY]", *EVAL_FAST]
    with pytest.raises(DataError, match=re.escape(str(bad_photo))) as err:
        run_command("eval", *args, f"output_dir={tmp_path / 'e1'}")
    assert "data.on_unpaired=skip" in one_line(err)
    bad_mask = truncate(root / "TINY" / "masks" / "p3.png", 0.6)
    with pytest.raises(DataError, match=re.escape(str(bad_mask))):
        run_command("eval", *args, f"output_dir={tmp_path / 'e2'}")
    assert not (tmp_path / "e2").exists()  # masks are checked before any prediction

    out = tmp_path / "e3"
    (out / "TINY").mkdir(parents=True)
    write_image(out / "TINY" / "p1.png", np.zeros((48, 64), np.uint8))  # a stale map
    command_output()
    run_command("eval", *args, f"output_dir={out}", "data.on_unpaired=skip")
    log = command_output()
    assert str(bad_photo) in log and str(bad_mask) in log
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["sets"]["TINY"]) >= {"mae", "max_f"}
    assert "| TINY | ras.ckpt | 3 |" in (out / "metrics_full.md").read_text()  # 5 - 2 named
    assert sorted(os.listdir(out / "TINY")) == ["p0.png", "p1.png", "p2.png", "p4.png"]
    assert (out / "pr_curve_TINY.png").stat().st_size > 1000
    assert (out / "f_curve_TINY.png").stat().st_size > 1000
    rows = (out / "curves_TINY.csv").read_text().splitlines()
    assert rows[0].startswith("method,threshold,precision,recall,f") and len(rows) == 257
    assert rows[1].startswith("ras.ckpt,255,")
