"""Written content (Markdown from a language model or the extractive writer) as HTML a
browser may show: rendered with raw HTML off, then sanitized again with nh3 (Ammonia),
so neither a model's answer nor a video's on-screen text can inject markup or script."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

# CommonMark plus tables; "html": False escapes any raw HTML in the text.
_RENDERER = MarkdownIt("commonmark", {"html": False}).enable("table")
ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote",
        "strong", "em", "code", "pre", "a", "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}


def markdown_html(text: str) -> Markup:
    """``text`` (Markdown) as sanitized HTML; links open only http(s) and mailto."""
    return Markup(
        nh3.clean(
            _RENDERER.render(text),
            tags=set(ALLOWED_TAGS),
            attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
            url_schemes={"http", "https", "mailto"},
            link_rel="noopener noreferrer nofollow",
        )
    )
