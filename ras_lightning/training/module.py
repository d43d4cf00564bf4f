"""``RASModule``: the RAS network, deep supervision (BCE+IoU by default) and per-set SOD
metrics. Built from ``conf/model/*.yaml`` with nested ``_target_`` nodes for the network, the
loss, the optimizer and the scheduler, as in lightning-hydra-template."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import lightning as L
import torch
from torch import nn

from ras_lightning.data.protocol import logits_to_map
from ras_lightning.metrics import SODMetrics
from ras_lightning.models import RAS
from ras_lightning.training.losses import SideLoss, bce_iou_loss, deep_supervision_loss
from ras_lightning.training.resume import ResumeState


class RASModule(L.LightningModule):
    """Trains and evaluates :class:`~ras_lightning.models.RAS`.

    Args:
        net: the network's factory (``model.net``: backbone, width), called with ``version``
            (v1 | v2) and ``pretrained_backbone`` (true: ImageNet weights, false, or a file).
        loss: the per-side loss ``f(logits, target)``, summed over the side outputs.
        optimizer, scheduler: factories of the optimizer and (optional) per-epoch scheduler.
        backbone_lr_mult, freeze_stem: the backbone's lr relative to the head's; the stem
            (conv1/bn1) left out of the optimizer (the v2 recipe).
        divide_loss_by_batch: divide the loss by the configured ``data.batch_size`` (v1).
        reset_optimizer_at_epoch: clear Adam's moments at this 0-based epoch, as the v1
            authors re-create Adam when they drop the lr.
        channels_last: run the network in channels-last memory format.
        test_metrics: the end-of-training test's metrics (``metrics=`` of ``train``): None the
            default set, ``"all"`` PySODMetrics' whole set, or metric names (validation keeps
            the default set: its ``max_f`` picks the best checkpoint).
        input_recipe, eval_size: the normalisation and square size the network was trained
            to see; saved in checkpoints with ``backbone`` and ``channels``, from which
            :func:`~ras_lightning.models.weights.load_weights` and
            :meth:`load_from_checkpoint` rebuild it for ``eval``/``predict``.
    """

    def __init__(
        self,
        net: Callable[..., RAS] = RAS,
        loss: SideLoss = bce_iou_loss,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        version: str = "v2",
        pretrained_backbone: bool | str = False,
        backbone_lr_mult: float = 1.0,
        freeze_stem: bool = False,
        divide_loss_by_batch: bool = False,
        reset_optimizer_at_epoch: int | None = None,
        channels_last: bool = False,
        input_recipe: str = "v1",
        eval_size: int = 352,
        test_metrics: list[str] | str | None = None,
    ) -> None:
        super().__init__()
        if test_metrics is not None and not isinstance(test_metrics, str):
            # plain strings in the checkpoint (eval/predict load it with weights_only=True)
            test_metrics = [str(m) for m in test_metrics]
        self.save_hyperparameters(logger=False, ignore=["net", "loss", "optimizer", "scheduler"])
        self.net = net(version=version, pretrained_backbone=pretrained_backbone)
        self.hparams.update(backbone=self.net.backbone_name, channels=self.net.channels)
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.set_metrics = nn.ModuleDict()  # "<val|test>/<set name>" -> SODMetrics
        self.set_names: dict[str, list[str]] = {"val": [], "test": []}

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, **kwargs: Any) -> RASModule:  # type: ignore[override]
        """Lightning's, with the network built on the checkpoint's backbone and width
        (Lightning passes only ``__init__``'s arguments on; ``net=`` still overrides)."""
        if "net" not in kwargs:
            # mmap: only the pickled hyper-parameters are read, not the tensors
            ckpt = torch.load(checkpoint_path, map_location="cpu", mmap=True, weights_only=False)
            hp = ckpt.get("hyper_parameters", {})
            kwargs["net"] = partial(
                RAS, backbone=hp.get("backbone", "resnet50"), channels=hp.get("channels", 64)
            )
        return super().load_from_checkpoint(checkpoint_path, **kwargs)

    def configure_callbacks(self) -> list[L.Callback]:
        # exact resume is part of training, whatever the callbacks config holds
        return [ResumeState()] if self.trainer.state.fn == "fit" else []

    def setup(self, stage: str) -> None:
        dm = self.trainer.datamodule if self._trainer else None
        self.set_names = {s: list(getattr(dm, f"{s}_names", [s])) for s in ("val", "test")}
        # the v1 authors divide by their configured batch size (10), whatever the batch holds
        self.loss_divisor = getattr(dm, "batch_size", None)
        for key in (f"{s}/{n}" for s, names in self.set_names.items() for n in names):
            if key not in self.set_metrics:
                test = key.startswith("test/")
                metrics = self.hparams.get("test_metrics") if test else None
                self.set_metrics[key] = SODMetrics(keep_images=test, metrics=metrics)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        sides = self(batch["image"])
        bs = batch["image"].shape[0]
        divisor = None
        if self.hparams.divide_loss_by_batch:
            divisor = getattr(self, "loss_divisor", None) or bs
        loss, per_side = deep_supervision_loss(sides, batch["mask"], divisor, self.loss)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite loss ({loss.item()}) at epoch {self.current_epoch}, global step "
                f"{self.global_step}, batch {batch_idx}; lower optimizer.lr or check the data"
            )
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        # side index as in the paper: v1 sides 1..5, v2 sides 2..5
        first = 1 if self.net.version == "v1" else 2
        for i, side in enumerate(per_side, start=first):
            self.log(f"train/loss_side{i}", side, batch_size=bs)
        return loss

    def on_train_epoch_start(self) -> None:
        if self.current_epoch == self.hparams.reset_optimizer_at_epoch:
            self.trainer.optimizers[0].state.clear()  # as re-creating Adam in the v1 loop

    def predict_maps(self, image: torch.Tensor) -> torch.Tensor:
        """Saliency probabilities (B, 1, H, W) of the finest side output."""
        return torch.sigmoid(self(image)[0].float())

    def _eval_step(self, stage: str, batch: dict[str, Any], dataloader_idx: int) -> None:
        metrics = self.set_metrics[f"{stage}/{self.set_names[stage][dataloader_idx]}"]
        # scored as `eval` scores: the authors' 8-bit map at the photo's size (the one
        # implementation of the test protocol), from an fp32 forward as their test scripts
        # (no autocast, also when training in 16-mixed)
        with torch.autocast(self.device.type, enabled=False):
            logits = self(batch["image"].float())[0].float().cpu().numpy()
        names = batch.get("name")
        for i, mask in enumerate(batch["mask"]):
            saliency = logits_to_map(logits[i, 0], tuple(mask.shape[-2:]))[None]
            metrics.update(saliency, mask, names=[names[i]] if names else None)

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step("val", batch, dataloader_idx)

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step("test", batch, dataloader_idx)

    def _log_sets(self, stage: str) -> None:
        for name in self.set_names[stage]:
            m = self.set_metrics[f"{stage}/{name}"]
            if m.count == 0 and not self.trainer.world_size > 1:
                continue
            for key, value in m.compute().items():
                self.log(f"{stage}/{name}/{key}", value, add_dataloader_idx=False, sync_dist=False)
            m.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_sets("val")

    def on_test_epoch_end(self) -> None:
        self._log_sets("test")

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Head and backbone parameter groups (backbone lr x ``backbone_lr_mult``); with
        ``freeze_stem`` the backbone's stem is in neither."""
        # the v2 authors leave conv1/bn1 out of the optimizer; bn1 stays in train mode (its
        # running statistics keep updating), as in their loop
        stem = [p for m in self.net.backbone.stem for p in m.parameters()]
        frozen = {id(p) for p in stem} if self.hparams.freeze_stem else set()
        in_backbone = {id(p) for p in self.net.backbone.parameters()}
        backbone, head = [], []
        for p in self.net.parameters():
            if id(p) in frozen:
                p.requires_grad_(False)
            else:
                (backbone if id(p) in in_backbone else head).append(p)
        mult = self.hparams.backbone_lr_mult
        return [
            {"params": backbone, "lr_mult": mult, "name": "backbone"},
            {"params": head, "lr_mult": 1.0, "name": "head"},
        ]

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise ValueError("no optimizer configured (set the optimizer group)")
        optimizer = self.optimizer_factory(params=self.parameter_groups())
        for g in optimizer.param_groups:  # per-group lr = base lr x multiplier
            g["lr"] = g["lr"] * g["lr_mult"]
            g["initial_lr"] = g["lr"]
        if self.scheduler_factory is None:
            return optimizer
        scheduler = {"scheduler": self.scheduler_factory(optimizer=optimizer), "interval": "epoch"}
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
