"""``python -m ras_lightning.export``: the network as ONNX or TorchScript, checked; or the
weights in the authors' key layout.

``format=onnx|torchscript``: the exported graph takes ``image`` (N, 3, H, W; RGB, normalised
as the weights' recipe, any N/H/W) and returns the side-output **logits** at input size,
finest first (apply a sigmoid for the saliency probability). Everything a plain ONNX Runtime
user needs is stored in the file (ONNX ``metadata_props``, TorchScript extra file
``meta.json``; :func:`ras_lightning.models.export.export_metadata`): RAS version, input size,
mean/std and the pixel range they apply to, channel order, layout, what the output is. After
writing, the command runs the file against PyTorch at two sizes and reports the largest
difference; the file is written under a temporary name beside ``output`` and renamed onto it only
once written and checked.

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
from ras_lightning.utils.files import atomic_path, check_destination, probe_writable

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
    # torch and the exporters only once the command has what it needs: --help answers at once
    from ras_lightning.models import export
    from ras_lightning.models.fusion import fold_batchnorm

    export.check_export_values(cfg)
    out = Path(str(cfg.output)).expanduser()
    if out.is_dir():
        raise UserError(f"output={out} is a folder; name the file to write")
    # where it goes is checked before the weights are read and the network traced: a place
    # that cannot be written, or a device such as /dev/full, is one line at once
    check_destination(out)
    probe_writable(out.parent, out)
    weights = load_weights(cfg.weights, bool(cfg.get("trust_weights", False)))
    version = weights.net.version
    # written beside ``out`` and renamed: a failed write or check leaves no file under its name
    if cfg.format == "official":
        with atomic_path(out) as tmp:
            n = export.export_official(weights, tmp)
        print(
            f"export: wrote {out} (official: {n} tensors in the authors' RAS.{version}.pth key "
            f"layout, {out.stat().st_size / 1e6:.1f} MB); read back exactly by RAS.from_official"
        )
        return 0.0
    net = fold_batchnorm(weights.net) if cfg.fold_bn else weights.net.eval()
    sizes = [tuple(s) for s in cfg.check_sizes]
    scaled, check = export.write_checked(
        net, out, cfg.format, cfg.opset, export.export_metadata(weights), sizes, cfg.tolerance
    )
    print(f"export: wrote {out} ({cfg.format}, {out.stat().st_size / 1e6:.1f} MB); {check}")
    return scaled


main = hydra_command("export", run)

if __name__ == "__main__":
    main()
