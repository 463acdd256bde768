"""Per-video written content: titles, description, chapters, tags, posts, briefs, clip plans.

Each content type is one module in ``kinds/`` defining one
:class:`~vidmine.content.kind.ContentKind` (schema, prompt, extractive writer, checks,
Markdown), listed in the registry ``vidmine.content.kinds``. ``build_video_context``
gathers a video's facts, ``generate_content`` writes the content types (with a
language model, or extractively under the ``local`` provider), ``validate_content``
checks an answer against its schema and the video, and ``content_markdown`` renders a
body for people.
"""

from vidmine.content.context import (
    VideoContext,
    build_video_context,
    chapter_boundaries,
    keyframe_times,
)
from vidmine.content.extractive import extractive_content, extractive_contents
from vidmine.content.generate import ContentResult, generate_content
from vidmine.content.kind import ContentKind
from vidmine.content.kinds import CONTENT_KINDS, CONTENT_TYPES, content_kind
from vidmine.content.markdown import format_timestamp
from vidmine.content.prompt import build_prompt
from vidmine.content.render import content_markdown
from vidmine.content.validate import ContentValidationError, validate_content

__all__ = [
    "CONTENT_KINDS",
    "CONTENT_TYPES",
    "ContentKind",
    "ContentResult",
    "ContentValidationError",
    "VideoContext",
    "build_prompt",
    "build_video_context",
    "chapter_boundaries",
    "content_kind",
    "content_markdown",
    "extractive_content",
    "extractive_contents",
    "format_timestamp",
    "generate_content",
    "keyframe_times",
    "validate_content",
]
