"""Faithful by default: our pipelines against a transcription of the authors' scripts
(``tests/authors_scripts.py``) and the authors' recipes (``../shared/reference``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from ras_lightning.data.collate import TrainCollate
from ras_lightning.data.protocol import logits_to_map, network_input, resize_logits
from ras_lightning.data.transforms import train_transform
from ras_lightning.utils.errors import UserError
from tests import authors_scripts
from tests.authors_reference import AuthorsRASv1, AuthorsRASv2
from tests.conftest import (
    ECSSD_DIR,
    REFERENCE,
    compose_config,
    run_command,
    seeded_official_state,
    tiny_train,
)

needs_ecssd = pytest.mark.skipif(not ECSSD_DIR.is_dir(), reason="../shared/data/ECSSD-100 absent")
PHOTOS = ["0001", "0010", "0023"]


@pytest.fixture(scope="module")
def ecssd4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real ECSSD photos with their masks, in the benchmark's own layout."""
    if not ECSSD_DIR.is_dir():
        pytest.skip("../shared/data/ECSSD-100 absent")
    root = tmp_path_factory.mktemp("ecssd4")
    for sub, ext in (("images", ".jpg"), ("ground_truth_mask", ".png")):
        (root / "ECSSD" / sub).mkdir(parents=True)
        for stem in PHOTOS:
            shutil.copy(ECSSD_DIR / sub / f"{stem}{ext}", root / "ECSSD" / sub / f"{stem}{ext}")
    return root


def _official(version: str, folder: Path) -> tuple[Path, torch.nn.Module]:
    """Seeded weights in the authors' ``RAS.vN.pth`` format, and the authors' network on them."""
    if not REFERENCE.is_dir():
        pytest.skip("../shared/reference absent")
    state = seeded_official_state(version, 3)
    path = folder / f"RAS.{version}.pth"
    torch.save(state, path)
    ref = AuthorsRASv1() if version == "v1" else AuthorsRASv2()
    ref.load_state_dict(state, strict=True)
    return path, ref.eval()


def _assert_close_maps(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    assert ours.shape == theirs.shape and ours.dtype == np.uint8, what
    diff = np.abs(ours.astype(int) - theirs.astype(int))
    # the bound: at most 2 gray levels anywhere, 0.1 on average
    assert diff.max() <= 2 and diff.mean() <= 0.1, f"{what}: max {diff.max()}, mean {diff.mean()}"


# -- 1. the test pipeline -------------------------------------------------------------------
@needs_ecssd
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_network_input_equals_the_authors_test_input(version: str) -> None:
    for stem in PHOTOS:
        path = str(ECSSD_DIR / "images" / f"{stem}.jpg")
        if version == "v1":
            theirs, _ = authors_scripts.v1_test_input(path)
        else:
            theirs, _ = authors_scripts.v2_test_input(path)
        rgb = np.asarray(Image.open(path).convert("RGB"))
        ours = network_input(rgb, version, 352)
        np.testing.assert_allclose(ours, theirs[0].numpy(), rtol=0, atol=2e-6)


def test_logits_to_map_is_the_authors_postprocessing() -> None:
    g = torch.Generator().manual_seed(0)
    for h, w in ((300, 400), (37, 501), (352, 352)):
        logits = torch.randn(1, 1, 44, 44, generator=g) * 4
        logits = torch.nn.functional.interpolate(logits, (352, 352), mode="bilinear")
        r = torch.nn.functional.interpolate(logits, (h, w), mode="bilinear", align_corners=True)
        np.testing.assert_allclose(resize_logits(logits[0, 0].numpy(), (h, w)), r[0, 0], atol=1e-5)

        class Identity(torch.nn.Module):
            def forward(self, x):  # the "network" returns the logits as its finest output
                return (x,)

        theirs = authors_scripts.saved_map(Identity(), logits, (h, w))
        ours = logits_to_map(logits[0, 0].numpy(), (h, w))
        diff = np.abs(ours.astype(int) - theirs)
        assert diff.max() <= 1 and diff.mean() < 0.01


@pytest.mark.slow  # a real-data cross-check: two ResNet-50 networks at 352 px, ONNX export
@needs_ecssd
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_eval_and_predict_maps_match_the_authors_test_scripts(
    version: str, ecssd4: Path, tmp_path: Path
) -> None:
    weights, ref = _official(version, tmp_path)
    theirs = {
        s: authors_scripts.authors_map(ref, version, str(ecssd4 / "ECSSD/images" / f"{s}.jpg"))
        for s in PHOTOS
    }
    spread = [int(m.max()) - int(m.min()) for m in theirs.values()]
    assert min(spread) > 200, "degenerate reference maps would not test anything"
    for backend in ("onnxruntime", "torch"):
        out = tmp_path / f"eval-{backend}"
        run_command(
            "eval",
            f"weights={weights}",
            f"data.root={ecssd4}",
            "data.test_sets=[ECSSD]",
            f"output_dir={out}",
            f"backend={backend}",
            "fps=false",
            "progress=false",
            *(["compare=paper"] if backend == "torch" else []),
        )
        for s in PHOTOS:
            ours = cv2.imread(str(out / "ECSSD" / f"{s}.png"), cv2.IMREAD_UNCHANGED)
            _assert_close_maps(ours, theirs[s], f"eval {version} {backend} {s}")
    pred = tmp_path / "predict"
    run_command(
        "predict",
        f"weights={weights}",
        f"input={ecssd4 / 'ECSSD/images'}",
        f"output={pred}",
        "progress=false",
    )
    for s in PHOTOS:
        ours = cv2.imread(str(pred / f"{s}.png"), cv2.IMREAD_UNCHANGED)
        _assert_close_maps(ours, theirs[s], f"predict {version} {s}")
    _check_eval_reports(out, ecssd4, version)


def _check_eval_reports(out: Path, root: Path, version: str) -> None:
    """eval's default convention is f3net, and its table is the published figure's."""
    from ras_lightning.metrics.published import published
    from ras_lightning.metrics.scoring import score_folder

    sets = json.loads((out / "metrics.json").read_text())["sets"]
    f3net = score_folder(root / "ECSSD/ground_truth_mask", out / "ECSSD", convention="f3net")
    assert sets["ECSSD"] == pytest.approx(f3net.metrics, abs=1e-12)
    assert {"max_f", "adaptive_f", "mae", "weighted_f", "s_measure", "adaptive_e"} <= set(
        sets["ECSSD"]
    )
    table = (out / "metrics.md").read_text().splitlines()
    assert table[0].startswith("Convention: f3net")
    assert "| E-measure (adaptive) | S-measure | F-measure (adaptive) | MAE |" in table[2]
    ours = next(ln for ln in table if ln.startswith("| ECSSD | RAS."))
    m = sets["ECSSD"]
    # each value followed by its interval's half-width (ci=0.95 by default): "0.912 ± 0.021"
    cells = [c.split(" ± ")[0].strip() for c in ours.split("|")[-5:-1]]
    assert cells == [f"{m[k]:.3f}" for k in ("adaptive_e", "s_measure", "adaptive_f", "mae")]
    paper = published(version, "ECSSD")
    assert paper is not None
    row = next(ln for ln in table if ln.startswith(f"| ECSSD | paper (RAS {version})"))
    assert f"| {paper['adaptive_e']:.3f} | {paper['s_measure']:.3f} |" in row
    diff = next(ln for ln in table if ln.startswith("| ECSSD | difference"))
    assert f"{m['mae'] - paper['mae']:+.3f} |" in diff


# -- 4. the training pipelines --------------------------------------------------------------
def _recorded(pipeline: A.Compose) -> A.Compose:
    return A.Compose(list(pipeline.transforms), save_applied_params=True, seed=7)


def _params(out: dict, name: str) -> dict | None:
    for applied_name, params in out["applied_transforms"]:
        if applied_name == name:
            return params
    return None


@needs_ecssd
def test_v1_training_sample_equals_the_authors_loader() -> None:
    pipeline = _recorded(train_transform("v1", 352))
    path = ECSSD_DIR / "images/0001.jpg"
    photo = Image.open(path).convert("RGB")
    gt = Image.open(ECSSD_DIR / "ground_truth_mask/0001.png").convert("L")
    flips = set()
    for _ in range(6):
        out = pipeline(image=np.asarray(photo), mask=np.asarray(gt, np.float32) / 255)
        flip = _params(out, "HorizontalFlip") is not None
        angle = _params(out, "PILRotate")["angle"]
        assert -10 <= angle <= 10
        flips.add(flip)
        image, mask = authors_scripts.v1_train_sample(photo, gt, flip, angle, 352)
        np.testing.assert_allclose(out["image"].transpose(2, 0, 1), image.numpy(), atol=1e-5)
        np.testing.assert_allclose(out["mask"], mask[0].numpy(), atol=1e-6)
    assert flips == {True, False}


@needs_ecssd
def test_v2_training_batch_equals_the_authors_loader_and_collate() -> None:
    pipeline = _recorded(train_transform("v2", 352))
    path, mask_path = ECSSD_DIR / "images/0010.jpg", ECSSD_DIR / "ground_truth_mask/0010.png"
    photo = np.asarray(Image.open(path).convert("RGB"))
    gt = np.asarray(Image.open(mask_path).convert("L"), np.float32) / 255
    samples, expected = [], []
    for _ in range(4):
        out = pipeline(image=photo, mask=gt)
        box = _params(out, "F3NetRandomCrop")["box"]
        flip = _params(out, "HorizontalFlip") is not None
        samples.append({"image": out["image"], "mask": out["mask"]})
        expected.append((box, flip))
    for size in (224, 288):
        batch = TrainCollate([size])(samples)
        assert batch["image"].shape == (4, 3, size, size) and batch["mask"].shape[1] == 1
        for i, (box, flip) in enumerate(expected):
            image, mask = authors_scripts.v2_train_sample(
                str(path), str(mask_path), box, flip, size
            )
            np.testing.assert_allclose(batch["image"][i].permute(1, 2, 0), image, atol=1e-4)
            np.testing.assert_allclose(batch["mask"][i, 0], mask, atol=1e-6)


# -- 2. + 3. the end-of-training test, training data and checkpoint --------------------------
def test_end_of_training_test_equals_eval_of_last_ckpt(demo_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    tiny_train(
        demo_root,
        run,
        "model=ras_v1",
        "model.pretrained_backbone=false",
        "data.val_sets=[]",
        "data.val_fraction=0",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=3",
        best=True,  # the "best" callback is configured: no validation must leave it out
    )
    metrics = json.loads((run / "metrics.json").read_text())
    # no validation asked for: no val keys, no "best" checkpoint; the last epoch is tested
    assert not [k for k in metrics if k.startswith("val/")], sorted(metrics)
    assert sorted(p.name for p in (run / "checkpoints").glob("*.ckpt")) == ["last.ckpt"]
    out = tmp_path / "eval"
    run_command(
        "eval",
        f"weights={run / 'checkpoints/last.ckpt'}",
        f"data.root={demo_root}",
        "data.test_sets=[DEMO-TE]",
        f"output_dir={out}",
        "convention=pysodmetrics",
        "fps=false",
        "plots=false",
        "progress=false",
    )
    scored = json.loads((out / "metrics.json").read_text())["sets"]["DEMO-TE"]
    for name, value in scored.items():
        assert abs(metrics[f"test/DEMO-TE/{name}"] - value) <= 1e-3, name


@pytest.mark.parametrize("strategy", ["v1", "v2"])
def test_paper_strategies_train_on_every_pair_and_test_the_last_epoch(
    strategy: str, demo_root: Path
) -> None:
    from hydra.utils import instantiate

    cfg = compose_config(f"strategy={strategy}", f"data.root={demo_root}", "data.train_set=DEMO-TR")
    assert cfg.test_ckpt == "last" and cfg.data.val_fraction == 0 and not cfg.data.val_sets
    dm = instantiate(cfg.data, image_size=64, multiscale=None, test_sets=[])
    dm.setup("fit")
    assert dm.val_names == [] and dm.val_dataloader() == []
    assert len(dm.train_data) == 24  # every pair of the training set
    loader = dm.train_dataloader()
    assert loader.drop_last is False
    sizes = [len(b["image"]) for b in loader]
    assert sum(sizes) == 24 and sizes[-1] == 24 % cfg.data.batch_size  # the smaller last batch


def test_best_epoch_testing_needs_a_validation_set(demo_root: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="^test_ckpt=best needs a validation set"):
        tiny_train(
            demo_root, tmp_path / "run", "data.val_sets=[]", "data.val_fraction=0", "test_ckpt=best"
        )


def test_v1_loss_is_divided_by_the_configured_batch_size() -> None:
    from ras_lightning.training.losses import deep_supervision_loss
    from ras_lightning.training.module import RASModule

    module = RASModule(version="v1", divide_loss_by_batch=True)
    module.loss_divisor = 10  # data.batch_size, set from the DataModule in setup()
    torch.manual_seed(0)
    batch = {"image": torch.randn(3, 3, 64, 64), "mask": (torch.rand(3, 1, 64, 64) > 0.5).float()}
    with torch.no_grad():
        loss = module.training_step(batch, 0)
        total, _ = deep_supervision_loss(module(batch["image"]), batch["mask"])
    assert torch.allclose(loss, total / 10)  # a last batch of 3 is still divided by 10
