"""The network as ONNX or TorchScript (with the metadata a plain ONNX Runtime user needs),
checked against PyTorch; the weights in the authors' key layout. Used by the ``export``
command and the ONNX cache of the CPU inference path."""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import onnx
import onnxruntime as ort
import torch
from omegaconf import DictConfig, ListConfig

from ras_lightning.data.normalization import F3NET_MEAN, F3NET_STD, IMAGENET_MEAN, IMAGENET_STD
from ras_lightning.models.ras import RAS
from ras_lightning.models.weights import Weights
from ras_lightning.utils.errors import UserError, require_counts
from ras_lightning.utils.files import atomic_path
from ras_lightning.utils.timing import model_size_mb


class Finest(torch.nn.Module):
    """A RAS network's finest side output only (the saliency logits)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[0]


def export_onnx(
    net: torch.nn.Module,
    path: Path,
    opset: int = 17,
    meta: dict | None = None,
    finest_only: bool = False,
) -> None:
    """``net``'s side-output logits (``side0``, ``side1``, ..., finest first; with
    ``finest_only`` ``side0`` alone) as ONNX with dynamic batch/height/width, written by
    PyTorch's TorchScript-based exporter (``dynamo=False``: many times faster than the dynamo
    exporter on this graph), with ``meta`` stored as metadata. Made in memory and written by
    one Python write: a write error (full disk, read-only folder) is an ``OSError``, not the
    exporter's ``RuntimeError``."""
    names = ["side0"] if finest_only else [f"side{i}" for i in range(net.num_side_outputs)]
    dyn = {n: {0: "batch", 2: "height", 3: "width"} for n in ["image", *names]}
    graph = io.BytesIO()
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            Finest(net).eval() if finest_only else net,
            (torch.randn(1, 3, 352, 352),),
            graph,
            input_names=["image"],
            output_names=names,
            dynamic_axes=dyn,
            opset_version=opset,
            dynamo=False,
        )
    # metadata_props is a repeated field of ModelProto, and protobuf merges concatenated
    # messages: appending a ModelProto holding only the metadata adds it, without parsing and
    # rewriting the whole graph
    extra = onnx.ModelProto()
    for k, v in (meta or {}).items():
        entry = extra.metadata_props.add()
        entry.key, entry.value = k, str(v)
    graph.write(extra.SerializeToString())
    _write(path, graph)


@contextmanager
def _jit_asked_for() -> Iterator[None]:
    """``torch.jit`` without PyTorch's FutureWarning that it is deprecated: TorchScript is what
    ``format=torchscript`` asks for (``format=onnx`` is the other choice, in ``--help``), so
    the warning gives the user nothing to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning
        )
        yield


def export_torchscript(net: torch.nn.Module, path: Path, meta: dict | None = None) -> None:
    """``net`` traced to TorchScript (side-output logits, finest first) at ``path``, with
    ``meta`` as the extra file ``meta.json`` (made in memory, one Python write: see
    :func:`export_onnx`)."""
    with torch.inference_mode(False), torch.no_grad():
        with _jit_asked_for():
            traced = torch.jit.trace(net, torch.randn(1, 3, 352, 352), check_trace=False)
    buf = io.BytesIO()
    with _jit_asked_for():
        torch.jit.save(traced, buf, _extra_files={"meta.json": json.dumps(meta or {})})
    _write(path, buf)


def _write(path: Path, buf: io.BytesIO) -> None:
    # torch's own file writers fail with a RuntimeError (or worse) on a full disk; a Python
    # write raises OSError, which the callers report as one line and clean up after
    with open(path, "wb") as f:
        f.write(buf.getbuffer())


def max_difference(kind: str, path: Path, net: torch.nn.Module, sizes: list) -> tuple[float, float]:
    """(max |diff|, max |diff| / (1 + max |logit|)) of the file against PyTorch."""
    worst = scaled = 0.0
    if kind == "onnx":
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        run = lambda x: [torch.from_numpy(o) for o in sess.run(None, {"image": x.numpy()})]  # noqa: E731
    else:
        with _jit_asked_for():
            loaded = torch.jit.load(str(path))
        run = lambda x: list(loaded(x))  # noqa: E731
    for h, w in sizes:
        x = torch.randn(2, 3, int(h), int(w))
        with torch.inference_mode():
            ref = net(x)
            got = run(x)
        for a, b in zip(ref, got, strict=True):
            d = float((a - b).abs().max())
            worst, scaled = max(worst, d), max(scaled, d / (1 + float(a.abs().max())))
    return worst, scaled


def export_metadata(weights: Weights) -> dict[str, str]:
    """What the exported file's user needs to run it (all values strings): the input
    (``input_size``, RGB ``channel_order``, ``layout``, ``mean``/``std`` as JSON lists applied
    after scaling the pixels to ``pixel_range``, ``preprocess`` in words), the output
    (``output``: logits; ``postprocess`` in words), ``ras_version``, ``backbone``, ``recipe`` and
    ``size_mb``."""
    v1 = weights.recipe == "v1"
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if v1 else (F3NET_MEAN, F3NET_STD)
    order = (
        "resize the RGB photo to input_size x input_size (PIL bilinear), scale to 0-1, "
        "subtract mean, divide by std"
        if v1
        else "subtract mean from the RGB photo's 0-255 values, divide by std, resize to "
        "input_size x input_size (OpenCV INTER_LINEAR)"
    )
    return {
        "ras_version": weights.net.version,
        "backbone": weights.net.backbone_name,
        "recipe": weights.recipe,
        "input_size": str(weights.size),
        "channel_order": "RGB",
        "layout": "NCHW float32",
        "pixel_range": "0-1" if v1 else "0-255",
        "mean": json.dumps(list(mean)),
        "std": json.dumps(list(std)),
        "preprocess": order + " (as the authors' test script)",
        "output": "logits",
        "postprocess": "sigmoid of the finest logits (output 0), resized to the photo "
        "(bilinear, align_corners=True), per-image min-max, x 255",
        "size_mb": f"{model_size_mb(weights.net):.6f}",
    }


def export_official(weights: Weights, path: Path) -> int:
    """``weights``' network as a plain state dict in the authors' key layout at ``path``, read
    back strictly by :meth:`RAS.from_official` and compared tensor by tensor (``UserError`` if
    it differs); returns the number of tensors. BatchNorm is not folded: their code builds the
    unfolded network."""
    state = {
        k: v.detach().clone().contiguous() for k, v in weights.net.official_state_dict().items()
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    _write(path, buf)
    back = RAS.from_official(path, weights.net.version).state_dict()
    ours = weights.net.state_dict()
    if len(back) != len(ours) or not all(torch.equal(back[k], v) for k, v in ours.items()):
        raise UserError(f"{path}: the official-layout file does not read back exactly")
    return len(state)


# the network's bilinear resizes with align_corners=True are ONNX Resize from opset 11 on
# (torch.onnx refuses lower opsets for them)
MIN_OPSET = 11


def check_export_values(cfg: DictConfig) -> None:
    """One line naming an opset the network cannot be exported at, a check size below the
    network's stride or a negative tolerance, before the weights are read."""
    if cfg.format == "onnx":
        opset = cfg.opset
        top = max_opset()
        if not isinstance(opset, int) or isinstance(opset, bool) or opset < MIN_OPSET:
            raise UserError(
                f"opset={opset!r}: RAS needs ONNX opset {MIN_OPSET} or later (its bilinear "
                f"resizes with align_corners); e.g. opset=17 (the default)"
            )
        if top is not None and opset > top:
            raise UserError(f"opset={opset}: this PyTorch exports ONNX opsets up to {top}")
    sizes = cfg.check_sizes
    if not isinstance(sizes, (list, ListConfig)) or not all(
        isinstance(s, (list, ListConfig)) and len(s) == 2 for s in sizes
    ):
        raise UserError(f"check_sizes={sizes!r}: must be a list of [height, width] pairs")
    stride = (32, "the network's stride")
    require_counts(cfg, {f"check_sizes.{i}.{j}": stride for i in range(len(sizes)) for j in (0, 1)})
    tol = cfg.tolerance
    if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not tol >= 0:
        raise UserError(f"tolerance={tol!r}: must be a number >= 0 (e.g. 1e-4)")


def max_opset() -> int | None:
    """The newest ONNX opset this PyTorch's TorchScript-based exporter writes (None: unknown)."""
    try:
        from torch.onnx import _constants

        return int(_constants.ONNX_MAX_OPSET)
    except (ImportError, AttributeError, TypeError, ValueError):
        return None


def write_checked(
    net: torch.nn.Module,
    out: Path,
    kind: str,
    opset: int,
    meta: dict[str, str],
    sizes: list[tuple[int, int]],
    tolerance: float,
) -> tuple[float, str]:
    """``net`` as ``kind`` (onnx | torchscript) at ``out``: written under a temporary name
    beside it, checked against PyTorch at ``sizes`` (batch 2), and renamed onto ``out`` only
    within ``tolerance``, so a failed write or check leaves nothing under the final name.
    Returns the relative difference and the check in words; raises :class:`UserError`."""
    shown = ", ".join(f"{h}x{w}" for h, w in sizes)
    with atomic_path(out) as tmp:
        if kind == "onnx":
            export_onnx(net, tmp, opset, meta)
        else:
            export_torchscript(net, tmp, meta)
        diff, scaled = max_difference(kind, tmp, net, sizes)
        verdict = "OK" if scaled <= tolerance else "FAILED"
        check = (
            f"checked against PyTorch at {shown}, batch 2: max |diff| {diff:.2e} on logits, "
            f"{scaled:.2e} relative to the logit scale (tolerance {tolerance}): {verdict}"
        )
        if scaled > tolerance:
            print(f"export: {out} not written ({kind}); {check}")
            raise UserError(
                f"exported {kind} differs from PyTorch by {scaled:.2e} (relative); "
                f"{out} not written"
            )
    return scaled, check
