"""Using a trained model: weights loading, predict, eval, export and benchmark CLIs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ras_lightning.errors import UserError
from ras_lightning.inference import fold_batchnorm
from ras_lightning.models import RAS
from ras_lightning.weights import load_weights
from tests.conftest import ECSSD_DIR, REFERENCE, run_cli, seeded_official_state
from tests.test_train_cli import _tiny


@pytest.fixture(scope="module")
def trained_ckpt(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkpoint of ours: one tiny epoch through the train CLI."""
    run = tmp_path_factory.mktemp("trained")
    res = run_cli(
        "train",
        *_tiny(
            demo_root,
            run,
            "trainer.max_epochs=1",
            "test=false",
            "+trainer.limit_train_batches=2",
            "+trainer.limit_val_batches=1",
        ),
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def official_v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeded weights in the authors' RAS.v2.pth format (from the manifest when present)."""
    path = tmp_path_factory.mktemp("official") / "RAS.v2.pth"
    if REFERENCE.is_dir():
        torch.save({"module." + k: v for k, v in seeded_official_state("v2", 1).items()}, path)
    else:
        torch.save(RAS("v2").official_state_dict(), path)
    return path


def test_load_weights_ckpt_official_and_errors(
    trained_ckpt: Path, official_v2: Path, tmp_path: Path
) -> None:
    ours = load_weights(trained_ckpt)
    assert ours.source == "checkpoint" and ours.net.version == "v2"
    assert ours.size == 64 and ours.recipe == "v1"  # saved from the training data settings
    ckpt = torch.load(trained_ckpt, map_location="cpu", weights_only=False)
    assert torch.equal(ours.net.mscm.score.weight, ckpt["state_dict"]["net.mscm.score.weight"])
    theirs = load_weights(official_v2)
    assert theirs.source == "official" and theirs.net.version == "v2" and theirs.size == 352
    bad = tmp_path / "bad.pth"
    torch.save({"foo": torch.zeros(1)}, bad)
    with pytest.raises(UserError, match="neither a ras-lightning checkpoint nor"):
        load_weights(bad)
    with pytest.raises(UserError, match="no such file"):
        load_weights(tmp_path / "missing.pth")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_folded_batchnorm_gives_the_same_maps(version: str) -> None:
    torch.manual_seed(0)
    net = RAS(version)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    net.eval()
    folded = fold_batchnorm(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 3, 70, 90)
    with torch.no_grad():
        for a, b in zip(net(x), folded(x), strict=True):
            assert float((a - b).abs().max()) <= 1e-4 * (1 + float(a.abs().max()))


def _photos(tmp_path: Path) -> Path:
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (50, 70, 3), np.uint8)).save(src / "a.jpg")
    Image.fromarray(rng.integers(0, 255, (40, 30), np.uint8)).save(src / "gray.png")
    Image.fromarray(rng.integers(0, 255, (33, 44, 3), np.uint8)).save(src / "sub" / "b.JPG")
    (src / "notes.txt").write_text("not a photo")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    return src


def test_predict_masks_cutouts_skips_and_never_writes_into_input(
    trained_ckpt: Path, tmp_path: Path
) -> None:
    src = _photos(tmp_path)
    before = sorted(p.name for p in src.rglob("*"))
    out = tmp_path / "out"
    res = run_cli(
        "predict",
        f"weights={trained_ckpt}",
        f"input={src}",
        f"output={out}",
        "cutout=true",
        "recursive=true",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "3 written, 2 skipped" in res.stdout
    assert "notes.txt" in res.stdout + res.stderr and "broken.jpg" in res.stdout + res.stderr
    assert Image.open(out / "a.png").size == (70, 50)
    assert Image.open(out / "gray.png").size == (30, 40)
    assert Image.open(out / "sub" / "b.png").size == (44, 33)
    assert Image.open(out / "a_cutout.png").mode == "RGBA"
    assert sorted(p.name for p in src.rglob("*")) == before
    res = run_cli("predict", f"weights={trained_ckpt}", f"input={src}", f"output={src / 'x'}")
    assert res.returncode == 1 and "inside the input folder" in res.stderr
    res = run_cli(
        "predict", f"weights={trained_ckpt}", f"input={src}/*.jpg", f"output={tmp_path / 'glob'}"
    )
    assert res.returncode == 0 and "1 written, 1 skipped" in res.stdout


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_checks_itself_and_onnx_predicts(
    official_v2: Path, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"ras.{fmt}"
    res = run_cli(
        "export",
        f"weights={official_v2}",
        f"format={fmt}",
        f"output={path}",
        "check_sizes=[[64,64],[48,80]]",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert ": OK" in res.stdout and path.stat().st_size > 90e6
    if fmt == "onnx":
        src = _photos(tmp_path)
        out = tmp_path / "onnx_out"
        res = run_cli(
            "predict",
            f"weights={path}",
            "backend=onnxruntime",
            f"input={src}",
            f"output={out}",
            "batch_size=2",
        )
        assert res.returncode == 0, res.stderr[-3000:]
        assert Image.open(out / "a.png").size == (70, 50)


def test_eval_writes_maps_metrics_and_paper_table(
    trained_ckpt: Path, demo_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    res = run_cli(
        "eval",
        f"weights={trained_ckpt}",
        f"data.root={demo_root}",
        "data.test_sets=[DEMO-TE]",
        f"output_dir={out}",
        "fps_runs=2",
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    imported = {ln.rsplit("|", 1)[-1].strip() for ln in res.stderr.splitlines() if "|" in ln}
    assert "torch" not in imported  # the CPU default: ONNX Runtime, NumPy scoring
    maps = sorted((out / "DEMO-TE").glob("*.png"))
    assert len(maps) == 7
    photo = next((demo_root / "DEMO-TE" / "images").glob(maps[0].stem + ".*"))
    assert Image.open(maps[0]).size == Image.open(photo).size
    assert np.asarray(Image.open(maps[0])).max() == 255  # min-max normalised
    data = json.loads((out / "metrics.json").read_text())
    # eval's default convention is the published tables' (f3net): no E curve, adaptive E
    assert set(data["sets"]["DEMO-TE"]) >= {"max_f", "mae", "s_measure", "adaptive_e"}
    assert data["fps"] > 0 and 98 < data["model_size_mb"] < 100
    table = (out / "metrics.md").read_text()
    assert "| DEMO-TE | last.ckpt | 7 |" in table and "FPS" in table and "MB" in table
    assert table.startswith("Convention: f3net")
    assert "ONNX Runtime" in table and data["backend"] == "ONNX Runtime"


@pytest.mark.skipif(not ECSSD_DIR.is_dir(), reason="../shared/data/ECSSD-100 absent")
def test_predict_real_photos_at_original_size(official_v2: Path, tmp_path: Path) -> None:
    src = tmp_path / "ecssd"
    src.mkdir()
    for name in ("0001.jpg", "0002.jpg"):
        (src / name).symlink_to(ECSSD_DIR / "images" / name)
    out = tmp_path / "out"
    res = run_cli("predict", f"weights={official_v2}", f"input={src}", f"output={out}")
    assert res.returncode == 0, res.stderr[-3000:]
    for name in ("0001", "0002"):
        assert Image.open(out / f"{name}.png").size == Image.open(src / f"{name}.jpg").size


def test_benchmark_names_the_device(trained_ckpt: Path) -> None:
    res = run_cli("benchmark", f"weights={trained_ckpt}", "size=64", "runs=2", "warmup=1")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "eager fp32" in res.stdout and "on " in res.stdout and "FPS" in res.stdout
    assert "ONNX Runtime" in res.stdout


# -- the torch-free CPU path: reading weights, the ONNX graph, backend choice ---------------


def test_torch_free_reader_matches_torch_load(
    trained_ckpt: Path, official_v2: Path, tmp_path: Path
) -> None:
    from ras_lightning import torchfile
    from ras_lightning.weights import read_weights

    ref = torch.load(official_v2, map_location="cpu", weights_only=True)
    got = torchfile.load(official_v2)
    assert list(got) == list(ref)
    for k, v in ref.items():
        assert got[k].shape == tuple(v.shape) and np.array_equal(got[k], v.numpy()), k
    ckpt = torchfile.load(trained_ckpt)
    ref_ckpt = torch.load(trained_ckpt, map_location="cpu", weights_only=False)
    assert dict(ckpt["hyper_parameters"]) == dict(ref_ckpt["hyper_parameters"])
    k = "net.mscm.score.weight"
    assert np.array_equal(ckpt["state_dict"][k], ref_ckpt["state_dict"][k].numpy())
    # the pre-1.6 (non-zip) format is left to torch.load, transparently
    legacy = tmp_path / "legacy.pth"
    torch.save(ref, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(torchfile.UnsupportedFile):
        torchfile.load(legacy)
    arrays = read_weights(legacy)
    assert arrays.source == "official" and arrays.version == "v2" and arrays.size == 352
    assert np.array_equal(arrays.state["backbone.conv1.weight"], ref["module.bkbone.conv1.weight"])
    assert 98 < arrays.size_mb() < 99.5
    # a checkpoint's version and width come from its tensors, not only its hyper-parameters
    v1 = tmp_path / "v1.ckpt"
    net_v1 = {f"net.{k}": v for k, v in RAS("v1", channels=32).state_dict().items()}
    torch.save({"state_dict": net_v1, "hyper_parameters": {"version": "v2"}}, v1)
    arrays = read_weights(v1)
    assert (arrays.version, arrays.channels, arrays.source) == ("v1", 32, "checkpoint")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_onnx_graph_from_weights_matches_pytorch(version: str) -> None:
    import onnxruntime as ort

    from ras_lightning.models.official import rename_official
    from ras_lightning.onnx_graph import build_onnx

    official = seeded_official_state(version, 3) if REFERENCE.is_dir() else None
    if official is None:
        torch.manual_seed(3)
        official = RAS(version).official_state_dict()
    net = RAS.from_official_state_dict(official).eval()
    state = rename_official({k: v.numpy() for k, v in official.items()}, version)
    model = build_onnx(state, version)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for h, w in ((64, 64), (48, 80)):
        x = torch.randn(2, 3, h, w)
        with torch.no_grad():
            ref = net(x)[0].numpy()
        got = sess.run(None, {"image": x.numpy()})[0]
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= 1e-4 * (1 + np.abs(ref).max()), (h, w)
    broken = dict(official)
    del broken["ra2.convs.0.bias"]
    with pytest.raises(UserError, match="ra2.convs.0.bias"):
        build_onnx(rename_official({k: v.numpy() for k, v in broken.items()}, version), version)


def test_choose_backend() -> None:
    from ras_lightning.backends import choose_backend, gpu_present

    auto_device = "torch" if gpu_present() else "onnxruntime"
    assert choose_backend("auto", "auto", "RAS.v2.pth") == auto_device
    assert choose_backend("auto", "cpu", "x.ckpt") == "onnxruntime"
    assert choose_backend("auto", "cuda", "x.ckpt") == "torch"
    assert choose_backend("torch", "cpu", "x.ckpt") == "torch"
    assert choose_backend("auto", "cuda", "m.onnx") == "onnxruntime"
    with pytest.raises(UserError, match="backend must be one of"):
        choose_backend("tensorrt", "auto", "x.ckpt")
    from ras_lightning.inference import pick_device

    with pytest.raises(UserError, match="unknown 'tpu'"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            pick_device("cuda")


def test_predict_on_cpu_runs_without_torch_and_agrees_with_pytorch(
    official_v2: Path, tmp_path: Path
) -> None:
    src = _photos(tmp_path)
    fast, ref = tmp_path / "fast", tmp_path / "ref"
    res = run_cli(
        "predict",
        f"weights={official_v2}",
        f"input={src}",
        f"output={fast}",
        "device=cpu",
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    imported = {ln.rsplit("|", 1)[-1].strip() for ln in res.stderr.splitlines() if "|" in ln}
    assert "onnxruntime" in imported and "torch" not in imported and "lightning" not in imported
    res = run_cli(
        "predict", f"weights={official_v2}", f"input={src}", f"output={ref}", "backend=torch"
    )
    assert res.returncode == 0, res.stderr[-3000:]
    for name in ("a.png", "gray.png"):
        a = np.asarray(Image.open(fast / name), np.int16)
        b = np.asarray(Image.open(ref / name), np.int16)
        assert a.shape == b.shape and np.abs(a - b).max() <= 2, name
