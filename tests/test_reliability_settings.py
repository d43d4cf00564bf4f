"""Issue 21, parts 5 and 6, in process: every key and value is checked before any work (a key
added with ``+`` that its ``_target_`` does not take, counts and sizes of zero or below in
every command, an ONNX opset the network cannot be exported at, ``trainer.accelerator=gpu``
without a GPU, ``test_ckpt=best`` without validation), and weights errors tell the truth (a
file that is no PyTorch file says so; the trust switch only for a real pickle that
``weights_only`` refuses).

"Before any work": each command is given data, inputs and weights that do not exist, so a
check that came after reading them would fail with the data or weights error instead; every
case asserts the one-line settings error, and that nothing was written."""

from __future__ import annotations

import argparse
import hashlib
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf, open_dict

from ras_lightning.models.weights import load_weights
from ras_lightning.utils.errors import DataError, UserError
from tests.conftest import compose_config, one_line, run_command, write_image

# a tiny CPU run as tests/conftest.py's TINY, without its accelerator (a case sets it)
TRAIN = [
    "data.demo=false",
    "data.image_size=64",
    "data.batch_size=4",
    "model/backbone=resnet18",
    "trainer.max_epochs=1",
]


def _train(tmp_path: Path, *extra: str) -> None:
    """``train`` on a data root that does not exist: a settings error must come first."""
    root, run = tmp_path / "no_data", tmp_path / "run"
    args = [f"data.root={root}", f"hydra.run.dir={run}", *TRAIN]
    if not any(a.startswith(("trainer.accelerator=", "trainer=")) for a in extra):
        args.append("trainer.accelerator=cpu")
    try:
        run_command("train", *args, *extra, run_dir=run)
    finally:
        assert not root.exists() and not run.exists(), "a refused run wrote files"


def _train_composed(key: str, value: int) -> None:
    """``train.run`` on the train config of :func:`_train` (composed once per session) with
    ``key`` set to ``value``."""
    from ras_lightning.train import run

    run_dir = f"{MISSING}/run"
    cfg = compose_config(f"data.root={MISSING}/data", f"hydra.run.dir={run_dir}", *TRAIN)
    with open_dict(cfg):
        OmegaConf.update(cfg, key, value)
    run(cfg)


def test_a_missing_data_root_is_what_fails_without_a_bad_setting(tmp_path: Path) -> None:
    """The baseline of the train cases below: with every setting valid, the data error."""
    with pytest.raises((DataError, UserError), match="no_data"):
        _train(tmp_path / "ok")


# -- part 5: unknown keys of a _target_ node ------------------------------------------------

UNKNOWN_KEYS = {
    # Hydra's own message for a typo suggests `+optimizer.lrr=...`
    "optimizer": (
        ["+optimizer.lrr=1e-3"],
        r"^optimizer\.lrr: torch\.optim\.Adam takes no lrr \(did you mean lr\?\); its keys: lr, ",
    ),
    "sgd": (
        ["optimizer=sgd", "+optimizer.momentun=0.5"],
        r"^optimizer\.momentun: torch\.optim\.SGD takes no momentun \(did you mean momentum\?\)",
    ),
    "scheduler": (
        ["scheduler=cosine", "+scheduler.foo=1"],
        r"^scheduler\.foo: \S+\.cosine takes no foo; its keys: max_epochs, eta_min_ratio$",
    ),
    "loss": (
        ["+model.loss.bar=1"],
        r"^model\.loss\.bar: \S+\.bce_iou_loss takes no bar; it takes no settings$",
    ),
    "net": (
        ["+model.net.baz=1"],
        r"^model\.net\.baz: \S+\.RAS takes no baz; its keys: version, backbone, channels, "
        r"pretrained_backbone$",
    ),
    "backbone": (
        ["+model.net.backbone.nme=resnet34"],
        r"^model\.net\.backbone\.nme: \S+\.ResNetFeatures takes no nme \(did you mean name\?\)",
    ),
    "model": (["+model.lr=1"], r"^model\.lr: \S+\.RASModule takes no lr; its keys: net, "),
    "data": (["+data.batchsize=2"], r"^data\.batchsize: \S+ takes no batchsize \(did you mean"),
    "trainer": (["+trainer.max_epoch=2"], r"^trainer\.max_epoch: \S+Trainer takes no max_epoch"),
}


@pytest.mark.parametrize("case", list(UNKNOWN_KEYS))
def test_an_unknown_key_of_a_target_node_is_one_line_before_the_data(
    case: str, tmp_path: Path
) -> None:
    overrides, message = UNKNOWN_KEYS[case]
    with pytest.raises(UserError, match=message) as err:
        _train(tmp_path, *overrides)
    one_line(err)


# -- part 5: counts and sizes of zero or below, in every command ----------------------------

MISSING = "/nonexistent/ras-lightning-test"
W = f"weights={MISSING}/w.pth"
#: each command's base arguments: every required key set, every path absent
BASE = {
    "benchmark": [W],
    "predict": [W, f"input={MISSING}/photos", f"output={MISSING}/out"],
    "eval": [W, f"output_dir={MISSING}/out", f"data.root={MISSING}/data"],
    "score": [f"gt_dir={MISSING}/gt", f"pred_dir={MISSING}/maps", f"output_dir={MISSING}/out"],
    "export": [W, f"output={MISSING}/out.onnx"],
}
#: (command, key): the least value the key takes
COUNTS = {
    ("benchmark", "runs"): 1,
    ("benchmark", "warmup"): 0,
    ("benchmark", "size"): 32,
    ("benchmark", "threads"): 1,
    ("predict", "batch_size"): 1,
    ("predict", "threads"): 1,
    ("eval", "batch_size"): 1,
    ("eval", "threads"): 1,
    ("eval", "workers"): 1,
    ("eval", "fps_runs"): 1,
    ("score", "workers"): 1,
    ("train", "data.batch_size"): 1,
    ("train", "data.eval_batch_size"): 1,
    ("train", "data.image_size"): 32,
    ("train", "data.eval_size"): 32,
    ("train", "data.num_workers"): 0,
    ("train", "trainer.max_epochs"): 1,
    ("train", "trainer.check_val_every_n_epoch"): 1,
    ("train", "trainer.log_every_n_steps"): 1,
}
CASES = [
    (command, key, value, least)
    for (command, key), least in COUNTS.items()
    for value in (0, -1)
    if value < least
]


@pytest.mark.parametrize(
    ("command", "key", "value", "least"), CASES, ids=[f"{c}-{k}={v}" for c, k, v, _ in CASES]
)
def test_a_count_or_size_of_zero_or_below_is_one_line_naming_the_key(
    command: str, key: str, value: int, least: int, tmp_path: Path
) -> None:
    message = rf"^{re.escape(key)}={value}: must be a whole number >= {least}\b"
    with pytest.raises(UserError, match=message) as err:
        if command == "train" and value < 0:
            # the train config composed once (Hydra's compose is the slow part), then the
            # value set: the same check, through the same run()
            _train_composed(key, value)
        elif command == "train":
            _train(tmp_path, f"{key}={value}")
        else:
            run_command(command, *BASE[command], f"{key}={value}")
    one_line(err)
    assert not Path(MISSING).exists()


def test_the_least_counts_pass_the_checks(tmp_path: Path) -> None:
    """At its least value each key passes, and the command goes on to its weights (or data)."""
    for (command, key), least in COUNTS.items():
        if command == "train":
            continue
        with pytest.raises((UserError, DataError), match=r"no such"):
            run_command(command, *BASE[command], f"{key}={least}")


def test_export_check_sizes_and_tolerance_are_checked() -> None:
    with pytest.raises(UserError, match=r"^check_sizes\.0\.1=0: must be a whole number >= 32"):
        run_command("export", *BASE["export"], "check_sizes=[[352,0]]")
    with pytest.raises(UserError, match=r"^check_sizes=\[352\]: must be a list of \[height, "):
        run_command("export", *BASE["export"], "check_sizes=[352]")
    with pytest.raises(UserError, match=r"^tolerance=-1: must be a number >= 0"):
        run_command("export", *BASE["export"], "tolerance=-1")


CHOICES = [
    ("score", "missing=skp", r"^missing='skp': must be one of error, skip$"),
    (
        "score",
        "convention=matlab",
        r"^convention='matlab': must be one of pysodmetrics, f3net, both$",
    ),
    ("eval", "data.on_unpaired=skp", r"^data\.on_unpaired='skp': must be one of error, skip$"),
    ("eval", "backend=onnx", r"^backend='onnx': must be one of auto, torch, onnxruntime$"),
    ("predict", "backend=onnx", r"^backend='onnx': must be one of auto, torch, onnxruntime$"),
    ("benchmark", "device=gpu0", r"^device: unknown 'gpu0' \(auto, cpu, cuda, cuda:N, mps\)$"),
]


@pytest.mark.parametrize(("command", "override", "message"), CHOICES)
def test_a_value_outside_its_choices_is_one_line_before_any_work(
    command: str, override: str, message: str
) -> None:
    """A misspelt choice was taken as the default (missing=skp scored as missing=error) or
    reported only after the data or weights were read."""
    with pytest.raises(UserError, match=message):
        run_command(command, *BASE[command], override)
    assert not Path(MISSING).exists()


# -- part 5: the ONNX opset -----------------------------------------------------------------


@pytest.mark.parametrize("opset", [5, 9, 10])
def test_an_opset_below_what_ras_needs_is_refused_naming_the_minimum(opset: int) -> None:
    """RAS's bilinear resizes with align_corners=True are ONNX Resize from opset 11 on:
    torch.onnx fails below it with a traceback from the exporter's insides."""
    with pytest.raises(UserError, match=rf"^opset={opset}: RAS needs ONNX opset 11 or later"):
        run_command("export", *BASE["export"], f"opset={opset}")


def test_opset_11_and_other_formats_pass_the_opset_check() -> None:
    for extra in (["opset=11"], ["format=torchscript", "opset=5"]):
        with pytest.raises(UserError, match="weights: no such file"):
            run_command("export", *BASE["export"], *extra)
    with pytest.raises(UserError, match=r"^opset=99: this PyTorch exports ONNX opsets up to"):
        run_command("export", *BASE["export"], "opset=99")


# -- part 5: accelerator and test_ckpt before the data ---------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
@pytest.mark.parametrize("override", ["trainer.accelerator=gpu", "trainer.accelerator=cuda"])
def test_accelerator_gpu_without_a_gpu_is_refused_before_the_data(
    override: str, tmp_path: Path
) -> None:
    accel = override.split("=")[1]
    with pytest.raises(UserError, match=rf"^trainer\.accelerator={accel}: no CUDA GPU") as err:
        _train(tmp_path, override)
    assert "trainer.accelerator=auto" in one_line(err)


def test_test_ckpt_best_without_validation_is_refused_before_the_data(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"^test_ckpt=best needs a validation set"):
        _train(tmp_path, "test_ckpt=best", "data.val_sets=[]", "data.val_fraction=0")
    with pytest.raises(UserError, match=r"^test_ckpt must be 'last' or 'best', got 'bset'"):
        _train(tmp_path, "test_ckpt=bset")
    # with a validation share, or without training, "best" passes on to the data
    for extra in (["data.val_fraction=0.1"], ["train=false"]):
        with pytest.raises((DataError, UserError), match="no_data"):
            _train(tmp_path, "test_ckpt=best", "data.val_sets=[]", *extra)


# -- part 6: weights errors that tell the truth ---------------------------------------------


class _NotAWeight:
    """An object a weights file should not hold: unpickling it needs this class."""


def _saved(path: Path, obj: object) -> Path:
    torch.save(obj, path)
    return path


def _weights_cases(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, the message expected for it), written into ``folder``."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    random = folder / "random.pth"
    random.write_bytes(rng.bytes(4096))
    text = folder / "five.pth"
    text.write_text("hello")
    empty = folder / "empty.pth"
    empty.write_bytes(b"")
    ckpt = _saved(folder / "full.ckpt", {"state_dict": {"net.x": torch.zeros(4096)}})
    truncated = folder / "truncated.ckpt"
    truncated.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    plain = folder / "plain.pth"
    plain.write_bytes(pickle.dumps({"x": [1, 2, 3]}))
    foreign = folder / "foreign.pth"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    fake_onnx = folder / "fake.onnx"
    fake_onnx.write_bytes(rng.bytes(256))
    not_torch = r": not a PyTorch or ONNX file \("
    return {
        "random bytes": (random, not_torch + "unrecognised binary data"),
        "5-byte text": (text, not_torch + "it is text, starting 'hello'"),
        "empty": (empty, not_torch + "the file is empty"),
        "truncated ckpt": (truncated, ": a truncated or damaged PyTorch file"),
        "plain pickle": (plain, not_torch + "a Python pickle, but not one torch.save wrote"),
        "foreign zip": (foreign, not_torch + "a zip archive without the data.pkl"),
        "fake onnx": (fake_onnx, not_torch + "named .onnx, but it does not parse as an ONNX model"),
    }


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_a_file_that_is_no_pytorch_file_says_so_without_the_trust_switch(tmp_path: Path) -> None:
    """Through load_weights (trusted or not: trusting never unpickles such a file) and through
    the export and predict commands; the files are left as they were."""
    folder = tmp_path / "weights"
    cases = _weights_cases(folder)
    before = _digests(folder)
    for name, (path, message) in cases.items():
        for trust in (False, True):
            with pytest.raises(UserError, match=f"^weights: cannot read .*{message}") as err:
                load_weights(path, trust)
            assert str(path) in one_line(err) and "trust_weights" not in str(err.value), name
    out = tmp_path / "out"
    photo = write_image(tmp_path / "photo.jpg", np.zeros((40, 40, 3), np.uint8))
    for name in ("random bytes", "5-byte text", "truncated ckpt"):
        path, message = cases[name]
        with pytest.raises(UserError, match=message) as err:
            run_command("export", f"weights={path}", f"output={out / 'x.onnx'}")
        assert "trust_weights" not in one_line(err)
        # predict's CPU default (ONNX Runtime, the network exported into the ONNX cache first)
        with pytest.raises(UserError, match=message) as err:
            run_command("predict", f"weights={path}", f"input={photo}", f"output={out / 'map.png'}")
        assert "trust_weights" not in one_line(err)
    assert _digests(folder) == before and not out.exists()


def test_the_trust_switch_is_suggested_only_for_a_real_pickle_weights_only_refuses(
    tmp_path: Path,
) -> None:
    state = {"state_dict": {"net.x": torch.zeros(2)}}
    namespace = _saved(tmp_path / "args.pth", {**state, "args": argparse.Namespace(lr=0.1)})
    ours = _saved(tmp_path / "object.ckpt", {**state, "extra": _NotAWeight()})
    legacy = tmp_path / "legacy.pth"
    torch.save(
        {**state, "args": argparse.Namespace()}, legacy, _use_new_zipfile_serialization=False
    )
    for path, pickled in (
        (namespace, "argparse.Namespace"),
        (ours, "tests.test_reliability_settings._NotAWeight"),
        (legacy, "argparse.Namespace"),
    ):
        with pytest.raises(UserError, match=rf"needs full unpickling \(it pickles {pickled}\)"):
            load_weights(path)
        with pytest.raises(UserError, match="trust_weights=true") as err:
            run_command("export", f"weights={path}", f"output={tmp_path / 'out.onnx'}")
        assert str(path) in one_line(err)
        # trusted, it is read (and then found to hold no RAS network)
        with pytest.raises(UserError, match="neither a ras-lightning checkpoint nor"):
            load_weights(path, trust=True)
    assert not (tmp_path / "out.onnx").exists()


def test_a_damaged_pickle_inside_a_pytorch_file_is_not_answered_with_trust(
    tmp_path: Path,
) -> None:
    whole = _saved(tmp_path / "whole.pth", {"args": argparse.Namespace(lr=0.1)})
    damaged = tmp_path / "damaged.pth"
    with zipfile.ZipFile(whole) as src, zipfile.ZipFile(damaged, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data[: len(data) // 2] if name.endswith("data.pkl") else data)
    with pytest.raises(UserError, match=r"damaged\.pth: a damaged PyTorch file") as err:
        load_weights(damaged)
    assert "trust_weights" not in one_line(err)
