"""``weights=PATH``: our Lightning checkpoints or the authors' released ``RAS.v1/v2.pth``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ras_lightning.errors import UserError
from ras_lightning.models import RAS
from ras_lightning.models.official import detect_version


@dataclass
class Weights:
    """A network ready for inference and how its inputs must be prepared."""

    net: RAS
    recipe: str  # input normalisation: 'v1' (ImageNet mean/std) or 'v2' (F3Net's)
    size: int  # the square input size it was trained/tested at
    source: str  # 'checkpoint' or 'official'
    path: str


def load_weights(path: str | Path) -> Weights:
    """Load ``path``: a ras-lightning ``.ckpt`` (told by its ``state_dict`` of ``net.*``
    keys and saved hyper-parameters) or an official RAS checkpoint (told v1/v2 by its keys).
    Anything else raises a one-line :class:`UserError`."""
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise UserError(f"weights: no such file: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        try:  # Lightning checkpoints of older Lightning versions may pickle other objects
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:
            raise UserError(f"weights: cannot read {path}: {err}") from None
    if not isinstance(obj, dict):
        raise UserError(f"weights: {path} holds a {type(obj).__name__}, not a state dict")
    if "state_dict" in obj and "hyper_parameters" in obj:
        hp = obj["hyper_parameters"]
        state = {k[4:]: v for k, v in obj["state_dict"].items() if k.startswith("net.")}
        if not state:
            raise UserError(f"weights: {path} is a Lightning checkpoint without a RAS network")
        net = RAS(version=hp.get("version", "v2"), channels=hp.get("channels", 64))
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise UserError(f"weights: {path} does not fit RAS {net.version}: {err}") from None
        return Weights(
            net.eval(),
            hp.get("input_recipe", net.version),
            int(hp.get("eval_size", 352)),
            "checkpoint",
            str(path),
        )
    keys = [k.removeprefix("module.") for k in obj]
    if detect_version(keys) is None:
        raise UserError(
            f"weights: {path} is neither a ras-lightning checkpoint nor the authors' "
            f"RAS.v1.pth / RAS.v2.pth (keys start {keys[:3]})"
        )
    try:
        net = RAS.from_official_state_dict(obj, source=str(path))
    except ValueError as err:
        raise UserError(str(err)) from None
    # the authors test at 352 with their training normalisation: CPD's (v1), F3Net's (v2)
    return Weights(net.eval(), net.version, 352, "official", str(path))
