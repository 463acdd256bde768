"""Newsletter summary: a paragraph and the video's main takeaways as bullets."""

from __future__ import annotations

from vidmine.content.analysis import TOP_MOMENTS, Analysis, moment_line, quote, shorten
from vidmine.content.checks import text
from vidmine.content.context import VideoContext
from vidmine.content.kind import Body, ContentKind, closed_object, string, strings
from vidmine.content.markdown import bullets


def extract(a: Analysis) -> Body:
    top = a.top(2)
    if a.speech:
        summary = f"Highlights of this {a.duration} video, in its own words: " + " ".join(
            quote(shorten(u.text, 200)) for u in top
        )
    elif top:
        summary = f"This {a.duration} video has no transcribed speech. It shows: " + "; ".join(
            quote(shorten(u.text, 200)) if u.source == "screen" else shorten(u.text, 200)
            for u in top
        )
    else:
        summary = (
            f"This {a.duration} video has no transcribed speech, on-screen text or frame "
            "descriptions."
        )
    return {"summary": summary, "bullets": [moment_line(u, 200) for u in a.moments(TOP_MOMENTS)]}


def check(value: Body, ctx: VideoContext) -> Body:
    return {
        "summary": text(value["summary"], "summary"),
        "bullets": [b.strip() for b in value["bullets"] if b.strip()],
    }


def render(body: Body) -> str:
    return f"{body['summary']}\n\n{bullets(body['bullets'])}".rstrip()


KIND = ContentKind(
    name="newsletter_summary",
    label="Newsletter summary",
    description="A summary for a newsletter.",
    task="Summarise the video for a newsletter: a paragraph of two to four sentences and "
    "three to six bullet points with its main takeaways.",
    schema=closed_object(
        {
            "summary": string("a paragraph of two to four sentences"),
            "bullets": strings("three to six takeaways"),
        }
    ),
    extract=extract,
    check=check,
    render=render,
)
