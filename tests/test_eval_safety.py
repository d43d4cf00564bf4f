"""``eval`` and ``score`` never write into the data (symlinks resolved) and never score a
photo, mask or map that does not decode completely: named as an error, or named and skipped
on request; ``eval`` writes the PR/F curves and their numbers as ``score`` does (real CLI)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from tests.conftest import run_cli, toy_maps, write_image
from tests.test_export import seeded_ckpt

EVAL_FAST = ["backend=torch", "fps=false", "workers=1", "progress=false"]


def one_error_line(stderr: str) -> bool:
    """One ``error: ...`` line and no traceback (a progress bar may precede it)."""
    return sum(ln.startswith("error: ") for ln in stderr.splitlines()) == 1 and (
        "Traceback" not in stderr
    )


def snapshot(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` with its size (to show nothing was written there)."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")}


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def tiny_set(root: Path, n: int = 4) -> Path:
    """``root/TINY/{images,masks}``: ``n`` 48x64 photos (JPEG) with rectangle masks."""
    rng = np.random.default_rng(0)
    for i in range(n):
        mask = np.zeros((48, 64), np.uint8)
        mask[8 + i : 40, 10 + 2 * i : 50] = 255
        photo = rng.integers(0, 80, (48, 64, 3), np.uint8)
        photo[mask > 0] += 150
        write_image(root / "TINY" / "images" / f"p{i}.jpg", photo)
        write_image(root / "TINY" / "masks" / f"p{i}.png", mask)
    return root


def test_score_refuses_output_inside_its_inputs_also_through_a_symlink(tmp_path: Path) -> None:
    gt, pred = toy_maps(tmp_path, n=3)
    before = snapshot(tmp_path)
    res = run_cli("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={gt}")
    assert res.returncode == 1 and res.stderr.startswith("error: output_dir")
    assert "gt_dir" in res.stderr and res.stderr.strip().count("\n") == 0
    link = tmp_path.parent / f"{tmp_path.name}_link"
    link.symlink_to(pred)
    try:
        res = run_cli("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={link}/plots")
    finally:
        link.unlink()
    assert res.returncode == 1 and "is inside pred_dir" in res.stderr
    assert snapshot(tmp_path) == before  # no plot, no table, no empty folder


def test_score_names_a_truncated_mask_or_map_and_skips_it_on_request(tmp_path: Path) -> None:
    gt, pred = toy_maps(tmp_path, n=5, size=(64, 48))
    bad_mask = truncate(sorted(gt.glob("*.png"))[1])
    res = run_cli("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={tmp_path / 'o'}")
    assert res.returncode == 1 and str(bad_mask) in res.stderr and "missing=skip" in res.stderr
    assert one_error_line(res.stderr)
    bad_map = truncate(sorted(pred.glob("*.png"))[3], 0.6)
    out = tmp_path / "o2"
    res = run_cli("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={out}", "missing=skip")
    assert res.returncode == 0, res.stderr[-2000:]
    log = res.stdout + res.stderr
    assert str(bad_mask) in log and str(bad_map) in log and "2 unreadable skipped" in log
    assert "| pred | 3 |" in (out / "metrics.md").read_text()  # 5 pairs, 2 unreadable
    assert (out / "pr_curve_o2.png").is_file() or list(out.glob("pr_curve_*.png"))
    rows = (next(out.glob("curves_*.csv"))).read_text().splitlines()
    assert rows[0] == "method,threshold,precision,recall,f,e" and len(rows) == 1 + 256


def test_eval_refuses_output_in_the_data_also_through_a_symlink(tmp_path: Path) -> None:
    root = tiny_set(tmp_path / "data")
    ckpt = seeded_ckpt(tmp_path / "w" / "ras.ckpt")
    before = snapshot(root)
    link = tmp_path / "link"
    link.symlink_to(root / "TINY")
    for out in (root, link / "eval"):
        res = run_cli(
            "eval",
            f"weights={ckpt}",
            f"data.root={root}",
            "data.test_sets=[TINY]",
            f"output_dir={out}",
            *EVAL_FAST,
        )
        assert res.returncode == 1, res.stdout[-2000:]
        assert res.stderr.startswith(f"error: output_dir {out} is"), res.stderr
        assert res.stderr.strip().count("\n") == 0
    # a set reached through a symlink: its real folders are protected too
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "LINKED").symlink_to(root / "TINY")
    res = run_cli(
        "eval",
        f"weights={ckpt}",
        f"data.root={tmp_path / 'other'}",
        "data.test_sets=[LINKED]",
        f"output_dir={root / 'TINY' / 'images' / 'maps'}",
        *EVAL_FAST,
    )
    assert res.returncode == 1 and "LINKED's photos" in res.stderr, res.stderr
    assert snapshot(root) == before


def test_eval_names_broken_photos_and_masks_skips_on_request_and_plots(tmp_path: Path) -> None:
    root = tiny_set(tmp_path / "data", n=5)
    ckpt = seeded_ckpt(tmp_path / "w" / "ras.ckpt")
    bad_photo = truncate(root / "TINY" / "images" / "p1.jpg")
    args = [f"weights={ckpt}", f"data.root={root}", "data.test_sets=[TINY]", *EVAL_FAST]
    res = run_cli("eval", *args, f"output_dir={tmp_path / 'e1'}")
    assert res.returncode == 1 and str(bad_photo) in res.stderr, res.stderr[-2000:]
    assert "data.on_unpaired=skip" in res.stderr and one_error_line(res.stderr)
    bad_mask = truncate(root / "TINY" / "masks" / "p3.png", 0.6)
    res = run_cli("eval", *args, f"output_dir={tmp_path / 'e2'}")
    assert res.returncode == 1 and str(bad_mask) in res.stderr, res.stderr[-2000:]
    assert not (tmp_path / "e2").exists()  # masks are checked before any prediction

    out = tmp_path / "e3"
    (out / "TINY").mkdir(parents=True)
    write_image(out / "TINY" / "p1.png", np.zeros((48, 64), np.uint8))  # a stale map
    res = run_cli("eval", *args, f"output_dir={out}", "data.on_unpaired=skip")
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stdout + res.stderr
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
