"""``weights=PATH``: our Lightning checkpoints or the authors' released ``RAS.v1/v2.pth``.

:func:`read_weights` reads either kind into NumPy arrays without importing torch (the CPU
inference path builds an ONNX Runtime graph from them); :func:`load_weights` gives a PyTorch
network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ras_lightning import torchfile
from ras_lightning.errors import UserError
from ras_lightning.models.official import detect_version, rename_official

if TYPE_CHECKING:
    from ras_lightning.models import RAS


@dataclass
class WeightArrays:
    """A network's weights (our key layout, NumPy) and how its inputs must be prepared."""

    state: dict[str, np.ndarray]
    version: str  # 'v1' or 'v2'
    channels: int  # width of the head
    recipe: str  # input normalisation: 'v1' (ImageNet mean/std) or 'v2' (F3Net's)
    size: int  # the square input size it was trained/tested at
    source: str  # 'checkpoint' or 'official'
    path: str

    def size_mb(self) -> float:
        """Size of the fp32 state dict (parameters and buffers) in MB (1e6 bytes), as a .pth
        file: the RAS paper's model size."""
        return sum(a.nbytes for a in self.state.values()) / 1e6


@dataclass
class Weights:
    """A PyTorch network ready for inference and how its inputs must be prepared."""

    net: RAS
    recipe: str
    size: int
    source: str
    path: str


def _to_numpy(obj: Any) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().float().numpy() if obj.is_floating_point() else obj.numpy()
    if isinstance(obj, dict):
        return {k: _to_numpy(v) for k, v in obj.items()}
    return obj


def _read_file(path: Path) -> Any:
    try:
        return torchfile.load(path)
    except torchfile.UnsupportedFile:
        pass
    import torch  # older (non-zip) or unusual files: let torch read them

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        try:  # Lightning checkpoints of older Lightning versions may pickle other objects
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:
            raise UserError(f"weights: cannot read {path}: {err}") from None
    return _to_numpy(obj)


def read_weights(path: str | Path) -> WeightArrays:
    """Read ``path``: a ras-lightning ``.ckpt`` (told by its ``state_dict`` of ``net.*`` keys
    and saved hyper-parameters) or an official RAS checkpoint (told v1/v2 by its keys).
    Anything else raises a one-line :class:`UserError`. Does not import torch for files in
    ``torch.save``'s zip format."""
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise UserError(f"weights: no such file: {path}")
    if path.suffix.lower() == ".onnx":
        raise UserError(
            f"weights: {path} is an ONNX file; run it with backend=onnxruntime (predict)"
        )
    obj = _read_file(path)
    if not isinstance(obj, dict):
        raise UserError(f"weights: {path} holds a {type(obj).__name__}, not a state dict")
    if "state_dict" in obj and "hyper_parameters" in obj:
        hp = dict(obj["hyper_parameters"])
        state = {k[4:]: v for k, v in obj["state_dict"].items() if k.startswith("net.")}
        if not state:
            raise UserError(f"weights: {path} is a Lightning checkpoint without a RAS network")
        # the network's own tensors decide v1/v2 and the width (v1 alone has the stride-2
        # RA1 block), so a hyper-parameter record this reader could not follow cannot mislead
        version = "v1" if any(k.startswith("ra1.") for k in state) else "v2"
        convert = state.get("mscm.convert.weight")
        return WeightArrays(
            state,
            version,
            int(convert.shape[0]) if convert is not None else int(hp.get("channels", 64)),
            str(hp.get("input_recipe", version)),
            int(hp.get("eval_size", 352)),
            "checkpoint",
            str(path),
        )
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
    channels = int(state["mscm.convert.weight"].shape[0]) if "mscm.convert.weight" in state else 64
    # the authors test at 352 with their training normalisation: CPD's (v1), F3Net's (v2)
    return WeightArrays(state, version, channels, version, 352, "official", str(path))


def load_weights(path: str | Path) -> Weights:
    """:func:`read_weights` as a PyTorch :class:`~ras_lightning.models.RAS` in eval mode; the
    weights must fit the network exactly (missing, unexpected or mis-shaped tensors are named)."""
    import torch

    from ras_lightning.models import RAS
    from ras_lightning.models.official import check_state

    arrays = read_weights(path)
    net = RAS(version=arrays.version, channels=arrays.channels)  # type: ignore[arg-type]
    state = {k: torch.from_numpy(np.array(v)) for k, v in arrays.state.items()}
    try:
        check_state(state, net.state_dict(), arrays.version, arrays.path)
    except ValueError as err:
        raise UserError(f"weights: {err}") from None
    net.load_state_dict(state, strict=True)
    return Weights(net.eval(), arrays.recipe, arrays.size, arrays.source, arrays.path)
