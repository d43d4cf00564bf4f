"""torchvision ResNets as five-stage feature extractors for the RAS heads.

:class:`ResNetFeatures` keeps torchvision's module names (``conv1``, ``bn1``, ``layer1`` ..
``layer4``; the classifier is dropped), so the authors' checkpoints (their backbone is
torchvision's ResNet-50) and torchvision's ImageNet files load key for key. The channel
widths the heads need are read from the built network, not tabled per name.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ras_lightning.utils.errors import UserError

#: The torchvision ResNets RAS can sit on (``model/backbone=NAME``).
BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101")


def _out_channels(stage: nn.Module) -> int:
    """Width of a stage's output: its last BatchNorm (a ResNet stage ends conv -> BN)."""
    bns = [m for m in stage.modules() if isinstance(m, nn.BatchNorm2d)]
    return bns[-1].num_features


class ResNetFeatures(nn.Module):
    """A torchvision ResNet returning its features at strides 2, 4, 8, 16 and 32.

    The stride-2 feature is conv1 + bn1 + ReLU before the max-pool, as in the authors' v1
    (CPD's ResNet50); v2 (F3Net's ResNet) uses strides 4..32 only.

    Args:
        name: one of :data:`BACKBONES`.
        weights: ``True`` for torchvision's ImageNet weights of that network
            (``IMAGENET1K_V1``, the file the authors start from for ResNet-50), a path to a
            local copy of such a state dict, or ``False`` (torchvision's random init).
    """

    def __init__(self, name: str = "resnet50", weights: bool | str | Path | None = False) -> None:
        super().__init__()
        if name not in BACKBONES:
            raise UserError(f"model/backbone: unknown {name!r} (one of {', '.join(BACKBONES)})")
        from torchvision import models

        net = getattr(models, name)(weights=None)  # builds (and drops) fc: torchvision's RNG use
        self.name = name
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )
        #: output channels at strides 2, 4, 8, 16, 32
        self.out_channels: tuple[int, ...] = tuple(
            _out_channels(m) for m in (self.bn1, *self.layers)
        )
        load_imagenet_weights(self, weights)

    @property
    def layers(self) -> tuple[nn.Module, ...]:
        return self.layer1, self.layer2, self.layer3, self.layer4

    @property
    def stem(self) -> tuple[nn.Module, ...]:
        """The modules before the residual stages with parameters (conv1, bn1): what the v2
        recipe leaves out of the optimizer."""
        return self.conv1, self.bn1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x1 = self.relu(self.bn1(self.conv1(x)))
        x2 = self.layer1(self.maxpool(x1))
        x3 = self.layer2(x2)
        x4 = self.layer3(x3)
        x5 = self.layer4(x4)
        return x1, x2, x3, x4, x5


def _imagenet_weights(name: str):  # -> torchvision.models.WeightsEnum member
    from torchvision import models

    enum = {
        "resnet18": models.ResNet18_Weights,
        "resnet34": models.ResNet34_Weights,
        "resnet50": models.ResNet50_Weights,
        "resnet101": models.ResNet101_Weights,
    }[name]
    return enum.IMAGENET1K_V1


def load_imagenet_weights(backbone: ResNetFeatures, source: bool | str | Path | None) -> None:
    """Load ImageNet weights into ``backbone``.

    ``source=True`` takes torchvision's ``IMAGENET1K_V1`` weights for the backbone's network,
    downloading them into the torch hub cache if needed; a path loads a local file (a
    torchvision state dict; an ``fc.*`` classifier is ignored). Problems raise a one-line
    :class:`UserError` naming ``model.pretrained_backbone``.
    """
    if source is False or source is None:
        return
    name = backbone.name
    if source is True:
        weights = _imagenet_weights(name)
        try:
            state = weights.get_state_dict(progress=False)
        except Exception as err:  # network errors come in many types (URLError, OSError, ...)
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            file = weights.url.rsplit("/", 1)[-1]
            raise UserError(
                f"model.pretrained_backbone: could not download torchvision's ImageNet {name} "
                f"weights ({reason}); download {weights.url} elsewhere and pass it with "
                f"model.pretrained_backbone=/path/to/{file}, or train from scratch with "
                "model.pretrained_backbone=false"
            ) from None
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise UserError(f"model.pretrained_backbone: no such file: {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"model.pretrained_backbone: cannot read {path}: {reason}") from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise UserError(f"model.pretrained_backbone: {path} holds no state dict")
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith("fc.")}
    expected = backbone.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        raise UserError(
            f"model.pretrained_backbone: {source} is not a torchvision {name} state dict "
            f"(missing {len(missing)} keys, e.g. {missing[:3]}; unexpected {unexpected[:3]}; "
            f"mis-shaped {shapes[:3]})"
        )
    backbone.load_state_dict(state, strict=True)
