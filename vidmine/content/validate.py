"""Checks a content answer against its schema and the video, repairing what is safe to repair.

A language model's answer can be well-formed JSON and still wrong for the video:
chapters between scene cuts, clips past the end, duplicate tags, an overlong post.
``validate_content`` checks the schema, then the kind's own ``check`` fixes what has
one obvious fix (snapping a chapter to the nearest boundary, clipping a range,
dropping duplicates); otherwise ``ContentValidationError`` names the content type and
the problem.
"""

from __future__ import annotations

from typing import Any

from vidmine.content.checks import ContentValidationError, InvalidContent, schema_errors
from vidmine.content.context import VideoContext
from vidmine.content.kinds import content_kind

__all__ = ["ContentValidationError", "validate_content"]


def validate_content(content_type: str, value: dict[str, Any], ctx: VideoContext) -> dict[str, Any]:
    """A checked, repaired copy of ``value``; ``ContentValidationError`` when unusable."""
    try:
        kind = content_kind(content_type)
    except ValueError as err:
        raise ContentValidationError(content_type, str(err)) from None
    errors = schema_errors(kind.schema, value)
    if errors:
        shown = "; ".join(errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
        raise ContentValidationError(content_type, f"answer does not match the schema: {shown}")
    try:
        return kind.check(value, ctx)
    except InvalidContent as err:
        raise ContentValidationError(content_type, str(err)) from None
