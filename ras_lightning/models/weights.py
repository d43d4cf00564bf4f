"""``weights=PATH``: our Lightning checkpoints or the authors' released ``RAS.v1/v2.pth``.

:func:`load_weights` reads either kind with ``torch.load(weights_only=True)``: tensors,
plain containers and the few types in :data:`SAFE_GLOBALS` only, so nothing in the file is
executed. A file that needs full unpickling is refused with a one-line :class:`UserError`
unless the caller trusts it (``trust_weights=true`` in the configs). What a file is, is told
from its bytes first (:func:`torch_format`): a file that is no ``torch.save`` file at all
(empty, text, random bytes, a truncated or foreign zip) says so, and only a well-formed
pickle that ``weights_only`` refuses is answered with the trust switch.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ras_lightning.models.official import detect_backbone, detect_version, rename_official
from ras_lightning.utils.errors import UserError

if TYPE_CHECKING:
    from ras_lightning.models import RAS

# What ``torch.load(weights_only=True)`` may build beyond tensors and plain containers, as
# (stand-in, pickled name). Lightning before 2.x stored ``hyper_parameters`` as its
# ``AttributeDict`` (a dict subclass); it is read as a plain dict, without importing Lightning.
SAFE_GLOBALS: list[tuple[Any, str]] = [
    (dict, "lightning.fabric.utilities.data.AttributeDict"),
    (dict, "lightning_fabric.utilities.data.AttributeDict"),
    (dict, "pytorch_lightning.utilities.parsing.AttributeDict"),
]


@dataclass
class Weights:
    """A PyTorch network ready for inference and how its inputs must be prepared."""

    net: RAS
    recipe: str  # input normalisation: 'v1' (ImageNet mean/std) or 'v2' (F3Net's)
    size: int  # the square input size it was trained/tested at
    source: str  # 'checkpoint' or 'official'
    path: str


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# the first object pickled in a file of torch.save's legacy (before PyTorch 1.6) format
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# a zip archive's local-file signature: what torch.save's zip format starts with
_ZIP_SIGNATURE = b"PK\x03\x04"
_ONNX_HERE = "weights: {path} is an ONNX file; run it with backend=onnxruntime (predict)"


class _NoGlobals(pickle.Unpickler):
    """An unpickler that imports nothing: it builds plain values only, so reading the first
    object of an unknown file runs none of its code."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"global {module}.{name}")


def _not_torch(path: Path, what: str) -> UserError:
    return UserError(f"weights: cannot read {path}: not a PyTorch or ONNX file ({what})")


def _is_onnx(path: Path) -> bool:
    """Whether ``path`` parses as an ONNX model with a graph (tensors stored beside it are not
    read)."""
    try:
        import onnx

        return len(onnx.load(str(path), load_external_data=False).graph.node) > 0
    except Exception:  # noqa: BLE001 (protobuf's errors for data of another kind)
        return False


def _describe(head: bytes) -> str:
    """What the first bytes of a file that is no PyTorch file look like."""
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle, but not one torch.save wrote: torch.load cannot read it"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "unrecognised binary data"
    if text and all(c.isprintable() or c.isspace() for c in text):
        start = " ".join(text.split())[:40]
        return f"it is text, starting {start!r}"
    return "unrecognised binary data"


def torch_format(path: Path) -> str:
    """``"zip"`` (torch.save since PyTorch 1.6) or ``"legacy"`` (older torch.save), told from
    the file's bytes; anything else (an empty file, text, random bytes, a truncated or
    foreign zip archive) raises a one-line :class:`UserError` saying what the file is."""
    size = path.stat().st_size
    if size == 0:
        raise _not_torch(path, "the file is empty: an interrupted download or copy?")
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(_ZIP_SIGNATURE):
        if not zipfile.is_zipfile(path):
            raise UserError(
                f"weights: cannot read {path}: a truncated or damaged PyTorch file (a zip "
                f"archive without its end, {size} bytes: an interrupted download or copy?)"
            )
        with zipfile.ZipFile(path) as archive:
            if not any(n.endswith("data.pkl") for n in archive.namelist()):
                raise _not_torch(path, "a zip archive without the data.pkl of torch.save")
        return "zip"
    try:
        # only the leading bytes: a length field in random data cannot ask for more
        legacy = _NoGlobals(io.BytesIO(head)).load() == _LEGACY_MAGIC
    except Exception:  # noqa: BLE001 (anything a stream of random bytes raises)
        legacy = False
    if legacy:
        return "legacy"
    # an ONNX ModelProto starts with its ir_version field (tag 0x08)
    if head[:1] == b"\x08" and _is_onnx(path):
        raise UserError(
            f"weights: {path} is an ONNX file; give it a .onnx name and run it with "
            "backend=onnxruntime (predict)"
        )
    raise _not_torch(path, _describe(head))


def _well_formed(path: Path, kind: str) -> bool:
    """Whether the pickle of a torch.save file parses to its end (opcodes only, nothing
    built): a file that ``weights_only`` refuses is then a real pickle of other objects, not
    a damaged one."""
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:
                name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                for _ in pickletools.genops(io.BytesIO(archive.read(name))):
                    pass
            return True
        with open(path, "rb") as f:
            # legacy: the magic number, the protocol version, the system info, the object
            for _ in range(4):
                for _ in pickletools.genops(f):
                    pass
        return True
    except Exception:  # noqa: BLE001 (a damaged pickle)
        return False


def read_file(path: Path, trust: bool = False) -> Any:
    """``torch.load`` of ``path`` on the CPU, ``weights_only=True`` with :data:`SAFE_GLOBALS`;
    with ``trust`` a file that needs more is fully unpickled (which can run its code). A file
    that is no torch.save file is refused first, trusted or not (:func:`torch_format`)."""
    import torch

    kind = torch_format(path)
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise UserError(f"weights: cannot read {path}: {_first_line(err)}") from None
        if not _well_formed(path, kind):
            raise UserError(
                f"weights: cannot read {path}: a damaged PyTorch file (its pickle does not "
                "parse: an interrupted download or copy?)"
            ) from None
        if not trust:
            found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
            if found:
                raise UserError(
                    f"weights: {path} needs full unpickling (it pickles {found.group(1)}), "
                    "which can run code from the file; pass trust_weights=true only if you "
                    "trust it"
                ) from None
            reason = str(err).split("WeightsUnpickler error:")[-1].strip()
            reason = reason.splitlines()[0] if reason else "unknown"
            raise UserError(
                f"weights: torch.load(weights_only=True) refuses {path} ({reason}); if it is "
                "a checkpoint you trust, trust_weights=true unpickles it fully, which can run "
                "code from the file"
            ) from None
    except EOFError:
        raise UserError(
            f"weights: cannot read {path}: a damaged PyTorch file (its data ends early: an "
            "interrupted download or copy?)"
        ) from None
    except Exception as err:
        raise UserError(f"weights: cannot read {path}: {_first_line(err)}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise UserError(f"weights: cannot read {path}: {_first_line(err)}") from None


def load_weights(path: str | Path, trust: bool = False) -> Weights:
    """A ras-lightning ``.ckpt`` (told by its ``state_dict`` of ``net.*`` keys and saved
    hyper-parameters, which name the backbone) or an official RAS checkpoint (told v1/v2 by
    its keys) as a PyTorch :class:`~ras_lightning.models.RAS` in eval mode. The weights must
    fit the network exactly (missing, unexpected or mis-shaped tensors are named); anything
    else raises a one-line :class:`UserError`. ``trust``: see :func:`read_file`."""
    from ras_lightning.models import RAS
    from ras_lightning.models.official import check_state

    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise UserError(f"weights: no such file: {path}")
    if path.suffix.lower() == ".onnx":
        if not _is_onnx(path):
            raise _not_torch(path, "named .onnx, but it does not parse as an ONNX model")
        raise UserError(_ONNX_HERE.format(path=path))
    obj = read_file(path, trust)
    if not isinstance(obj, dict):
        raise UserError(f"weights: {path} holds a {type(obj).__name__}, not a state dict")
    if "state_dict" in obj and "hyper_parameters" in obj:
        hp = dict(obj["hyper_parameters"] or {})
        state = {k[4:]: v for k, v in obj["state_dict"].items() if k.startswith("net.")}
        if not state:
            raise UserError(f"weights: {path} is a Lightning checkpoint without a RAS network")
        # the network's own tensors decide v1/v2 and the width (v1 alone has the stride-2
        # RA1 block), so hyper-parameters from another version of the code cannot mislead
        version = "v1" if any(k.startswith("ra1.") for k in state) else "v2"
        convert = state.get("mscm.convert.weight")
        channels = int(convert.shape[0]) if convert is not None else int(hp.get("channels", 64))
        recipe, size = str(hp.get("input_recipe", version)), int(hp.get("eval_size", 352))
        # checkpoints from before the backbone choice hold a ResNet-50
        backbone = str(hp.get("backbone") or "resnet50")
        source = "checkpoint"
    else:
        if "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        keys = [str(k).removeprefix("module.") for k in obj]
        version = detect_version(keys)
        if version is None:
            raise UserError(
                f"weights: {path} is neither a ras-lightning checkpoint nor the authors' "
                f"RAS.v1.pth / RAS.v2.pth (keys start {keys[:3]})"
            )
        state = rename_official(obj, version)
        convert = state.get("mscm.convert.weight")
        channels = int(convert.shape[0]) if convert is not None else 64
        # the authors test at 352 with their training normalisation: CPD's (v1), F3Net's (v2)
        recipe, size, source = version, 352, "official"
        backbone = detect_backbone(list(state))  # the authors': ResNet-50
    try:
        net = RAS(version=version, backbone=backbone, channels=channels)  # type: ignore[arg-type]
    except UserError as err:
        raise UserError(f"weights: {path}: {err}") from None
    try:
        check_state(state, net.state_dict(), version, str(path))
    except ValueError as err:
        raise UserError(f"weights: {err}") from None
    net.load_state_dict(state, strict=True)
    return Weights(net.eval(), recipe, size, source, str(path))
