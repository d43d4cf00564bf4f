"""Reading PyTorch checkpoint files (``torch.save``'s zip format) into NumPy without torch.

Importing torch costs about 3 s on a 2-core CPU (4 s with torchvision), more than running RAS
on a dozen photos with ONNX Runtime; the CPU inference path therefore reads weights with this
module. Tensors come back as NumPy arrays; classes other than plain containers become
:class:`Opaque` records (nothing from the file is ever executed, unlike ``torch.load`` with
``weights_only=False``). Files this reader does not understand (the pre-1.6 non-zip format,
exotic storages) raise :class:`UnsupportedFile`, and callers fall back to ``torch.load``.
"""

from __future__ import annotations

import builtins
import collections
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


class UnsupportedFile(Exception):
    """The file is not in a format this reader handles; use ``torch.load``."""


# torch's typed storages as pickled by torch.save, and their element types
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class Opaque(dict):
    """Stand-in for an object of a class we do not import: keeps its pickled arguments and
    state, and behaves as a dict (Lightning's ``AttributeDict`` and the like stay usable)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.update(state)
        self.state = state

    def append(self, item: Any) -> None:  # for pickled list subclasses
        self.setdefault("_items", []).append(item)

    def extend(self, items: Any) -> None:
        self.setdefault("_items", []).extend(items)


def _opaque_class(module: str, name: str) -> type:
    return type(name, (Opaque,), {"__module__": f"opaque:{module}"})


class _StorageType:
    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype


def _rebuild_tensor(
    storage: np.ndarray, offset: int, size: tuple, stride: tuple, *_: Any
) -> np.ndarray:
    if not size:
        return storage[offset : offset + 1].reshape(()).copy()
    span = 1 + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    flat = storage[offset : offset + span]
    item = flat.itemsize
    view = np.lib.stride_tricks.as_strided(flat, size, [s * item for s in stride])
    return np.ascontiguousarray(view)


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self.archive, self.prefix = archive, prefix
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "builtins" and name in ("set", "frozenset", "slice", "complex"):
            return getattr(builtins, name)
        if module.startswith("torch") and name.endswith("Storage"):
            raise UnsupportedFile(f"storage type {module}.{name}")
        return _opaque_class(module, name)

    def persistent_load(self, pid: Any) -> np.ndarray:
        kind, storage_type, key, _location, numel = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise UnsupportedFile(f"persistent id {pid!r}")
        if key not in self.storages:
            raw = bytearray(self.archive.read(f"{self.prefix}data/{key}"))  # writable
            if storage_type.dtype == "bfloat16":  # widen bf16 to fp32 through its bit pattern
                bits = np.frombuffer(raw, np.uint16).astype(np.uint32) << 16
                array = bits.view(np.float32)
            else:
                array = np.frombuffer(raw, storage_type.dtype)
            self.storages[key] = array[:numel]
        return self.storages[key]


def load(path: str | Path) -> Any:
    """The object ``torch.save`` wrote to ``path``, with tensors as NumPy arrays."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise UnsupportedFile(f"{path} is not a zip-format torch file")
    with zipfile.ZipFile(path) as archive:
        pkl = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise UnsupportedFile(f"{path}: no single data.pkl record")
        prefix = pkl[0][: -len("data.pkl")]
        order = f"{prefix}byteorder"
        if order in archive.namelist() and archive.read(order).strip() != b"little":
            raise UnsupportedFile(f"{path}: big-endian tensors")
        with archive.open(pkl[0]) as f:
            try:
                return _Unpickler(f, archive, prefix).load()
            except UnsupportedFile:
                raise
            except Exception as err:  # a pickle this reader cannot follow
                raise UnsupportedFile(f"{path}: {err}") from None
