"""BatchNorm folded into the preceding convolutions: the network inference, export, the ONNX
cache and the benchmarks run (exact up to float rounding)."""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """A copy of ``net`` (in eval mode) with every BatchNorm folded into its convolution.

    A pair is a ``Conv2d`` and the ``BatchNorm2d`` of its width registered right after it in
    the same parent: how torchvision's ResNets (``convN``/``bnN``, ``downsample``) and the
    RAS heads (``convert``/``bn``, ``[conv, BN, ReLU]`` sequences) lay out conv -> BN, with no
    names of one backbone assumed. The folded BN becomes an ``nn.Identity``.
    """
    net = copy.deepcopy(net).eval()
    for parent in list(net.modules()):
        children = list(parent.named_children())
        for (conv_name, conv), (bn_name, bn) in zip(children, children[1:], strict=False):
            if (
                isinstance(conv, nn.Conv2d)
                and isinstance(bn, nn.BatchNorm2d)
                and bn.num_features == conv.out_channels
            ):
                setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
                # heads keep applying their ReLU after ``bn``: an Identity is still not None
                setattr(parent, bn_name, nn.Identity())
    return net
