"""RAS on ONNX Runtime: the default CPU backend of ``predict`` and ``eval``.

It runs either an exported ``.onnx`` file or, for any other ``weights=`` file (our ``.ckpt``
or the authors' ``.pth``), the RAS network exported from it once with ``torch.onnx.export``
and kept in the ONNX cache (:mod:`ras_lightning.onnx_cache`): a cache hit imports no torch.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ras_lightning.batched import BatchedPredictor
from ras_lightning.errors import UserError

log = logging.getLogger("ras_lightning.onnx_backend")


def _ort() -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("backend=onnxruntime needs `pip install onnxruntime`") from None
    return ort


def physical_cores() -> int:
    """Physical CPU cores this process may use (Linux: distinct (package, core) pairs of the
    allowed CPUs), else the logical count."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topo / "physical_package_id").read_text(), (topo / "core_id").read_text()))
        except OSError:
            cores.add(("", str(cpu)))
    return max(1, len(cores))


def _session(model: str, threads: int) -> Any:
    ort = _ort()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


class OnnxPredictor(BatchedPredictor):
    """Same interface as :class:`ras_lightning.inference.Predictor`, on ONNX Runtime (CPU).

    ``weights`` is an exported ``.onnx`` file or any ``weights=`` file (run through the ONNX
    cache in ``cache_dir``, see :func:`ras_lightning.onnx_cache.cache_dir`; ``trust``: see
    :func:`ras_lightning.weights.read_file`). ``cache_hit`` tells whether the cache had it.
    """

    name = "ONNX Runtime"

    def __init__(
        self,
        weights: str | Path,
        batch_size: int = 1,
        threads: int | None = None,
        cache_dir: str | Path | None = None,
        trust: bool = False,
    ):
        path = Path(str(weights)).expanduser()
        if not path.is_file():
            raise UserError(f"weights: no such file: {path}")
        self.cache_hit: bool | None = None
        self.threads = threads or physical_cores()  # one per physical core by default
        threads = self.threads
        if path.suffix.lower() == ".onnx":
            try:
                self.session = _session(str(path), threads)
            except Exception as err:
                raise UserError(f"weights: cannot load {path} as ONNX: {err}") from None
        else:
            self.session = self._cached_session(path, threads, cache_dir, trust)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.version = meta.get("version", "v2")
        self.recipe = meta.get("recipe", self.version)
        self.size = int(meta.get("size", 352))
        self.size_mb: float | None = float(meta["size_mb"]) if "size_mb" in meta else None
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name  # side0, the finest
        self.batch_size = max(1, batch_size)

    def _cached_session(
        self, weights: Path, threads: int, cache_dir: str | Path | None, trust: bool
    ) -> Any:
        from ras_lightning import onnx_cache

        entry = onnx_cache.entry_path(weights, cache_dir)
        if entry.is_file():
            try:
                session = _session(str(entry), threads)
                meta = session.get_modelmeta().custom_metadata_map
                if all(k in meta for k in onnx_cache.META_KEYS) and meta["cache_key"] == entry.stem:
                    self.cache_hit = True
                    return session
                problem = "not a complete cache entry"
            except Exception as err:  # a truncated or damaged file: ONNX Runtime says which
                problem = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            log.warning("ONNX cache: rebuilding %s (%s)", entry, problem)
        self.cache_hit = False
        log.info("ONNX cache: exporting the network of %s (once per weights file)", weights)
        t = time.perf_counter()
        try:
            onnx_cache.fill(weights, entry, trust)
        except OSError as err:
            raise UserError(f"ONNX cache: cannot write {entry}: {err} (set cache_dir=)") from None
        log.info("ONNX cache: exported %s to %s in %.1f s", weights, entry, time.perf_counter() - t)
        return _session(str(entry), threads)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """The finest side output's logits (N, 1, H, W) for a preprocessed batch."""
        return self.session.run([self.output], {self.input: batch})[0]

    def measure_fps(self, runs: int = 20, warmup: int = 5, size: int | None = None) -> float:
        """Forward passes per second on one (1, 3, size, size) input, as the RAS paper."""
        size = size or self.size
        x = np.random.default_rng(0).standard_normal((1, 3, size, size), np.float32)
        for _ in range(warmup):
            self.logits(x)
        t = time.perf_counter()
        for _ in range(runs):
            self.logits(x)
        return runs / (time.perf_counter() - t)
