"""Per-video written content: titles, description, chapters, tags, posts, briefs, clip plans.

``build_video_context`` gathers a video's facts, ``generate_content`` writes the
content types (with a language model, or extractively under the ``local`` provider),
``validate_content`` checks an answer against its schema and the video, and
``content_markdown`` renders a body for people.
"""

from vidmine.content.context import (
    VideoContext,
    build_prompt,
    build_video_context,
    chapter_boundaries,
    keyframe_times,
)
from vidmine.content.extractive import extractive_content, extractive_contents
from vidmine.content.generate import ContentResult, generate_content
from vidmine.content.render import content_markdown, format_timestamp
from vidmine.content.types import CONTENT_SPECS, CONTENT_TYPES, ContentSpec, content_spec
from vidmine.content.validate import ContentValidationError, validate_content

__all__ = [
    "CONTENT_SPECS",
    "CONTENT_TYPES",
    "ContentResult",
    "ContentSpec",
    "ContentValidationError",
    "VideoContext",
    "build_prompt",
    "build_video_context",
    "chapter_boundaries",
    "content_markdown",
    "content_spec",
    "extractive_content",
    "extractive_contents",
    "format_timestamp",
    "generate_content",
    "keyframe_times",
    "validate_content",
]
