"""One photo and its mask: what discovery pairs and every later step reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One photo and its mask (``mask`` is None for unlabelled inputs)."""

    name: str
    image: str
    mask: str | None
