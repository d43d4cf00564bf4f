"""Read an offline W&B run file (``run-*.wandb``) without uploading it.

The file is a LevelDB-style log: a 7-byte header (``:W&B``, magic, version), then 32 KiB
blocks of records, each ``crc32 (4) | length (2, little-endian) | type (1) | data``; type 1 is a
whole record, 2/3/4 the first/middle/last fragment of one. Each record is a serialised
``wandb_internal_pb2.Record``. Used by the tests to check what a real offline run logged.
"""

from __future__ import annotations

import struct
from pathlib import Path

_BLOCK = 32 * 1024
_HEADER = 7


def read_records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    pos, pending, out = _HEADER, b"", []
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(pending)
            out.append(rec)
            pending = b""
    return out


def logged_keys(path: Path) -> tuple[set[str], set[str]]:
    """(history and summary keys, config keys) of an offline run file."""
    metrics, config = set(), set()
    for rec in read_records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            metrics |= {i.key or "/".join(i.nested_key) for i in rec.history.item}
        elif kind == "summary":
            metrics |= {i.key or "/".join(i.nested_key) for i in rec.summary.update}
        elif kind == "config":
            config |= {i.key or "/".join(i.nested_key) for i in rec.config.update}
    return metrics, config
