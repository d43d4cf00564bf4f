"""One ONNX file per weights file: the network of the CPU fast path, exported once, cached.

``predict`` and ``eval`` on a CPU (``backend=auto|onnxruntime``) run ONNX Runtime on the RAS
module of :mod:`ras_lightning.models` exported by ``torch.onnx.export``. The export needs
torch (slow to import) and takes seconds more, so its result is kept:

* **key**: SHA-256 of the weights file's bytes (streamed), seeded with :data:`SETTINGS` (the
  cache format and the exporter settings): a changed file or a changed export gets a new
  entry, a renamed or copied file finds its old one. The key of a file is remembered under
  ``keys/`` by its path, size, inode and modification/change times (any write changes the
  change time), which saves hashing the whole file on every run;
* **folder**: ``cache_dir=`` (config) > ``$RAS_LIGHTNING_CACHE`` >
  ``$XDG_CACHE_HOME/ras-lightning/onnx`` > ``~/.cache/ras-lightning/onnx``;
* **files**: ``<key>.onnx``, the exported network (portable), and
  ``<key>.ort-<ONNX Runtime version>-<CPU tag>.onnx``, the graph ONNX Runtime optimised from
  it for this CPU (NCHWc layouts, fused ops: valid for this runtime version and instruction
  set only, hence the name), which opens faster than re-optimising it every run;
* **write**: into a temporary file in that folder, then ``os.replace``: readers see a whole
  file or none, and concurrent fills of one key are harmless;
* **metadata** (ONNX ``metadata_props``, kept by the optimised file): ``ras_version``,
  ``recipe``, ``input_size`` (the names :func:`ras_lightning.models.export.export_metadata`
  gives an exported file), ``size_mb``, the key and the source file, so a hit needs nothing
  else.

A hit imports neither torch nor the export code; a file ONNX Runtime cannot load (or whose
metadata is not ours) is made again (:class:`ras_lightning.inference.onnx_predictor.OnnxPredictor`).
"""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import onnxruntime

from ras_lightning.models.weights import load_weights
from ras_lightning.utils.files import replacing
from ras_lightning.utils.timing import model_size_mb

# raised whenever an entry's content or metadata changes, so older entries are never hit
CACHE_FORMAT = 3
OPSET = 17
# everything besides the weights that decides the exported file: part of the key
SETTINGS = (
    f"ras-lightning onnx cache {CACHE_FORMAT}: torch.onnx.export(dynamo=False, "
    f"opset_version={OPSET}), BatchNorm folded, output side0 = finest side-output logits, "
    "dynamic batch/height/width\n"
)
ENV_VAR = "RAS_LIGHTNING_CACHE"
# the metadata a cache entry must hold
META_KEYS = ("ras_version", "backbone", "recipe", "input_size", "size_mb", "cache_key")


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``override`` (the ``cache_dir`` config key), else
    ``$RAS_LIGHTNING_CACHE``, else ``$XDG_CACHE_HOME/ras-lightning/onnx``, else
    ``~/.cache/ras-lightning/onnx``."""
    if override:
        return Path(str(override)).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ras-lightning" / "onnx"


def weights_key(path: str | os.PathLike) -> str:
    """The cache key of a weights file: SHA-256 of :data:`SETTINGS` and the file's bytes."""
    digest = hashlib.sha256(SETTINGS.encode())
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def remembered_key(path: str | os.PathLike, folder: Path) -> str:
    """:func:`weights_key` of ``path``, remembered in ``folder/keys`` by the file's identity
    (real path, device, inode, size, modification and change times in ns)."""
    st = os.stat(path)
    ident = f"{os.path.realpath(path)}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}"
    ident += f"\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
    memo = folder / "keys" / hashlib.sha256(ident.encode()).hexdigest()
    try:
        key = memo.read_text().strip()
        if len(key) == 64 and all(c in "0123456789abcdef" for c in key):
            return key
    except OSError:
        pass
    key = weights_key(path)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(memo) as tmp:
            tmp.write_text(key + "\n")
    except OSError:  # a read-only cache still works, it hashes every time
        pass
    return key


def entry_path(weights: str | os.PathLike, folder: str | os.PathLike | None = None) -> Path:
    """Where the exported ONNX file of ``weights`` is (or goes) in the cache folder."""
    where = cache_dir(folder)
    return where / f"{remembered_key(weights, where)}.onnx"


def cpu_tag() -> str:
    """ONNX Runtime's version and a short hash of this CPU's model and instruction set."""
    cpu = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags", "Features"))]
        cpu += "".join(sorted(set(lines)))
    except OSError:
        pass
    return f"{onnxruntime.__version__}-{hashlib.sha256(cpu.encode()).hexdigest()[:12]}"


def optimized_path(entry: Path) -> Path:
    """Where ONNX Runtime's optimised form of the cache entry ``entry`` is (or goes)."""
    return entry.with_name(f"{entry.stem}.ort-{cpu_tag()}.onnx")


@contextmanager
def atomic_file(dest: Path) -> Iterator[Path]:
    """A temporary path beside ``dest``, moved onto ``dest`` when the block succeeds (and
    removed when it fails); an ``OSError`` comes out as it is: a read-only cache still works."""
    with replacing(dest, suffix=".tmp") as tmp:
        yield tmp


def fill(weights: str | os.PathLike, dest: Path, trust: bool = False) -> float:
    """Export the network of ``weights`` to the cache entry ``dest`` (atomically); return the
    model size in MB. ``trust``: see :func:`models.weights.read_file`."""
    # torch and the exporter only here: a cache hit never imports them
    from ras_lightning.models.export import export_onnx
    from ras_lightning.models.fusion import fold_batchnorm

    loaded = load_weights(weights, trust)
    size_mb = model_size_mb(loaded.net)
    meta = {
        "ras_version": loaded.net.version,
        "backbone": loaded.net.backbone_name,
        "recipe": loaded.recipe,
        "input_size": loaded.size,
        "size_mb": f"{size_mb:.6f}",
        "cache_key": dest.stem,
        "source": str(Path(str(weights)).expanduser().resolve()),
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(dest) as tmp:
        export_onnx(fold_batchnorm(loaded.net), tmp, OPSET, meta, finest_only=True)
    return size_mb
