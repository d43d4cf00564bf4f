"""The two recipes' input normalisations (light module: no albumentations import)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # v1 (CPD's recipe), on 0-1 RGB
IMAGENET_STD = (0.229, 0.224, 0.225)
F3NET_MEAN = (124.55, 118.90, 102.94)  # v2 (F3Net's / RAS v2's dataset.py), on 0-255 RGB
F3NET_STD = (56.77, 55.97, 57.50)


def mean_std_255(recipe: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of ``recipe`` on 0-255 RGB."""
    if recipe == "v1":
        return tuple(m * 255 for m in IMAGENET_MEAN), tuple(s * 255 for s in IMAGENET_STD)
    return F3NET_MEAN, F3NET_STD
