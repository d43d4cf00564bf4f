"""``export``: the ONNX file describes itself (the README's plain ONNX Runtime snippet runs on
it and agrees with ``predict``), and ``format=official`` writes the authors' key layout that
``RAS.from_official`` reads back exactly (in process: ``export.run``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ras_lightning.data.normalization import F3NET_MEAN, F3NET_STD, IMAGENET_MEAN, IMAGENET_STD
from ras_lightning.models import RAS
from ras_lightning.models.weights import load_weights
from ras_lightning.utils.errors import UserError
from tests.conftest import REPO, mixed_photos, run_command


def seeded_ckpt(path: Path, recipe: str = "v1", version: str = "v2", size: int = 64) -> Path:
    """A checkpoint of ours (Lightning layout) with seeded ResNet-18 RAS weights, tested at
    ``size`` with ``recipe``'s normalisation: what ``load_weights`` reads, without training."""
    torch.manual_seed(0)
    net = RAS(version=version, backbone="resnet18")  # type: ignore[arg-type]
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding and layout matter
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    hp = {"backbone": "resnet18", "input_recipe": recipe, "eval_size": size}
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "hyper_parameters": hp}, path)
    return path


def readme_onnx_snippet() -> str:
    """The README's ONNX Runtime code block, verbatim (indentation of the list item removed)."""
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    block = next(b for b in blocks if "onnxruntime" in b and "custom_metadata_map" in b)
    lines = block.splitlines()
    indent = min(len(ln) - len(ln.lstrip()) for ln in lines if ln.strip())
    return "\n".join(ln[indent:] for ln in lines) + "\n"


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_onnx_metadata_and_the_readme_snippet_agree_with_predict(
    recipe: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command_output: Callable
) -> None:
    ckpt = seeded_ckpt(tmp_path / "ras.ckpt", recipe=recipe)
    onnx_file = tmp_path / "ras_v2.onnx"
    run_command(
        "export",
        f"weights={ckpt}",
        "format=onnx",
        f"output={onnx_file}",
        "check_sizes=[[64,64],[48,80]]",
    )
    # checked against PyTorch; the whole network (its weights) is in the file
    net_bytes = sum(t.nbytes for t in load_weights(ckpt).net.state_dict().values())
    assert ": OK" in command_output() and onnx_file.stat().st_size > 0.9 * net_bytes
    # predict runs the exported file (ONNX Runtime), a map at each photo's size
    src = mixed_photos(tmp_path)
    run_command(
        "predict",
        f"weights={onnx_file}",
        "backend=onnxruntime",
        f"input={src}",
        f"output={tmp_path / 'onnx_out'}",
        "batch_size=2",
    )
    assert Image.open(tmp_path / "onnx_out" / "a.png").size == (70, 50)
    import onnxruntime as ort

    meta = ort.InferenceSession(str(onnx_file)).get_modelmeta().custom_metadata_map
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if recipe == "v1" else (F3NET_MEAN, F3NET_STD)
    assert meta["ras_version"] == "v2" and meta["input_size"] == "64"
    assert json.loads(meta["mean"]) == list(mean) and json.loads(meta["std"]) == list(std)
    assert meta["pixel_range"] == ("0-1" if recipe == "v1" else "0-255")
    assert meta["channel_order"] == "RGB" and meta["output"] == "logits"

    # a smooth photo, larger than the input size (both resizes shrink it)
    yy, xx = np.mgrid[0:90, 0:120]
    photo = np.stack([xx * 2, yy * 2, 255 - xx - yy], -1).clip(0, 255).astype(np.uint8)
    photo[30:60, 40:80] = (230, 40, 40)
    Image.fromarray(photo).save(tmp_path / "photo.jpg", quality=95)
    # the snippet as a user runs it, in the folder holding ras_v2.onnx and photo.jpg
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_onnx_snippet(), "README.md", "exec"), {})  # noqa: S102
    run_command(
        "predict",
        f"weights={ckpt}",
        "backend=torch",
        f"input={tmp_path / 'photo.jpg'}",
        f"output={tmp_path / 'predicted'}",
    )
    ours = np.asarray(Image.open(tmp_path / "map.png"), np.float32)
    cli = np.asarray(Image.open(tmp_path / "predicted" / "photo.png"), np.float32)
    assert ours.shape == cli.shape == (90, 120)
    assert cli.std() > 10  # a map with structure, not a constant
    diff = np.abs(ours - cli)
    # resizes differ only in interpolation details (PIL vs the authors' align_corners / OpenCV)
    assert diff.mean() < 4 and np.corrcoef(ours.ravel(), cli.ravel())[0, 1] > 0.98, (
        diff.mean(),
        diff.max(),
    )


def test_export_official_is_the_authors_layout_and_reads_back_exactly(
    tmp_path: Path, command_output: Callable[[], str]
) -> None:
    ckpt = seeded_ckpt(tmp_path / "ras.ckpt", recipe="v2", version="v1")
    out = tmp_path / "RAS.v1.pth"
    run_command("export", f"weights={ckpt}", "format=official", f"output={out}")
    assert "read back exactly" in command_output()
    state = torch.load(out, map_location="cpu", weights_only=True)
    # a plain state dict of tensors with the authors' v1 names (their backbone is `resnet`)
    assert isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())
    assert any(k.startswith("resnet.") for k in state)
    assert not any(k.startswith(("net.", "module.", "backbone.")) for k in state)
    ours = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    ours = {k.removeprefix("net."): v for k, v in ours.items()}
    back = RAS.from_official(out, "v1").state_dict()
    assert back.keys() == ours.keys()
    for k, v in ours.items():
        assert torch.equal(back[k], v), k
    assert RAS.from_official(out).version == "v1"  # told from the keys, as the released files


def test_export_refuses_an_unknown_format_in_one_line(tmp_path: Path) -> None:
    ckpt = seeded_ckpt(tmp_path / "ras.ckpt")
    with pytest.raises(UserError, match="onnx, torchscript, official") as err:
        run_command("export", f"weights={ckpt}", "format=tflite", f"output={tmp_path / 'x'}")
    assert "\n" not in str(err.value) and not (tmp_path / "x").exists()
