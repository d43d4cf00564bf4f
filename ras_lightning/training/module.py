"""``RASModule``: the RAS network, deep supervision (BCE+IoU by default) and per-set SOD
metrics. Built from ``conf/model/*.yaml`` with nested ``_target_`` nodes for the network, the
loss, the optimizer and the scheduler, as in lightning-hydra-template."""

from __future__ import annotations

import inspect
import logging
import random
from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from ras_lightning.data.protocol import MINMAX_EPS
from ras_lightning.metrics import SODMetrics
from ras_lightning.models import RAS
from ras_lightning.training.losses import SideLoss, bce_iou_loss, deep_supervision_loss
from ras_lightning.utils.errors import UserError

OptimizerFactory = Callable[..., torch.optim.Optimizer]
log = logging.getLogger(__name__)


def rng_states() -> dict[str, Any]:
    """Python's, NumPy's and torch's (CPU and CUDA) global random states, as tensors and
    plain values (``eval``/``predict`` read checkpoints with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` returned (CUDA only where the devices match)."""
    random.setstate(states["python"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    cuda = states.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def authors_map(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The authors' saved 8-bit map of one image's (1, 1, h, w) finest logits, as float
    values 0..255 at ``size``: bilinear ``align_corners=True`` resize of the logits, sigmoid,
    per-image ``(r - min) / (max - min + 1e-8)``, x255, rounded half to even and saturated as
    ``cv2.imwrite`` does (see :mod:`ras_lightning.data.protocol`, the same steps in NumPy)."""
    r = F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=True)
    r = torch.sigmoid(r)[0, 0]
    r = (r - r.min()) / (r.max() - r.min() + MINMAX_EPS)
    return torch.round(255 * r).clamp(0, 255)


SchedulerFactory = Callable[..., Any]


class RASModule(L.LightningModule):
    """Trains and evaluates :class:`~ras_lightning.models.RAS`.

    Args:
        net: the network (the config's ``model.net`` node); ``None`` builds it from
            ``version``, ``backbone``, ``channels`` and ``pretrained_backbone``.
        loss: the per-side loss ``f(logits, target)`` summed over the side outputs (the
            ``model/loss`` group; default the authors' BCE + IoU).
        optimizer: a factory ``f(params) -> Optimizer`` (Hydra ``_partial_``).
        scheduler: optional factory ``f(optimizer) -> LR scheduler``, stepped per epoch.
        version, backbone, channels, pretrained_backbone: the network when ``net`` is None
            (defaults v2, resnet50, 64, no ImageNet weights). The config sets
            ``model.version`` and ``model.pretrained_backbone`` here and passes them on to
            ``net`` by interpolation; a ``net`` that disagrees with a given value is refused.
            Saved with the checkpoint (as the network's own values), so ``load_weights`` and
            ``load_from_checkpoint`` rebuild the same network.
        backbone_lr_mult: the backbone's lr relative to the head's (v2 recipe: 0.1).
        freeze_stem: leave the backbone's stem (conv1/bn1 of any ResNet) out of the
            optimizer (v2 recipe).
        divide_loss_by_batch: divide the summed loss by the configured batch size
            (``data.batch_size``), also for a smaller last batch (the v1 recipe).
        reset_optimizer_at_epoch: clear the optimizer's state (e.g. Adam's moments) at the
            start of this 0-based epoch; the v1 authors re-create Adam when they drop the lr.
        channels_last: run the network in channels-last memory format.
        fused_optimizer: ask the optimizer factory for its fused implementation (one kernel
            for the whole update; PyTorch's CPU default is a per-tensor loop) when it has a
            ``fused`` argument that the config does not set itself. Same update, faster.
        input_recipe, eval_size: the normalisation ('v1' ImageNet or 'v2' F3Net) and the square
            size the network was trained to see; saved in checkpoints for ``eval``/``predict``.
    """

    def __init__(
        self,
        net: RAS | None = None,
        loss: SideLoss | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        version: str | None = None,
        backbone: str | None = None,
        channels: int | None = None,
        pretrained_backbone: bool | str | None = None,
        backbone_lr_mult: float = 1.0,
        freeze_stem: bool = False,
        divide_loss_by_batch: bool = False,
        reset_optimizer_at_epoch: int | None = None,
        channels_last: bool = False,
        fused_optimizer: bool = True,
        input_recipe: str = "v1",
        eval_size: int = 352,
    ) -> None:
        super().__init__()
        self._lr_logged_epoch = -1  # see training_step
        self.save_hyperparameters(logger=False, ignore=["net", "loss", "optimizer", "scheduler"])
        if net is None:
            net = RAS(
                version=version or "v2",  # type: ignore[arg-type]
                backbone=backbone or "resnet50",
                channels=channels or 64,
                pretrained_backbone=pretrained_backbone,
            )
        actual = {"version": net.version, "backbone": net.backbone_name, "channels": net.channels}
        for key, value in actual.items():
            given = self.hparams[key]
            if given is not None and given != value:
                raise UserError(f"model.{key}={given} but model.net has {key} {value}")
        self.net = net
        # saved with the weights: what rebuilds the network (``models.weights.load_weights``)
        self.hparams.update(actual)
        self.loss = loss or bce_iou_loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.channels_last = channels_last
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.val_metrics = nn.ModuleDict()
        self.test_metrics = nn.ModuleDict()
        self.val_names: list[str] = []
        self.test_names: list[str] = []

    # -- set-up ----------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer else None
        self.val_names = list(getattr(dm, "val_names", ["val"]))
        self.test_names = list(getattr(dm, "test_names", ["test"]))
        # the v1 authors divide by their configured batch size (10), whatever the batch holds
        self.loss_divisor = getattr(dm, "batch_size", None)
        for names, store in (
            (self.val_names, self.val_metrics),
            (self.test_names, self.test_metrics),
        ):
            for n in names:
                if n not in store:
                    store[n] = SODMetrics()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    # -- training --------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        sides = self(batch["image"])
        divisor = None
        if self.hparams.divide_loss_by_batch:
            divisor = getattr(self, "loss_divisor", None) or batch["image"].shape[0]
        loss, per_side = deep_supervision_loss(sides, batch["mask"], divisor, self.loss)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite loss ({loss.item()}) at epoch {self.current_epoch}, global step "
                f"{self.global_step}, batch {batch_idx}; lower optimizer.lr or check the data"
            )
        bs = batch["image"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        # side index as in the paper: v1 sides 1..5, v2 sides 2..5
        first = 1 if self.net.version == "v1" else 2
        for i, side in enumerate(per_side, start=first):
            self.log(f"train/loss_side{i}", side, batch_size=bs)
        return loss

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self._lr_logged_epoch != self.current_epoch:
            # once per epoch, at its first batch in this process (an epoch resumed mid-way
            # logs it too): the head's lr (the backbone's is x backbone_lr_mult)
            lr = self.trainer.optimizers[0].param_groups[-1]["lr"]
            self.log("train/lr", lr, on_step=False, on_epoch=True, batch_size=1)
            self._lr_logged_epoch = self.current_epoch

    def on_train_epoch_start(self) -> None:
        optimizer = self.trainer.optimizers[0]
        if self.current_epoch == self.hparams.reset_optimizer_at_epoch:
            optimizer.state.clear()  # as re-creating the optimizer in the authors' v1 loop

    # -- evaluation ------------------------------------------------------------------------
    def predict_maps(self, image: torch.Tensor) -> torch.Tensor:
        """Saliency probabilities (B, 1, H, W) of the finest side output."""
        return torch.sigmoid(self(image)[0].float())

    def _eval_step(self, batch: dict[str, Any], metrics: SODMetrics) -> None:
        # scored as `eval` scores: the authors' 8-bit min-max map at the photo's size, from an
        # fp32 forward as their test scripts (no autocast, also when training in 16-mixed)
        with torch.autocast(self.device.type, enabled=False):
            logits = self(batch["image"].float())[0]
        for i, mask in enumerate(batch["mask"]):
            saliency = authors_map(logits[i : i + 1], tuple(mask.shape[-2:]))
            # the 8-bit map, scored by the kernels the file scorer runs on the saved map
            metrics.update(saliency.to(torch.uint8)[None], mask)

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step(batch, self.val_metrics[self.val_names[dataloader_idx]])

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step(batch, self.test_metrics[self.test_names[dataloader_idx]])

    def _log_sets(self, stage: str, names: list[str], store: nn.ModuleDict) -> None:
        for name in names:
            m = store[name]
            if m.count == 0 and not self.trainer.world_size > 1:
                continue
            for key, value in m.compute().items():
                self.log(f"{stage}/{name}/{key}", value, add_dataloader_idx=False, sync_dist=False)
            m.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_sets("val", self.val_names, self.val_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_sets("test", self.test_names, self.test_metrics)

    # -- resuming --------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # the global random streams, restored on resume (data order and augmentation depend
        # on (seed, epoch) only: data/samplers.py)
        checkpoint["rng_states"] = rng_states()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "rng_states" in checkpoint:
            set_rng_states(checkpoint["rng_states"])
        # The lr schedule is the current config's, evaluated at the checkpoint's epoch: the
        # saved factors (e.g. a cosine planned for fewer epochs) are dropped so that a run
        # resumed with a larger trainer.max_epochs is re-planned for its new length instead
        # of training on at lr 0 (see on_train_start, which sets the groups' lrs).
        for sched in checkpoint.get("lr_schedulers", []):
            lambdas = sched.get("lr_lambdas")
            if lambdas:
                self._saved_schedule = [dict(f) if f else {} for f in lambdas]
                sched["lr_lambdas"] = [None] * len(lambdas)

    def on_train_start(self) -> None:
        saved = getattr(self, "_saved_schedule", None)
        if saved is None:
            return
        self._saved_schedule = None
        for config in self.trainer.lr_scheduler_configs:
            sched = config.scheduler
            if not isinstance(sched, LambdaLR):
                continue
            epoch = sched.last_epoch
            old = [f.get("max_epochs") for f in saved]
            new = [getattr(f, "max_epochs", None) for f in sched.lr_lambdas]
            if old != new:
                log.warning(
                    "resumed at epoch %d with trainer.max_epochs=%s: the lr schedule planned "
                    "for %s epochs is re-planned for %s (lr now as a run of that length)",
                    epoch,
                    self.trainer.max_epochs,
                    old[-1],
                    new[-1],
                )
            groups = sched.optimizer.param_groups
            for group, base, factor in zip(groups, sched.base_lrs, sched.lr_lambdas, strict=True):
                group["lr"] = base * factor(epoch)  # as LambdaLR.step computes it
            sched._last_lr = [g["lr"] for g in groups]

    # -- optimisation ----------------------------------------------------------------------
    def parameter_groups(self) -> list[dict[str, Any]]:
        """Head and backbone parameter groups (backbone lr x ``backbone_lr_mult``); with
        ``freeze_stem`` the backbone's stem is in neither."""
        frozen: set[int] = set()
        if self.hparams.freeze_stem:
            # the v2 authors leave conv1/bn1 out of the optimizer; bn1 stays in train mode
            # (its running statistics keep updating), as in their loop
            for m in self.net.backbone.stem:
                for p in m.parameters():
                    p.requires_grad_(False)
                    frozen.add(id(p))
        in_backbone = {id(p) for p in self.net.backbone.parameters()}
        backbone, head = [], []
        for p in self.net.parameters():
            if id(p) not in frozen:
                (backbone if id(p) in in_backbone else head).append(p)
        mult = self.hparams.backbone_lr_mult
        return [
            {"params": backbone, "lr_mult": mult, "name": "backbone"},
            {"params": head, "lr_mult": 1.0, "name": "head"},
        ]

    def _fused_kwargs(self) -> dict[str, Any]:
        factory = self.optimizer_factory
        if not self.hparams.get("fused_optimizer", False) or factory is None:
            return {}
        if "fused" in (getattr(factory, "keywords", None) or {}):
            return {}  # the optimizer config chose
        if self.device.type not in ("cpu", "cuda"):
            return {}  # fused kernels exist for these two everywhere
        try:
            accepts = "fused" in inspect.signature(factory).parameters
        except (TypeError, ValueError):
            accepts = False
        return {"fused": True} if accepts else {}

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise ValueError("no optimizer configured (set the optimizer group)")
        groups = self.parameter_groups()
        optimizer = self.optimizer_factory(params=groups, **self._fused_kwargs())
        for g in optimizer.param_groups:  # per-group lr = base lr x multiplier
            g["lr"] = g["lr"] * g["lr_mult"]
            g["initial_lr"] = g["lr"]
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }
