"""X thread: a thread of posts for X (Twitter) through the video's main points."""

from __future__ import annotations

from vidmine.content.analysis import TOP_MOMENTS, Analysis, fit, moment_line
from vidmine.content.checks import InvalidContent, text
from vidmine.content.context import VideoContext
from vidmine.content.kind import Body, ContentKind, closed_object, strings
from vidmine.content.kinds.x_post import X_POST_MAX_CHARS

X_THREAD_MAX_POSTS = 10


def extract(a: Analysis) -> Body:
    moments = a.moments(TOP_MOMENTS + 1)
    total = 1 + len(moments)

    def marker(count: int) -> str:
        return f" ({count}/{total})" if total > 1 else ""

    intro = (
        f"{a.stem}: key moments from this {a.duration} video, in order."
        if moments
        else f"{a.stem}: a {a.duration} video with no transcribed speech or on-screen text."
    )
    posts = [fit("", intro, marker(1), X_POST_MAX_CHARS)]
    for count, unit in enumerate(moments, start=2):
        suffix = marker(count)
        posts.append(moment_line(unit, X_POST_MAX_CHARS - len(suffix)) + suffix)
    return {"posts": posts}


def check(value: Body, ctx: VideoContext) -> Body:
    posts = [
        text(post, f"post {count}", X_POST_MAX_CHARS)
        for count, post in enumerate(value["posts"], start=1)
        if post.strip()
    ]
    if not posts:
        raise InvalidContent("the thread has no posts")
    return {"posts": posts}


def render(body: Body) -> str:
    return "\n\n---\n\n".join(body["posts"])


KIND = ContentKind(
    name="x_thread",
    label="X thread",
    description="A thread of posts for X (Twitter).",
    task=f"Write a thread for X of 3 to {X_THREAD_MAX_POSTS} posts walking through the "
    f"video's main points in order, each post at most {X_POST_MAX_CHARS} characters. "
    "The first post says what the thread is about.",
    schema=closed_object(
        {"posts": strings(f"the posts in order, each at most {X_POST_MAX_CHARS} characters")}
    ),
    extract=extract,
    check=check,
    render=render,
)
