"""``python -m ras_lightning.predict``: saliency maps, masks and cut-outs for your own photos
and videos.

``input`` is a file, a folder (``recursive=true``: sub-folders too) or a glob (``**`` allowed);
outputs mirror the input's sub-folders under ``output``: ``<stem>.png`` per photo (at its
size; ``type=`` picks what, :mod:`ras_lightning.inference.outputs`) and ``<name>`` per video
(same frame rate, size and container). Two inputs that would write the same name (``0001.jpg``,
``0001.png``) both keep their extension (``0001.jpg.png``, ``0001.png.png``). ``output=FILE``
with one input writes that file. Unreadable and non-image files, and photos whose header
claims more than ``max_pixels`` pixels, are named and skipped,
``overwrite=false`` skips outputs already there; the last line counts what was written and
skipped; nothing written is exit status 1. Every setting and the output folder are checked
before the network is loaded; folders are created only to write a file; nothing is written
into the input folder. ``devices=N``: N processes (one per GPU; or a share of the CPU cores
each), or the processes of ``torchrun``/``srun``, each writing its share of the sorted files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from ras_lightning.data.checks import pixel_limit
from ras_lightning.inference import distributed, inputs
from ras_lightning.inference.backends import BACKENDS, make_predictor
from ras_lightning.inference.files import EXISTING, NOT_MEDIA, Tally, predict_files
from ras_lightning.inference.outputs import output_settings, render
from ras_lightning.utils.entry import hydra_command
from ras_lightning.utils.errors import UserError, require, require_choices, require_counts

EXAMPLE = "python -m ras_lightning.predict weights=RAS.v2.pth input=photos output=masks"
WHAT = {
    "weights": "our .ckpt, the authors' RAS.vN.pth or an exported .onnx",
    "input": "a photo, video, folder or glob",
    "output": "a folder, or with one input a file",
}


def run(cfg: DictConfig) -> dict[str, Any]:
    """Predict for ``cfg.input`` into ``cfg.output``; return the counts."""
    require(cfg, WHAT, EXAMPLE)
    require_counts(cfg, {"batch_size": 1, "threads": 1}, nullable=("batch_size", "threads"))
    require_choices(cfg, {"backend": BACKENDS})
    kind, threshold, background = output_settings(
        str(cfg.type), cfg.threshold, cfg.get("background"), cfg.get("cutout")
    )
    out = Path(str(cfg.output)).expanduser()
    max_pixels = pixel_limit(cfg.get("max_pixels"), "max_pixels")
    plan = inputs.plan(str(cfg.input), out, kind, bool(cfg.recursive))
    if (spawned := distributed.spawn(cfg, run)) is not None:  # devices=N: N processes
        return spawned
    group, cfg = distributed.start(cfg)  # each process: its share of the sorted files
    files = set(distributed.shard_of(plan.files, group))
    tally, jobs = Tally(), [j for j in plan.jobs if j.src in files]
    media = {j.src for j in jobs}
    for f in plan.files:
        if f in files and f not in media:
            tally.skip(f, NOT_MEDIA, "not an image or video file")
    if not cfg.overwrite:  # resume: outputs already there are kept, their inputs not read
        todo = [j for j in jobs if not j.dest.exists()]
        tally.skipped[EXISTING] += len(jobs) - len(todo)
        jobs = todo

    def make(photo: np.ndarray, smap: np.ndarray) -> np.ndarray:
        return render(photo, smap, kind, threshold, background)

    try:
        if jobs:  # the network is loaded only when there is work
            predictor = make_predictor(cfg)
            predict_files(predictor, jobs, make, tally, bool(cfg.progress), max_pixels)
    except BaseException:  # also when a write fails: this process's counts so far
        print(tally.line(out), flush=True)
        raise
    tally = Tally.total(distributed.all_gather(group, tally))
    if group.main:
        print(tally.line(out), flush=True)
    if tally.written == 0 and not tally.skipped[EXISTING]:
        raise UserError(f"nothing written: no photo or video in input={cfg.input} could be read")
    return {"written": tally.written, "skipped": sum(tally.skipped.values()), **tally.skipped}


main = hydra_command("predict", run)

if __name__ == "__main__":
    main()
