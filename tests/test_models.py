"""The RAS networks: shapes, parameter counts, init, the authors' checkpoint layout, every
torchvision backbone, BatchNorm folding."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from ras_lightning.models import RAS
from ras_lightning.models.backbone import BACKBONES, ResNetFeatures
from ras_lightning.models.fusion import fold_batchnorm
from ras_lightning.utils.errors import UserError
from tests.authors_reference import AuthorsRASv1, AuthorsRASv2
from tests.conftest import manifest, save_seeded_official, seeded_official_state

PARAMS = {"v1": 24_697_989, "v2": 24_585_156}
SIDES = {"v1": 5, "v2": 4}


@pytest.fixture(scope="module", params=["v1", "v2"])
def version(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def net(version: str) -> RAS:
    """One default (ResNet-50) network per version, for the tests that only read its
    structure or run it (a forward in train mode moves only BatchNorm statistics)."""
    return RAS(version)


def test_parameter_count_matches_authors(net: RAS, version: str) -> None:
    assert sum(p.numel() for p in net.parameters()) == PARAMS[version]


@pytest.mark.parametrize("train", [True, False])
def test_side_outputs_at_input_size_for_any_size(net: RAS, version: str, train: bool) -> None:
    model = net.train(train)
    x = torch.randn(2, 3, 70, 45)  # not multiples of 32
    with torch.set_grad_enabled(train):
        outs = model(x)
    assert isinstance(outs, tuple) and len(outs) == SIDES[version]
    assert all(o.shape == (2, 1, 70, 45) for o in outs)
    assert all(torch.isfinite(o).all() for o in outs)


def test_init_as_authors() -> None:
    v1, v2 = RAS("v1"), RAS("v2")
    w1 = v1.ra2.convs[0].weight
    assert abs(w1.std().item() - 0.01) < 0.001 and w1.mean().abs() < 0.001
    # v1 conv biases keep PyTorch's default uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) init
    b1, bound = v1.mscm.convert.bias, 1 / math.sqrt(2048)
    assert (b1 != 0).all() and b1.abs().max() <= bound and b1.abs().max() > bound / 2
    w2 = v2.ra3.convs[3].weight  # Kaiming normal, fan_in, ReLU gain
    expected = math.sqrt(2.0 / (64 * 9))
    assert abs(w2.std().item() - expected) / expected < 0.05
    assert (v2.ra3.convs[3].bias == 0).all()
    for m in v2.modules():
        if isinstance(m, nn.BatchNorm2d) and m is not v2.backbone.bn1:
            assert (m.weight == 1).all() and (m.bias == 0).all()


def test_official_layout_keys_order_and_shapes(net: RAS, version: str) -> None:
    ref = manifest(version)
    ours = net.official_state_dict()
    assert list(ours) == list(ref["state_dict"])
    assert all(list(ours[k].shape) == s for k, s in ref["state_dict"].items())
    assert ref["num_parameters"] == PARAMS[version]


@pytest.mark.parametrize("prefix", ["", "module."])
def test_official_round_trip(tmp_path, version: str, prefix: str) -> None:
    path = tmp_path / f"RAS.{version}.pth"
    state = save_seeded_official(path, version, seed=3, prefix=prefix)
    model = RAS.from_official(path)  # version told from the keys
    assert model.version == version
    loaded = model.official_state_dict()
    for k, v in state.items():
        assert torch.equal(loaded[k], v), k
    model2 = RAS.from_official(path, version)
    assert torch.equal(model2.mscm.score.weight, state["mscm.score.weight"])


@pytest.mark.parametrize("backbone", ["resnet18", "resnet34", "resnet101"])
def test_official_layout_of_other_backbones_round_trips(tmp_path, backbone: str) -> None:
    """The authors' key layout written from a ResNet-18/34/101 network (as an official export
    of such a run) is read back into the same backbone, exactly."""
    torch.manual_seed(0)
    net = RAS("v2", backbone=backbone)
    path = tmp_path / "RAS.v2.pth"
    torch.save(net.official_state_dict(), path)
    back = RAS.from_official(path)
    assert back.backbone_name == backbone
    state = back.state_dict()
    for k, v in net.state_dict().items():
        assert torch.equal(state[k], v), k


def test_official_forward_equals_authors_structure(version: str) -> None:
    state = seeded_official_state(version, seed=5)
    ours = RAS.from_official_state_dict(state).eval()
    ref = (AuthorsRASv1() if version == "v1" else AuthorsRASv2()).eval()
    ref.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 83, 61)
    with torch.no_grad():
        a, b = ours(x), ref(x)
    assert len(a) == len(b) == SIDES[version]
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-6)


def test_partial_or_wrong_file_names_keys(tmp_path) -> None:
    state = seeded_official_state("v2")
    del state["ra3.convs.9.weight"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as err:
        RAS.from_official(path)
    msg = str(err.value)
    assert "ra3.convs.9.weight" in msg and "extra.weight" in msg and "broken.pth" in msg
    torch.save({"foo": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="not an official RAS checkpoint"):
        RAS.from_official(path)
    with pytest.raises(ValueError, match="missing"):  # a v1 file read as v2
        RAS.from_official_state_dict(seeded_official_state("v1"), "v2")


def test_pretrained_backbone_local_file_and_offline_message(tmp_path, monkeypatch) -> None:
    import torchvision

    src = torchvision.models.resnet50(weights=None)
    path = tmp_path / "resnet50.pth"
    torch.save(src.state_dict(), path)  # includes fc.*, which is ignored
    model = RAS("v2", pretrained_backbone=str(path))
    assert torch.equal(model.backbone.layer3[2].conv2.weight, src.layer3[2].conv2.weight)
    with pytest.raises(UserError, match="model.pretrained_backbone: no such file"):
        RAS("v2", pretrained_backbone=str(tmp_path / "nope.pth"))

    # A failing download (no network) must say how to pass a local file. We make the
    # download fail without touching the network by pointing it at an unreachable URL.
    from torchvision.models import ResNet50_Weights

    def fail(*_a, **_k):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(ResNet50_Weights.IMAGENET1K_V1.__class__, "get_state_dict", fail)
    with pytest.raises(UserError) as err:
        RAS("v1", pretrained_backbone=True)
    msg = str(err.value)
    # names the file to fetch and how to pass it, on one line
    assert ResNet50_Weights.IMAGENET1K_V1.url in msg and "\n" not in msg
    assert "model.pretrained_backbone=/path/to/resnet50-0676ba61.pth" in msg
    # another backbone's weights are refused, naming the mismatch
    with pytest.raises(UserError, match="not a torchvision resnet18 state dict"):
        RAS("v2", backbone="resnet18", pretrained_backbone=str(path))


def test_backbone_is_torchvisions_with_its_seeded_init() -> None:
    """The feature extractor holds torchvision's modules: same keys, order and seeded
    initialisation as ``torchvision.models.resnet50()`` (minus ``fc``), the same features."""
    import torchvision

    torch.manual_seed(0)
    ours = ResNetFeatures("resnet50").eval()
    torch.manual_seed(0)
    theirs = torchvision.models.resnet50(weights=None).eval()
    ref = {k: v for k, v in theirs.state_dict().items() if not k.startswith("fc.")}
    assert list(ours.state_dict()) == list(ref)
    assert all(torch.equal(v, ref[k]) for k, v in ours.state_dict().items())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        t = theirs
        x4 = t.layer3(t.layer2(t.layer1(t.maxpool(t.relu(t.bn1(t.conv1(x)))))))
        assert torch.equal(ours(x)[3], x4)


@pytest.fixture(scope="module", params=BACKBONES)
def backbone(request: pytest.FixtureRequest) -> str:
    return request.param


def test_backbone_widths_are_read_from_the_network(backbone: str) -> None:
    net = ResNetFeatures(backbone).eval()
    with torch.no_grad():
        feats = net(torch.randn(1, 3, 64, 64))
    assert tuple(f.shape[1] for f in feats) == net.out_channels
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]  # strides 2 .. 32
    wide = backbone in ("resnet50", "resnet101")
    assert net.out_channels == ((64, 256, 512, 1024, 2048) if wide else (64, 64, 128, 256, 512))
    with pytest.raises(UserError, match="model/backbone: unknown 'resnet7'"):
        ResNetFeatures("resnet7")


def test_every_backbone_builds_forwards_and_folds(backbone: str, version: str) -> None:
    torch.manual_seed(0)
    net = RAS(version, backbone=backbone)
    assert (
        net.backbone_name == backbone
        and net.mscm.convert.in_channels == net.backbone.out_channels[4]
    )
    # trained BatchNorm statistics (one step moves every one), so folding has something to fold
    net.train()
    with torch.no_grad():
        net(torch.randn(2, 3, 64, 64) * 2 + 0.5)
    net.eval()
    folded = fold_batchnorm(net)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert n_bn > 0 and not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        a, b = net(x), folded(x)
    assert len(a) == len(b) == SIDES[version]
    assert all(o.shape == (2, 1, 64, 48) for o in a)
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(v, u, rtol=1e-4, atol=1e-4)


def test_stem_is_the_backbones_conv1_bn1(backbone: str) -> None:
    net = ResNetFeatures(backbone)
    assert net.stem == (net.conv1, net.bn1)


def test_load_from_checkpoint_builds_the_checkpoints_backbone(tiny_ckpt: Path) -> None:
    """Lightning's ``RASModule.load_from_checkpoint`` on a ResNet-18 run, without ``net=``."""
    from ras_lightning.training.module import RASModule

    module = RASModule.load_from_checkpoint(tiny_ckpt, map_location="cpu", weights_only=False)
    assert module.net.backbone_name == "resnet18"
    saved = torch.load(tiny_ckpt, map_location="cpu", weights_only=False)["state_dict"]
    assert all(torch.equal(v, saved[k]) for k, v in module.state_dict().items())
