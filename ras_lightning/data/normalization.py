"""The two recipes' input normalisations (light module: no albumentations import)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # v1 (CPD's recipe), on 0-1 RGB
IMAGENET_STD = (0.229, 0.224, 0.225)
F3NET_MEAN = (124.55, 118.90, 102.94)  # v2 (F3Net's / RAS v2's dataset.py), on 0-255 RGB
F3NET_STD = (56.77, 55.97, 57.50)
