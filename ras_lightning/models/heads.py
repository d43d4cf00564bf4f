"""The RAS decoder blocks: the multi-scale context module (MSCM) and reverse attention (RA).

v1 (ECCV 2018 code) has plain conv + ReLU; v2 (TIP 2020 code) puts BatchNorm after every conv
but the final score convs. Module indices follow the authors' ``nn.Sequential`` layouts so the
released checkpoints load key for key.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_act(
    cin: int, cout: int, kernel: int, dilation: int = 1, batchnorm: bool = False
) -> list[nn.Module]:
    """[conv, (BN,) ReLU] with 'same' padding."""
    pad = dilation * (kernel - 1) // 2
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, padding=pad, dilation=dilation)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return layers


class MSCM(nn.Module):
    """Multi-scale context module on the stride-32 feature.

    1x1 ``convert`` to ``channels``, four two-conv branches with growing receptive field
    ([1x1, 3x3 d1], [3x3, 3x3 d2], [5x5, 3x3 d4], [7x7, 3x3 d6]), concatenation and a 3x3
    ``score`` conv to one logit channel.
    """

    def __init__(self, in_channels: int, channels: int = 64, batchnorm: bool = False) -> None:
        super().__init__()
        self.convert = nn.Conv2d(in_channels, channels, 1)
        self.bn = nn.BatchNorm2d(channels) if batchnorm else None
        branches = [(1, 3, 1), (3, 3, 2), (5, 3, 4), (7, 3, 6)]
        for i, (k1, k2, dil) in enumerate(branches, start=1):
            layers = conv_act(channels, channels, k1, 1, batchnorm)
            layers += conv_act(channels, channels, k2, dil, batchnorm)
            setattr(self, f"branch{i}", nn.Sequential(*layers))
        self.score = nn.Conv2d(4 * channels, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convert(x)
        if self.bn is not None:
            x = F.relu(self.bn(x), inplace=True)
        out = torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)
        return self.score(out)


class ReverseAttention(nn.Module):
    """Reverse attention block (the paper's RA): refine a coarser prediction with a side feature.

    ``forward(x, y)`` with ``y`` the coarser logit already resized to ``x``: the weight
    ``sigmoid(-y)`` erases what is already found, so the residual ``convs`` learn the missing
    parts and the object's edges; returns ``y + convs(sigmoid(-y) * convert(x))``.
    """

    def __init__(self, in_channels: int, channels: int = 64, batchnorm: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.convert = nn.Conv2d(in_channels, channels, 1)
        self.bn = nn.BatchNorm2d(channels) if batchnorm else None
        layers: list[nn.Module] = []
        for _ in range(3):
            layers += conv_act(channels, channels, 3, 1, batchnorm)
        layers.append(nn.Conv2d(channels, 1, 3, padding=1))
        self.convs = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = self.convert(x)
        if self.bn is not None:
            x = F.relu(self.bn(x), inplace=True)
        attention = torch.sigmoid(-y)  # (B, 1, H, W), broadcast over the channels
        return y + self.convs(attention * x)
