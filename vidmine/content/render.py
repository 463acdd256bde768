"""Markdown for a piece of generated content, as the UI and ``vidmine content --format md`` show it."""

from __future__ import annotations

from typing import Any

from vidmine.content.kinds import content_kind


def content_markdown(content_type: str, body: dict[str, Any]) -> str:
    """A Markdown section (``## Label`` then the content) for a validated body."""
    kind = content_kind(content_type)
    return f"## {kind.label}\n\n{kind.render(body)}\n"
