"""One mask reader, broken files found before training (with the decode cache), one EXIF
policy and duplicate stems: through the readers, ``train.run`` in this process and (under
``-m slow``) the real ``train`` CLI with ``trainer=ddp_sim``."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ras_lightning.data import SODDataModule
from ras_lightning.data.demo import make_scene
from ras_lightning.data.readers import read_mask
from ras_lightning.utils.errors import DataError
from tests.conftest import TINY, run_cli, run_command

ORIENTATION = 0x0112
# a run that would train one epoch of two batches (1 test batch), resnet18 from scratch
RUN = [
    *TINY,
    "model/backbone=resnet18",
    "model.pretrained_backbone=false",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
]


def _scene(seed: int, size: tuple[int, int] = (48, 40)) -> tuple[np.ndarray, np.ndarray]:
    photo, mask = make_scene(seed, size)
    return np.asarray(photo), np.asarray(mask)


def _make_set(root: Path, name: str, n: int, seed: int = 0, mask_style: str = "0/255") -> Path:
    """``root/name/images/*.jpg`` + ``masks/*.png``: ``n`` demo scenes (48 x 40 photos), masks
    stored as 0/255, 0/1 labels, or foreground only in alpha (white RGBA)."""
    (root / name / "images").mkdir(parents=True)
    (root / name / "masks").mkdir(parents=True)
    for i in range(n):
        photo, mask = _scene(seed + i)
        Image.fromarray(photo).save(root / name / "images" / f"{i:04d}.jpg", quality=95)
        fg = mask > 127
        if mask_style == "0/1":
            out = Image.fromarray(fg.astype(np.uint8))
        elif mask_style == "alpha":
            rgba = np.full((*fg.shape, 4), 255, np.uint8)
            rgba[..., 3] = fg * 255
            out = Image.fromarray(rgba)
        else:
            out = Image.fromarray(fg.astype(np.uint8) * 255)
        out.save(root / name / "masks" / f"{i:04d}.png")
    return root / name


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("error:")]


def _save_oriented(photo: np.ndarray, path: Path, orientation: int) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    Image.fromarray(photo).save(path, exif=exif, quality=95)


# -- the one mask reader ---------------------------------------------------------------------
def test_every_mask_format_reads_as_the_same_mask(tmp_path: Path) -> None:
    m = np.zeros((10, 12), np.uint8)
    m[2:6, 3:9] = 255
    fg = m > 0
    files = {
        "one_bit.png": Image.fromarray(m).convert("1"),
        "eight_bit.png": Image.fromarray(m),
        "labels01.png": Image.fromarray(fg.astype(np.uint8)),
        "labels01_16bit.png": Image.fromarray(fg.astype(np.uint16)),
        "sixteen.png": Image.fromarray(m.astype(np.uint16) * 257),
        "rgb.png": Image.fromarray(np.stack([m] * 3, -1)),
        "rgba_colour.png": Image.fromarray(np.stack([m] * 3 + [np.full_like(m, 255)], -1)),
        "rgba_alpha_only.png": Image.fromarray(np.stack([np.zeros_like(m)] * 3 + [m], -1)),
        "la_alpha_only.png": Image.fromarray(np.stack([np.full_like(m, 255), m], -1), "LA"),
        "palette.png": Image.fromarray(m).convert("P"),
        "mask.bmp": Image.fromarray(m),
    }
    for name, im in files.items():
        im.save(tmp_path / name)
    for name in files:
        got = read_mask(str(tmp_path / name))
        assert got.dtype == np.float32 and got.shape == m.shape, name
        np.testing.assert_array_equal(got, fg.astype(np.float32), err_msg=name)
    Image.fromarray(m).save(tmp_path / "mask.jpg", quality=95)
    assert np.abs(read_mask(str(tmp_path / "mask.jpg")) - fg).max() < 0.1


def test_scorer_reads_masks_with_the_same_reader(tmp_path: Path) -> None:
    from ras_lightning.metrics.io import read_gray

    fg = np.zeros((9, 7), bool)
    fg[1:5, 2:6] = True
    Image.fromarray(fg.astype(np.uint8)).save(tmp_path / "labels.png")
    Image.fromarray(
        np.stack([np.zeros((9, 7), np.uint8)] * 3 + [fg.astype(np.uint8) * 255], -1)
    ).save(tmp_path / "alpha.png")
    for name in ("labels.png", "alpha.png"):
        np.testing.assert_array_equal(read_gray(str(tmp_path / name), is_mask=True), fg * 255)


def test_mask_exif_orientation_is_applied(tmp_path: Path) -> None:
    m = np.zeros((10, 16), np.uint8)
    m[:, :4] = 255
    _save_oriented(np.stack([m] * 3, -1), tmp_path / "m.jpg", 6)
    assert read_mask(str(tmp_path / "m.jpg")).shape == (16, 10)


def test_label_maps_are_a_named_error(tmp_path: Path) -> None:
    labels = np.zeros((8, 8), np.uint8)
    labels[2:4], labels[5:7] = 1, 3
    Image.fromarray(labels).save(tmp_path / "labels.png")
    with pytest.raises(DataError, match=r"cannot interpret mask .*labels\.png: .*0\.\.3"):
        read_mask(str(tmp_path / "labels.png"))


# -- through training -----------------------------------------------------------------------
def test_labels_alpha_exif_and_skips_train_with_real_masks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """0/1 label masks train as real masks (the old reader divided by 255: empty targets,
    test max_f 0); alpha-only masks read; a photo with EXIF orientation 6 and a mask drawn
    on the displayed photo trains; with data.on_unpaired=skip a truncated photo and a
    duplicate stem are named and skipped."""
    root = tmp_path / "data"
    tr = _make_set(root, "TR", 8, mask_style="0/1")
    _make_set(root, "LAB", 5, seed=50, mask_style="0/1")
    alpha = _make_set(root, "ALPHA", 5, seed=60, mask_style="alpha")
    photo, mask = _scene(99, (48, 32))  # stored 48 x 32; shown 32 x 48 (orientation 6)
    _save_oriented(photo, tr / "images" / "rot.jpg", 6)
    shown = np.asarray(Image.fromarray(mask).transpose(Image.Transpose.ROTATE_270))
    Image.fromarray((shown > 127).astype(np.uint8)).save(tr / "masks" / "rot.png")
    _truncate(alpha / "images" / "0002.jpg")
    Image.fromarray(_scene(3)[0]).save(alpha / "images" / "0003.png")  # 0003 twice
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO):
        run_command(
            "train",
            f"data.root={root}",
            *RUN,
            "data.train_set=TR",
            "data.val_sets=[LAB]",
            "data.test_sets=[LAB,ALPHA]",
            "data.on_unpaired=skip",
            run_dir=run,
        )
    log = caplog.text
    assert re.search(r"ALPHA.*skipped.*0003\.jpg \+ 0003\.png", log), log[-3000:]
    assert re.search(r"ALPHA.*skipped 1 pair: cannot read image .*0002\.jpg", log), log[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("val/LAB/max_f", "test/LAB/max_f", "test/ALPHA/max_f"):
        assert metrics[key] > 0.05, (key, metrics[key])


def _truncated_test_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, list]:
    """A data root whose test set TE has 12 truncated photos of 14, and a decode cache
    (``RAS_LIGHTNING_CACHE``) filled by a first check in this process, which stops with one
    line naming them; the root, the cache and the root's files (name, mtime) before."""
    root = tmp_path / "data"
    _make_set(root, "TR", 6)
    te = _make_set(root, "TE", 14, seed=20)
    for i in range(12):
        _truncate(te / "images" / f"{i:04d}.jpg")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in root.rglob("*"))
    cache = tmp_path / "cache"
    monkeypatch.setenv("RAS_LIGHTNING_CACHE", str(cache))
    dm = SODDataModule(str(root), "TR", [], ["TE"], image_size=32, val_fraction=0.0)
    with pytest.raises(DataError, match=r"^dataset 'TE': 12 bad files: cannot read image "):
        dm.setup()
    assert len(list((cache / "decode").glob("*.json"))) == 4  # TR and TE, photos and masks
    return root, cache, before


TRUNCATED_RUN = [
    "data.train_set=TR",
    "data.val_sets=[]",
    "data.val_fraction=0",
    "data.test_sets=[TE]",
]


def _check_truncated_line(line: str) -> None:
    """The one line: the count, the first 10 files by name, the way out."""
    assert line.startswith("dataset 'TE': 12 bad files: cannot read image "), line
    named = re.findall(r"cannot read image \S*/TE/images/(\d+)\.jpg: ", line)
    assert named == [f"{i:04d}" for i in range(10)], line
    assert line.endswith("... (fix them or set data.on_unpaired=skip)"), line


def test_truncated_photos_stop_the_run_before_training_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """12 truncated test photos: one line naming 10 of them and the count, before training.
    A first check fills the cache; the training run then decodes nothing, takes every
    outcome (the errors too) from the cache and names the files."""
    root, _, before = _truncated_test_set(tmp_path, monkeypatch)
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO), pytest.raises(DataError) as err:
        run_command("train", f"data.root={root}", *RUN, *TRUNCATED_RUN, run_dir=run)
    (line,) = str(err.value).strip().splitlines()
    _check_truncated_line(line)
    assert not (run / "checkpoints").exists()  # stopped before training
    log = caplog.text
    assert re.search(r"checked 12 files .*\(0 decoded, 12 unchanged", log), log[-2000:]
    assert re.search(r"checked 28 files .*\(0 decoded, 28 unchanged", log), log[-2000:]
    assert sorted((p.name, p.stat().st_mtime_ns) for p in root.rglob("*")) == before


@pytest.mark.slow
def test_truncated_photos_stop_the_cli_run_under_ddp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above through the real CLI under trainer=ddp_sim: one ``error:`` line, exit 1."""
    root, cache, before = _truncated_test_set(tmp_path, monkeypatch)
    run = tmp_path / "run"
    args = [f"data.root={root}", f"hydra.run.dir={run}", *RUN, "trainer=ddp_sim", *TRUNCATED_RUN]
    res = run_cli("train", *args, env={"RAS_LIGHTNING_CACHE": str(cache)})
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    (line,) = _errors(res.stderr)
    assert line.startswith("error: "), line
    _check_truncated_line(line.removeprefix("error: "))
    assert not (run / "checkpoints").exists()  # stopped before training
    log = res.stdout + res.stderr
    assert re.search(r"checked 12 files .*\(0 decoded, 12 unchanged", log), log[-2000:]
    assert re.search(r"checked 28 files .*\(0 decoded, 28 unchanged", log), log[-2000:]
    assert sorted((p.name, p.stat().st_mtime_ns) for p in root.rglob("*")) == before


def _setup(root: Path, on_unpaired: str = "error") -> SODDataModule:
    dm = SODDataModule(
        str(root), "TR", [], [], image_size=32, val_fraction=0.0, on_unpaired=on_unpaired
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_exif_mismatch_and_label_maps_are_named(tmp_path: Path) -> None:
    root = tmp_path / "data"
    tr = _make_set(root, "TR", 4)
    photo, mask = _scene(7, (48, 32))  # a mask drawn on the photo as stored, not as shown
    _save_oriented(photo, tr / "images" / "rot.jpg", 6)
    Image.fromarray(mask).save(tr / "masks" / "rot.png")
    with pytest.raises(DataError) as err:
        _setup(root)
    assert re.fullmatch(
        r"dataset 'TR': size mismatch: photo \S*rot\.jpg is 32x48 after its EXIF orientation "
        r"\(tag 6\), mask \S*rot\.png is 48x32; the mask fits the photo as stored, .*",
        str(err.value),
    ), err.value
    (tr / "images" / "rot.jpg").unlink()
    (tr / "masks" / "rot.png").unlink()
    labels = np.zeros((40, 48), np.uint8)
    labels[5:20, 5:20], labels[25:35, 25:40] = 1, 2
    Image.fromarray(labels).save(tr / "masks" / "0003.png")
    with pytest.raises(
        DataError, match=r"cannot interpret mask \S*0003\.png: its values are 0\.\.2"
    ):
        _setup(root)
    assert [s.name for s in _setup(root, "skip").train_data.samples] == ["0000", "0001", "0002"]


def test_duplicate_stems_are_a_named_error_at_setup(tmp_path: Path) -> None:
    """(Named skips of duplicates through the CLI: the training test above.)"""
    root = tmp_path / "data"
    tr = _make_set(root, "TR", 6)
    Image.fromarray(_scene(1)[0]).save(tr / "images" / "0001.png")
    Image.fromarray(_scene(4)[1]).save(tr / "masks" / "0004.bmp")
    with pytest.raises(DataError) as err:
        _setup(root)
    assert str(err.value) == (
        "dataset 'TR': 2 file names used by more than one file (0001.jpg + 0001.png, "
        "0004.bmp + 0004.png); keep one file per name or set data.on_unpaired=skip"
    )
    kept = [s.name for s in _setup(root, "skip").train_data.samples]
    assert kept == ["0000", "0002", "0003", "0005"]
