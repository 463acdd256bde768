"""Content written without a language model, extracted from the video's own material.

The ``local`` provider has no language model, so each content kind's ``extract``
writes its body from one :class:`~vidmine.content.analysis.Analysis` of the video;
the caller records separately that the result is extractive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vidmine.content.analysis import Analysis
from vidmine.content.context import VideoContext
from vidmine.content.kinds import CONTENT_TYPES, content_kind


def extractive_contents(
    ctx: VideoContext, types: Sequence[str] = CONTENT_TYPES
) -> dict[str, dict[str, Any]]:
    """Bodies of the given content types, analysing the video once."""
    kinds = [content_kind(content_type) for content_type in types]
    analysis = Analysis(ctx)
    return {kind.name: kind.extract(analysis) for kind in kinds}


def extractive_content(ctx: VideoContext, content_type: str) -> dict[str, Any]:
    """The body of one content type, matching its schema."""
    return extractive_contents(ctx, (content_type,))[content_type]
