"""Checks a content answer against its schema and the video, repairing what is safe to repair.

A language model's answer can be well-formed JSON and still wrong for the video:
chapters between scene cuts, clips past the end, duplicate tags, an overlong post.
``validate_content`` fixes what has one obvious fix (snapping a chapter to the
nearest boundary, clipping a range, dropping duplicates) and raises
``ContentValidationError`` naming the content type and the problem otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator

from vidmine.content.context import VideoContext, chapter_boundaries
from vidmine.content.types import (
    CHAPTER_SNAP_TOLERANCE_S,
    DESCRIPTION_MAX_CHARS,
    LINKEDIN_POST_MAX_CHARS,
    TITLE_MAX_CHARS,
    TITLE_MAX_COUNT,
    TITLE_MIN_COUNT,
    X_POST_MAX_CHARS,
    content_spec,
)


class ContentValidationError(ValueError):
    """An answer for one content type is unusable; ``message`` says why."""

    def __init__(self, content_type: str, message: str) -> None:
        super().__init__(f"{content_type}: {message}")
        self.content_type = content_type
        self.message = message


class _Invalid(ValueError):
    pass


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise _Invalid(f"{what} is {value}, not a finite number of seconds")
    return float(value)


def _schema_errors(schema: dict[str, Any], value: Any) -> list[str]:
    messages = []
    for error in Draft202012Validator(schema).iter_errors(value):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        # jsonschema quotes the offending value whole; a long answer must not flood the log.
        detail = error.message if len(error.message) <= 200 else error.message[:199] + "…"
        messages.append(f"{path.lstrip('.') or '(top level)'}: {detail}")
    return sorted(messages)


def _text(value: str, what: str, limit: int | None = None) -> str:
    text = value.strip()
    if not text:
        raise _Invalid(f"{what} is empty")
    if limit is not None and len(text) > limit:
        raise _Invalid(f"{what} has {len(text)} characters; the limit is {limit}")
    return text


def _unique_lines(values: list[str]) -> list[str]:
    seen: set[str] = set()
    result = []
    for value in values:
        text = _one_line(value)
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            result.append(text)
    return result


def _title_set(value: dict[str, Any], ctx: VideoContext) -> dict[str, Any]:
    titles = [t for t in _unique_lines(value["titles"]) if len(t) <= TITLE_MAX_CHARS]
    if len(titles) < TITLE_MIN_COUNT:
        raise _Invalid(
            f"{len(titles)} distinct titles of at most {TITLE_MAX_CHARS} characters; "
            f"at least {TITLE_MIN_COUNT} are needed"
        )
    return {"titles": titles[:TITLE_MAX_COUNT]}


def _description(value: dict[str, Any], ctx: VideoContext) -> dict[str, Any]:
    return {"description": _text(value["description"], "description", DESCRIPTION_MAX_CHARS)}


def _chapters(value: dict[str, Any], ctx: VideoContext) -> dict[str, Any]:
    raw = value["chapters"]
    if not raw:
        raise _Invalid("no chapters; at least one, starting at 0, is needed")
    duration = ctx.duration_s
    tolerance = CHAPTER_SNAP_TOLERANCE_S
    boundaries = chapter_boundaries(ctx)
    entries = []
    for number, chapter in enumerate(raw, start=1):
        title = _one_line(chapter["title"])
        if not title:
            raise _Invalid(f"chapter {number} has an empty title")
        start = _finite(chapter["start_s"], f"chapter {number} ({title!r}) start")
        if start < -tolerance or start > duration + tolerance:
            raise _Invalid(
                f"chapter {number} ({title!r}) starts at {start:.1f} s, outside the video "
                f"(0–{duration:.1f} s)"
            )
        entries.append((start, number, title))
    entries.sort()
    # Chapters must cover the video, so the earliest one is moved to 0 whatever it said.
    entries[0] = (0.0, entries[0][1], entries[0][2])
    chapters: list[dict[str, Any]] = []
    for start, number, title in entries:
        nearest = min(boundaries, key=lambda b: (abs(b - start), b))
        if abs(nearest - start) > tolerance:
            raise _Invalid(
                f"chapter {number} ({title!r}) starts at {start:.1f} s, more than "
                f"{tolerance:g} s from any scene or speech-segment start (nearest {nearest:.1f} s)"
            )
        if chapters and chapters[-1]["start_s"] == nearest:
            continue  # two chapters snapped to one boundary: keep the first
        chapters.append({"start_s": nearest, "title": title})
    return {"chapters": chapters}


def _tags(value: dict[str, Any], ctx: VideoContext) -> dict[str, Any]:
    return {"tags": _unique_lines([tag.strip().lstrip("#") for tag in value["tags"]])}


def _linkedin_post(value: dict[str, Any], ctx: VideoContext) -> dict[str, Any]:
    return {"post": _text(value["post"], "post", LINKEDIN_POST_MAX_CHARS)}


def _x_post(value: dict[str, Any], ctx: VideoContext) -> dict[str, Any]:
    return {"post": _text(value["post"], "post", X_POST_MAX_CHARS)}


def _x_thread(value: dict[str, Any], ctx: VideoContext) -> dict[str, Any]:
    posts = [
        _text(post, f"post {number}", X_POST_MAX_CHARS)
        for number, post in enumerate(value["posts"], start=1)
        if post.strip()
    ]
    if not posts:
        raise _Invalid("the thread has no posts")
    return {"posts": posts}


def _article_brief(value: dict[str, Any], ctx: VideoContext) -> dict[str, Any]:
    key_points = [p.strip() for p in value["key_points"] if p.strip()]
    if not key_points:
        raise _Invalid("key_points is empty")
    return {
        "headline": _one_line(_text(value["headline"], "headline")),
        "angle": _text(value["angle"], "angle"),
        "key_points": key_points,
        "audience": _text(value["audience"], "audience"),
    }


def _newsletter_summary(value: dict[str, Any], ctx: VideoContext) -> dict[str, Any]:
    return {
        "summary": _text(value["summary"], "summary"),
        "bullets": [b.strip() for b in value["bullets"] if b.strip()],
    }


def _short_clip_plan(value: dict[str, Any], ctx: VideoContext) -> dict[str, Any]:
    duration = ctx.duration_s
    clips = []
    for number, clip in enumerate(value["clips"], start=1):
        start = _finite(clip["start_s"], f"clip {number} start")
        end = _finite(clip["end_s"], f"clip {number} end")
        start, end = max(start, 0.0), min(end, duration)
        if end <= start:
            continue  # nothing of it lies inside the video
        clips.append(
            {
                "start_s": start,
                "end_s": end,
                "hook": clip["hook"].strip(),
                "reason": clip["reason"].strip(),
            }
        )
    if value["clips"] and not clips:
        raise _Invalid(
            f"none of the {len(value['clips'])} clips has a range with start < end inside "
            f"the video (0–{duration:.1f} s)"
        )
    return {"clips": clips}


_CHECKS: dict[str, Callable[[dict[str, Any], VideoContext], dict[str, Any]]] = {
    "title_set": _title_set,
    "description": _description,
    "chapters": _chapters,
    "tags": _tags,
    "linkedin_post": _linkedin_post,
    "x_post": _x_post,
    "x_thread": _x_thread,
    "article_brief": _article_brief,
    "newsletter_summary": _newsletter_summary,
    "short_clip_plan": _short_clip_plan,
}


def validate_content(content_type: str, value: dict[str, Any], ctx: VideoContext) -> dict[str, Any]:
    """A checked, repaired copy of ``value``; ``ContentValidationError`` when unusable."""
    try:
        spec = content_spec(content_type)
    except ValueError as err:
        raise ContentValidationError(content_type, str(err)) from None
    errors = _schema_errors(spec.schema, value)
    if errors:
        shown = "; ".join(errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
        raise ContentValidationError(content_type, f"answer does not match the schema: {shown}")
    try:
        return _CHECKS[content_type](value, ctx)
    except _Invalid as err:
        raise ContentValidationError(content_type, str(err)) from None
