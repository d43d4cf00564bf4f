"""Cheap set-up checks: file signatures, sizes and EXIF orientation from the first bytes.

Discovery checks every pair this way before anything is decoded; the full decode of every
file (:mod:`ras_lightning.data.integrity`) comes after, cached. Sizes are compared as viewers
show the files: a JPEG's EXIF orientation 5-8 swaps its width and height (the project's one
EXIF policy, :mod:`ras_lightning.data.readers`).

Why a hand-written header parser beside PIL: PIL's lazy ``Image.open`` reads no pixels either,
but parses every JPEG segment before the scan (quantisation and Huffman tables included) in
Python, which makes it several times slower per file than stopping at the frame header; the
side-by-side measurement is ``benchmarks/bench_data_setup.py`` (figures in BENCHMARKS.md,
"Data set-up"). PIL still settles what the parser does not read (EXIF outside JPEGs) and
names the orientation in messages.

Size limit (one for every command: ``data.max_pixels`` in train and eval, ``max_pixels`` in
score and predict): a file whose header claims more pixels than the limit is refused by
:func:`too_large` before anything decodes it (a 30000x30000 PNG header in a few bytes would
otherwise allocate gigabytes, or stop a run in PIL's ``DecompressionBombError``).
"""

from __future__ import annotations

import struct
import warnings
from typing import BinaryIO

from PIL import Image

from ras_lightning.data.sample import Sample
from ras_lightning.utils.errors import DataError

_HEAD = 1024
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_APP1 = 0xE1
ORIENTATION = 0x0112  # the EXIF orientation tag
SWAPS_SIZE = {5, 6, 7, 8}  # EXIF orientations that transpose the stored pixels
#: the default pixel limit (``data.max_pixels`` / ``max_pixels``): PIL's own decompression-bomb
#: error threshold (twice ``Image.MAX_IMAGE_PIXELS``' default), about 13377x13377 pixels
MAX_PIXELS = 178_956_970


def _exif_orientation(app1: bytes) -> int:
    """The orientation tag of an APP1 ``Exif`` payload (1 when absent or unreadable)."""
    if not app1.startswith(b"Exif\x00\x00") or len(app1) < 14:
        return 1
    tiff = app1[6:]
    end = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if end is None:
        return 1
    (ifd,) = struct.unpack(end + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(end + "H", tiff[ifd : ifd + 2])
    for i in range(count):
        at = ifd + 2 + 12 * i
        if at + 12 > len(tiff):
            break
        tag, kind = struct.unpack(end + "HH", tiff[at : at + 4])
        if tag == ORIENTATION and kind == 3:  # SHORT
            (value,) = struct.unpack(end + "H", tiff[at + 8 : at + 10])
            return value if 1 <= value <= 8 else 1
    return 1


def _jpeg_info(f: BinaryIO, head: bytes) -> tuple[int, int, int] | None:
    """(width, height, EXIF orientation) from the segment headers up to the first SOF."""
    pos, buf, orientation = 2, head, 1
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
            return w, h, orientation
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", buf[pos + 2 : pos + 4])
        if marker == _APP1 and orientation == 1:
            while len(buf) < pos + 2 + length:
                more = f.read(max(4096, pos + 2 + length - len(buf)))
                if not more:
                    return None
                buf += more
            orientation = _exif_orientation(buf[pos + 4 : pos + 2 + length])
        pos += 2 + length
        if pos > 1 << 22:  # give up on absurd files; the full read will judge them
            return None


def _header_info(path: str) -> tuple[int, int, int] | None:
    """(width, height, EXIF orientation) of a JPEG/PNG/BMP as stored, from its header, or
    None if not one of those. The orientation is read from JPEGs only (1 otherwise)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                return (*struct.unpack(">II", head[16:24]), 1)
            if head.startswith(b"BM") and len(head) >= 26:
                w, h = struct.unpack("<ii", head[18:26])
                return w, abs(h), 1
            if head.startswith(b"\xff\xd8\xff"):
                return _jpeg_info(f, head)
    except (OSError, struct.error):
        return None
    return None


def header_size(path: str) -> tuple[int, int] | None:
    """(width, height) of a JPEG/PNG/BMP as viewers show it (EXIF orientation applied), from
    its header, or None if not one of those."""
    info = _header_info(path)
    if info is None:
        return None
    w, h, orientation = info
    return (h, w) if orientation in SWAPS_SIZE else (w, h)


def pixel_limit(value: object, key: str) -> int:
    """The setting ``key``'s ``value`` (None: :data:`MAX_PIXELS`) as a pixel count above 0, or a
    :class:`DataError` naming the key.

    PIL's own guard (``Image.MAX_IMAGE_PIXELS``) is raised to at least the limit (never
    lowered), so a file within the limit decodes without PIL's ``DecompressionBombWarning``
    or error; files above it are refused by :func:`too_large` before PIL sees them.
    """
    if value is None:
        value = MAX_PIXELS
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # max_pixels=2e8
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DataError(f"{key} must be a whole number of pixels above 0, got {value!r}")
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < value:
        Image.MAX_IMAGE_PIXELS = value
    return value


def _over(path: str, size: tuple[int, int], limit: int | None, key: str, what: str) -> str | None:
    w, h = size
    if limit is None or w * h <= limit:
        return None
    return f"{what} {path} is too large: {w}x{h} pixels by its header, over {key}={limit}"


def too_large(path: str, limit: int, key: str, what: str = "image") -> str | None:
    """The one-line problem of a file whose header claims more than ``limit`` pixels (the
    setting ``key``), else None; nothing decoded. The header parser reads JPEG/PNG/BMP, PIL's
    lazy open the other formats; a file neither can size is left to the full decode."""
    size = header_size(path)
    if size is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as im:
                    size = im.size
        except Image.DecompressionBombError:  # over PIL's guard: at or above the limit
            return f"{what} {path} is too large: more pixels than PIL opens, over {key}={limit}"
        except Exception:  # noqa: BLE001  (not an image: the full decode names it)
            return None
    return _over(path, size, limit, key, what)


def exif_orientation(path: str) -> int:
    """The EXIF orientation tag of an image file by PIL (1, the identity, when it has none
    or cannot be read)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return int(im.getexif().get(ORIENTATION, 1) or 1)
    # PIL's read errors; a decompression bomb too (a message is being built: never raise)
    except (OSError, ValueError, SyntaxError, EOFError, TypeError, Image.DecompressionBombError):
        return 1


def mismatch_message(image: str, mask: str, isize: tuple[int, int], msize: tuple[int, int]) -> str:
    """The size-mismatch message of an oriented photo/mask pair; names the EXIF orientation
    when the photo has one, and says so when it explains the mismatch."""
    orientation = exif_orientation(image)
    if orientation == 1:
        return (
            f"size mismatch: image {image} is {isize[0]}x{isize[1]}, "
            f"mask {mask} is {msize[0]}x{msize[1]}"
        )
    text = (
        f"size mismatch: photo {image} is {isize[0]}x{isize[1]} after its EXIF orientation "
        f"(tag {orientation}), mask {mask} is {msize[0]}x{msize[1]}"
    )
    if orientation in SWAPS_SIZE and msize == (isize[1], isize[0]):
        text += (
            "; the mask fits the photo as stored, without its orientation: photos are read as "
            "viewers show them, so rotate the mask to match (or remove the photo's EXIF tag)"
        )
    return text


def check_headers(
    samples: list[Sample], max_pixels: int | None = None, key: str = "data.max_pixels"
) -> list[tuple[Sample, str]]:
    """(sample, problem) for each pair with an unreadable header, a file whose header claims
    more than ``max_pixels`` pixels (None: no limit; ``key``: the setting named), or a
    photo/mask size mismatch (sizes as viewers show the files, EXIF orientation applied)."""
    problems = []
    for s in samples:
        size = header_size(s.image)
        if size is None:
            problems.append((s, f"unreadable or corrupt image: {s.image}"))
            continue
        if big := _over(s.image, size, max_pixels, key, "image"):
            problems.append((s, big))
            continue
        if s.mask is None:
            continue
        msize = header_size(s.mask)
        if msize is None:
            problems.append((s, f"unreadable or corrupt mask: {s.mask}"))
        elif big := _over(s.mask, msize, max_pixels, key, "mask"):
            problems.append((s, big))
        elif msize != size:
            # the header reader sees JPEG EXIF only: PIL settles the rare other cases
            isize, msize = oriented_size(s.image) or size, oriented_size(s.mask) or msize
            if isize != msize:
                problems.append((s, mismatch_message(s.image, s.mask, isize, msize)))
    return problems


def oriented_size(path: str) -> tuple[int, int] | None:
    """(width, height) after the EXIF orientation of any format, by PIL without decoding
    pixels (except a PNG, whose EXIF may follow the image data)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                orientation = int(im.getexif().get(ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001  (any failure: the full decode will name it)
        return None
    return (h, w) if orientation in SWAPS_SIZE else (w, h)
