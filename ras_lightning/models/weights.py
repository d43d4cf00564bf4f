"""``weights=PATH``: our Lightning checkpoints or the authors' released ``RAS.v1/v2.pth``.

:func:`load_weights` reads either kind with ``torch.load(weights_only=True)``: tensors,
plain containers and the few types in :data:`SAFE_GLOBALS` only, so nothing in the file is
executed. A file that needs full unpickling is refused with a one-line :class:`UserError`
unless the caller trusts it (``trust_weights=true`` in the configs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ras_lightning.models.official import detect_backbone, detect_version, rename_official
from ras_lightning.utils.errors import UserError

if TYPE_CHECKING:
    from ras_lightning.models import RAS

# What ``torch.load(weights_only=True)`` may build beyond tensors and plain containers, as
# (stand-in, pickled name). Lightning before 2.x stored ``hyper_parameters`` as its
# ``AttributeDict`` (a dict subclass); it is read as a plain dict, without importing Lightning.
SAFE_GLOBALS: list[tuple[Any, str]] = [
    (dict, "lightning.fabric.utilities.data.AttributeDict"),
    (dict, "lightning_fabric.utilities.data.AttributeDict"),
    (dict, "pytorch_lightning.utilities.parsing.AttributeDict"),
]


@dataclass
class Weights:
    """A PyTorch network ready for inference and how its inputs must be prepared."""

    net: RAS
    recipe: str  # input normalisation: 'v1' (ImageNet mean/std) or 'v2' (F3Net's)
    size: int  # the square input size it was trained/tested at
    source: str  # 'checkpoint' or 'official'
    path: str


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def read_file(path: Path, trust: bool = False) -> Any:
    """``torch.load`` of ``path`` on the CPU, ``weights_only=True`` with :data:`SAFE_GLOBALS`;
    with ``trust`` a file that needs more is fully unpickled (which can run its code)."""
    import pickle

    import torch

    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise UserError(f"weights: cannot read {path}: {_first_line(err)}") from None
        if not trust:
            found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
            if found:
                raise UserError(
                    f"weights: {path} needs full unpickling (it pickles {found.group(1)}), "
                    "which can run code from the file; pass trust_weights=true only if you "
                    "trust it"
                ) from None
            reason = str(err).split("WeightsUnpickler error:")[-1].strip()
            reason = reason.splitlines()[0] if reason else "unknown"
            raise UserError(
                f"weights: torch.load(weights_only=True) refuses {path} ({reason}); if it is "
                "a checkpoint you trust, trust_weights=true unpickles it fully, which can run "
                "code from the file"
            ) from None
    except Exception as err:
        raise UserError(f"weights: cannot read {path}: {_first_line(err)}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise UserError(f"weights: cannot read {path}: {_first_line(err)}") from None


def load_weights(path: str | Path, trust: bool = False) -> Weights:
    """A ras-lightning ``.ckpt`` (told by its ``state_dict`` of ``net.*`` keys and saved
    hyper-parameters, which name the backbone) or an official RAS checkpoint (told v1/v2 by
    its keys) as a PyTorch :class:`~ras_lightning.models.RAS` in eval mode. The weights must
    fit the network exactly (missing, unexpected or mis-shaped tensors are named); anything
    else raises a one-line :class:`UserError`. ``trust``: see :func:`read_file`."""
    from ras_lightning.models import RAS
    from ras_lightning.models.official import check_state

    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise UserError(f"weights: no such file: {path}")
    if path.suffix.lower() == ".onnx":
        raise UserError(
            f"weights: {path} is an ONNX file; run it with backend=onnxruntime (predict)"
        )
    obj = read_file(path, trust)
    if not isinstance(obj, dict):
        raise UserError(f"weights: {path} holds a {type(obj).__name__}, not a state dict")
    if "state_dict" in obj and "hyper_parameters" in obj:
        hp = dict(obj["hyper_parameters"] or {})
        state = {k[4:]: v for k, v in obj["state_dict"].items() if k.startswith("net.")}
        if not state:
            raise UserError(f"weights: {path} is a Lightning checkpoint without a RAS network")
        # the network's own tensors decide v1/v2 and the width (v1 alone has the stride-2
        # RA1 block), so hyper-parameters from another version of the code cannot mislead
        version = "v1" if any(k.startswith("ra1.") for k in state) else "v2"
        convert = state.get("mscm.convert.weight")
        channels = int(convert.shape[0]) if convert is not None else int(hp.get("channels", 64))
        recipe, size = str(hp.get("input_recipe", version)), int(hp.get("eval_size", 352))
        # checkpoints from before the backbone choice hold a ResNet-50
        backbone = str(hp.get("backbone") or "resnet50")
        source = "checkpoint"
    else:
        if "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        keys = [str(k).removeprefix("module.") for k in obj]
        version = detect_version(keys)
        if version is None:
            raise UserError(
                f"weights: {path} is neither a ras-lightning checkpoint nor the authors' "
                f"RAS.v1.pth / RAS.v2.pth (keys start {keys[:3]})"
            )
        state = rename_official(obj, version)
        convert = state.get("mscm.convert.weight")
        channels = int(convert.shape[0]) if convert is not None else 64
        # the authors test at 352 with their training normalisation: CPD's (v1), F3Net's (v2)
        recipe, size, source = version, 352, "official"
        backbone = detect_backbone(list(state))  # the authors': ResNet-50
    try:
        net = RAS(version=version, backbone=backbone, channels=channels)  # type: ignore[arg-type]
    except UserError as err:
        raise UserError(f"weights: {path}: {err}") from None
    try:
        check_state(state, net.state_dict(), version, str(path))
    except ValueError as err:
        raise UserError(f"weights: {err}") from None
    net.load_state_dict(state, strict=True)
    return Weights(net.eval(), recipe, size, source, str(path))
