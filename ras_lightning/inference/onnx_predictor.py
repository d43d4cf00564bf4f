"""RAS on ONNX Runtime: the default CPU backend of ``predict`` and ``eval``.

It runs either an exported ``.onnx`` file or, for any other ``weights=`` file (our ``.ckpt``
or the authors' ``.pth``), the RAS network exported from it once with ``torch.onnx.export``
and kept in the ONNX cache (:mod:`.onnx_cache`): a cache hit imports no torch.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from threadpoolctl import threadpool_limits

from ras_lightning.inference import onnx_cache
from ras_lightning.inference.predictor import BatchedPredictor
from ras_lightning.utils import devices
from ras_lightning.utils.errors import UserError

log = logging.getLogger("ras_lightning.inference.onnx_predictor")


def _session(model: str, threads: int, optimized: bool = False, save_as: str = "") -> Any:
    """An ONNX Runtime CPU session; ``optimized``: the file is ONNX Runtime's own optimised
    graph (no optimisation again); ``save_as``: write the optimised graph there."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if optimized
        else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    )
    if save_as:
        opts.optimized_model_filepath = save_as
        opts.log_severity_level = 3  # its "for this hardware only" warning: we know (see cpu_tag)
    opts.intra_op_num_threads = threads
    # no busy-waiting between runs: the photo's pre/post-processing runs between two forward
    # passes, and spinning pool threads took the cores from it (and from other processes)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def _problem(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else repr(err)


class OnnxPredictor(BatchedPredictor):
    """Same interface as :class:`.torch_predictor.TorchPredictor`, on ONNX Runtime (CPU).

    ``weights`` is an exported ``.onnx`` file or any ``weights=`` file (run through the ONNX
    cache in ``cache_dir``, see :func:`ras_lightning.inference.onnx_cache.cache_dir`; ``trust``: see
    :func:`ras_lightning.models.weights.read_file`). ``cache_hit`` tells whether the cache had it.

    ``threads`` (default: one per physical core) are shared out over the photos of a batch:
    up to ``threads`` photos run side by side, one session run each, with
    ``threads // parallel`` threads per run: runs side by side need no synchronisation
    between threads inside every layer, and give bit-identical logits; a batch of 1 gets all
    threads. ``minmax``: the authors' per-image min-max normalisation of every map.
    """

    name = "ONNX Runtime"

    def __init__(
        self,
        weights: str | Path,
        batch_size: int = 1,
        threads: int | None = None,
        cache_dir: str | Path | None = None,
        trust: bool = False,
        minmax: bool = True,
    ) -> None:
        path = Path(str(weights)).expanduser()
        if not path.is_file():
            raise UserError(f"weights: no such file: {path}")
        self.cache_hit: bool | None = None
        self.minmax = minmax
        self.threads = threads or devices.physical_cores()  # one per physical core by default
        self.batch_size = max(1, batch_size)
        self.parallel = min(self.batch_size, self.threads)  # photos run side by side
        threads = max(1, self.threads // self.parallel)  # threads per run
        self._pool: Any = None
        self._file = (path, False)  # the file the session runs, and whether it is optimised
        if path.suffix.lower() == ".onnx":
            try:
                self.session = _session(str(path), threads)
            except Exception as err:
                raise UserError(f"weights: cannot load {path} as ONNX: {err}") from None
        else:
            self.session = self._cached_session(path, threads, cache_dir, trust)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.version = meta.get("ras_version", "v2")
        self.backbone: str | None = meta.get("backbone")  # None: an export without it
        self.recipe = meta.get("recipe", self.version)
        self.size = int(meta.get("input_size", 352))
        self.size_mb: float | None = float(meta["size_mb"]) if "size_mb" in meta else None
        # NumPy's BLAS (the map resize of every photo) on one thread: ONNX Runtime's threads
        # are the parallelism, and BLAS's own pool would compete with them for the same cores
        threadpool_limits(1, user_api="blas")
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name  # side0, the finest

    def _cached_session(
        self, weights: Path, threads: int, cache_dir: str | Path | None, trust: bool
    ) -> Any:
        """The session of ``weights``' cache entry: ONNX Runtime's optimised file when there
        is one, else the exported file (optimised, and the result saved), else a new export."""
        entry = onnx_cache.entry_path(weights, cache_dir)
        optimized = onnx_cache.optimized_path(entry)
        self.cache_hit = True
        session = self._open_entry(optimized, threads)
        if session is None:
            session = self._open_entry(entry, threads, save_to=optimized)
        if session is None:
            self.cache_hit = False
            log.info("ONNX cache: exporting the network of %s (once per weights file)", weights)
            t = time.perf_counter()
            try:
                onnx_cache.fill(weights, entry, trust)
            except OSError as err:
                raise UserError(
                    f"ONNX cache: cannot write {entry}: {err} (set cache_dir=)"
                ) from None
            log.info("ONNX cache: exported to %s in %.1f s", entry, time.perf_counter() - t)
            session = self._open_entry(entry, threads, save_to=optimized)
        if session is None:
            raise UserError(f"ONNX cache: ONNX Runtime cannot load the new export {entry}")
        return session

    def _open_entry(self, path: Path, threads: int, save_to: Path | None = None) -> Any:
        """A session of the cache file ``path``, or None if it is missing, damaged (a warning)
        or not a complete entry. ``save_to``: ``path`` is an exported network; save ONNX
        Runtime's optimised form of it there. Without: ``path`` is that optimised form."""
        if not path.is_file():
            return None
        try:
            if save_to is None:
                session = _session(str(path), threads, optimized=True)
                self._check_entry(session, path)
                self._file = (path, True)
                return session
            try:
                with onnx_cache.atomic_file(save_to) as tmp:
                    session = _session(str(path), threads, save_as=str(tmp))
                    self._check_entry(session, path)
                self._file = (save_to, True)
            except OSError:  # a read-only cache: optimise every time
                session = _session(str(path), threads)
                self._check_entry(session, path)
                self._file = (path, False)
            return session
        except Exception as err:  # a truncated or damaged file: ONNX Runtime says which
            problem = _problem(err)
        log.warning("ONNX cache: rebuilding %s (%s)", path, problem)
        return None

    @staticmethod
    def _check_entry(session: Any, path: Path) -> None:
        meta = session.get_modelmeta().custom_metadata_map
        if not all(k in meta for k in onnx_cache.META_KEYS):
            raise ValueError("not a complete cache entry: metadata missing")
        if meta["cache_key"] != path.name.split(".", 1)[0]:
            raise ValueError(f"the entry of another key, {meta['cache_key']}")

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output], {self.input: batch})[0]

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """The finest side output's logits (N, 1, H, W) for a preprocessed batch."""
        if self.parallel == 1 or len(batch) == 1:
            return self._run(batch)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="ort-run")
        # ONNX Runtime sessions take concurrent runs; each releases the GIL
        return np.concatenate(list(self._pool.map(self._run, np.split(batch, len(batch)))))

    @property
    def device_name(self) -> str:
        """This CPU's name and the threads a batch-1 run uses."""
        return devices.cpu_name(self.threads)

    def measure_fps(self, runs: int = 20, warmup: int = 5, size: int | None = None) -> float:
        """Forward passes per second on one (1, 3, size, size) input with all ``threads``, as
        the RAS paper (batch 1)."""
        size = size or self.size
        session = self.session
        if self.parallel > 1:  # this session runs one photo per thread: open one for batch 1
            path, optimized = self._file
            session = _session(str(path), self.threads, optimized)
        x = np.random.default_rng(0).standard_normal((1, 3, size, size), np.float32)
        feed = {self.input: x}
        for _ in range(warmup):
            session.run([self.output], feed)
        t = time.perf_counter()
        for _ in range(runs):
            session.run([self.output], feed)
        return runs / (time.perf_counter() - t)
