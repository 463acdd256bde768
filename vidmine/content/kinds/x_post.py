"""X post: a single post for X (Twitter)."""

from __future__ import annotations

from vidmine.content.analysis import Analysis, fit, shorten
from vidmine.content.checks import text
from vidmine.content.context import VideoContext
from vidmine.content.kind import Body, ContentKind, closed_object, string
from vidmine.content.markdown import format_timestamp

X_POST_MAX_CHARS = 280  # X's limit for a standard account


def extract(a: Analysis) -> Body:
    tags = " ".join(a.hashtags(2))
    suffix = f"\n\n{tags}" if tags else ""
    top = a.top(1)
    if not top:
        return {"post": shorten(f"{a.stem}: a {a.duration} video.", X_POST_MAX_CHARS)}
    unit = top[0]
    prefix = f"From “{a.stem}” at {format_timestamp(unit.start_s)}: "
    if unit.source == "frame":
        return {"post": fit(prefix, unit.text, suffix, X_POST_MAX_CHARS)}
    if unit.source == "screen":
        prefix += "on screen "
    return {"post": fit(prefix + "“", unit.text, "”" + suffix, X_POST_MAX_CHARS)}


def check(value: Body, ctx: VideoContext) -> Body:
    return {"post": text(value["post"], "post", X_POST_MAX_CHARS)}


def render(body: Body) -> str:
    return body["post"]


KIND = ContentKind(
    name="x_post",
    label="X post",
    description="A single post for X (Twitter).",
    task=f"Write one post for X about the video, at most {X_POST_MAX_CHARS} characters "
    "including any hashtags (at most two).",
    schema=closed_object({"post": string(f"the post, at most {X_POST_MAX_CHARS} characters")}),
    extract=extract,
    check=check,
    render=render,
)
