"""The fast GPU mode of the torch backend (``fast``: ``auto`` = on a CUDA GPU), checked
against fp32: the maps stay within :data:`MAX_DRIFT` gray levels of the authors' fp32 maps, or
the run falls back to the plain network.

On top of the default (BatchNorm folded, channels-last, ``inference_mode``): the network's
forward recorded once per batch shape as a CUDA graph and replayed (every photo enters the
network at the recipe's fixed size, so a batch-1 run replays one graph: no per-layer launch
cost on the CPU), cuDNN autotuning, and TF32 convolutions and matmuls. The first batch of a
run is also computed in strict fp32 (no TF32, no graph) and both are turned into maps as the
authors save them: more than :data:`MAX_DRIFT` levels apart, TF32 is dropped (graphs only);
still apart, the plain network runs (a warning says which).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from ras_lightning.data.protocol import logits_to_map

log = logging.getLogger("ras_lightning.inference")

#: gray levels (of 255) the fast maps may differ from fp32's, per pixel
MAX_DRIFT = 2


def map_drift(a: np.ndarray, b: np.ndarray, minmax: bool = True) -> int:
    """The largest per-pixel difference in gray levels between the maps the authors' test
    scripts save from two (N, 1, h, w) logits batches (at the network's size)."""
    worst = 0
    for x, y in zip(a, b, strict=True):
        size = x.shape[-2:]
        ma, mb = logits_to_map(x[0], size, minmax), logits_to_map(y[0], size, minmax)
        worst = max(worst, int(np.abs(ma.astype(np.int16) - mb.astype(np.int16)).max()))
    return worst


def set_tf32(on: bool) -> None:
    """TF32 for cuDNN convolutions and CUDA matmuls (off: strict fp32)."""
    import torch

    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


class GraphRunner:
    """``net``'s finest output for a CUDA input, replayed from a CUDA graph per input shape
    (recorded on first use, after warm-up passes on a side stream)."""

    def __init__(self, net: Any, warmup: int = 3) -> None:
        self.net, self.warmup = net, warmup
        self.graphs: dict[tuple, tuple[Any, Any, Any]] = {}

    def reset(self) -> None:
        """Forget the recorded graphs (their kernels were chosen under other settings)."""
        self.graphs.clear()

    def _record(self, x: Any) -> tuple[Any, Any, Any]:
        import torch

        static = x.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(self.warmup):  # cuDNN picks its kernels before the recording
                self.net(static)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = self.net(static)[0]
        return graph, static, out

    def __call__(self, x: Any) -> Any:
        key = (tuple(x.shape), x.dtype, tuple(x.stride()))
        if key not in self.graphs:
            self.graphs[key] = self._record(x)
        graph, static, out = self.graphs[key]
        static.copy_(x)
        graph.replay()
        return out


class CheckedFast:
    """The fast path and its check on the first batch: :meth:`run` gives the logits a run
    uses, fast where the check passed, else plain (with a warning)."""

    def __init__(
        self,
        plain: Callable[[Any], Any],
        fast: Callable[[Any], Any],
        minmax: bool = True,
        tf32: bool = True,
        to_numpy: Callable[[Any], np.ndarray] = np.asarray,
    ) -> None:
        self.plain, self.fast, self.minmax, self.tf32 = plain, fast, minmax, tf32
        self.to_numpy = to_numpy
        self.state = "unchecked"  # -> "fast", "fast (no TF32)" or "plain"
        self.drift: int | None = None

    def run(self, x: Any) -> np.ndarray:
        """The finest logits (N, 1, h, w) as NumPy, checked against fp32 on the first call."""
        if self.state == "plain":
            return self.to_numpy(self.plain(x))
        if self.state != "unchecked":
            try:
                return self.to_numpy(self.fast(x))
            except RuntimeError as err:  # a new batch shape whose graph cannot be recorded
                log.warning("fast mode off from here: %s", str(err).splitlines()[0])
                set_tf32(False)
                self.state = "plain"
                return self.to_numpy(self.plain(x))
        set_tf32(False)
        ref = self.to_numpy(self.plain(x))
        for tf32 in (True, False) if self.tf32 else (False,):
            set_tf32(tf32)
            getattr(self.fast, "reset", lambda: None)()  # recorded anew under this setting
            try:
                got = self.to_numpy(self.fast(x))
            except RuntimeError as err:  # a graph that cannot be recorded here: plain
                log.warning("fast mode off for this run: %s", str(err).splitlines()[0])
                break
            self.drift = map_drift(ref, got, self.minmax)
            if self.drift <= MAX_DRIFT:
                self.state = "fast" if tf32 else "fast (no TF32)"
                return got
            log.warning("fast mode%s: maps %d gray levels from fp32", " TF32" * tf32, self.drift)
        else:
            log.warning("fast mode off for this run: maps drift over %d gray levels", MAX_DRIFT)
        set_tf32(False)
        self.state = "plain"
        return ref
