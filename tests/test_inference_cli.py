"""Using a trained model: weights loading, predict, eval, export and benchmark, run in process
(``<command>.run`` through :func:`tests.conftest.run_command`) on the session's tiny checkpoint;
weights in the authors' layout where a test is about that layout. What only a fresh process
shows (no torch imported on an ONNX cache hit) is in the commands' smoke tests
(tests/test_help.py) and, in full, in the ``slow`` set."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ras_lightning.models import RAS
from ras_lightning.models.fusion import fold_batchnorm
from ras_lightning.models.weights import load_weights
from ras_lightning.utils.errors import DataError, UserError
from tests.conftest import (
    ECSSD_DIR,
    REFERENCE,
    compose_config,
    mixed_photos,
    run_cli,
    run_command,
    save_seeded_official,
    seeded_official_state,
)
from tests.test_export import seeded_ckpt


@pytest.fixture(scope="module")
def official_v2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Seeded weights in the authors' RAS.v2.pth format (from the manifest when present);
    removed with the module (pytest keeps ``mktemp`` folders to the end of the session)."""
    path = tmp_path_factory.mktemp("official") / "RAS.v2.pth"
    if REFERENCE.is_dir():
        save_seeded_official(path, "v2", seed=1, prefix="module.")
    else:
        torch.save(RAS("v2").official_state_dict(), path)
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


def official_state(version: str, backbone: str, seed: int) -> dict[str, torch.Tensor]:
    """Seeded weights in the authors' key layout: the released ResNet-50 ones (from the
    manifest when present), or those of another backbone as ``export format=official`` writes
    them; non-trivial BatchNorm statistics, so that folding matters."""
    if backbone == "resnet50" and REFERENCE.is_dir():
        return seeded_official_state(version, seed)
    torch.manual_seed(seed)
    net = RAS(version, backbone=backbone)  # type: ignore[arg-type]
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net.official_state_dict()


@pytest.fixture(scope="module")
def official_r18(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small file in the authors' RAS.v2.pth layout (``module.`` keys, ResNet-18 backbone):
    for what reading that layout does (pickles, the ONNX cache) at a tenth of the cost."""
    path = tmp_path_factory.mktemp("official_r18") / "RAS.v2.pth"
    state = official_state("v2", "resnet18", seed=1)
    torch.save({f"module.{k}": v for k, v in state.items()}, path)
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


def test_load_weights_ckpt_official_and_errors(
    tiny_ckpt: Path, official_v2: Path, tmp_path: Path
) -> None:
    ours = load_weights(tiny_ckpt)
    assert ours.source == "checkpoint" and ours.net.version == "v2"
    assert ours.size == 64 and ours.recipe == "v1"  # saved from the training data settings
    ckpt = torch.load(tiny_ckpt, map_location="cpu", weights_only=False)
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
    # every backbone, with trained statistics: tests/test_models.py
    torch.manual_seed(0)
    net = RAS(version, backbone="resnet18")
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


def test_predict_masks_skips_and_never_writes_into_input(
    tiny_ckpt: Path, tmp_path: Path, command_output: Callable[[], str]
) -> None:
    # more of predict (output types, videos, same stems, resume): tests/test_predict.py
    src = mixed_photos(tmp_path)
    before = sorted(p.name for p in src.rglob("*"))
    out = tmp_path / "out"
    run_command(
        "predict", f"weights={tiny_ckpt}", f"input={src}", f"output={out}", "recursive=true"
    )
    log = command_output()
    assert "3 written, 2 skipped (1 unreadable, 1 not an image or video)" in log
    assert "notes.txt" in log and "broken.jpg" in log
    assert Image.open(out / "a.png").size == (70, 50)
    assert Image.open(out / "gray.png").size == (30, 40)
    assert Image.open(out / "sub" / "b.png").size == (44, 33)
    assert sorted(p.name for p in src.rglob("*")) == before
    with pytest.raises(UserError, match="inside the input folder"):
        run_command("predict", f"weights={tiny_ckpt}", f"input={src}", f"output={src / 'x'}")
    command_output()
    glob_out = tmp_path / "glob"
    run_command("predict", f"weights={tiny_ckpt}", f"input={src}/*.jpg", f"output={glob_out}")
    assert "1 written, 1 skipped" in command_output()


@pytest.mark.parametrize(
    ("fmt", "backbone"),
    [
        # ONNX of ResNet-18 weights (checked, run by predict): tests/test_export.py
        ("torchscript", "resnet18"),
        pytest.param("onnx", "resnet50", marks=pytest.mark.slow),
        pytest.param("torchscript", "resnet50", marks=pytest.mark.slow),
    ],
)
def test_export_checks_itself_and_onnx_predicts(
    tmp_path: Path,
    fmt: str,
    backbone: str,
    command_output: Callable,
    request: pytest.FixtureRequest,
) -> None:
    """The whole network is exported (the file holds its weights) and checked against PyTorch
    at two sizes; the ONNX file runs ``predict``. ResNet-18 (ours) in ``make test``, the
    authors' ResNet-50 file in the slow set."""
    if backbone == "resnet18":
        weights = seeded_ckpt(tmp_path / "ras.ckpt")
    else:
        weights = request.getfixturevalue("official_v2")
    net_bytes = sum(t.nbytes for t in load_weights(weights).net.state_dict().values())
    path = tmp_path / f"ras.{fmt}"
    run_command(
        "export",
        f"weights={weights}",
        f"format={fmt}",
        f"output={path}",
        "check_sizes=[[64,64],[48,80]]",
    )
    assert ": OK" in command_output() and path.stat().st_size > 0.9 * net_bytes
    if fmt == "onnx":
        src = mixed_photos(tmp_path)
        out = tmp_path / "onnx_out"
        run_command(
            "predict",
            f"weights={path}",
            "backend=onnxruntime",
            f"input={src}",
            f"output={out}",
            "batch_size=2",
        )
        assert Image.open(out / "a.png").size == (70, 50)


def test_eval_writes_maps_metrics_and_paper_table(
    tiny_ckpt: Path, demo_root: Path, tmp_path: Path, command_output: Callable
) -> None:
    # that a warm ONNX cache runs eval without torch (NumPy scoring): tests/test_help.py
    from ras_lightning.utils.timing import model_size_mb

    out = tmp_path / "eval"
    run_command(
        "eval",
        f"weights={tiny_ckpt}",
        f"data.root={demo_root}",
        "data.test_sets=[DEMO-TE]",
        f"output_dir={out}",
        "fps_runs=2",
    )
    maps = sorted((out / "DEMO-TE").glob("*.png"))
    assert len(maps) == 7
    photo = next((demo_root / "DEMO-TE" / "images").glob(maps[0].stem + ".*"))
    assert Image.open(maps[0]).size == Image.open(photo).size
    assert np.asarray(Image.open(maps[0])).max() == 255  # min-max normalised
    data = json.loads((out / "metrics.json").read_text())
    # eval's default convention is the published tables' (f3net): no E curve, adaptive E
    assert set(data["sets"]["DEMO-TE"]) >= {"max_f", "mae", "s_measure", "adaptive_e"}
    size = model_size_mb(load_weights(tiny_ckpt).net)  # the network's, to 0.1 MB
    assert data["fps"] > 0 and abs(data["model_size_mb"] - size) <= 0.05
    table = (out / "metrics.md").read_text()
    assert "| DEMO-TE | last.ckpt | 7 |" in table and "FPS" in table and "MB" in table
    assert table.startswith("Convention: f3net") and table in command_output()  # printed
    assert "ONNX Runtime" in table and data["backend"] == "ONNX Runtime"


@pytest.mark.skipif(not ECSSD_DIR.is_dir(), reason="../shared/data/ECSSD-100 absent")
def test_predict_real_photos_at_original_size(tiny_ckpt: Path, tmp_path: Path) -> None:
    src = tmp_path / "ecssd"
    src.mkdir()
    for name in ("0001.jpg", "0002.jpg"):
        (src / name).symlink_to(ECSSD_DIR / "images" / name)
    out = tmp_path / "out"
    run_command("predict", f"weights={tiny_ckpt}", f"input={src}", f"output={out}")
    for name in ("0001", "0002"):
        assert Image.open(out / f"{name}.png").size == Image.open(src / f"{name}.jpg").size


def test_saliency_predictor_in_python_matches_the_cli(tiny_ckpt: Path, tmp_path: Path) -> None:
    from ras_lightning import SaliencyPredictor

    src = mixed_photos(tmp_path)
    out = tmp_path / "out"
    run_command("predict", f"weights={tiny_ckpt}", f"input={src}", f"output={out}", "backend=torch")
    model = SaliencyPredictor(tiny_ckpt, backend="torch", device="cpu")
    assert model.version == "v2"
    for name in ("a.jpg", "gray.png"):
        cli = np.asarray(Image.open(out / Path(name).with_suffix(".png")))
        with Image.open(src / name) as im:
            maps = [model.predict(src / name), model.predict(im), model.predict(np.asarray(im))]
        assert maps[0].dtype == np.uint8 and maps[0].shape == cli.shape and cli.std() > 0
        for m in maps:
            assert np.array_equal(m, cli), name
    both = model.predict_many([src / "a.jpg", src / "gray.png"])
    assert [m.shape for m in both] == [(50, 70), (40, 30)]
    with pytest.raises(DataError, match="broken.jpg"):
        model.predict(src / "broken.jpg")
    with pytest.raises(TypeError, match="unknown settings"):
        SaliencyPredictor(tiny_ckpt, backnd="torch")


def test_benchmark_names_the_device(tiny_ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ras_lightning.utils.devices import cpu_name
    from ras_lightning.utils.timing import model_size_mb

    run_command("benchmark", f"weights={tiny_ckpt}", "size=64", "runs=2", "warmup=1")
    stdout = capsys.readouterr().out
    # in this process torch runs the threads tests/conftest.py gives it
    device = (
        torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else cpu_name(torch.get_num_threads())
    )
    size = model_size_mb(load_weights(tiny_ckpt).net)
    head = f"RAS v2, 64x64, batch 1, network only, on {device}; model size {size:.1f} MB"
    assert head in stdout.splitlines(), stdout
    cuda = torch.cuda.is_available()
    expected = ["eager fp32 (the authors' loop)", "BN folded + channels-last" + " + fp16" * cuda]
    expected += [] if cuda else ["ONNX Runtime (predict/eval default on a CPU)"]
    table = [ln for ln in stdout.splitlines() if ln.startswith("| ") and "| FPS |" not in ln]
    rows = {k: float(v) for k, v in (ln.strip("| ").split(" | ") for ln in table)}
    assert list(rows) == expected and all(fps > 0 for fps in rows.values()), stdout


# -- reading weights safely; the ONNX cache of the CPU path; backend choice ------------------


def _imported(stderr: str) -> set[str]:
    """Modules named by ``PYTHONPROFILEIMPORTTIME=1`` output."""
    return {ln.rsplit("|", 1)[-1].strip() for ln in stderr.splitlines() if "|" in ln}


def _exported(cache: Path) -> list[Path]:
    """The exported networks in an ONNX cache folder (not ONNX Runtime's optimised forms)."""
    return sorted(p for p in cache.glob("*.onnx") if ".ort-" not in p.name)


def test_load_weights_reads_with_weights_only(official_v2: Path, tmp_path: Path) -> None:
    from lightning.fabric.utilities.data import AttributeDict

    ref = torch.load(official_v2, map_location="cpu", weights_only=True)
    # the pre-1.6 (non-zip) format
    legacy = tmp_path / "legacy.pth"
    torch.save(ref, legacy, _use_new_zipfile_serialization=False)
    loaded = load_weights(legacy)
    assert loaded.source == "official" and loaded.net.version == "v2" and loaded.size == 352
    assert torch.equal(loaded.net.backbone.conv1.weight, ref["module.bkbone.conv1.weight"])
    # a checkpoint's version and width come from its tensors, not only its hyper-parameters;
    # older Lightning versions pickle the hyper-parameters as an AttributeDict (allowlisted)
    v1 = tmp_path / "v1.ckpt"
    net_v1 = {f"net.{k}": v for k, v in RAS("v1", channels=32).state_dict().items()}
    hp = AttributeDict(version="v2", input_recipe="v2", eval_size=320)
    torch.save({"state_dict": net_v1, "hyper_parameters": hp}, v1)
    loaded = load_weights(v1)
    assert (loaded.net.version, loaded.net.mscm.convert.out_channels) == ("v1", 32)
    assert (loaded.source, loaded.recipe, loaded.size) == ("checkpoint", "v2", 320)
    (tmp_path / "text.pth").write_text("not a checkpoint")
    # a text file is no PyTorch file: said so, without suggesting trust_weights (issue 21)
    with pytest.raises(UserError, match="text.pth: not a PyTorch or ONNX file") as err:
        load_weights(tmp_path / "text.pth")
    assert "trust_weights" not in str(err.value)
    with pytest.raises(UserError, match="cannot read .*text.pth"):
        load_weights(tmp_path / "text.pth", trust=True)


def test_untrusted_pickle_is_refused_in_one_line_unless_trusted(
    official_r18: Path, tmp_path: Path
) -> None:
    import argparse

    state = torch.load(official_r18, map_location="cpu", weights_only=True)
    unsafe = tmp_path / "RAS.v2.args.pth"  # e.g. an argparse.Namespace saved beside the weights
    torch.save({"state_dict": state, "args": argparse.Namespace(lr=0.1)}, unsafe)
    with pytest.raises(UserError, match="argparse.Namespace") as err:
        load_weights(unsafe)
    assert "\n" not in str(err.value) and "trust_weights=true" in str(err.value)
    assert load_weights(unsafe, trust=True).net.version == "v2"
    src = mixed_photos(tmp_path)
    for backend in ("onnxruntime", "torch"):
        with pytest.raises(UserError) as err:
            run_command(
                "predict",
                f"weights={unsafe}",
                f"input={src / 'a.jpg'}",
                f"output={tmp_path / backend}",
                f"backend={backend}",
                f"cache_dir={tmp_path / 'cache'}",
            )
        msg = str(err.value)  # the CLI's one line: "error: <msg>"
        assert "\n" not in msg and msg.startswith("weights: "), msg
        assert str(unsafe) in msg and "trust_weights=true" in msg
    assert not list((tmp_path / "cache").glob("*.onnx"))
    run_command(
        "predict",
        f"weights={unsafe}",
        f"input={src / 'a.jpg'}",
        f"output={tmp_path / 'trusted'}",
        "trust_weights=true",
        f"cache_dir={tmp_path / 'cache'}",
    )
    assert (tmp_path / "trusted" / "a.png").is_file()


@pytest.mark.parametrize("backbone", ["resnet18", pytest.param("resnet50", marks=pytest.mark.slow)])
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_cached_onnx_matches_pytorch(version: str, backbone: str, tmp_path: Path) -> None:
    """The exported network on ONNX Runtime (its Resize with align_corners included) against
    PyTorch, at odd sizes; the cache entry carries its metadata. Weights in the authors'
    layout: a ResNet-18 one in ``make test``, the released ResNet-50 one in the slow set."""
    from ras_lightning.inference import onnx_cache
    from ras_lightning.inference.onnx_predictor import OnnxPredictor

    official = official_state(version, backbone, seed=3)
    net = RAS.from_official_state_dict(official).eval()
    path = tmp_path / f"RAS.{version}.pth"
    torch.save(official, path)
    cache = tmp_path / "cache"
    predictor = OnnxPredictor(path, cache_dir=cache)
    assert predictor.cache_hit is False
    entry = onnx_cache.entry_path(path, cache)
    optimized = onnx_cache.optimized_path(entry)
    assert _exported(cache) == [entry] and optimized.is_file()
    assert not [p for p in cache.rglob("*") if p.name.endswith(".tmp")]  # none left behind
    assert (predictor.version, predictor.recipe, predictor.size) == (version, version, 352)
    assert predictor.size_mb == pytest.approx(sum(t.nbytes for t in official.values()) / 1e6)
    assert [o.name for o in predictor.session.get_outputs()] == ["side0"]
    for h, w in ((64, 64), (45, 83)):
        x = torch.randn(2, 3, h, w)
        with torch.no_grad():
            ref = net(x)[0].numpy()
        got = predictor.logits(x.numpy())
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= 1e-4 * (1 + np.abs(ref).max()), (h, w)
    # a batch run side by side, one photo per thread: the same logits, bit for bit
    side_by_side = OnnxPredictor(path, batch_size=2, threads=2, cache_dir=cache)
    assert side_by_side.cache_hit is True and side_by_side.parallel == 2
    x = np.random.default_rng(0).standard_normal((2, 3, 45, 83), np.float32)
    assert np.array_equal(side_by_side.logits(x), predictor.logits(x))
    assert side_by_side.measure_fps(runs=1, warmup=0, size=64) > 0


@pytest.mark.slow
def test_onnx_cache_hit_without_torch_new_entry_per_weights_and_rebuild(
    official_v2: Path, tmp_path: Path
) -> None:
    """Through the real CLI, on the authors' ResNet-50 layout (``make test``: the same in
    process below, and a hit without torch in the predict smoke test of tests/test_help.py)."""
    src = mixed_photos(tmp_path)
    cache, other = tmp_path / "cache", tmp_path / "other_cache"
    weights = tmp_path / "RAS.v2.pth"
    weights.write_bytes(official_v2.read_bytes())

    def predict(out: str, **overrides: str) -> tuple[set[str], str]:
        res = run_cli(
            "predict",
            f"weights={weights}",
            f"input={src}",
            f"output={tmp_path / out}",
            "device=cpu",
            *[f"{k}={v}" for k, v in overrides.items()],
            env={"PYTHONPROFILEIMPORTTIME": "1", "RAS_LIGHTNING_CACHE": str(cache)},
        )
        assert res.returncode == 0, res.stderr[-3000:]
        return _imported(res.stderr), res.stdout + res.stderr

    imported, log = predict("cold")  # fills the cache: torch imported for the export
    assert "torch" in imported and "exporting the network" in log
    assert len(_exported(cache)) == 1 and len(list(cache.glob("*.ort-*.onnx"))) == 1
    imported, log = predict("warm")  # a hit: ONNX Runtime alone
    assert "onnxruntime" in imported and "torch" not in imported and "lightning" not in imported
    assert "exporting" not in log
    for name in ("a.png", "gray.png"):
        cold = np.asarray(Image.open(tmp_path / "cold" / name))
        assert np.array_equal(cold, np.asarray(Image.open(tmp_path / "warm" / name)))
    # the key is the file's content: changed weights get their own entry
    state = torch.load(weights, weights_only=True)
    state["module.mscm.score.bias"] += 1.0
    torch.save(state, weights)
    imported, _ = predict("changed")
    assert "torch" in imported and len(_exported(cache)) == 2
    # cache_dir= overrides RAS_LIGHTNING_CACHE
    predict("override", cache_dir=str(other))
    assert len(_exported(other)) == 1 and len(_exported(cache)) == 2
    # a damaged optimised file is made again from the exported one (no torch), a damaged
    # exported file is exported again
    entry = _exported(other)[0]
    optimized = next(other.glob("*.ort-*.onnx"))
    optimized.write_bytes(optimized.read_bytes()[: 1 << 20])
    imported, log = predict("reoptimized", cache_dir=str(other))
    assert "rebuilding" in log and "torch" not in imported and optimized.stat().st_size > 90e6
    entry.write_bytes(entry.read_bytes()[: 1 << 20])
    optimized.unlink()
    imported, log = predict("rebuilt", cache_dir=str(other))
    assert "rebuilding" in log and "torch" in imported
    assert entry.stat().st_size > 90e6 and optimized.stat().st_size > 90e6
    imported, _ = predict("rebuilt_hit", cache_dir=str(other))
    assert "torch" not in imported
    a = np.asarray(Image.open(tmp_path / "override" / "a.png"))
    for out in ("reoptimized", "rebuilt", "rebuilt_hit"):
        assert np.array_equal(a, np.asarray(Image.open(tmp_path / out / "a.png"))), out


def test_onnx_cache_new_entry_per_weights_override_and_rebuild(
    tmp_path: Path, command_output: Callable[[], str]
) -> None:
    """The ONNX cache in process: a hit exports nothing, changed weights get their own entry,
    ``cache_dir=`` wins over ``RAS_LIGHTNING_CACHE``, a damaged optimised file is made again
    from the exported one (no export), a damaged exported file is exported again."""
    src = mixed_photos(tmp_path)
    cache, other = tmp_path / "cache", tmp_path / "other_cache"
    weights = seeded_ckpt(tmp_path / "ras.ckpt")  # ours, ResNet-18 at 64 px: quick to run

    def predict(out: str, **overrides: str) -> str:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("RAS_LIGHTNING_CACHE", str(cache))
            run_command(
                "predict",
                f"weights={weights}",
                f"input={src}",
                f"output={tmp_path / out}",
                "device=cpu",
                *[f"{k}={v}" for k, v in overrides.items()],
            )
        return command_output()

    command_output()
    log = predict("cold")  # fills the cache: the network exported
    assert "exporting the network" in log
    assert len(_exported(cache)) == 1 and len(list(cache.glob("*.ort-*.onnx"))) == 1
    log = predict("warm")  # a hit: nothing exported
    assert "exporting" not in log and "rebuilding" not in log
    for name in ("a.png", "gray.png"):
        cold = np.asarray(Image.open(tmp_path / "cold" / name))
        assert np.array_equal(cold, np.asarray(Image.open(tmp_path / "warm" / name)))
    # the key is the file's content: changed weights get their own entry
    ckpt = torch.load(weights, weights_only=True)
    ckpt["state_dict"]["net.mscm.score.bias"] += 1.0
    torch.save(ckpt, weights)
    assert "exporting the network" in predict("changed") and len(_exported(cache)) == 2
    # cache_dir= overrides RAS_LIGHTNING_CACHE
    predict("override", cache_dir=str(other))
    assert len(_exported(other)) == 1 and len(_exported(cache)) == 2
    # a damaged optimised file is made again from the exported one (no export), a damaged
    # exported file is exported again
    entry = _exported(other)[0]
    optimized = next(other.glob("*.ort-*.onnx"))
    sizes = entry.stat().st_size, optimized.stat().st_size
    optimized.write_bytes(optimized.read_bytes()[: sizes[1] // 2])
    log = predict("reoptimized", cache_dir=str(other))
    assert "rebuilding" in log and "exporting" not in log
    assert optimized.stat().st_size == sizes[1]
    entry.write_bytes(entry.read_bytes()[: sizes[0] // 2])
    optimized.unlink()
    log = predict("rebuilt", cache_dir=str(other))
    assert "rebuilding" in log and "exporting the network" in log
    assert (entry.stat().st_size, optimized.stat().st_size) == sizes
    assert "exporting" not in predict("rebuilt_hit", cache_dir=str(other))
    a = np.asarray(Image.open(tmp_path / "override" / "a.png"))
    for out in ("reoptimized", "rebuilt", "rebuilt_hit"):
        assert np.array_equal(a, np.asarray(Image.open(tmp_path / out / "a.png"))), out


def test_cache_folder_follows_config_env_and_xdg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ras_lightning.inference.onnx_cache import cache_dir, weights_key

    monkeypatch.setenv("RAS_LIGHTNING_CACHE", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir(str(tmp_path / "cfg")) == tmp_path / "cfg"
    assert cache_dir(None) == tmp_path / "env"
    monkeypatch.delenv("RAS_LIGHTNING_CACHE")
    assert cache_dir(None) == tmp_path / "xdg" / "ras-lightning" / "onnx"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir(None) == Path.home() / ".cache" / "ras-lightning" / "onnx"
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    a.write_bytes(b"x" * 10_000_000)
    b.write_bytes(b"x" * 10_000_000)
    assert weights_key(a) == weights_key(b) and len(weights_key(a)) == 64
    b.write_bytes(b"x" * 9_999_999 + b"y")
    assert weights_key(a) != weights_key(b)


def test_choose_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from ras_lightning.inference.backends import choose_backend
    from ras_lightning.utils import devices

    monkeypatch.setattr(devices, "gpu_present", lambda: True)
    assert choose_backend("auto", "auto", "RAS.v2.pth") == "torch"
    assert choose_backend("auto", "cpu", "RAS.v2.pth") == "onnxruntime"
    monkeypatch.setattr(devices, "gpu_present", lambda: False)
    assert choose_backend("auto", "auto", "RAS.v2.pth") == "onnxruntime"
    assert choose_backend("auto", "cpu", "x.ckpt") == "onnxruntime"
    assert choose_backend("auto", "cuda", "x.ckpt") == "torch"
    assert choose_backend("torch", "cpu", "x.ckpt") == "torch"
    assert choose_backend("auto", "cuda", "m.onnx") == "onnxruntime"
    with pytest.raises(UserError, match="backend must be one of"):
        choose_backend("tensorrt", "auto", "x.ckpt")
    from ras_lightning.utils.devices import pick_device

    with pytest.raises(UserError, match="unknown 'tpu'"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            pick_device("cuda")


def test_gpu_present_imports_no_torch_without_a_gpu_driver(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ras_lightning.utils import devices

    monkeypatch.setattr(devices, "GPU_DEVICE_FILES", (str(tmp_path / "nvidiactl"),))
    with monkeypatch.context() as mp:
        mp.setitem(sys.modules, "torch", None)  # an import of torch here raises ImportError
        assert devices.gpu_present() is False
    (tmp_path / "nvidiactl").touch()  # a driver file: now PyTorch is asked
    asked = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: asked.append(1) or False)
    assert devices.gpu_present() is False and asked == [1]


@pytest.mark.parametrize("entry", ["predict", "eval"])
def test_predict_and_eval_share_one_inference_node(entry: str) -> None:
    from ras_lightning import CONFIG_DIR

    shared = compose_config(config="inference/default")
    assert {"weights", "backend", "device", "batch_size", "threads", "fold_bn"} <= set(shared)
    # the keys stay top-level CLI keys, written once (in the node), with the node's values
    cfg = compose_config("weights=w.pth", "backend=torch", "device=cpu", "half=true", config=entry)
    assert cfg.weights == "w.pth" and cfg.backend == "torch" and cfg.device == "cpu" and cfg.half
    for key in set(shared) - {"weights", "backend", "device", "half"}:
        assert cfg[key] == shared[key], key
    own = yaml.safe_load((CONFIG_DIR / f"{entry}.yaml").read_text())
    assert not set(own) & set(shared) and {"inference": "default"} in own["defaults"]


def test_predict_on_cpu_agrees_with_pytorch(tiny_ckpt: Path, tmp_path: Path) -> None:
    src = mixed_photos(tmp_path)
    fast, ref = tmp_path / "fast", tmp_path / "ref"
    run_command("predict", f"weights={tiny_ckpt}", f"input={src}", f"output={fast}", "device=cpu")
    run_command("predict", f"weights={tiny_ckpt}", f"input={src}", f"output={ref}", "backend=torch")
    for name in ("a.png", "gray.png"):
        a = np.asarray(Image.open(fast / name), np.int16)
        b = np.asarray(Image.open(ref / name), np.int16)
        assert a.shape == b.shape and np.abs(a - b).max() <= 2, name
