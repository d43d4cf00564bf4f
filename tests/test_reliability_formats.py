"""Every mask, map and photo format a user meets, through every reader path: the training
reader (the DataModule's dataset), ``score`` and ``eval`` in both conventions, predict's photo
reading. Each gives the same values, or the same one-line error naming the file, and no input
file is touched."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ras_lightning.data.dataset import SODDataset
from ras_lightning.data.readers import photo_rgb, read_map, read_mask, read_photo
from ras_lightning.data.sample import Sample
from ras_lightning.inference.evaluation import evaluate_set, find_test_sets
from ras_lightning.metrics import f3net, io
from ras_lightning.utils.errors import DataError
from tests.conftest import one_line, run_command

SIZE = 32
MASK = np.zeros((SIZE, SIZE), np.uint8)
MASK[8:24, 6:20] = 255  # off-centre, so a transposed or flipped read would show
FG = MASK > 0
CONVENTIONS = ("pysodmetrics", "f3net")


def _gray(v: np.ndarray) -> np.ndarray:
    return np.stack([v] * 3, -1)


def _palette_red() -> Image.Image:
    im = Image.fromarray(FG.astype(np.uint8), "P")
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)  # index 1: a red label on black
    return im


def _noise() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), np.uint8)


def _palette_transparent() -> Image.Image:
    im = Image.fromarray(FG.astype(np.uint8), "P")
    im.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)  # black everywhere, index 0 transparent
    im.info["transparency"] = 0
    return im


def _save(im: Image.Image, path: Path, **kw: object) -> None:
    im.save(path, **kw)


# name -> (file name, writer); every one shows MASK
FORMATS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "one_bit": ("x.png", lambda p: _save(Image.fromarray(MASK).convert("1"), p)),
    "gray8": ("x.png", lambda p: _save(Image.fromarray(MASK), p)),
    "gray16": ("x.png", lambda p: _save(Image.fromarray(MASK.astype(np.uint16) * 257), p)),
    "palette_gray": ("x.png", lambda p: _save(Image.fromarray(MASK).convert("P"), p)),
    "palette_red": ("x.png", lambda p: _save(_palette_red(), p)),
    "gray_alpha": (
        "x.png",
        lambda p: _save(Image.fromarray(np.stack([MASK, np.full_like(MASK, 255)], -1), "LA"), p),
    ),
    "gray_alpha_only": (
        "x.png",
        lambda p: _save(Image.fromarray(np.stack([np.full_like(MASK, 255), MASK], -1), "LA"), p),
    ),
    "rgb": ("x.png", lambda p: _save(Image.fromarray(_gray(MASK)), p)),
    "rgb_red": (
        "x.png",
        lambda p: _save(Image.fromarray(np.dstack([MASK, 0 * MASK, 0 * MASK])), p),
    ),
    "rgba_colour": (
        "x.png",
        lambda p: _save(Image.fromarray(np.dstack([_gray(MASK), np.full_like(MASK, 255)])), p),
    ),
    "rgba_alpha_only": (
        "x.png",
        lambda p: _save(Image.fromarray(np.dstack([_gray(0 * MASK), MASK])), p),
    ),
    "rgba_white_cutout": (
        "x.png",
        lambda p: _save(Image.fromarray(np.dstack([_gray(0 * MASK + 255), MASK])), p),
    ),
    "rgba_photo_cutout": (  # a photo's object cut out: random colours where visible
        "x.png",
        lambda p: _save(Image.fromarray(np.dstack([_noise(), MASK])), p),
    ),
    "palette_transparent": ("x.png", lambda p: _save(_palette_transparent(), p)),
    "labels01": ("x.png", lambda p: _save(Image.fromarray(FG.astype(np.uint8)), p)),
    "jpeg_gray": ("x.jpg", lambda p: _save(Image.fromarray(MASK), p, quality=95)),
    "jpeg_rgb": ("x.jpg", lambda p: _save(Image.fromarray(_gray(MASK)), p, quality=95)),
    # colour at full resolution (4:4:4): the reading is under test, not chroma subsampling
    "jpeg_red": (
        "x.jpg",
        lambda p: _save(
            Image.fromarray(np.dstack([MASK, 0 * MASK, 0 * MASK])), p, quality=95, subsampling=0
        ),
    ),
}
LOSSY = {"jpeg_gray", "jpeg_rgb", "jpeg_red"}


def _labels(p: Path) -> None:
    labels = FG.astype(np.uint8)
    labels[:4] = 3  # a third class: a label map, not a mask
    Image.fromarray(labels).save(p)


BAD: dict[str, tuple[str, Callable[[Path], None], str]] = {
    # name -> (file name, writer, the one-line error's pattern after the path)
    "labels": ("x.png", _labels, r": its values are 0\.\.3 \(class labels\?\)"),
    "not_an_image": ("x.png", lambda p: p.write_text("not an image"), ": "),
}


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``root/<format>/x.<ext>`` for every format and bad file."""
    root = tmp_path_factory.mktemp("formats")
    for name, (fname, write) in {**FORMATS, **{k: v[:2] for k, v in BAD.items()}}.items():
        (root / name).mkdir()
        write(root / name / fname)
    return root


def _file(root: Path, name: str) -> str:
    return str(next((root / name).iterdir()))


# ------------------------------------------------------------------------- the readers, direct
def _shows_mask(values01: np.ndarray, name: str) -> None:
    """``values01`` (in [0, 1]) is MASK: exactly, or for a JPEG on the right side of 0.5
    everywhere and close on average."""
    if name not in LOSSY:
        np.testing.assert_array_equal(values01, FG.astype(values01.dtype), err_msg=name)
        return
    np.testing.assert_array_equal(values01 > 0.5, FG, err_msg=name)
    assert np.abs(values01 - FG).mean() < 0.05, name


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_reader_reads_every_format_alike(files: Path, name: str) -> None:
    path = _file(files, name)
    # training: the DataModule's dataset reads the mask (at the photo's size)
    photo = files / "photo.png"
    if not photo.exists():
        Image.fromarray(_gray(MASK)).save(photo)
    dataset = SODDataset([Sample("x", str(photo), path)], lambda img: np.zeros(1), False)
    train = dataset[0]["mask"][0].numpy()
    _shows_mask(train, name)
    np.testing.assert_array_equal(read_mask(path), train)
    # pysodmetrics: the mask binarised at > 128; the map min-max normalised (so 0/1 is 0/255)
    gt, m = io.read_gray(path, is_mask=True), read_map(path)
    np.testing.assert_array_equal(gt > 128, FG, err_msg=name)
    _shows_mask(f3net.mat2gray(m), name)
    # f3net: mat2gray, then the mask at >= 0.5, in MATLAB's class
    pred, gt3, resized = f3net.load_pair(path, path)
    assert not resized and pred.dtype == (np.uint16 if name == "gray16" else np.uint8)
    np.testing.assert_array_equal(f3net.mat2gray(gt3) >= 0.5, FG, err_msg=name)
    _shows_mask(f3net.mat2gray(pred), name)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_masks_are_one_error_naming_the_file_in_every_reader(files: Path, name: str) -> None:
    path = _file(files, name)
    pattern = r"mask .*" + BAD[name][0].replace(".", r"\.")
    readers = [
        lambda: read_mask(path),
        lambda: io.load_pair(path, _file(files, "gray8")),
        lambda: f3net.load_pair(path, _file(files, "gray8")),
    ]
    messages = []
    for read in readers:
        with pytest.raises(DataError, match=pattern) as err:
            read()
        messages.append(one_line(err.value))
    assert len(set(messages)) == 1, messages  # the same words everywhere
    assert path in messages[0]


def test_predict_reads_every_photo_format_alike(files: Path) -> None:
    from ras_lightning.inference import evaluation, saliency_predictor
    from ras_lightning.inference import files as predict_files

    # predict, eval and the Python API read photos through the one reader
    assert predict_files.read_photo is evaluation.read_photo is read_photo
    assert saliency_predictor.photo_rgb is photo_rgb
    for name in FORMATS:
        path = _file(files, name)
        rgb = read_photo(path)
        assert rgb.shape == (SIZE, SIZE, 3) and rgb.dtype == np.uint8, name
        with Image.open(path) as im:
            np.testing.assert_array_equal(photo_rgb(im), rgb, err_msg=name)
        if name in ("one_bit", "gray8", "gray16", "palette_gray", "rgb", "rgba_colour"):
            np.testing.assert_array_equal(rgb, _gray(MASK), err_msg=name)  # 16-bit scaled
    with pytest.raises(DataError, match=r"^cannot read image .*not_an_image.x\.png: ") as err:
        read_photo(_file(files, "not_an_image"))
    one_line(err.value)


# ------------------------------------------------------------------------ score and eval
def _layout(root: Path, files: Path) -> tuple[Path, list[str]]:
    """``root/gt/<set>`` and ``root/maps/<set>`` for each format twice: ``mask_<f>`` (the
    mask in format f, a gray map) and ``map_<f>`` (a gray mask, the map in format f)."""
    names = []
    for name in FORMATS:
        for kind in ("mask", "map"):
            ds = f"{kind}_{name}"
            names.append(ds)
            for part in ("gt", "maps"):
                (root / part / ds).mkdir(parents=True)
            src = _file(files, name)
            fmt_dir, gray_dir = ("gt", "maps") if kind == "mask" else ("maps", "gt")
            shutil.copy(src, root / fmt_dir / ds / Path(src).name)
            shutil.copy(_file(files, "gray8"), root / gray_dir / ds / "x.png")
    return root, names


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_score_reads_every_format_alike(files: Path, tmp_path: Path, convention: str) -> None:
    root, names = _layout(tmp_path / "data", files)
    before = _snapshot(root)
    out = tmp_path / "out"
    datasets = ", ".join(f"{n}: '{root}/gt/{n}'" for n in names)
    run_command(
        "score",
        f"+datasets={{{datasets}}}",
        f"+methods={{m: '{root}/maps/{{dataset}}'}}",
        f"output_dir={out}",
        f"convention={convention}",
        "workers=1",
        "plots=false",
        "progress=false",
    )
    metrics = json.loads((out / "metrics.json").read_text())
    for n in names:
        got = metrics[n]["m"]
        assert got["max_f"] > 0.99 and got["mae"] < 0.02, (convention, n, got)
    assert _snapshot(root) == before


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("name", sorted(BAD))
def test_score_refuses_a_bad_mask_in_one_line(
    files: Path, tmp_path: Path, convention: str, name: str
) -> None:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    mask = Path(_file(files, name))
    shutil.copy(mask, gt / mask.name)
    shutil.copy(_file(files, "gray8"), pred / "x.png")
    before = _snapshot(tmp_path)
    with pytest.raises(DataError, match=r"mask .*gt.x\.png" + BAD[name][2]) as err:
        run_command(
            "score",
            f"gt_dir={gt}",
            f"pred_dir={pred}",
            f"output_dir={tmp_path / 'out'}",
            f"convention={convention}",
            "workers=1",
            "plots=false",
            "progress=false",
        )
    one_line(err.value)
    assert _snapshot(tmp_path) == before


class _MaskPredictor:
    """Stands in for the network in eval: the map of every photo is MASK (so map == mask)."""

    def iter_predict(self, items: Iterable[tuple[str, np.ndarray]]) -> Iterator:
        for key, photo in items:
            assert photo.shape == (SIZE, SIZE, 3)
            yield key, MASK.copy()


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_eval_reads_every_mask_format_alike(files: Path, tmp_path: Path, convention: str) -> None:
    root = tmp_path / "data"
    for name in [*FORMATS, "labels"]:
        (root / name / "images").mkdir(parents=True)
        Image.fromarray(_gray(MASK)).save(root / name / "images" / "x.jpg")
        shutil.copytree(files / name, root / name / "masks")
    before = _snapshot(root)
    out = tmp_path / "out"
    sets = find_test_sets(str(root), list(FORMATS), out)
    for name in FORMATS:
        score = evaluate_set(
            _MaskPredictor(), sets[name], out / name, convention, workers=1, progress=False
        )
        assert score.count == 1 and score.metrics["max_f"] > 0.99, (convention, name)
        assert score.metrics["mae"] < 0.02, (convention, name)
    # a class-label mask stops eval before any photo is predicted
    with pytest.raises(
        DataError, match=r"mask .*labels.masks.x\.png: its values are 0\.\.3"
    ) as err:
        find_test_sets(str(root), ["labels"], tmp_path / "out2")
    one_line(err.value)
    assert _snapshot(root) == before
