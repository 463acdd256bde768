"""Tags: search tags / keywords for the video."""

from __future__ import annotations

from vidmine.content.analysis import Analysis, terms_of, unique
from vidmine.content.checks import unique_lines
from vidmine.content.context import VideoContext
from vidmine.content.kind import Body, ContentKind, closed_object, strings

TAG_COUNT = 12


def extract(a: Analysis) -> Body:
    tags = a.keywords[:TAG_COUNT] or list(terms_of(a.ctx.title_stem))
    return {"tags": unique(t.lower() for t in tags)}


def check(value: Body, ctx: VideoContext) -> Body:
    return {"tags": unique_lines([tag.strip().lstrip("#") for tag in value["tags"]])}


def render(body: Body) -> str:
    return ", ".join(f"`{tag}`" for tag in body["tags"]) or "_(no tags)_"


KIND = ContentKind(
    name="tags",
    label="Tags",
    description="Search tags / keywords.",
    task="List 5 to 15 search tags for the video: lowercase topics, names and terms that "
    "appear in the digest, each one to three words, no '#', no duplicates.",
    schema=closed_object({"tags": strings("lowercase tags")}),
    extract=extract,
    check=check,
    render=render,
)
