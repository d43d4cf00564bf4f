"""ResNet-50 feature extractor in torchvision's layout (conv1, bn1, layer1..layer4; no fc)."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.models.resnet import Bottleneck, ResNet


class ResNet50Features(ResNet):
    """ResNet-50 returning the features at strides 2, 4, 8, 16 and 32.

    The stride-2 feature is conv1 + bn1 + ReLU before the max-pool (64 channels), as in the
    authors' v1 (CPD's ResNet50); v2 (F3Net's ResNet) uses only strides 4..32. The bottleneck
    puts its stride on the 3x3 conv, which matches both of the authors' backbones.
    """

    def __init__(self) -> None:
        super().__init__(Bottleneck, [3, 4, 6, 3])
        del self.fc, self.avgpool  # the authors' checkpoints hold no classifier

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        x1 = self.relu(self.bn1(self.conv1(x)))
        x2 = self.layer1(self.maxpool(x1))
        x3 = self.layer2(x2)
        x4 = self.layer3(x3)
        x5 = self.layer4(x4)
        return x1, x2, x3, x4, x5


def load_imagenet_weights(backbone: ResNet50Features, source: bool | str | Path) -> None:
    """Load ImageNet weights into ``backbone``.

    ``source=True`` takes torchvision's ``IMAGENET1K_V1`` weights (the file
    ``resnet50-19c8e357.pth`` / ``-0676ba61.pth`` the authors start from), downloading them into
    the torch hub cache if needed; a path loads a local file (a torchvision state dict, an
    ``fc.*`` classifier is ignored).
    """
    if source is False or source is None:
        return
    if source is True:
        from torchvision.models import ResNet50_Weights

        try:
            state = ResNet50_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as err:  # network errors come in many types (URLError, OSError, ...)
            raise RuntimeError(
                "could not download torchvision's ImageNet ResNet-50 weights "
                f"({ResNet50_Weights.IMAGENET1K_V1.url}): {err}. Download that file elsewhere and "
                "pass it with model.pretrained_backbone=/path/to/resnet50.pth, or train from "
                "scratch with model.pretrained_backbone=false"
            ) from None
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"model.pretrained_backbone: no such file: {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise RuntimeError(f"model.pretrained_backbone: cannot read {path}: {err}") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(
            f"model.pretrained_backbone: {source} is not a ResNet-50 state dict "
            f"(missing {len(missing)} keys, e.g. {missing[:3]}; unexpected {unexpected[:3]})"
        )
