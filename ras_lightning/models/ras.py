"""The RAS network, v1 (ECCV 2018) and v2 (TIP 2020), exactly as the authors' PyTorch code."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ras_lightning.models.backbone import ResNetFeatures, load_imagenet_weights
from ras_lightning.models.heads import MSCM, ReverseAttention
from ras_lightning.models.init import init_head
from ras_lightning.models.official import (
    check_state,
    detect_backbone,
    official_to_ours,
    to_official_state_dict,
)
from ras_lightning.utils.errors import UserError

Version = Literal["v1", "v2"]


def _resize(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    # Every resize in the authors' code is bilinear with align_corners=True.
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class RAS(nn.Module):
    """Reverse Attention based residual network for salient object detection.

    ``forward(x)`` returns the side-output logits at the input size, finest first, in train
    and eval mode alike: v1 ``(y1, y2, y3, y4, y5)``, v2 ``(y2, y3, y4, y5)``. The saliency map
    is ``sigmoid`` of the first. Any input size works.

    Args:
        version: ``"v1"`` (plain convs, five side outputs incl. the stride-2 one) or ``"v2"``
            (BatchNorm in the head, four side outputs).
        backbone: a torchvision ResNet name (``resnet18``, ``resnet34``, ``resnet50`` as the
            authors, ``resnet101``) or a built :class:`ResNetFeatures`; the heads take their
            input widths from it.
        channels: width of the head (64 in both papers).
        pretrained_backbone: ``True`` for torchvision's ImageNet weights of that backbone
            (``IMAGENET1K_V1``), a path to a local copy, or ``False``. With a built backbone
            it is loaded into it too (the config gives the built backbone its own weights).
    """

    def __init__(
        self,
        version: Version = "v2",
        backbone: str | ResNetFeatures = "resnet50",
        channels: int = 64,
        pretrained_backbone: bool | str | Path | None = False,
    ) -> None:
        super().__init__()
        if version not in ("v1", "v2"):
            raise UserError(f"model.version must be 'v1' or 'v2', got {version!r}")
        self.version: Version = version
        self.channels = channels
        batchnorm = version == "v2"
        self.backbone = ResNetFeatures(backbone) if isinstance(backbone, str) else backbone
        widths = self.backbone.out_channels  # strides 2, 4, 8, 16 (RA1..RA4), 32 (MSCM)
        self.mscm = MSCM(widths[4], channels, batchnorm)
        self.stages = (1, 2, 3, 4) if version == "v1" else (2, 3, 4)
        for i in self.stages:
            setattr(self, f"ra{i}", ReverseAttention(widths[i - 1], channels, batchnorm))
        init_head(self, version)
        load_imagenet_weights(self.backbone, pretrained_backbone)

    @property
    def backbone_name(self) -> str:
        return self.backbone.name

    @property
    def num_side_outputs(self) -> int:
        return len(self.stages) + 1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        size = x.shape[-2:]
        feats = self.backbone(x)  # strides 2, 4, 8, 16, 32
        y = self.mscm(feats[4])
        outs = [_resize(y, size)]
        for i in reversed(self.stages):  # 4, 3, 2 (, 1): coarse to fine
            side = feats[i - 1]
            y = getattr(self, f"ra{i}")(side, _resize(y, side.shape[-2:]))
            outs.append(_resize(y, size))
        return tuple(reversed(outs))

    @classmethod
    def from_official(cls, path: str | Path, version: Version | None = None) -> RAS:
        """Build the network from the authors' released ``RAS.v1.pth`` / ``RAS.v2.pth``.

        The file is loaded strictly; DataParallel's ``module.`` prefix is accepted. With
        ``version=None`` it is told from the keys (``resnet.*`` is v1, ``bkbone.*`` is v2).
        """
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no such weights file: {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise RuntimeError(f"cannot read {path} as a PyTorch state dict: {err}") from None
        return cls.from_official_state_dict(state, version, source=str(path))

    @classmethod
    def from_official_state_dict(
        cls, state: dict[str, torch.Tensor], version: Version | None = None, source: str = ""
    ) -> RAS:
        """Like :meth:`from_official` for a state dict already in memory (the authors'
        backbone is ResNet-50; the same layout written by ``export format=official`` from a
        ResNet-18/34/101 run is told by its blocks). A wrong or partial file raises
        ``ValueError`` naming the keys."""
        ours, version = official_to_ours(state, version, source)
        model = cls(version=version, backbone=detect_backbone(list(ours)))
        check_state(ours, model.state_dict(), version, source)
        model.load_state_dict(ours, strict=True)
        return model

    def official_state_dict(self) -> dict[str, torch.Tensor]:
        """This network's weights in the authors' key layout (loadable by their code)."""
        return to_official_state_dict(self.state_dict(), self.version)
