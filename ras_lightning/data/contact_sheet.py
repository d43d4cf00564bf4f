"""A contact sheet of photo pairs: one row per pair, the two photos side by side (each scaled
to a common height) and a caption, on one PNG (``ras-audit``'s ``contact_sheet.png``)."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageOps

ROW = 128  # photo height in the sheet
CAPTION = 16
WIDTH = 2 * 192 + 3 * 8


def _thumb(path: str) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.draft("RGB", (2 * ROW, 2 * ROW))
            photo = ImageOps.exif_transpose(im).convert("RGB")
    except Exception:  # noqa: BLE001  (an unreadable photo shows as a gray box)
        return Image.new("RGB", (ROW, ROW), (128, 128, 128))
    photo.thumbnail((192, ROW))
    return photo


def draw_pairs(pairs: list[tuple[str, str, str]], title: str) -> Image.Image:
    """The sheet of ``pairs`` (left photo, right photo, caption) under ``title``."""
    height = CAPTION + 8 + max(1, len(pairs)) * (ROW + CAPTION + 8)
    sheet = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((8, 4), title if pairs else f"{title}: no pairs to show", fill="black")
    y = CAPTION + 8
    for left, right, caption in pairs:
        draw.text((8, y), caption[:64], fill="black")
        x = 8
        for path in (left, right):
            sheet.paste(_thumb(path), (x, y + CAPTION))
            x += 192 + 8
        y += ROW + CAPTION + 8
    return sheet
