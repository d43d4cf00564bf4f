"""A photo | ground truth | prediction panel logged at each validation."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from PIL import Image

from ras_lightning.data.readers import read_mask, read_photo


def panel_rows(module: L.LightningModule, dataset, count: int) -> np.ndarray:
    """uint8 (count * S, 3 * S, 3) rows of photo | mask | predicted map at the eval size."""
    rows = []
    for i in range(min(count, len(dataset))):
        item = dataset[i]
        image = item["image"][None].to(module.device)
        with torch.no_grad():
            prob = module.predict_maps(image)[0, 0].float().cpu().numpy()
        s = prob.shape[0]
        sample = dataset.samples[i]
        photo = np.asarray(Image.fromarray(read_photo(sample.image)).resize((s, s)))
        mask = (read_mask(sample.mask) * 255).astype(np.uint8) if sample.mask else np.zeros((s, s))
        mask = np.asarray(Image.fromarray(mask).resize((s, s)))
        pred = (prob * 255).astype(np.uint8)
        gray = [np.repeat(a[..., None], 3, -1) for a in (mask, pred)]
        rows.append(np.concatenate([photo, *gray], axis=1))
    return np.concatenate(rows, axis=0)


class PredictionPanel(L.Callback):
    """After each validation, log ``count`` photos of the first validation set with their
    masks and predictions: as an image to W&B / TensorBoard when those loggers are on, and as
    ``<run dir>/panels/epoch<N>.png`` otherwise."""

    def __init__(self, count: int = 4, every_n_epochs: int = 1) -> None:
        self.count, self.every = count, every_n_epochs

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or trainer.fast_dev_run:
            return
        if trainer.current_epoch % self.every:
            return
        dm = trainer.datamodule
        if dm is None or not getattr(dm, "val_data", None):
            return
        was_training = module.training
        module.eval()
        grid = panel_rows(module, dm.val_data[0], self.count)
        module.train(was_training)
        caption = (
            f"{dm.val_names[0]}: photo | ground truth | prediction (epoch {trainer.current_epoch})"
        )
        logged = False
        for logger in trainer.loggers:
            name = type(logger).__name__
            if name == "WandbLogger":
                logger.log_image(
                    key="val/panel", images=[grid], caption=[caption], step=trainer.global_step
                )
                logged = True
            elif name == "TensorBoardLogger":
                logger.experiment.add_image(
                    "val/panel", grid, trainer.global_step, dataformats="HWC"
                )
                logged = True
        if not logged:
            out = Path(trainer.default_root_dir) / "panels"
            out.mkdir(parents=True, exist_ok=True)
            Image.fromarray(grid).save(out / f"epoch{trainer.current_epoch:03d}.png")
