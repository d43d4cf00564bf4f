"""A deterministic synthetic salient-object dataset, written to disk in the real layout.

Each scene: a textured, cluttered background (gratings, colour blotches, noise, strokes),
one or two salient objects (ellipses, polygons, stars, rounded boxes; varied colour, size and
position, some cut by the border) and several small distractor shapes that are *not* in the
mask. Sets are written as ``<root>/<set>/images/*.jpg`` + ``<root>/<set>/masks/*.png``, so the
same loader reads the demo and real benchmarks. Generation is seeded per image.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

DEMO_SETS = {"DEMO-TR": 640, "DEMO-VAL": 48, "DEMO-TE": 96}
SIZES = [(128, 128), (144, 112), (112, 144)]  # (width, height): a mix of aspect ratios
_VERSION = 3  # bump when the generator changes so stale folders are regenerated


def _background(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(60, 190, size=3)
    img = np.ones((h, w, 3), np.float32) * base
    for _ in range(rng.integers(2, 5)):  # oriented gratings
        theta, freq = rng.uniform(0, math.pi), rng.uniform(0.05, 0.4)
        wave = np.sin((xx * math.cos(theta) + yy * math.sin(theta)) * freq + rng.uniform(0, 6))
        img += wave[..., None] * rng.uniform(-30, 30, size=3)
    low = rng.normal(0, 1, size=(h // 16 + 2, w // 16 + 2, 3)).astype(np.float32)
    blotch = np.asarray(
        Image.fromarray(((low - low.min()) / (np.ptp(low) + 1e-6) * 255).astype(np.uint8)).resize(
            (w, h), Image.BICUBIC
        ),
        np.float32,
    )
    img += (blotch - 128) * rng.uniform(0.2, 0.6)
    img += rng.normal(0, rng.uniform(4, 14), size=img.shape)
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(out)
    for _ in range(rng.integers(3, 9)):  # clutter strokes
        pts = [tuple(rng.integers(0, max(w, h), 2).tolist()) for _ in range(2)]
        draw.line(pts, fill=tuple(rng.integers(0, 256, 3).tolist()), width=int(rng.integers(1, 4)))
    return out


def _shape(rng: np.random.Generator, cx: float, cy: float, r: float) -> tuple[str, list]:
    kind = rng.choice(["ellipse", "polygon", "star", "box"])
    if kind == "ellipse":
        ax, ay = r * rng.uniform(0.6, 1.0), r * rng.uniform(0.5, 1.0)
        return "ellipse", [cx - ax, cy - ay, cx + ax, cy + ay]
    if kind == "box":
        ax, ay = r * rng.uniform(0.5, 0.9), r * rng.uniform(0.5, 0.9)
        return "box", [cx - ax, cy - ay, cx + ax, cy + ay]
    n = int(rng.integers(5, 9)) * (2 if kind == "star" else 1)
    start = rng.uniform(0, 2 * math.pi)
    pts = []
    for i in range(n):
        rad = r * (rng.uniform(0.4, 0.55) if kind == "star" and i % 2 else rng.uniform(0.75, 1.0))
        ang = start + 2 * math.pi * i / n
        pts.append((cx + rad * math.cos(ang), cy + rad * math.sin(ang)))
    return "polygon", pts


def _draw(draw: ImageDraw.ImageDraw, kind: str, geom: list, fill) -> None:
    if kind == "ellipse":
        draw.ellipse(geom, fill=fill)
    elif kind == "box":
        draw.rounded_rectangle(geom, radius=int((geom[2] - geom[0]) * 0.2), fill=fill)
    else:
        draw.polygon(geom, fill=fill)


def _distinct_colour(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A colour far from the background's mean: saliency is distinctness, so the object must
    stand out from the scene as a whole (but not necessarily from every local patch)."""
    best, best_d = None, -1.0
    for _ in range(24):
        colour = rng.integers(0, 256, 3)
        colour[rng.integers(0, 3)] = rng.choice([rng.integers(0, 40), rng.integers(215, 256)])
        d = float(np.linalg.norm(colour - background))
        if d > 110:
            return colour
        if d > best_d:
            best, best_d = colour, d
    return best


def make_scene(seed: int, size: tuple[int, int]) -> tuple[Image.Image, Image.Image]:
    """One (photo, mask) pair; the same seed gives the same pair."""
    rng = np.random.default_rng(seed)
    w, h = size
    photo = _background(rng, w, h)
    mask = Image.new("L", (w, h), 0)
    draw_p, draw_m = ImageDraw.Draw(photo), ImageDraw.Draw(mask)
    short = min(w, h)
    for _ in range(int(rng.integers(3, 8))):  # distractors: small, not salient
        r = short * rng.uniform(0.02, 0.045)
        kind, geom = _shape(rng, rng.uniform(0, w), rng.uniform(0, h), r)
        _draw(draw_p, kind, geom, tuple(rng.integers(0, 256, 3).tolist()))
    for _ in range(1 if rng.random() < 0.75 else 2):  # salient objects
        r = short * rng.uniform(0.15, 0.38)
        cx, cy = rng.uniform(0.1 * w, 0.9 * w), rng.uniform(0.1 * h, 0.9 * h)  # may cross borders
        kind, geom = _shape(rng, cx, cy, r)
        colour = _distinct_colour(rng, np.asarray(photo, np.float32).reshape(-1, 3).mean(0))
        layer = Image.new("RGB", (w, h), tuple(colour.tolist()))
        shade = np.asarray(layer, np.float32) + rng.normal(0, 6, (h, w, 3))  # mild texture
        layer = Image.fromarray(np.clip(shade, 0, 255).astype(np.uint8))
        obj = Image.new("L", (w, h), 0)
        _draw(ImageDraw.Draw(obj), kind, geom, 255)
        photo.paste(layer, (0, 0), obj)
        _draw(draw_m, kind, geom, 255)
    photo = photo.filter(ImageFilter.GaussianBlur(radius=0.5))
    return photo, mask


def make_demo_data(root: str | Path, sets: dict[str, int] | None = None, seed: int = 0) -> Path:
    """Write the demo sets under ``root`` once; later calls reuse them (checked by a stamp)."""
    root = Path(root).expanduser()
    sets = dict(DEMO_SETS if sets is None else sets)
    stamp = root / "demo.json"
    meta = {"version": _VERSION, "seed": seed, "sets": sets}
    if stamp.is_file() and json.loads(stamp.read_text()) == meta:
        return root
    for offset, (name, count) in enumerate(sets.items()):
        images, masks = root / name / "images", root / name / "masks"
        images.mkdir(parents=True, exist_ok=True)
        masks.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            scene_seed = seed * 1_000_003 + offset * 100_000 + i
            photo, mask = make_scene(scene_seed, SIZES[i % len(SIZES)])
            photo.save(images / f"{name.lower()}_{i:04d}.jpg", quality=92)
            mask.save(masks / f"{name.lower()}_{i:04d}.png")
    stamp.write_text(json.dumps(meta))
    return root
