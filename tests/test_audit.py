"""``ras-audit``: planted copies (resized to half, JPEG quality 60, flipped, cropped by 5 %) of
test photos in a training folder are found, distinct photos are not paired, problem masks are
flagged, the hashes are cached outside the data, and training drops the leaks on request
(``data.exclude_leaks``). The real-photo check (``../shared/data/ECSSD-100``) is slow."""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from ras_lightning.data.datamodule import SODDataModule
from ras_lightning.data.leaks import MAX_DISTANCE, distances
from ras_lightning.data.photo_hashes import hash_photos
from ras_lightning.utils.errors import DataError, UserError
from tests.conftest import ECSSD_DIR, fingerprint, one_line, run_command, tiny_train

#: how each planted copy is made from its photo (the issue's four, and all four at once)
PLANTS = ("half", "q60", "flip", "crop", "all")


def plant(photo: Path, dest: Path, kind: str, corner: bool = False, seed: int = 0) -> Path:
    """A JPEG copy of ``photo`` at ``dest`` (quality 60; ``half``: 90, the resize alone):
    ``half`` resized to half, ``q60`` re-encoded, ``flip`` mirrored, ``crop`` 5 % cut from
    each side (``corner``: from the left and top only), ``all`` all four; ``random``: all
    four with 0-5 % cut from each side, seeded."""
    im = Image.open(photo).convert("RGB")
    w, h = im.size
    if kind in ("crop", "all"):
        dx, dy = round(0.05 * w), round(0.05 * h)
        im = im.crop((dx, dy, w, h) if corner else (dx, dy, w - dx, h - dy))
    if kind == "random":
        f = np.random.default_rng(seed).uniform(0, 0.05, 4)
        im = im.crop((round(f[0] * w), round(f[1] * h), w - round(f[2] * w), h - round(f[3] * h)))
        kind = "all"
    if kind in ("flip", "all"):
        im = ImageOps.mirror(im)
    if kind in ("half", "all"):
        im = im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.BICUBIC)
    dest.parent.mkdir(parents=True, exist_ok=True)
    im.save(dest, quality=60 if kind != "half" else 90)
    return dest


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _masks(root: Path, name: str, photo_dir: Path) -> None:
    """A mask for each photo of ``root/name/images`` (its size, a centred box)."""
    for p in sorted((root / name / "images").iterdir()):
        w, h = Image.open(p).size
        m = np.zeros((h, w), np.uint8)
        m[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 255
        (root / name / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(m).save(root / name / "masks" / f"{p.stem}.png")


@pytest.fixture(scope="module")
def leaky_root(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DEMO-TR with planted copies of 5 DEMO-TE photos (one per kind) and four bad masks
    (empty, full, gray edges, another size); DEMO-VAL and DEMO-TE as they are."""
    root = tmp_path_factory.mktemp("leaky")
    shutil.copytree(demo_root / "DEMO-TR", root / "DEMO-TR")
    for name in ("DEMO-VAL", "DEMO-TE"):
        shutil.copytree(demo_root / name, root / name)
    tests = sorted((root / "DEMO-TE" / "images").iterdir())
    for i, kind in enumerate(PLANTS):
        plant(tests[i], root / "DEMO-TR" / "images" / f"copy_{kind}.jpg", kind, corner=i % 2 == 0)
    _masks(root, "DEMO-TR", root / "DEMO-TR" / "images")  # rewrites every mask: sizes fit
    masks = root / "DEMO-TR" / "masks"
    bad = sorted(p.stem for p in (root / "DEMO-TR" / "images").iterdir())[:4]
    for stem, value in ((bad[0], 0), (bad[1], 255)):
        w, h = Image.open(masks / f"{stem}.png").size
        Image.fromarray(np.full((h, w), value, np.uint8)).save(masks / f"{stem}.png")
    gray = np.asarray(Image.open(masks / f"{bad[2]}.png")).copy()
    gray[gray.shape[0] // 4, :] = 128
    Image.fromarray(gray).save(masks / f"{bad[2]}.png")
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(masks / f"{bad[3]}.png")
    return root


def test_audit_finds_planted_copies_and_bad_masks(
    leaky_root: Path, tmp_path: Path, command_output
) -> None:
    before = fingerprint(leaky_root)
    args = [f"data.root={leaky_root}", "data=demo", "data.demo=false", "progress=false"]
    record = run_command("audit", *args, f"output_dir={tmp_path / 'a'}")
    out = tmp_path / "a"
    tests = sorted(p.name for p in (leaky_root / "DEMO-TE" / "images").iterdir())
    leaks = _csv(out / "leaks.csv")
    # every planted copy, paired with its own photo; nothing else
    found = {(r["image"], r["training_image"]) for r in leaks if r["set"] == "DEMO-TE"}
    assert found == {(tests[i], f"copy_{k}.jpg") for i, k in enumerate(PLANTS)}
    assert all(int(r["distance"]) <= MAX_DISTANCE for r in leaks)
    assert {r["flipped"] for r in leaks if r["training_image"] == "copy_flip.jpg"} == {"yes"}
    assert not [r for r in leaks if r["set"] == "DEMO-VAL"]
    # within DEMO-TR the five copies are distinct photos of distinct scenes: no duplicate
    assert _csv(out / "duplicates.csv") == []
    issues = {(r["image"].rsplit(".", 1)[0], r["issue"]) for r in _csv(out / "mask_issues.csv")}
    bad = sorted(p.stem for p in (leaky_root / "DEMO-TR" / "images").iterdir())[:4]
    assert {(bad[0], "empty"), (bad[1], "full"), (bad[2], "not binary"), (bad[3], "size")} <= issues
    assert len(issues) == 5  # the tiny wrong-size mask is also empty
    assert (out / "contact_sheet.png").stat().st_size > 1000
    summary = (out / "summary.txt").read_text().splitlines()
    assert summary[0].startswith("DEMO-TR (training):")
    assert "DEMO-TE: 5 of 7 photos (71.4%) also in DEMO-TR" in summary[2]
    text = command_output()
    assert summary[2] in text
    assert record["sets"]["DEMO-TE"]["leaks"] == [tests[i] for i in range(5)]
    assert fingerprint(leaky_root) == before  # nothing written into the data
    # a second run reads every photo's hashes from the cache
    run_command("audit", *args, f"output_dir={tmp_path / 'b'}")
    assert "(0 hashed," in command_output()
    assert (tmp_path / "b" / "leaks.csv").read_text() == (out / "leaks.csv").read_text()


def test_audit_refuses_output_inside_the_data_and_unknown_sets(leaky_root: Path) -> None:
    args = [f"data.root={leaky_root}", "data=demo", "data.demo=false"]
    with pytest.raises(UserError) as err:
        run_command("audit", *args, f"output_dir={leaky_root / 'DEMO-TE' / 'out'}")
    assert "nothing is written into a dataset" in one_line(err)
    with pytest.raises(DataError) as err:
        run_command("audit", *args, "data.test_sets=[NOPE]", f"output_dir={leaky_root}_out")
    assert "dataset 'NOPE' not found" in one_line(err)


def test_exclude_leaks_drops_the_audited_copies(
    leaky_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run_command(
        "audit",
        f"data.root={leaky_root}",
        "data=demo",
        "data.demo=false",
        "progress=false",
        f"output_dir={tmp_path / 'audit'}",
    )
    caplog.set_level(logging.INFO)
    kw = {"train_set": "DEMO-TR", "test_sets": ["DEMO-TE"], "on_unpaired": "skip"}
    kept = SODDataModule(str(leaky_root), **kw)
    kept.setup("test")
    assert len(kept.test_data[0]) == 7 and kept.excluded_leaks == {}
    assert "5 test photos also in DEMO-TR (DEMO-TE 5); kept" in caplog.text
    dm = SODDataModule(str(leaky_root), exclude_leaks=True, audit_dir=str(tmp_path / "audit"), **kw)
    dm.setup("test")
    assert len(dm.test_data[0]) == 2
    assert len(dm.excluded_leaks["DEMO-TE"]) == 5
    # no audit of a training folder: exclude_leaks is refused before any work
    with pytest.raises(DataError) as err:
        SODDataModule(str(leaky_root), **{**kw, "train_set": "DEMO-VAL"}, exclude_leaks=True).setup(
            "test"
        )
    assert "data.exclude_leaks=true: no audit of the training photos" in one_line(err)


@pytest.mark.slow
def test_training_records_the_excluded_leaks(
    leaky_root: Path, tmp_path: Path, command_output
) -> None:
    run_command(
        "audit",
        f"data.root={leaky_root}",
        "data=demo",
        "data.demo=false",
        "progress=false",
        f"output_dir={tmp_path / 'audit'}",
    )
    run = tmp_path / "run"
    tiny_train(
        leaky_root,
        run,
        "trainer.max_epochs=1",
        "data.exclude_leaks=true",
        "data.on_unpaired=skip",
        "+trainer.limit_train_batches=1",
        "+trainer.limit_val_batches=1",
    )
    text = command_output()
    assert "5 test photos also in DEMO-TR (DEMO-TE 5); left out of the test" in text
    assert "dataset 'DEMO-TE': left out 5 photos found in DEMO-TR by the audit" in text
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data/excluded_leaks"] == 5.0
    assert metrics["data/DEMO-TE/excluded_leaks"] == 5.0
    assert len(_csv(run / "excluded_leaks.csv")) == 5
    assert len(_csv(run / "test_per_image.csv")) == 2


@pytest.mark.slow
def test_ecssd_planted_copies_found_and_no_distinct_pair(tmp_path: Path) -> None:
    """Every ECSSD-100 photo planted in a training folder six ways (the issue's four, all four
    at once, all four with a random crop): each copy is found with its photo; no two distinct
    ECSSD photos are paired."""
    if not (ECSSD_DIR / "images").is_dir():
        pytest.skip(f"{ECSSD_DIR} not present (../shared is absent in a user's clone)")
    photos = sorted((ECSSD_DIR / "images").glob("*.jpg"))
    train = tmp_path / "train"
    planted = {}
    for i, p in enumerate(photos):
        for kind in (*PLANTS, "random"):
            planted[f"{p.stem}_{kind}.jpg"] = p.name
            plant(p, train / f"{p.stem}_{kind}.jpg", kind, corner=i % 2 == 0, seed=i)
    before = fingerprint(ECSSD_DIR)
    out = tmp_path / "out"
    run_command(
        "audit",
        f"train_dir={train}",
        f"+test_dirs={{ECSSD: {ECSSD_DIR}}}",
        "progress=false",
        f"output_dir={out}",
    )
    leaks = _csv(out / "leaks.csv")
    assert {(r["image"], r["training_image"]) for r in leaks} == {
        (v, k) for k, v in planted.items()
    }
    dups = _csv(out / "duplicates.csv")
    assert not [r for r in dups if r["set"] == "ECSSD"]
    # within the training folder, only copies of one photo pair up
    assert all(planted[r["image"]] == planted[r["duplicate"]] for r in dups)
    assert not [r for r in _csv(out / "mask_issues.csv") if r["set"] == "ECSSD"]
    assert fingerprint(ECSSD_DIR) == before
    # the margins: every planted copy vs. every pair of distinct photos, all pairs hashed
    h, _ = hash_photos([str(p) for p in photos], workers=1, progress=False)
    t, _ = hash_photos([str(train / k) for k in planted], workers=1, progress=False)
    ia, ib = np.triu_indices(len(photos), 1)
    distinct = distances(h.hashes, h.hashes, ia, ib)[0]
    own = np.array([photos.index(ECSSD_DIR / "images" / v) for v in planted.values()])
    copies = distances(h.hashes, t.hashes, own, np.arange(len(own)))[0]
    print(f"planted copies: max {copies.max()} bits; distinct photos: min {distinct.min()} bits")
    assert copies.max() <= MAX_DISTANCE < distinct.min()
    assert (
        os.path.realpath(ECSSD_DIR)
        in json.loads((out / "audit.json").read_text())["sets"]["ECSSD"]["images_dir"]
    )


def test_audit_of_photo_folders_names_an_unreadable_photo(demo_root: Path, tmp_path: Path) -> None:
    """Explicit folders of photos (no masks): a broken file is a row of mask_issues.csv, the
    rest are audited."""
    train, test = tmp_path / "train", tmp_path / "test"
    shutil.copytree(demo_root / "DEMO-VAL" / "images", train)
    test.mkdir()
    photo = sorted(train.iterdir())[0]
    plant(photo, test / "copy.jpg", "all")
    (test / "broken.jpg").write_bytes(b"\xff\xd8\xff not a photo")
    out = tmp_path / "out"
    run_command("audit", f"train_dir={train}", f"+test_dirs={{MINE: {test}}}", f"output_dir={out}")
    assert [(r["image"], r["training_image"]) for r in _csv(out / "leaks.csv")] == [
        ("copy.jpg", photo.name)
    ]
    issues = _csv(out / "mask_issues.csv")
    assert [(r["set"], r["image"], r["issue"]) for r in issues] == [
        ("MINE", "broken.jpg", "unreadable photo")
    ]
    assert "MINE: 1 of 2 photos (50.0%) also in train" in (out / "summary.txt").read_text()


def test_eval_excludes_the_audited_leaks(
    leaky_root: Path, tmp_path: Path, tiny_ckpt: Path, caplog: pytest.LogCaptureFixture
) -> None:
    audit = tmp_path / "audit"
    data = [f"data.root={leaky_root}", "data.test_sets=[DEMO-TE]", "data.train_set=DEMO-TR"]
    run_command("audit", *data[:1], "data=demo", "data.demo=false", "progress=false",
                f"output_dir={audit}")  # fmt: skip
    caplog.set_level(logging.INFO)
    quick = [f"weights={tiny_ckpt}", "fps=false", "plots=false", "report=false", "ci=null"]
    kept = run_command("eval", *quick, *data, f"output_dir={tmp_path / 'kept'}")
    assert "5 test photos also in DEMO-TR (DEMO-TE 5); kept" in caplog.text
    assert "excluded_leaks" not in kept
    out = tmp_path / "clean"
    record = run_command("eval", *quick, *data, "data.exclude_leaks=true",
                         f"data.audit_dir={audit}", f"output_dir={out}")  # fmt: skip
    assert record["excluded_leaks"] == {"DEMO-TE": 5}
    assert json.loads((out / "metrics.json").read_text())["excluded_leaks"] == {"DEMO-TE": 5}
    rows = _csv(out / "excluded_leaks.csv")
    tests = sorted(p.name for p in (leaky_root / "DEMO-TE" / "images").iterdir())
    assert [r["image"] for r in rows] == tests[:5]
    assert sorted(p.stem for p in (out / "DEMO-TE").glob("*.png")) == [
        Path(t).stem for t in tests[5:]
    ]
    # no audit of that training set: refused before any prediction
    with pytest.raises(DataError) as err:
        run_command("eval", *quick, *data, "data.exclude_leaks=true", "data.train_set=DEMO-VAL",
                    f"output_dir={tmp_path / 'none'}")  # fmt: skip
    assert "data.exclude_leaks=true: no audit of the training photos" in one_line(err)
