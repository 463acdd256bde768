"""LinkedIn post: a post presenting the video."""

from __future__ import annotations

from vidmine.content.analysis import TOP_MOMENTS, Analysis, moment_line
from vidmine.content.checks import text
from vidmine.content.context import VideoContext
from vidmine.content.kind import Body, ContentKind, closed_object, string

LINKEDIN_POST_MAX_CHARS = 3000  # LinkedIn's limit
LINKEDIN_TARGET_CHARS = 1300  # about what LinkedIn shows before "see more" and a bit


def extract(a: Analysis) -> Body:
    moments = a.moments(TOP_MOMENTS)
    if not moments:
        return {"post": f"{a.stem}: a {a.duration} video."}
    lines = [f"{a.stem} — key moments from this {a.duration} video, in its own words:", ""]
    used = len(lines[0])
    for unit in moments:
        line = f"▸ {moment_line(unit, 280)}"
        if used + len(line) > LINKEDIN_TARGET_CHARS:
            break
        lines.append(line)
        used += len(line) + 1
    tags = a.hashtags()
    if tags:
        lines += ["", " ".join(tags)]
    return {"post": "\n".join(lines)}


def check(value: Body, ctx: VideoContext) -> Body:
    return {"post": text(value["post"], "post", LINKEDIN_POST_MAX_CHARS)}


def render(body: Body) -> str:
    return body["post"]


KIND = ContentKind(
    name="linkedin_post",
    label="LinkedIn post",
    description="A LinkedIn post about the video.",
    task="Write a LinkedIn post presenting the video: a first line that makes a reader "
    "stop, two to four key points from the video, and at most three hashtags at the "
    f"end. At most {LINKEDIN_POST_MAX_CHARS} characters; no claims about the author.",
    schema=closed_object({"post": string("the post text")}),
    extract=extract,
    check=check,
    render=render,
)
