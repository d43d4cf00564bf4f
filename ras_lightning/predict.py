"""``python -m ras_lightning.predict``: saliency masks (and cut-outs) for your own photos.

``input`` is a file, a folder (``recursive=true`` keeps sub-folders) or a glob; each readable
photo gets ``<output>/<stem>.png`` (8-bit, the photo's size) and with ``cutout=true`` an RGBA
``<stem>_cutout.png``. Unreadable or non-image files are named and skipped; the command exits
0 with a summary line. Nothing is written into the input folder.
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import hydra
import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from ras_lightning.data.discovery import IMAGE_EXTS
from ras_lightning.inference.backends import make_predictor
from ras_lightning.inference.protocol import read_photo
from ras_lightning.utils.errors import DataError, UserError, user_errors

log = logging.getLogger("ras_lightning.predict")


def collect_inputs(spec: str, recursive: bool = False) -> tuple[Path, list[Path]]:
    """(base folder, files) for a file, a folder or a glob pattern."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path.parent, [path]
    if path.is_dir():
        found = path.rglob("*") if recursive else path.iterdir()
        return path, sorted(p for p in found if p.is_file() and not p.name.startswith("."))
    matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if not matches:
        raise UserError(f"input: no such file or folder, and no file matches: {spec}")
    fixed = []  # the pattern's leading folders without wildcards
    for part in path.parts:
        if any(c in part for c in "*?["):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path("."), matches


def _check_output(base: Path, out: Path) -> None:
    b, o = base.resolve(), out.resolve()
    if o == b or b in o.parents:
        raise UserError(
            f"output {out} is inside the input folder {base}; choose another folder "
            "(predict never writes into its input)"
        )


def _read(path: Path, recipe: str) -> tuple[np.ndarray | None, str]:
    """The photo, or None and why it is skipped."""
    if path.suffix.lower() not in IMAGE_EXTS | {".webp", ".tif", ".tiff"}:
        return None, "not an image file"
    try:
        return read_photo(str(path), recipe), ""  # fully decoded, EXIF orientation applied
    except DataError as err:
        return None, str(err)


def run(cfg: DictConfig) -> dict[str, int]:
    base, files = collect_inputs(str(cfg.input), cfg.recursive)
    out = Path(str(cfg.output)).expanduser()
    _check_output(base, out)
    predictor = make_predictor(cfg)
    skipped: list[Path] = []

    def photos() -> Iterator[tuple[tuple[Path, np.ndarray], np.ndarray]]:
        for f in files:
            img, why = _read(f, predictor.recipe)
            if img is None:
                skipped.append(f)
                log.warning("skipped %s: %s", f, why)
                bar.update(1)
                continue
            yield (f, img), img

    written = 0
    bar = tqdm(total=len(files), unit="photo", disable=not cfg.progress, leave=False)
    for (f, img), mask in predictor.iter_predict(photos()):
        rel = f.relative_to(base) if cfg.recursive else Path(f.name)
        dest = (out / rel).with_suffix(".png")
        dest.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dest), mask)
        if cfg.cutout:
            rgba = np.dstack([img[..., ::-1], mask])  # BGRA for OpenCV
            cv2.imwrite(str(dest.with_name(dest.stem + "_cutout.png")), rgba)
        written += 1
        bar.update(1)
    bar.close()
    summary = {"written": written, "skipped": len(skipped)}
    print(f"predict: {written} written, {len(skipped)} skipped -> {out}")
    return summary


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    with user_errors():
        run(cfg)


if __name__ == "__main__":
    main()
