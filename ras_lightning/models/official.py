"""Key mapping between our state dict and the authors' released checkpoints.

The authors name the backbone ``resnet`` (v1) and ``bkbone`` (v2); everything else (``mscm``,
``ra1``..``ra4`` with their ``nn.Sequential`` indices) is the same in both layouts. Pure key
handling: no network is built here (that is :class:`~ras_lightning.models.RAS`'s job), so this
module imports neither torch nor :mod:`ras_lightning.models.ras`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from ras_lightning.utils.text import plural

_BACKBONE_PREFIX = {"v1": "resnet.", "v2": "bkbone."}
_OURS = "backbone."

T = TypeVar("T")


def detect_version(keys: list[str]) -> str | None:
    """``"v1"`` or ``"v2"`` from the official key names, ``None`` if neither layout."""
    if any(k.startswith("resnet.") for k in keys) and any(k.startswith("ra1.") for k in keys):
        return "v1"
    if any(k.startswith("bkbone.") for k in keys):
        return "v2"
    return None


# (bottleneck blocks?, blocks in layer3) -> torchvision ResNet: the authors release ResNet-50
# only, but `export format=official` writes the same layout for every backbone we train
_RESNETS = {
    (False, 2): "resnet18",
    (False, 6): "resnet34",
    (True, 6): "resnet50",
    (True, 23): "resnet101",
}


def detect_backbone(keys: list[str]) -> str:
    """The torchvision ResNet whose blocks the (our-named) keys hold; ``resnet50`` if unsure."""
    layer3 = {k.split(".")[2] for k in keys if k.startswith(_OURS + "layer3.")}
    bottleneck = any(k.startswith(_OURS + "layer1.0.conv3.") for k in keys)
    return _RESNETS.get((bottleneck, len(layer3)), "resnet50")


def rename_official(state: Mapping[str, T], version: str) -> dict[str, T]:
    """An official state dict (DataParallel's ``module.`` prefix accepted) in our key names."""
    prefix = _BACKBONE_PREFIX[version]
    out = {}
    for k, v in state.items():
        k = k.removeprefix("module.")
        out[_OURS + k[len(prefix) :] if k.startswith(prefix) else k] = v
    return out


def _official_names(keys: list[str], version: str) -> str:
    prefix = _BACKBONE_PREFIX[version]
    names = [prefix + k[len(_OURS) :] if k.startswith(_OURS) else k for k in keys]
    return ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")


def check_state(
    ours: Mapping[str, Any], expected: Mapping[str, Any], version: str, source: str
) -> None:
    """Raise ``ValueError`` naming missing, unexpected and mis-shaped tensors of ``ours``
    (our key layout) against ``expected`` (a network's ``state_dict()``)."""
    where = f" in {source}" if source else ""
    missing = [k for k in expected if k not in ours]
    unexpected = [k for k in ours if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"not a complete RAS {version} checkpoint{where}: "
            f"{len(missing)} missing keys [{_official_names(missing, version)}], "
            f"{len(unexpected)} unexpected keys [{_official_names(unexpected, version)}]"
        )
    bad = [k for k, v in expected.items() if tuple(ours[k].shape) != tuple(v.shape)]
    if bad:
        k = bad[0]
        raise ValueError(
            f"shape mismatch in RAS {version} checkpoint{where}: {plural(len(bad), 'tensor')}, "
            f"e.g. {k} "
            f"is {tuple(ours[k].shape)}, expected {tuple(expected[k].shape)}"
        )


def official_to_ours(
    state: Any, version: str | None = None, source: str = ""
) -> tuple[dict[str, Any], str]:
    """An official state dict (or ``{"state_dict": ...}``) in our key names, and its version
    (told from the keys when ``None``); a clear ``ValueError`` when it is neither layout.
    The tensors are checked against a network by :meth:`RAS.from_official_state_dict`."""
    where = f" in {source}" if source else ""
    if not isinstance(state, dict):
        raise ValueError(f"expected a state dict{where}, got {type(state).__name__}")
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if version is None:
        version = detect_version([k.removeprefix("module.") for k in state])
        if version is None:
            raise ValueError(
                f"not an official RAS checkpoint{where}: expected 'resnet.*' + 'ra1.*' keys (v1) "
                f"or 'bkbone.*' keys (v2), found e.g. {list(state)[:3]}"
            )
    return rename_official(state, version), version


def to_official_state_dict(state: Mapping[str, T], version: str) -> dict[str, T]:
    """Map our state dict to the authors' key names (same order)."""
    prefix = _BACKBONE_PREFIX[version]
    return {(prefix + k[len(_OURS) :] if k.startswith(_OURS) else k): v for k, v in state.items()}
