"""Markdown for a piece of generated content, as the UI and ``vidmine content --format md`` show it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from vidmine.content.types import content_spec


def format_timestamp(seconds: float) -> str:
    """``mm:ss`` (``h:mm:ss`` from one hour), rounded down as video players show it."""
    total = max(0, math.floor(seconds)) if math.isfinite(seconds) else 0
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def _numbered(items: list[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1))


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def _titles(body: dict[str, Any]) -> str:
    return _numbered(body["titles"])


def _description(body: dict[str, Any]) -> str:
    return body["description"]


def _chapters(body: dict[str, Any]) -> str:
    # The "00:00 Title" lines are the form YouTube reads chapters from.
    return "\n".join(f"{format_timestamp(c['start_s'])} {c['title']}" for c in body["chapters"])


def _tags(body: dict[str, Any]) -> str:
    return ", ".join(f"`{tag}`" for tag in body["tags"]) or "_(no tags)_"


def _post(body: dict[str, Any]) -> str:
    return body["post"]


def _thread(body: dict[str, Any]) -> str:
    return "\n\n---\n\n".join(body["posts"])


def _article_brief(body: dict[str, Any]) -> str:
    return (
        f"**Headline:** {body['headline']}\n\n"
        f"**Angle:** {body['angle']}\n\n"
        f"**Audience:** {body['audience']}\n\n"
        f"**Key points**\n\n{_bullets(body['key_points'])}"
    )


def _newsletter(body: dict[str, Any]) -> str:
    return f"{body['summary']}\n\n{_bullets(body['bullets'])}".rstrip()


def _clips(body: dict[str, Any]) -> str:
    if not body["clips"]:
        return "_(no clips)_"
    lines = [
        f"{i}. **{format_timestamp(c['start_s'])}–{format_timestamp(c['end_s'])}** "
        f"{c['hook']}  \n   _{c['reason']}_"
        for i, c in enumerate(body["clips"], start=1)
    ]
    return "\n".join(lines)


_RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "title_set": _titles,
    "description": _description,
    "chapters": _chapters,
    "tags": _tags,
    "linkedin_post": _post,
    "x_post": _post,
    "x_thread": _thread,
    "article_brief": _article_brief,
    "newsletter_summary": _newsletter,
    "short_clip_plan": _clips,
}


def content_markdown(content_type: str, body: dict[str, Any]) -> str:
    """A Markdown section (``## Label`` then the content) for a validated body."""
    spec = content_spec(content_type)
    return f"## {spec.label}\n\n{_RENDERERS[content_type](body)}\n"
