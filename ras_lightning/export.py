"""``python -m ras_lightning.export``: the network as ONNX or TorchScript, checked.

The exported graph takes ``image`` (N, 3, H, W; normalised as the weights' recipe, any
N/H/W) and returns the side-output **logits** at input size, finest first (apply a sigmoid
for the saliency map). The recipe and input size are stored in the file (ONNX metadata,
TorchScript extra file ``meta.json``). After writing, the command runs the file against
PyTorch at two sizes and reports the largest difference.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from ras_lightning.inference.torch_predictor import fold_batchnorm
from ras_lightning.models.weights import load_weights
from ras_lightning.utils.errors import UserError, user_errors
from ras_lightning.utils.timing import model_size_mb

log = logging.getLogger("ras_lightning.export")


class _Finest(torch.nn.Module):
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
    PyTorch's TorchScript-based exporter (``dynamo=False``: ~1 s here, the dynamo exporter
    ~20 s for the same graph), with ``meta`` stored as metadata."""
    import onnx

    names = ["side0"] if finest_only else [f"side{i}" for i in range(net.num_side_outputs)]
    dyn = {n: {0: "batch", 2: "height", 3: "width"} for n in ["image", *names]}
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            _Finest(net).eval() if finest_only else net,
            (torch.randn(1, 3, 352, 352),),
            str(path),
            input_names=["image"],
            output_names=names,
            dynamic_axes=dyn,
            opset_version=opset,
            dynamo=False,
        )
    # metadata_props is a repeated field of ModelProto, and protobuf merges concatenated
    # messages: appending a ModelProto holding only the metadata adds it, without parsing and
    # rewriting the 100 MB file (~0.5 s)
    extra = onnx.ModelProto()
    for k, v in (meta or {}).items():
        entry = extra.metadata_props.add()
        entry.key, entry.value = k, str(v)
    with open(path, "ab") as f:
        f.write(extra.SerializeToString())


def _check(kind: str, path: Path, net: torch.nn.Module, sizes: list) -> tuple[float, float]:
    """(max |diff|, max |diff| / (1 + max |logit|)) of the file against PyTorch."""
    worst = scaled = 0.0
    if kind == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        run = lambda x: [torch.from_numpy(o) for o in sess.run(None, {"image": x.numpy()})]  # noqa: E731
    else:
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


def run(cfg: DictConfig) -> float:
    if cfg.format not in ("onnx", "torchscript"):
        raise UserError(f"format must be 'onnx' or 'torchscript', got {cfg.format!r}")
    weights = load_weights(cfg.weights, bool(cfg.get("trust_weights", False)))
    net = fold_batchnorm(weights.net) if cfg.fold_bn else weights.net.eval()
    out = Path(str(cfg.output)).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "recipe": weights.recipe,
        "size": weights.size,
        "version": weights.net.version,
        "size_mb": f"{model_size_mb(weights.net):.6f}",
        "outputs": "side-output logits at input size, finest first",
    }
    if cfg.format == "onnx":
        export_onnx(net, out, cfg.opset, meta)
    else:
        with torch.inference_mode(False), torch.no_grad():
            traced = torch.jit.trace(net, torch.randn(1, 3, 352, 352), check_trace=False)
        torch.jit.save(traced, str(out), _extra_files={"meta.json": json.dumps(meta)})
    diff, scaled = _check(cfg.format, out, net, list(cfg.check_sizes))
    sizes = ", ".join(f"{h}x{w}" for h, w in cfg.check_sizes)
    verdict = "OK" if scaled <= cfg.tolerance else "FAILED"
    print(
        f"export: wrote {out} ({cfg.format}, {out.stat().st_size / 1e6:.1f} MB); checked "
        f"against PyTorch at {sizes}, batch 2: max |diff| {diff:.2e} on logits, "
        f"{scaled:.2e} relative to the logit scale (tolerance {cfg.tolerance}): {verdict}"
    )
    if scaled > cfg.tolerance:
        raise UserError(f"exported {cfg.format} differs from PyTorch by {scaled:.2e} (relative)")
    return scaled


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
def main(cfg: DictConfig) -> None:
    with user_errors():
        run(cfg)


if __name__ == "__main__":
    main()
