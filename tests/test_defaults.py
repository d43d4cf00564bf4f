"""The fast defaults are on, each switch turns its default off, and the per-device picks."""

from __future__ import annotations

import functools

import pytest
import torch
from hydra.utils import instantiate

from ras_lightning.training.module import RASModule
from ras_lightning.utils import resolvers as config
from tests.conftest import compose_config


def _optimizer(module: RASModule) -> torch.optim.Optimizer:
    out = module.configure_optimizers()
    return out if isinstance(out, torch.optim.Optimizer) else out["optimizer"]


@pytest.mark.parametrize("group", ["adam", "sgd"])
def test_fused_optimizer_is_the_default_and_can_be_switched_off(group: str) -> None:
    # the optimizer config sets ``fused``; the module passes it on untouched
    on = compose_config(f"optimizer={group}", "model/backbone=resnet18")
    assert on.optimizer.fused is True
    assert _optimizer(instantiate(on.model)).defaults["fused"] is True
    off = compose_config(f"optimizer={group}", "optimizer.fused=false", "model/backbone=resnet18")
    assert not _optimizer(instantiate(off.model)).defaults.get("fused")


def test_optimizer_without_a_fused_option_is_left_alone() -> None:
    module = RASModule(optimizer=functools.partial(torch.optim.Adagrad, lr=0.1))
    assert isinstance(_optimizer(module), torch.optim.Adagrad)


def test_channels_last_default_per_version_and_switch() -> None:
    cfg = compose_config()
    assert cfg.optimizer.fused is True
    # measured: pays off for v2 on an AVX2 CPU, not for v1 (BENCHMARKS.md)
    assert cfg.model.version == "v2" and cfg.model.channels_last is True
    assert compose_config("model=ras_v1").model.channels_last is False
    assert compose_config("strategy=v2").model.channels_last is True
    on = RASModule(channels_last=True).net.backbone.conv1.weight
    off = RASModule(channels_last=False).net.backbone.conv1.weight
    assert on.is_contiguous(memory_format=torch.channels_last) and not on.is_contiguous()
    assert off.is_contiguous()
    assert compose_config("model.channels_last=false").model.channels_last is False


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU picks")
def test_cpu_defaults_resolve_to_fp32_no_cudnn_no_workers() -> None:
    for strategy in ("demo", "v1", "v2"):
        cfg = compose_config(f"strategy={strategy}")
        assert cfg.trainer.precision == "32-true"
        assert cfg.trainer.benchmark is None
        assert cfg.data.num_workers == 0 and cfg.data.pin_memory is None
    cfg = compose_config(
        "data.num_workers=3", "trainer.precision=bf16-mixed", "trainer.benchmark=false"
    )
    assert cfg.data.num_workers == 3 and cfg.trainer.precision == "bf16-mixed"
    assert cfg.trainer.benchmark is False


def test_gpu_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(config.os, "sched_getaffinity", lambda _: set(range(16)), raising=False)
    assert config.mixed_precision("16-mixed", "auto") == "16-mixed"
    assert config.mixed_precision("16-mixed", "gpu") == "16-mixed"
    assert config.mixed_precision("16-mixed", "cpu") == "32-true"
    assert config.on_gpu(True, "auto") is True and config.on_gpu(True, "cpu") is None
    assert config.loader_workers(8, 0, "auto") == 7  # 16 CPUs / 2 GPUs, one for the main
    assert config.loader_workers(4, 0, "auto") == 4
    assert config.loader_workers(8, 0, "cpu") == 0
    cfg = compose_config("trainer=gpu")
    assert cfg.trainer.precision == "16-mixed" and cfg.trainer.benchmark is True
    cfg = compose_config()  # accelerator auto on a CUDA machine
    assert cfg.trainer.precision == "16-mixed" and cfg.trainer.benchmark is True
    assert cfg.data.num_workers == 7
    cfg = compose_config("trainer=cpu")
    assert cfg.trainer.precision == "32-true" and cfg.trainer.benchmark is None
    assert cfg.data.num_workers == 0
