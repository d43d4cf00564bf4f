"""Cheap set-up checks: file signatures, read without decoding."""

from __future__ import annotations

from ras_lightning.data.discovery import DataError, Sample

_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM")


def has_image_signature(path: str) -> bool:
    """True if the file starts like a JPEG, PNG or BMP (12 bytes read, nothing decoded)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return any(head.startswith(s) for s in _SIGNATURES)


def check_signatures(samples: list[Sample], where: str) -> None:
    """Raise DataError naming the first file that is not a readable JPEG/PNG/BMP."""
    for s in samples:
        for kind, path in (("image", s.image), ("mask", s.mask)):
            if path is not None and not has_image_signature(path):
                raise DataError(f"{where}: unreadable or corrupt {kind}: {path}")
