"""The RAS network as an ONNX graph, built directly from its weights, without torch.

This is the CPU inference path of ``predict`` and ``eval``: ONNX Runtime runs RAS about 1.45x
faster than eager PyTorch on a 2-core CPU (7.6 against 5.3 images/s at 352 px), and skipping
the torch import saves ~3 s per process (see BENCHMARKS.md). The graph mirrors
:class:`ras_lightning.models.RAS` op for op (``tests/test_inference_cli.py`` checks it against
PyTorch); BatchNorm is folded into the convolutions (its scale computed in float64).
Input ``image`` (N, 3, H, W), any N/H/W; output ``side0``, the finest side-output logits at
the input size (the first output of ``export``'s files too).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ras_lightning.errors import UserError

OPSET = 17
_BN_EPS = 1e-5  # nn.BatchNorm2d's default, used by both of the authors' networks
_RESNET50_BLOCKS = (3, 4, 6, 3)
# MSCM branches: dilation of each branch's second (3x3) conv, as models/heads.py
_MSCM_DILATIONS = (1, 2, 4, 6)


class _Builder:
    def __init__(self, state: Mapping[str, np.ndarray], batchnorm: bool, source: str) -> None:
        self.state, self.batchnorm, self.source = state, batchnorm, source
        self.used: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.consts: dict[str, np.ndarray] = {}
        self.channels: dict[str, int] = {}
        self.count = 0

    def _name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def _get(self, key: str) -> np.ndarray:
        if key not in self.state:
            raise UserError(f"weights: {self.source} has no tensor {key!r} (not a RAS network?)")
        self.used.add(key)
        return np.asarray(self.state[key])

    def _const(self, array: np.ndarray, hint: str) -> str:
        name = self._name(hint)
        self.consts[name] = np.ascontiguousarray(array)
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attrs: object) -> str:
        out = self._name(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv(
        self,
        x: str,
        prefix: str,
        stride: int = 1,
        dilation: int = 1,
        bn: str | None = None,
        bias: bool = False,
    ) -> str:
        """``prefix`` conv (the head's have a bias, the backbone's not) and, folded into it,
        the BatchNorm ``bn``."""
        w = self._get(f"{prefix}.weight").astype(np.float32)
        cout, cin, kh, kw = w.shape
        if self.channels[x] != cin:
            raise UserError(
                f"weights: {self.source}: {prefix}.weight expects {cin} input channels, "
                f"the network gives it {self.channels[x]}"
            )
        b = self._get(f"{prefix}.bias").astype(np.float64) if bias else np.zeros(cout)
        if bn is not None:
            gamma, beta = self._get(f"{bn}.weight"), self._get(f"{bn}.bias")
            mean, var = self._get(f"{bn}.running_mean"), self._get(f"{bn}.running_var")
            if any(t.shape != (cout,) for t in (gamma, beta, mean, var)):
                raise UserError(
                    f"weights: {self.source}: {bn} does not have {cout} channels like {prefix}"
                )
            self.used.add(f"{bn}.num_batches_tracked")
            scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + _BN_EPS)
            # scale in float64, one float32 multiply per weight (folding 25M weights in
            # float64 would cost ~0.2 s of start-up for no measurable gain)
            w = w * scale.astype(np.float32)[:, None, None, None]
            b = (b - mean) * scale + beta
        pad_h, pad_w = dilation * (kh - 1) // 2, dilation * (kw - 1) // 2
        out = self.op(
            "Conv",
            [x, self._const(w, prefix), self._const(b.astype(np.float32), "b")],
            prefix,
            strides=[stride, stride],
            dilations=[dilation, dilation],
            pads=[pad_h, pad_w, pad_h, pad_w],
            kernel_shape=[kh, kw],
        )
        self.channels[out] = cout
        return out

    def unary(self, op_type: str, x: str) -> str:
        out = self.op(op_type, [x], op_type.lower())
        self.channels[out] = self.channels[x]
        return out

    def add(self, a: str, b: str) -> str:
        out = self.op("Add", [a, b], "add")
        self.channels[out] = max(self.channels[a], self.channels[b])
        return out

    def resize_like(self, x: str, ref: str) -> str:
        """Bilinear resize of ``x`` to ``ref``'s height and width, align_corners=True (as every
        resize in the authors' code)."""
        nc = self.op(
            "Slice", [self.op("Shape", [x], "shape"), self._i64([0]), self._i64([2])], "nc"
        )
        hw = self.op(
            "Slice", [self.op("Shape", [ref], "shape"), self._i64([2]), self._i64([4])], "hw"
        )
        sizes = self.op("Concat", [nc, hw], "sizes", axis=0)
        out = self.op(
            "Resize",
            [x, "", "", sizes],
            "resize",
            mode="linear",
            coordinate_transformation_mode="align_corners",
        )
        self.channels[out] = self.channels[x]
        return out

    def _i64(self, values: list[int]) -> str:
        return self._const(np.asarray(values, np.int64), "i")

    # -- the network, as models/backbone.py, models/heads.py and models/ras.py --------------

    def bottleneck(self, x: str, prefix: str, stride: int, downsample: bool) -> str:
        out = self.unary("Relu", self.conv(x, f"{prefix}.conv1", bn=f"{prefix}.bn1"))
        out = self.unary("Relu", self.conv(out, f"{prefix}.conv2", stride, bn=f"{prefix}.bn2"))
        out = self.conv(out, f"{prefix}.conv3", bn=f"{prefix}.bn3")
        if downsample:  # the first block of each layer projects the shortcut
            x = self.conv(x, f"{prefix}.downsample.0", stride, bn=f"{prefix}.downsample.1")
        return self.unary("Relu", self.add(out, x))

    def backbone(self, x: str) -> list[str]:
        x1 = self.unary("Relu", self.conv(x, "backbone.conv1", 2, bn="backbone.bn1"))
        x = self.op("MaxPool", [x1], "maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)
        self.channels[x] = self.channels[x1]
        feats = [x1]
        for layer, blocks in enumerate(_RESNET50_BLOCKS, start=1):
            for i in range(blocks):
                stride = 2 if (i == 0 and layer > 1) else 1
                x = self.bottleneck(x, f"backbone.layer{layer}.{i}", stride, i == 0)
            feats.append(x)
        return feats

    def sequential(self, x: str, prefix: str, dilations: list[int], final_relu: bool) -> str:
        """An ``nn.Sequential`` of ``conv_act`` units (conv, BN in v2, ReLU) as in
        models/heads.py; with ``final_relu=False`` it ends in a bare score conv (RA blocks)."""
        step = 3 if self.batchnorm else 2
        for n, dilation in enumerate(dilations):
            j = n * step
            last = n + 1 == len(dilations)
            bn = f"{prefix}.{j + 1}" if self.batchnorm and (final_relu or not last) else None
            x = self.conv(x, f"{prefix}.{j}", dilation=dilation, bn=bn, bias=True)
            if final_relu or not last:
                x = self.unary("Relu", x)
        return x

    def convert(self, x: str, prefix: str) -> str:
        """1x1 ``convert`` conv; in v2 followed by BatchNorm and ReLU."""
        if self.batchnorm:
            conv = self.conv(x, f"{prefix}.convert", bn=f"{prefix}.bn", bias=True)
            return self.unary("Relu", conv)
        return self.conv(x, f"{prefix}.convert", bias=True)

    def mscm(self, x: str) -> str:
        x = self.convert(x, "mscm")
        branches = [
            self.sequential(x, f"mscm.branch{i}", [1, d], final_relu=True)
            for i, d in enumerate(_MSCM_DILATIONS, start=1)
        ]
        cat = self.op("Concat", branches, "concat", axis=1)
        self.channels[cat] = sum(self.channels[b] for b in branches)
        return self.conv(cat, "mscm.score", bias=True)

    def reverse_attention(self, side: str, y: str, prefix: str) -> str:
        x = self.convert(side, prefix)
        attention = self.unary("Sigmoid", self.unary("Neg", y))  # sigmoid(-y): the paper's RA
        weighted = self.op("Mul", [attention, x], "mul")
        self.channels[weighted] = self.channels[x]
        return self.add(
            y, self.sequential(weighted, f"{prefix}.convs", [1, 1, 1, 1], final_relu=False)
        )


def build_graph(
    state: Mapping[str, np.ndarray],
    version: str,
    metadata: Mapping[str, object] | None = None,
    source: str = "state dict",
) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """RAS ``version`` from a state dict in our key layout (NumPy arrays), as an ONNX model
    whose float initializers are external (marked ``location=memory``) and the arrays that fill
    them: ONNX Runtime takes them with ``SessionOptions.add_external_initializers``, skipping
    the protobuf copy of 100 MB of weights."""
    if version not in ("v1", "v2"):
        raise UserError(f"RAS version must be 'v1' or 'v2', got {version!r}")
    g = _Builder(state, version == "v2", source)
    g.channels["image"] = 3
    feats = g.backbone("image")  # strides 2, 4, 8, 16, 32
    y = g.mscm(feats[4])
    stages = (1, 2, 3, 4) if version == "v1" else (2, 3, 4)
    for i in reversed(stages):  # coarse to fine, as RAS.forward
        side = feats[i - 1]
        y = g.reverse_attention(side, g.resize_like(y, side), f"ra{i}")
    out = g.resize_like(y, "image")
    g.nodes.append(helper.make_node("Identity", [out], ["side0"]))
    unused = sorted(k for k in state if k not in g.used)
    if unused:
        raise UserError(
            f"weights: {source} has {len(unused)} tensors RAS {version} does not use, "
            f"e.g. {', '.join(unused[:4])}"
        )
    inits, external = [], {}
    for name, array in g.consts.items():
        if array.dtype == np.float32:
            tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=array.shape)
            tensor.data_location = TensorProto.EXTERNAL
            entry = tensor.external_data.add()
            entry.key, entry.value = "location", "memory"
            external[name] = array
        else:
            tensor = numpy_helper.from_array(array, name)
        inits.append(tensor)
    dims = ["batch", 3, "height", "width"]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)
    side0 = helper.make_tensor_value_info("side0", TensorProto.FLOAT, ["batch", 1, *dims[2:]])
    graph = helper.make_graph(g.nodes, f"RAS_{version}", [image], [side0], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # readable by ONNX Runtime >= 1.14
    for k, v in {"version": version, **(metadata or {})}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, str(v)
    return model, external


def build_onnx(
    state: Mapping[str, np.ndarray],
    version: str,
    metadata: Mapping[str, object] | None = None,
    source: str = "state dict",
) -> onnx.ModelProto:
    """A self-contained ONNX model of RAS ``version`` (weights embedded); see
    :func:`build_graph`."""
    model, external = build_graph(state, version, metadata, source)
    for tensor in model.graph.initializer:
        if tensor.name in external:
            tensor.CopyFrom(numpy_helper.from_array(external[tensor.name], tensor.name))
    return model
