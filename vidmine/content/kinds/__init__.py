"""The registry of content kinds: one module per kind, listed here in reading order.

Each module in this package defines one :class:`~vidmine.content.kind.ContentKind` as
``KIND``; to add a kind, write its module and list it below. Everything else
(generation, the extractive writer, validation, Markdown, the prompt) asks this
registry and knows no kind by name.
"""

from __future__ import annotations

from vidmine.content.kind import ContentKind
from vidmine.content.kinds import (
    article_brief,
    chapters,
    description,
    linkedin_post,
    newsletter_summary,
    short_clip_plan,
    tags,
    title_set,
    x_post,
    x_thread,
)

CONTENT_KINDS: dict[str, ContentKind] = {
    module.KIND.name: module.KIND
    for module in (
        title_set,
        description,
        chapters,
        tags,
        linkedin_post,
        x_post,
        x_thread,
        article_brief,
        newsletter_summary,
        short_clip_plan,
    )
}
CONTENT_TYPES: tuple[str, ...] = tuple(CONTENT_KINDS)


def content_kind(content_type: str) -> ContentKind:
    """The kind of one content type; a clear error for an unknown name."""
    try:
        return CONTENT_KINDS[content_type]
    except KeyError:
        raise ValueError(
            f"unknown content type {content_type!r}; expected one of {', '.join(CONTENT_TYPES)}"
        ) from None
