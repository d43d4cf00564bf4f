"""Cheap set-up checks: file signatures and sizes from the first bytes, nothing decoded.

Reading a few hundred bytes per file keeps set-up on DUTS-TR (10,553 pairs) near a second;
PIL's ``Image.open`` on every file would take several times longer.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ras_lightning.utils.errors import DataError

if TYPE_CHECKING:  # the annotation only: discovery imports this module
    from ras_lightning.data.discovery import Sample

_HEAD = 1024
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(f, head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first SOF marker, reading segment headers only."""
    pos, buf = 2, head
    while True:
        while len(buf) < pos + 9:
            more = f.read(4096)
            if not more:
                return None
            buf += more
        if buf[pos] != 0xFF:
            return None
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _SOF:
            h, w = struct.unpack(">HH", buf[pos + 5 : pos + 9])
            return w, h
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", buf[pos + 2 : pos + 4])
        pos += 2 + length
        if pos > 1 << 22:  # give up on absurd files; the full read will judge them
            return None


def header_size(path: str) -> tuple[int, int] | None:
    """(width, height) of a JPEG/PNG/BMP from its header, or None if not one of those."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            if head.startswith(b"BM") and len(head) >= 26:
                w, h = struct.unpack("<ii", head[18:26])
                return w, abs(h)
            if head.startswith(b"\xff\xd8\xff"):
                return _jpeg_size(f, head)
    except (OSError, struct.error):
        return None
    return None


def check_headers(samples: list[Sample], where: str) -> None:
    """Raise DataError naming the first unreadable file or photo/mask size mismatch."""
    for s in samples:
        size = header_size(s.image)
        if size is None:
            raise DataError(f"{where}: unreadable or corrupt image: {s.image}")
        if s.mask is None:
            continue
        msize = header_size(s.mask)
        if msize is None:
            raise DataError(f"{where}: unreadable or corrupt mask: {s.mask}")
        if msize != size:
            raise DataError(
                f"{where}: size mismatch: image {s.image} is {size[0]}x{size[1]}, "
                f"mask {s.mask} is {msize[0]}x{msize[1]}"
            )
