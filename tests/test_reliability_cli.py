"""One case per class of issue 21 through the real CLI (``python -m ras_lightning.<verb>`` in
a subprocess): the exit status, the one ``error:`` line (no traceback) and inputs left as they
were. The in-process cases of each class, many more of them, are in
``tests/test_reliability_{formats,files,writes,settings,newcomer}.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import bomb_png, fingerprint, run_cli, tiny_train_args, write_image

pytestmark = pytest.mark.slow


def _one_error_line(res) -> str:
    """The process failed with exactly one ``error: ...`` line on stderr."""
    assert res.returncode != 0, res.stdout[-2000:] + res.stderr[-2000:]
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1, res.stderr[-3000:]
    return errors[0]


def _masks_and_maps(root: Path, n: int = 4) -> tuple[Path, Path]:
    gt, pred = root / "gt", root / "pred"
    for i in range(n):
        mask = np.zeros((32, 40), np.uint8)
        mask[4 + i : 24, 6 : 30 - i] = 255
        write_image(gt / f"{i:04d}.png", mask)
        write_image(pred / f"{i:04d}.png", mask)
    return gt, pred


def test_a_palette_mask_scores_as_its_label(tmp_path: Path) -> None:
    """Formats: a palette mask whose label is red reads as foreground (not gray 76)."""
    gt, pred = _masks_and_maps(tmp_path / "in")
    for p in gt.iterdir():
        label = np.asarray(Image.open(p)) > 0
        pal = Image.fromarray(label.astype(np.uint8), mode="P")
        pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
        pal.save(p)
    before = fingerprint(tmp_path / "in")
    res = run_cli("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={tmp_path / 'out'}")
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["max_f"] > 0.99
    assert fingerprint(tmp_path / "in") == before


def test_two_maps_with_one_stem_are_one_line(tmp_path: Path) -> None:
    """Same-stem files: ``0001.png`` and ``0001.jpg`` in a map folder are named, not picked."""
    gt, pred = _masks_and_maps(tmp_path / "in")
    Image.open(pred / "0001.png").save(pred / "0001.jpg")
    before = fingerprint(tmp_path / "in")
    res = run_cli("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={tmp_path / 'out'}")
    line = _one_error_line(res)
    assert "0001.png" in line and "0001.jpg" in line, line
    assert fingerprint(tmp_path / "in") == before


def test_a_photo_over_the_size_limit_is_skipped_by_predict(tmp_path: Path, tiny_ckpt: Path) -> None:
    """Size limits: predict names the huge photo, skips it and writes the rest."""
    photos = tmp_path / "photos"
    write_image(photos / "a.jpg", np.random.default_rng(0).integers(0, 255, (40, 50, 3), np.uint8))
    bomb_png(photos / "huge.png")
    before = fingerprint(photos)
    res = run_cli(
        "predict", f"weights={tiny_ckpt}", f"input={photos}", f"output={tmp_path / 'out'}"
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    assert "huge.png" in res.stdout + res.stderr
    assert (tmp_path / "out" / "a.png").is_file()
    assert not (tmp_path / "out" / "huge.png").exists()
    assert fingerprint(photos) == before


def test_writing_onto_a_file_is_one_line(tmp_path: Path) -> None:
    """Writes: an output folder that is a file is ``error: cannot write ...``."""
    gt, pred = _masks_and_maps(tmp_path / "in")
    blocker = tmp_path / "out"
    blocker.write_text("a file, not a folder")
    res = run_cli("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={blocker}")
    line = _one_error_line(res)
    assert "cannot write" in line, line
    assert blocker.read_text() == "a file, not a folder"


def test_an_unknown_optimizer_key_is_one_line_before_any_data(
    demo_root: Path, tmp_path: Path
) -> None:
    """Settings: ``+optimizer.lrr`` (Hydra's own suggestion for a typo) names the key."""
    args = tiny_train_args(demo_root, tmp_path / "run", "+optimizer.lrr=1e-3")
    args = [
        a if not a.startswith("data.root=") else f"data.root={tmp_path / 'nowhere'}" for a in args
    ]
    line = _one_error_line(run_cli("train", *args))
    assert "lrr" in line and "lr" in line.replace("lrr", ""), line


def test_weights_that_are_not_a_model_file_say_so(tmp_path: Path) -> None:
    """Weights: random bytes are not a PyTorch/ONNX file, and no trust switch is suggested."""
    junk = tmp_path / "junk.pth"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    photo = write_image(tmp_path / "p.jpg", np.zeros((20, 20, 3), np.uint8))
    line = _one_error_line(
        run_cli("predict", f"weights={junk}", f"input={photo}", f"output={tmp_path / 'o.png'}")
    )
    assert "junk.pth" in line and "trust_weights" not in line, line


def test_score_records_its_convention(tmp_path: Path) -> None:
    """Newcomer edges: the convention is written into metrics.json and metrics.md."""
    gt, pred = _masks_and_maps(tmp_path / "in")
    out = tmp_path / "out"
    res = run_cli(
        "score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={out}", "convention=f3net"
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "f3net" in (out / "metrics.json").read_text()
    assert "f3net" in (out / "metrics.md").read_text()
