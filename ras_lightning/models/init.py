"""Weight initialisation of the RAS head, as in the authors' two code bases."""

from __future__ import annotations

from torch import nn


def init_head(model: nn.Module, version: str) -> None:
    """Initialise every conv and BatchNorm outside the backbone.

    v1 (CPD-style code): conv weights normal(0, 0.01), conv biases left at PyTorch's default
    (the authors' v1 init touches only the weights). v2 (F3Net-style ``weight_init``): Kaiming
    normal (fan_in, ReLU), zero biases. BatchNorm: weight 1, bias 0.
    The backbone keeps torchvision's init (it is overwritten by ImageNet weights in the
    authors' runs).
    """
    for name, module in model.named_modules():
        if name.startswith("backbone"):
            continue
        if isinstance(module, nn.Conv2d):
            if version == "v1":
                nn.init.normal_(module.weight, 0.0, 0.01)
                continue
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
