"""A literal transcription of the authors' test and training data pipelines.

Written from ShuhanChen/RAS-pytorch ``v1/test.py``, ``v1/data.py``, ``v2/test.py`` and
``v2/data.py`` in the authors' style (torchvision transforms on PIL images for v1; NumPy and
OpenCV with float64 mean/std for v2). Used only by the tests, to check that our pipelines
give the same maps and training samples (``tests/test_faithful.py``).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms as transforms
from PIL import Image


def v1_test_input(path: str, testsize: int = 352) -> tuple[torch.Tensor, tuple[int, int]]:
    """``v1/data.py`` ``test_dataset.load_data``."""
    img_transform = transforms.Compose(
        [
            transforms.Resize((testsize, testsize)),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    with open(path, "rb") as f:
        image = Image.open(f).convert("RGB")
    img_size = (image.size[1], image.size[0])
    return img_transform(image).unsqueeze(0), img_size


def v2_test_input(path: str) -> tuple[torch.Tensor, tuple[int, int]]:
    """``v2/data.py`` ``Data.__getitem__`` in test mode, then ``.float()`` as ``v2/test.py``."""
    mean = np.array([[[124.55, 118.90, 102.94]]])
    std = np.array([[[56.77, 55.97, 57.50]]])
    image = cv2.imread(path)[:, :, ::-1].astype(np.float32)
    shape = image.shape[:2]
    image = (image - mean) / std
    image = cv2.resize(image, dsize=(352, 352), interpolation=cv2.INTER_LINEAR)
    image = torch.from_numpy(image).permute(2, 0, 1)
    return image.unsqueeze(0).float(), shape


@torch.no_grad()
def saved_map(model: torch.nn.Module, image: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """The body of both test loops: what ``cv2.imwrite`` writes, read back as uint8."""
    res = model(image)[0]
    res = F.interpolate(res, size, mode="bilinear", align_corners=True)
    res = res.sigmoid().data.cpu().numpy().squeeze()
    res = (res - res.min()) / (res.max() - res.min() + 1e-8)
    res = 255 * res
    ok, buf = cv2.imencode(".png", res)  # cv2.imwrite's conversion, in memory
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def authors_map(model: torch.nn.Module, version: str, path: str) -> np.ndarray:
    """The map the authors' ``test.py`` of ``version`` saves for the photo at ``path``."""
    image, size = v1_test_input(path) if version == "v1" else v2_test_input(path)
    return saved_map(model, image, size)


# -- training samples ---------------------------------------------------------------------
def v1_train_sample(
    image: Image.Image, gt: Image.Image, flip: bool, angle: float, trainsize: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``v1/data.py`` ``SalObjDataset.__getitem__`` with its two random draws given."""
    if flip:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
        gt = gt.transpose(Image.FLIP_LEFT_RIGHT)
    image = image.rotate(angle, Image.BILINEAR)
    gt = gt.rotate(angle, Image.NEAREST)
    img_transform = transforms.Compose(
        [
            transforms.Resize((trainsize, trainsize)),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    gt_transform = transforms.Compose(
        [transforms.Resize((trainsize, trainsize)), transforms.ToTensor()]
    )
    return img_transform(image), gt_transform(gt)


def v2_train_sample(
    path: str, mask_path: str, crop: tuple[int, int, int, int], flip: bool, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """``v2/data.py``: normalise, crop (rows p0:p1, cols p2:p3), flip, then ``collate``'s
    resize to ``size``."""
    mean = np.array([[[124.55, 118.90, 102.94]]])
    std = np.array([[[56.77, 55.97, 57.50]]])
    image = cv2.imread(path)[:, :, ::-1].astype(np.float32)
    mask = cv2.imread(mask_path, 0).astype(np.float32)
    image = (image - mean) / std
    mask /= 255
    p0, p1, p2, p3 = crop
    image, mask = image[p0:p1, p2:p3, :], mask[p0:p1, p2:p3]
    if flip:
        image, mask = image[:, ::-1, :], mask[:, ::-1]
    image = cv2.resize(image, dsize=(size, size), interpolation=cv2.INTER_LINEAR)
    mask = cv2.resize(mask, dsize=(size, size), interpolation=cv2.INTER_LINEAR)
    return image, mask
