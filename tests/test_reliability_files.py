"""Same-stem files and oversized images in every folder a command reads (issue 21, parts 2
and 3): ``score``'s mask and map folders, ``eval``'s and training's photo and mask folders,
``predict``'s photos. Two files with one stem are a one-line error naming both, or a named
skip with the command's skip switch; a file whose header claims more pixels than the limit
(``data.max_pixels`` / ``max_pixels``) is refused before anything decodes it, and ``predict``
skips it, named, and writes the rest. Inputs are never changed. In process (``run_command``,
library calls); the "huge" images are a few hundred bytes with a patched header."""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from hydra.utils import instantiate
from PIL import Image

from ras_lightning.data import checks
from ras_lightning.data.readers import read_mask, read_photo
from ras_lightning.utils.errors import DataError, UserError
from tests.conftest import (
    bomb_png,
    compose_config,
    fingerprint,
    one_line,
    run_command,
    tiny_set,
    toy_maps,
    write_image,
)

SCORE_FAST = ["workers=1", "plots=false", "progress=false"]
EVAL_FAST = ["backend=torch", "fps=false", "workers=1", "progress=false", "plots=false"]
LIMIT = checks.MAX_PIXELS


def bomb_jpeg(path: Path, width: int = 60000, height: int = 60000) -> Path:
    """A small JPEG whose frame header (SOF0) claims ``width`` x ``height``."""
    write_image(path, np.zeros((8, 8, 3), np.uint8))
    data = bytearray(path.read_bytes())
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def test_bomb_headers_are_one_line_errors_in_the_readers_and_checks(tmp_path: Path) -> None:
    png, jpg = bomb_png(tmp_path / "big.png"), bomb_jpeg(tmp_path / "big.jpg")
    assert checks.header_size(str(png)) == (30000, 30000)
    assert checks.header_size(str(jpg)) == (60000, 60000)
    for path in (png, jpg):
        assert f"{path} is too large" in checks.too_large(str(path), LIMIT, "max_pixels")
        assert checks.exif_orientation(str(path)) == 1  # never PIL's bomb error
        for read in (read_photo, read_mask):  # PIL's own guard: one line naming the file
            with pytest.raises(DataError, match=re.escape(str(path))) as err:
                read(str(path))
            one_line(err)
    assert checks.too_large(str(png), 30000 * 30000, "max_pixels") is None
    for bad in (0, -5, "many", True, 1.5):
        with pytest.raises(DataError, match="max_pixels must be a whole number"):
            checks.pixel_limit(bad, "max_pixels")
    assert checks.pixel_limit(None, "max_pixels") == LIMIT
    assert Image.MAX_IMAGE_PIXELS >= LIMIT  # files within the limit decode without PIL's guard


def test_score_same_stems_and_oversized_files(
    tmp_path: Path, command_output: Callable[[], str]
) -> None:
    gt, pred = toy_maps(tmp_path / "a", n=5)
    write_image(gt / "img0.jpg", np.zeros((30, 40), np.uint8))  # img0.png + img0.jpg
    before = fingerprint(tmp_path / "a")
    args = [f"gt_dir={gt}", f"pred_dir={pred}", *SCORE_FAST]
    with pytest.raises(DataError) as err:
        run_command("score", *args, f"output_dir={tmp_path / 'o1'}")
    msg = one_line(err)
    assert "img0.jpg + img0.png" in msg and str(gt) in msg and "missing=skip" in msg
    # in the map folder too
    (gt / "img0.jpg").unlink()
    write_image(pred / "img1.jpg", np.zeros((30, 40), np.uint8))
    with pytest.raises(DataError, match=r"img1\.jpg \+ img1\.png.*missing=skip") as err:
        run_command("score", *args, f"output_dir={tmp_path / 'o2'}")
    assert str(pred) in one_line(err)
    # a mask and a map whose headers claim 30000x30000: named before anything decodes them
    big_mask, big_map = bomb_png(gt / "img2.png"), bomb_png(pred / "img3.png")
    (pred / "img1.jpg").unlink()
    with pytest.raises(DataError) as err:
        run_command("score", *args, f"output_dir={tmp_path / 'o3'}")
    msg = one_line(err)
    assert f"mask {big_mask} is too large: 30000x30000 pixels by its header" in msg
    assert f"over max_pixels={LIMIT}" in msg and "missing=skip" in msg
    # skipped with missing=skip: each named, the others scored
    write_image(pred / "img1.jpg", np.zeros((30, 40), np.uint8))
    before = fingerprint(tmp_path / "a")
    out = tmp_path / "o4"
    command_output()
    run_command("score", *args, f"output_dir={out}", "missing=skip")
    log = command_output()
    assert "img1.jpg + img1.png" in log and str(big_mask) in log and str(big_map) in log
    assert "| pred | 2 |" in (out / "metrics.md").read_text()  # 5 - same stem - 2 too large
    assert fingerprint(tmp_path / "a") == before
    # the limit is a setting
    (pred / "img1.jpg").unlink()
    with pytest.raises(DataError, match=r"is too large: 40x30 pixels by its header, over max_pix"):
        run_command("score", *args, f"output_dir={tmp_path / 'o5'}", "max_pixels=1000")
    with pytest.raises(DataError, match="max_pixels must be a whole number of pixels above 0"):
        run_command("score", *args, f"output_dir={tmp_path / 'o6'}", "max_pixels=0")


def test_eval_same_stems_and_oversized_files(
    tiny_ckpt: Path, tmp_path: Path, command_output: Callable[[], str]
) -> None:
    root = tiny_set(tmp_path / "data", n=5)
    images, masks = root / "TINY" / "images", root / "TINY" / "masks"
    args = [f"weights={tiny_ckpt}", f"data.root={root}", "data.test_sets=[TINY]", *EVAL_FAST]
    write_image(images / "p0.png", np.zeros((48, 64, 3), np.uint8))  # p0.jpg + p0.png
    with pytest.raises(DataError) as err:
        run_command("eval", *args, f"output_dir={tmp_path / 'e1'}")
    msg = one_line(err)
    assert "p0.jpg + p0.png" in msg and "data.on_unpaired=skip" in msg
    (images / "p0.png").unlink()
    write_image(masks / "p1.jpg", np.zeros((48, 64), np.uint8))  # p1.jpg + p1.png masks
    with pytest.raises(DataError, match=r"p1\.jpg \+ p1\.png"):
        run_command("eval", *args, f"output_dir={tmp_path / 'e2'}")
    (masks / "p1.jpg").unlink()
    # a photo whose header claims 30000x30000 beside its 64x48 mask: the limit, not a
    # traceback while the size-mismatch message is built
    (images / "p2.jpg").unlink()
    big = bomb_png(images / "p2.png")
    with pytest.raises(DataError) as err:
        run_command("eval", *args, f"output_dir={tmp_path / 'e3'}")
    assert one_line(err) == (
        f"dataset 'TINY': image {big} is too large: 30000x30000 pixels by its header, "
        f"over data.max_pixels={LIMIT}"
    )
    big_mask = bomb_png(masks / "p3.png")
    with pytest.raises(DataError, match=re.escape(f"mask {big_mask} is too large")):
        run_command("eval", *args, f"output_dir={tmp_path / 'e4'}", "data.max_pixels=1e8")
    # skipped, each named, the rest predicted and scored; the inputs unchanged
    write_image(images / "p0.png", np.zeros((48, 64, 3), np.uint8))
    before = fingerprint(root)
    out = tmp_path / "e5"
    command_output()
    run_command("eval", *args, f"output_dir={out}", "data.on_unpaired=skip")
    log = command_output()
    assert "p0.jpg + p0.png" in log and str(big) in log and str(big_mask) in log
    assert "| TINY | last.ckpt | 2 |" in (out / "metrics_full.md").read_text()
    assert sorted(p.name for p in (out / "TINY").iterdir()) == ["p1.png", "p4.png"]
    assert fingerprint(root) == before


def test_training_setup_same_stems_and_oversized_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tiny_set(tmp_path / "data", n=5)
    images, masks = root / "TINY" / "images", root / "TINY" / "masks"
    write_image(masks / "p0.jpg", np.zeros((48, 64), np.uint8))  # p0.jpg + p0.png masks
    (images / "p1.jpg").unlink()
    big = bomb_jpeg(images / "p1.jpg")

    def datamodule(*extra: str):  # the train command's data config, as it instantiates it
        cfg = compose_config(
            f"data.root={root}",
            "data.demo=false",
            "data.train_set=TINY",
            "data.val_sets=[]",
            "data.val_fraction=0",
            "data.batch_size=2",
            *extra,
        )
        return instantiate(cfg.data)

    with pytest.raises(DataError) as err:
        datamodule().prepare_data()
    msg = one_line(err)
    assert "p0.jpg + p0.png" in msg and "data.on_unpaired=skip" in msg
    (masks / "p0.jpg").unlink()
    with pytest.raises(DataError) as err:
        datamodule().prepare_data()
    assert f"image {big} is too large: 60000x60000 pixels by its header" in one_line(err)
    with pytest.raises(
        DataError, match=r"is too large: 64x48 pixels by its header, over data\.max_pixels=100\b"
    ):
        datamodule("data.max_pixels=100").setup("fit")
    write_image(masks / "p0.jpg", np.zeros((48, 64), np.uint8))
    before = fingerprint(root)
    dm = datamodule("data.on_unpaired=skip")
    dm.prepare_data()
    dm.setup("fit")
    assert sorted(s.name for s in dm.train_data.samples) == ["p2", "p3", "p4"]
    assert "p0.jpg + p0.png" in caplog.text and str(big) in caplog.text
    assert fingerprint(root) == before


def test_predict_same_stems_and_oversized_photos(
    tiny_ckpt: Path, tmp_path: Path, command_output: Callable[[], str]
) -> None:
    src = tmp_path / "photos"
    rng = np.random.default_rng(0)
    write_image(src / "a.jpg", rng.integers(0, 255, (40, 56, 3), np.uint8))
    write_image(src / "a.png", rng.integers(0, 255, (36, 48, 3), np.uint8))
    write_image(src / "c.jpg", rng.integers(0, 255, (30, 30, 3), np.uint8))
    big_png, big_jpg = bomb_png(src / "b.png"), bomb_jpeg(src / "d.jpg")
    before = fingerprint(src)
    out = tmp_path / "out"
    args = [f"weights={tiny_ckpt}", "backend=torch", "progress=false", f"input={src}"]
    command_output()
    run_command("predict", *args, f"output={out}")
    log = command_output()
    assert "predict: 3 written, 2 skipped (2 too large)" in log
    assert re.search(
        rf"skipped {re.escape(str(big_png))}: photo \S+ is too large: 30000x30000", log
    )
    assert re.search(rf"skipped {re.escape(str(big_jpg))}: .*60000x60000", log)
    assert "a.jpg + a.png" in log  # same-stem photos named; each keeps its extension
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg.png", "a.png.png", "c.png"]
    assert fingerprint(src) == before
    # the limit is a setting, checked before the network is loaded
    command_output()
    run_command("predict", *args, f"output={tmp_path / 'o2'}", "max_pixels=1200")
    assert "1 written, 4 skipped (4 too large)" in command_output()  # c.jpg: 900 pixels
    with pytest.raises(DataError, match="max_pixels must be a whole number"):
        run_command("predict", *args, f"output={tmp_path / 'o3'}", "max_pixels=-1")
    assert not (tmp_path / "o3").exists()
    # a video's frames too, by its container's frame size (64x48), never decoded
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for _ in range(2):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    command_output()
    with pytest.raises(UserError, match="nothing written"):
        run_command(
            "predict", *args[:2], f"input={clip}", f"output={tmp_path / 'v'}", "max_pixels=3000"
        )
    assert (
        f"video {clip} is too large: 64x48 pixels a frame, over max_pixels=3000" in command_output()
    )
    assert not (tmp_path / "v").exists()
