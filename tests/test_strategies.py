"""The authors' two recipes compose with their values; schedules and optimizer groups."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from ras_lightning.training.schedules import Triangular, step_at
from tests.conftest import compose_config


def test_strategy_v1_is_the_cpd_recipe() -> None:
    cfg = compose_config("strategy=v1")
    assert cfg.model.version == "v1" and cfg.model.pretrained_backbone is True
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 5e-5
    assert cfg.data.batch_size == 10 and cfg.data.image_size == 352 and cfg.data.recipe == "v1"
    assert cfg.trainer.max_epochs == 30 and cfg.model.divide_loss_by_batch is True
    assert cfg.scheduler.epoch == 25 and cfg.scheduler.gamma == 0.1
    assert cfg.model.reset_optimizer_at_epoch == 25
    assert cfg.data.train_set == "DUTS-TR"
    assert list(cfg.data.test_sets) == ["DUTS-TE", "ECSSD", "HKU-IS", "DUT-OMRON", "PASCAL-S"]


def test_strategy_v2_is_the_f3net_recipe() -> None:
    cfg = compose_config("strategy=v2")
    assert cfg.model.version == "v2" and cfg.model.pretrained_backbone is True
    opt = cfg.optimizer
    assert opt._target_ == "torch.optim.SGD" and opt.lr == 0.05 and opt.momentum == 0.9
    assert opt.weight_decay == 5e-4 and opt.nesterov is True
    assert cfg.model.backbone_lr_mult == 0.1 and cfg.model.freeze_stem is True
    assert cfg.data.batch_size == 32 and cfg.trainer.max_epochs == 32
    assert list(cfg.data.multiscale) == [224, 256, 288, 320, 352] and cfg.data.recipe == "v2"
    expected = "16-mixed" if torch.cuda.is_available() else "32-true"
    assert cfg.trainer.precision == expected
    assert cfg.scheduler._target_.endswith("triangular")


def test_triangular_schedule_values() -> None:
    f = Triangular(32)
    assert f(0) == pytest.approx(1 - abs(1 / 33 * 2 - 1))
    assert max(f(e) for e in range(32)) == pytest.approx(f(15)) and f(31) < f(16)


@pytest.mark.parametrize("backbone", ["resnet50", "resnet18"])
def test_v2_optimizer_groups_freeze_stem_and_scale_backbone_lr(backbone: str) -> None:
    cfg = compose_config(
        "strategy=v2", f"model/backbone={backbone}", "model.pretrained_backbone=false"
    )
    module = instantiate(cfg.model)  # the module with its network, optimizer and scheduler
    assert module.net.backbone_name == backbone
    out = module.configure_optimizers()
    opt, sched = out["optimizer"], out["lr_scheduler"]["scheduler"]
    # the scheduler has applied the triangular factor of epoch 0 to the base lrs
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    f0 = Triangular(32)(0)
    assert lrs == {"backbone": pytest.approx(0.005 * f0), "head": pytest.approx(0.05 * f0)}
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["nesterov"] is True
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    stem = module.net.backbone.stem
    assert stem == (module.net.backbone.conv1, module.net.backbone.bn1)
    frozen = {id(p) for m in stem for p in m.parameters()}
    assert len(frozen) == 3  # conv1.weight, bn1.weight, bn1.bias
    assert not any(p.requires_grad for m in stem for p in m.parameters())
    assert in_opt == {id(p) for p in module.net.parameters()} - frozen  # the rest trains
    assert id(module.net.backbone.layer1[0].conv1.weight) in in_opt
    sched.step()
    assert opt.param_groups[1]["lr"] == pytest.approx(0.05 * Triangular(32)(1))


def test_frozen_stem_batchnorm_keeps_updating_its_statistics_as_the_authors() -> None:
    """The v2 authors leave conv1/bn1 out of the optimizer but train the network in train
    mode: bn1's weights stay put while its running statistics follow the data."""
    cfg = compose_config(
        "strategy=v2", "model/backbone=resnet18", "model.pretrained_backbone=false"
    )
    module = instantiate(cfg.model)
    opt = module.configure_optimizers()["optimizer"]
    bn1 = module.net.backbone.bn1
    weight, mean = bn1.weight.detach().clone(), bn1.running_mean.clone()
    module.train()
    x = torch.randn(2, 3, 64, 64) + 1.0
    loss = sum(s.mean() for s in module(x))
    loss.backward()
    opt.step()
    assert bn1.training and torch.equal(bn1.weight, weight)
    assert not torch.equal(bn1.running_mean, mean)


def test_v1_step_schedule() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=5e-5)
    sched = step_at(opt, 25, 0.1)
    lrs = []
    for _ in range(30):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs[24] == pytest.approx(5e-5) and lrs[25] == pytest.approx(5e-6)
