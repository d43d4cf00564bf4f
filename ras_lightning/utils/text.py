"""Wording shared by the commands' messages."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and ``noun`` agreeing: ``1 epoch``, ``2 epochs``, ``0 epochs``; ``many`` for
    a plural that is not ``noun + "s"`` (``plural(n, "match", "matches")``)."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
