"""Description: the text for the video's page on a host such as YouTube."""

from __future__ import annotations

from vidmine.content.analysis import TOP_MOMENTS, Analysis, moment_line, quote, shorten
from vidmine.content.checks import text
from vidmine.content.context import VideoContext
from vidmine.content.kind import Body, ContentKind, closed_object, string
from vidmine.content.markdown import format_timestamp

DESCRIPTION_MAX_CHARS = 5000  # YouTube's limit


def extract(a: Analysis) -> Body:
    parts = []
    if a.speech:
        moments = sorted(a.top(TOP_MOMENTS, a.rank(a.speech)), key=lambda u: u.start_s)
        parts.append(
            f"Key moments from the speech in this {a.duration} video:\n"
            + "\n".join(f"- {moment_line(u, 200)}" for u in moments)
        )
    else:
        parts.append(f"This {a.duration} video has no transcribed speech.")
    if a.screen:
        shown = sorted(a.top(TOP_MOMENTS, a.rank(a.screen)), key=lambda u: u.start_s)
        parts.append(
            "On-screen text includes:\n"
            + "\n".join(
                f"- {format_timestamp(u.start_s)} {quote(shorten(u.text, 150))}" for u in shown
            )
        )
    if a.frames:
        shown = sorted(a.top(3, a.rank(a.frames)), key=lambda u: u.start_s)
        parts.append(
            "Frame descriptions:\n"
            + "\n".join(f"- {format_timestamp(u.start_s)} {shorten(u.text, 150)}" for u in shown)
        )
    if a.keywords:
        parts.append("Keywords: " + ", ".join(a.keywords[:8]) + ".")
    if not a.units:
        parts = [
            f"This {a.duration} video ({a.ctx.file_name or a.ctx.video_id}) has no "
            "transcribed speech, on-screen text or frame descriptions."
        ]
    return {"description": "\n\n".join(parts)}


def check(value: Body, ctx: VideoContext) -> Body:
    return {"description": text(value["description"], "description", DESCRIPTION_MAX_CHARS)}


def render(body: Body) -> str:
    return body["description"]


KIND = ContentKind(
    name="description",
    label="Description",
    description="A video description for a hosting page such as YouTube.",
    task="Write a description for the video's page: a short opening paragraph on what "
    "the video covers, then its main points in order. Plain text, at most "
    f"{DESCRIPTION_MAX_CHARS} characters; no chapter list and no hashtags.",
    schema=closed_object({"description": string("the description, plain text")}),
    extract=extract,
    check=check,
    render=render,
)
