"""Demo generator, folder discovery, pairing by stem, loaders and the recipes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ras_lightning.data import DataError, SODDataModule, discover_set, make_demo_data
from ras_lightning.data.demo import make_scene
from tests.conftest import ECSSD_DIR


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix in (".jpg", ".png"):
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_demo_is_deterministic_and_in_real_layout(tmp_path: Path) -> None:
    sets = {"DEMO-TR": 5, "DEMO-TE": 3}
    a, b = make_demo_data(tmp_path / "a", sets), make_demo_data(tmp_path / "b", sets)
    assert _digest(a) == _digest(b)
    assert len(list((a / "DEMO-TR" / "images").glob("*.jpg"))) == 5
    assert len(list((a / "DEMO-TR" / "masks").glob("*.png"))) == 5
    assert len(discover_set(a, "DEMO-TE")) == 3


def test_demo_scenes_are_not_trivial() -> None:
    fractions, borders = [], 0
    for seed in range(40):
        photo, mask = make_scene(seed, (128, 128))
        m = np.asarray(mask) > 128
        p = np.asarray(photo).astype(float)
        fractions.append(m.mean())
        borders += m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any()
        assert p[~m].std() > 15  # textured background, not flat
        assert set(np.unique(np.asarray(mask))) <= {0, 255}
    assert 0.03 < min(fractions) and max(fractions) < 0.6 and np.std(fractions) > 0.04
    assert borders >= 4  # some objects touch the border


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _make_set(
    root: Path,
    name: str,
    img_dir: str,
    mask_dir: str,
    stems: list[str],
    mask_stems: list[str] | None = None,
) -> None:
    rng = np.random.default_rng(0)
    for s in stems:
        _write(root / name / img_dir / f"{s}.jpg", rng.integers(0, 255, (20, 30, 3), np.uint8))
    for s in mask_stems if mask_stems is not None else stems:
        _write(
            root / name / mask_dir / f"{s}.png", (rng.random((20, 30)) > 0.5).astype(np.uint8) * 255
        )


@pytest.mark.parametrize(
    "layout",
    [
        ("DUTS-TE-Image", "DUTS-TE-Mask"),
        ("imgs", "gts"),
        ("images", "ground_truth_mask"),
        ("Imgs", "GT"),
    ],
)
def test_known_layouts_are_found(tmp_path: Path, layout: tuple[str, str]) -> None:
    _make_set(tmp_path, "DUTS-TE", *layout, ["b", "a", "c"])
    samples = discover_set(tmp_path, "DUTS-TE")
    assert [s.name for s in samples] == ["a", "b", "c"]
    assert all(Path(s.image).stem == Path(s.mask).stem for s in samples)


def test_pairing_is_by_stem_not_position(tmp_path: Path) -> None:
    _make_set(tmp_path, "X", "images", "masks", ["1", "10", "2"])
    # extra file types the loader must ignore
    (tmp_path / "X" / "images" / "notes.txt").write_text("x")
    samples = discover_set(tmp_path, "X")
    assert [(Path(s.image).stem, Path(s.mask).stem) for s in samples] == [
        ("1", "1"),
        ("10", "10"),
        ("2", "2"),
    ]


def test_unpaired_files_error_names_them_or_skip(tmp_path: Path) -> None:
    _make_set(tmp_path, "X", "images", "masks", ["a", "b", "c"], ["a", "b", "z"])
    with pytest.raises(
        DataError, match=r"1 images without masks \(c\).*1 masks without images \(z\)"
    ):
        discover_set(tmp_path, "X")
    assert [s.name for s in discover_set(tmp_path, "X", on_unpaired="skip")] == ["a", "b"]


def test_missing_folders_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data.root: no such folder"):
        discover_set(tmp_path / "nope", "X")
    with pytest.raises(DataError, match="dataset 'X' not found"):
        discover_set(tmp_path, "X")
    (tmp_path / "Y" / "weird").mkdir(parents=True)
    with pytest.raises(DataError, match="looked for"):
        discover_set(tmp_path, "Y")
    _make_set(tmp_path, "Z", "images", "masks", ["a"])
    (tmp_path / "Z" / "images" / "a.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match=r"corrupt image: .*a\.jpg"):
        discover_set(tmp_path, "Z")


def test_datamodule_batches(demo_root: Path) -> None:
    dm = SODDataModule(
        str(demo_root),
        "DEMO-TR",
        ["DEMO-VAL"],
        ["DEMO-TE"],
        batch_size=4,
        recipe="v1",
        image_size=64,
    )
    dm.setup("fit")
    dm.setup("test")
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (4, 3, 64, 64) and batch["mask"].shape == (4, 1, 64, 64)
    assert 0 <= batch["mask"].min() and batch["mask"].max() <= 1
    ev = next(iter(dm.test_dataloader()[0]))
    assert ev["image"].shape[1:] == (3, 64, 64)
    # masks keep each photo's original size for scoring
    assert {tuple(m.shape[-2:]) for m in ev["mask"]} >= {(128, 128)}
    assert [tuple(m.shape[-2:]) for m in ev["mask"]] == list(ev["size"])


def test_heldout_validation_split_is_seeded(demo_root: Path) -> None:
    def split(seed: int) -> list[str]:
        dm = SODDataModule(
            str(demo_root), "DEMO-TR", None, [], image_size=64, val_fraction=0.25, split_seed=seed
        )
        dm.setup("fit")
        assert len(dm.val_data[0]) + len(dm.train_data) == 24
        return [s.name for s in dm.val_data[0].samples]

    assert split(0) == split(0) and split(0) != split(1)


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_recipes_produce_normalised_tensors(demo_root: Path, recipe: str) -> None:
    dm = SODDataModule(
        str(demo_root), "DEMO-TR", ["DEMO-VAL"], [], batch_size=6, recipe=recipe, image_size=96
    )
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    x = batch["image"]
    assert x.shape == (6, 3, 96, 96)
    assert -3.5 < x.mean().item() < 3.5 and 0.3 < x.std().item() < 3


@pytest.mark.skipif(not ECSSD_DIR.is_dir(), reason="../shared/data/ECSSD-100 absent")
def test_real_ecssd_layout_is_read_without_writing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "ECSSD").symlink_to(ECSSD_DIR, target_is_directory=True)
    before = sorted(p.name for p in ECSSD_DIR.rglob("*"))
    dm = SODDataModule(str(root), "ECSSD", ["ECSSD"], ["ECSSD"], eval_batch_size=4, image_size=64)
    dm.setup("test")
    assert len(dm.test_data[0]) == 100
    batch = next(iter(dm.test_dataloader()[0]))
    assert batch["image"].shape == (4, 3, 64, 64)
    assert max(max(s) for s in batch["size"]) == 400  # original sizes kept
    assert torch.all((batch["mask"][0] == 0) | (batch["mask"][0] == 1))
    assert sorted(p.name for p in ECSSD_DIR.rglob("*")) == before
