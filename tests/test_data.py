"""Demo generator, folder discovery, pairing by stem, loaders and the recipes."""

from __future__ import annotations

import hashlib
from itertools import islice
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
        DataError, match=r"1 image without masks \(c\).*1 mask without images \(z\)"
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
    # masks keep each photo's original size (read from the files) and values, for scoring
    files = {s.name: s for s in dm.test_data[0].samples}
    assert len(ev["name"]) == len(ev["mask"]) > 1
    for name, mask, size in zip(ev["name"], ev["mask"], ev["size"], strict=True):
        with Image.open(files[name].mask) as im:
            width, height = im.size
            on_disk = np.asarray(im.convert("L"), np.float32) / 255
        assert tuple(mask.shape) == (1, height, width) and tuple(size) == (height, width)
        assert (height, width) != (64, 64)
        assert torch.equal(mask[0], torch.from_numpy(on_disk))


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


def test_mask_formats_map_to_the_same_values(tmp_path: Path) -> None:
    from ras_lightning.data.readers import read_mask, read_photo

    m = np.zeros((10, 12), np.uint8)
    m[2:6, 3:9] = 255
    Image.fromarray(m).convert("1").save(tmp_path / "one_bit.png")
    Image.fromarray(m).save(tmp_path / "eight_bit.png")
    Image.fromarray(np.stack([m] * 3, -1)).save(tmp_path / "rgb.png")
    Image.fromarray(np.stack([m] * 3 + [np.full_like(m, 255)], -1)).save(tmp_path / "rgba.png")
    Image.fromarray(m.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")
    Image.fromarray(m).save(tmp_path / "bmp.BMP")
    ref = m.astype(np.float32) / 255
    for name in ("one_bit.png", "eight_bit.png", "rgb.png", "rgba.png", "sixteen.png", "bmp.BMP"):
        np.testing.assert_allclose(read_mask(str(tmp_path / name)), ref, err_msg=name)
    Image.fromarray(m).save(tmp_path / "gray.jpg")
    Image.fromarray(np.zeros((4, 4, 4), np.uint8)).save(tmp_path / "rgba_photo.png")
    assert read_photo(str(tmp_path / "gray.jpg")).shape == (10, 12, 3)
    assert read_photo(str(tmp_path / "rgba_photo.png")).shape == (4, 4, 3)


def test_size_mismatch_and_corrupt_mask_stop_setup(tmp_path: Path) -> None:
    _make_set(tmp_path, "X", "images", "masks", ["a", "b"])
    Image.fromarray(np.zeros((21, 30), np.uint8)).save(tmp_path / "X" / "masks" / "b.png")
    with pytest.raises(DataError, match=r"size mismatch: image .*b\.jpg is 30x20, mask .*b\.png"):
        discover_set(tmp_path, "X")
    (tmp_path / "X" / "masks" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError, match=r"corrupt mask: .*b\.png"):
        discover_set(tmp_path, "X")


def test_upper_case_extensions_and_per_set_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for s in ("a", "b"):
        _write(tmp_path / "S" / "photos" / f"{s}.JPG", rng.integers(0, 255, (8, 8, 3), np.uint8))
        _write(tmp_path / "S" / "labels" / f"{s}.PNG", np.zeros((8, 8), np.uint8))
    dm = SODDataModule(
        str(tmp_path),
        "S",
        ["S"],
        ["S"],
        image_size=32,
        layouts={"S": {"image_dir": "photos", "mask_dir": "labels"}},
    )
    dm.setup("test")
    assert len(dm.test_data[0]) == 2


def test_workers_load_batches(demo_root: Path) -> None:
    dm = SODDataModule(
        str(demo_root),
        "DEMO-TR",
        ["DEMO-VAL"],
        [],
        batch_size=4,
        num_workers=2,
        image_size=48,
        recipe="v2",
    )
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert loader.persistent_workers
    batches = list(islice(loader, 3))
    assert all(b["image"].shape == (4, 3, 48, 48) for b in batches)


def test_multiscale_is_one_size_per_batch(demo_root: Path) -> None:
    import random

    dm = SODDataModule(
        str(demo_root),
        "DEMO-TR",
        ["DEMO-VAL"],
        [],
        batch_size=4,
        image_size=64,
        multiscale=[32, 48],
        recipe="v2",
    )
    dm.setup("fit")
    random.seed(0)
    sizes = set()
    for batch in islice(dm.train_dataloader(), 12):
        assert batch["image"].shape[-2:] == batch["mask"].shape[-2:]
        sizes.add(batch["image"].shape[-1])
    assert sizes == {32, 48}


def test_unpadded_distributed_sampler_covers_each_index_once() -> None:
    from ras_lightning.data.samplers import UnpaddedDistributedSampler

    data = list(range(7))
    shards = [list(UnpaddedDistributedSampler(data, num_replicas=2, rank=r)) for r in (0, 1)]
    assert sorted(shards[0] + shards[1]) == data
    assert [len(UnpaddedDistributedSampler(data, 2, r)) for r in (0, 1)] == [4, 3]
