"""``python -m ras_lightning.export``: the network as ONNX or TorchScript, checked; or the
weights in the authors' key layout.

``format=onnx|torchscript``: the exported graph takes ``image`` (N, 3, H, W; RGB, normalised
as the weights' recipe, any N/H/W) and returns the side-output **logits** at input size,
finest first (apply a sigmoid for the saliency probability). Everything a plain ONNX Runtime
user needs is stored in the file (ONNX ``metadata_props``, TorchScript extra file
``meta.json``; :func:`ras_lightning.models.export.export_metadata`): RAS version, input size,
mean/std and the pixel range they apply to, channel order, layout, what the output is. After
writing, the command runs the file against PyTorch at two sizes and reports the largest
difference.

``format=official``: a plain state dict of tensors in the authors' ``RAS.v1.pth`` /
``RAS.v2.pth`` key layout (:meth:`RAS.official_state_dict`), which their test scripts load
and :meth:`RAS.from_official` reads back exactly.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from ras_lightning.models.weights import load_weights
from ras_lightning.utils.entry import hydra_command
from ras_lightning.utils.errors import UserError, require

FORMATS = ("onnx", "torchscript", "official")
EXAMPLE = "python -m ras_lightning.export weights=RAS.v2.pth format=onnx output=ras_v2.onnx"


def run(cfg: DictConfig) -> float:
    """Write ``cfg.output`` in ``cfg.format``, check it; return the relative difference from
    PyTorch (0 for ``official``, which reads back exactly)."""
    require(
        cfg,
        {"weights": "our .ckpt or the authors' RAS.vN.pth", "output": "the file to write"},
        EXAMPLE,
    )
    if cfg.format not in FORMATS:
        raise UserError(f"format must be one of {', '.join(FORMATS)}, got {cfg.format!r}")
    # torch and the exporters only after the settings are checked: errors come at once
    from ras_lightning.models import export
    from ras_lightning.models.fusion import fold_batchnorm

    weights = load_weights(cfg.weights, bool(cfg.get("trust_weights", False)))
    out = Path(str(cfg.output)).expanduser()
    if out.is_dir():
        raise UserError(f"output={out} is a folder; name the file to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    version = weights.net.version
    if cfg.format == "official":
        n = export.export_official(weights, out)
        print(
            f"export: wrote {out} (official: {n} tensors in the authors' RAS.{version}.pth key "
            f"layout, {out.stat().st_size / 1e6:.1f} MB); read back exactly by RAS.from_official"
        )
        return 0.0
    net = fold_batchnorm(weights.net) if cfg.fold_bn else weights.net.eval()
    meta = export.export_metadata(weights)
    if cfg.format == "onnx":
        export.export_onnx(net, out, cfg.opset, meta)
    else:
        export.export_torchscript(net, out, meta)
    diff, scaled = export.max_difference(cfg.format, out, net, list(cfg.check_sizes))
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


main = hydra_command("export", run)

if __name__ == "__main__":
    main()
