"""ResNet-50 feature extractor in torchvision's layout (conv1, bn1, layer1..layer4; no fc).

Written out here rather than imported from torchvision: importing torchvision costs ~1 s per
process on a 2-core CPU, and the authors' code has its own ResNet too. Module names, order,
initialisation and random-number use are torchvision's ``resnet50()`` (a test checks that a
seeded build equals torchvision's tensor for tensor), so the authors' and torchvision's weight
files load key for key.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False)


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3x3 conv), as torchvision's and the authors'."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, downsample: bool = False) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = _conv(cin, width, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv(width, width, 3, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv(width, cout, 1)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            nn.Sequential(_conv(cin, cout, 1, stride), nn.BatchNorm2d(cout)) if downsample else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet50Features(nn.Module):
    """ResNet-50 returning the features at strides 2, 4, 8, 16 and 32.

    The stride-2 feature is conv1 + bn1 + ReLU before the max-pool (64 channels), as in the
    authors' v1 (CPD's ResNet50); v2 (F3Net's ResNet) uses only strides 4..32. The bottleneck
    puts its stride on the 3x3 conv, which matches both of the authors' backbones.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (width, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=1):
            stride = 1 if i == 1 else 2
            layer = [Bottleneck(cin, width, stride, downsample=True)]
            cin = width * Bottleneck.expansion
            layer += [Bottleneck(cin, width) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*layer))
        # torchvision builds its 1000-way classifier here; building (and dropping) one keeps the
        # random-number stream, hence seeded initialisations, identical to torchvision's
        nn.Linear(2048, 1000)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
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
