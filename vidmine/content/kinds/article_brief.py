"""Article brief: a brief for a writer turning the video into an article."""

from __future__ import annotations

from vidmine.content.analysis import TOP_MOMENTS, Analysis, keyword_phrase, moment_line
from vidmine.content.checks import InvalidContent, one_line, text
from vidmine.content.context import VideoContext
from vidmine.content.kind import Body, ContentKind, closed_object, string, strings
from vidmine.content.kinds import title_set
from vidmine.content.markdown import bullets


def extract(a: Analysis) -> Body:
    headline = title_set.extract(a)["titles"][0]
    sources = [
        name for name, units in (("transcript", a.speech), ("on-screen text", a.screen)) if units
    ]
    if a.units:
        about = f" about {keyword_phrase(a)}" if a.keywords else ""
        built = f", built from its {' and '.join(sources)}" if sources else ""
        angle = f"What the video itself says{about}{built}, quoted in the order it comes."
        key_points = [moment_line(u, 200) for u in a.moments(TOP_MOMENTS)]
    else:
        angle = (
            "There is no speech, on-screen text or frame description to build on; the "
            f"article can only present {a.ctx.file_name or a.stem} as a {a.duration} video."
        )
        key_points = [f"The video runs {a.duration} with no transcribed speech or on-screen text."]
    audience = (
        f"Readers interested in {keyword_phrase(a)}." if a.keywords else f"Viewers of {a.stem}."
    )
    return {"headline": headline, "angle": angle, "key_points": key_points, "audience": audience}


def check(value: Body, ctx: VideoContext) -> Body:
    key_points = [p.strip() for p in value["key_points"] if p.strip()]
    if not key_points:
        raise InvalidContent("key_points is empty")
    return {
        "headline": one_line(text(value["headline"], "headline")),
        "angle": text(value["angle"], "angle"),
        "key_points": key_points,
        "audience": text(value["audience"], "audience"),
    }


def render(body: Body) -> str:
    return (
        f"**Headline:** {body['headline']}\n\n"
        f"**Angle:** {body['angle']}\n\n"
        f"**Audience:** {body['audience']}\n\n"
        f"**Key points**\n\n{bullets(body['key_points'])}"
    )


KIND = ContentKind(
    name="article_brief",
    label="Article brief",
    description="A brief for a written article based on the video.",
    task="Write a brief for a writer turning the video into an article: a working "
    "headline, the angle the article should take, the key points it must cover (in "
    "the video's order) and who it is for.",
    schema=closed_object(
        {
            "headline": string("working headline"),
            "angle": string("the article's angle, one or two sentences"),
            "key_points": strings("key points to cover, in order"),
            "audience": string("who the article is for"),
        }
    ),
    extract=extract,
    check=check,
    render=render,
)
