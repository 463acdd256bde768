"""Titles: three to five alternative titles for the video."""

from __future__ import annotations

from vidmine.content.analysis import (
    Analysis,
    as_title,
    capitalised,
    keyword_phrase,
    shorten,
    unique,
)
from vidmine.content.checks import InvalidContent, unique_lines
from vidmine.content.context import VideoContext
from vidmine.content.kind import Body, ContentKind, closed_object, strings
from vidmine.content.markdown import numbered

TITLE_MIN_COUNT = 3
TITLE_MAX_COUNT = 5
TITLE_MAX_CHARS = 100  # YouTube's limit


def extract(a: Analysis) -> Body:
    top = a.top(3)
    candidates = [as_title(u.text, 70) for u in top[:1]]
    if len(a.distinct_keywords(3)) >= 2:
        candidates.append(capitalised(keyword_phrase(a)))
    candidates += [as_title(u.text, 70) for u in top[1:]]
    candidates += [a.stem, f"{a.stem} ({a.duration} video)", f"Video: {a.stem}"]
    titles = [shorten(t, TITLE_MAX_CHARS) for t in candidates]
    return {"titles": unique(titles)[:TITLE_MAX_COUNT]}


def check(value: Body, ctx: VideoContext) -> Body:
    titles = [t for t in unique_lines(value["titles"]) if len(t) <= TITLE_MAX_CHARS]
    if len(titles) < TITLE_MIN_COUNT:
        raise InvalidContent(
            f"{len(titles)} distinct titles of at most {TITLE_MAX_CHARS} characters; "
            f"at least {TITLE_MIN_COUNT} are needed"
        )
    return {"titles": titles[:TITLE_MAX_COUNT]}


def render(body: Body) -> str:
    return numbered(body["titles"])


KIND = ContentKind(
    name="title_set",
    label="Titles",
    description="3-5 alternative titles for the video.",
    task=f"Propose {TITLE_MIN_COUNT} to {TITLE_MAX_COUNT} distinct titles for the video, "
    f"each at most {TITLE_MAX_CHARS} characters, specific to what it shows and says. "
    "No clickbait the content does not bear out.",
    schema=closed_object(
        {"titles": strings(f"{TITLE_MIN_COUNT} to {TITLE_MAX_COUNT} distinct titles")}
    ),
    extract=extract,
    check=check,
    render=render,
)
