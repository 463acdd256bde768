"""Markdown pieces the content kinds render with: times as players show them, lists."""

from __future__ import annotations

import math


def format_timestamp(seconds: float) -> str:
    """``mm:ss`` (``h:mm:ss`` from one hour), rounded down as video players show it."""
    total = max(0, math.floor(seconds)) if math.isfinite(seconds) else 0
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def numbered(items: list[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1))


def bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)
