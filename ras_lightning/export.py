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

from omegaconf import DictConfig, ListConfig

from ras_lightning.models.weights import load_weights
from ras_lightning.utils.entry import hydra_command
from ras_lightning.utils.errors import UserError, require, require_counts
from ras_lightning.utils.files import atomic_path, check_destination, probe_writable

FORMATS = ("onnx", "torchscript", "official")
# the network's bilinear resizes with align_corners=True are ONNX Resize from opset 11 on
# (torch.onnx refuses lower opsets for them)
MIN_OPSET = 11
EXAMPLE = "python -m ras_lightning.export weights=RAS.v2.pth format=onnx output=ras_v2.onnx"


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
    check_export_values(cfg)
    # torch and the exporters only after the settings are checked: errors come at once
    from ras_lightning.models import export
    from ras_lightning.models.fusion import fold_batchnorm

    out = Path(str(cfg.output)).expanduser()
    if out.is_dir():
        raise UserError(f"output={out} is a folder; name the file to write")
    # where it goes is checked before the weights are read and the network traced: a place
    # that cannot be written, or a device such as /dev/full, is one line at once
    check_destination(out)
    probe_writable(out.parent, out)
    weights = load_weights(cfg.weights, bool(cfg.get("trust_weights", False)))
    version = weights.net.version
    # written under a temporary name beside ``out``, checked, and only then renamed onto it:
    # a failed write or check leaves nothing under the final name
    if cfg.format == "official":
        with atomic_path(out) as tmp:
            n = export.export_official(weights, tmp)
        print(
            f"export: wrote {out} (official: {n} tensors in the authors' RAS.{version}.pth key "
            f"layout, {out.stat().st_size / 1e6:.1f} MB); read back exactly by RAS.from_official"
        )
        return 0.0
    net = fold_batchnorm(weights.net) if cfg.fold_bn else weights.net.eval()
    meta = export.export_metadata(weights)
    sizes = ", ".join(f"{h}x{w}" for h, w in cfg.check_sizes)
    with atomic_path(out) as tmp:
        if cfg.format == "onnx":
            export.export_onnx(net, tmp, cfg.opset, meta)
        else:
            export.export_torchscript(net, tmp, meta)
        diff, scaled = export.max_difference(cfg.format, tmp, net, list(cfg.check_sizes))
        size_mb = tmp.stat().st_size / 1e6
        verdict = "OK" if scaled <= cfg.tolerance else "FAILED"
        check = (
            f"checked against PyTorch at {sizes}, batch 2: max |diff| {diff:.2e} on logits, "
            f"{scaled:.2e} relative to the logit scale (tolerance {cfg.tolerance}): {verdict}"
        )
        if scaled > cfg.tolerance:
            print(f"export: {out} not written ({cfg.format}); {check}")
            raise UserError(
                f"exported {cfg.format} differs from PyTorch by {scaled:.2e} (relative); "
                f"{out} not written"
            )
    print(f"export: wrote {out} ({cfg.format}, {size_mb:.1f} MB); {check}")
    return scaled


main = hydra_command("export", run)

if __name__ == "__main__":
    main()
