"""Chapters: chapter markers with start times, each at a scene or speech-segment start."""

from __future__ import annotations

import bisect
import itertools
from typing import Any

from vidmine.content.analysis import Analysis, as_title
from vidmine.content.checks import InvalidContent, finite, one_line
from vidmine.content.context import VideoContext, chapter_boundaries, spread_order
from vidmine.content.kind import Body, ContentKind, closed_object, number, string
from vidmine.content.markdown import format_timestamp

CHAPTER_MIN_S = 10.0  # YouTube ignores chapters shorter than this
CHAPTER_MAX_COUNT = 12
CHAPTER_TITLE_CHARS = 60
CHAPTER_SNAP_TOLERANCE_S = 2.0  # how far a chapter start may sit from a scene/segment start
MAX_LISTED_BOUNDARIES = 200  # allowed start times listed in the prompt


def _chapter_starts(a: Analysis) -> list[float]:
    ctx = a.ctx
    duration = ctx.duration_s
    candidates = [t for t in chapter_boundaries(ctx) if t > 0]
    if duration <= 0 or not candidates:
        return [0.0]
    min_len = max(CHAPTER_MIN_S, duration / CHAPTER_MAX_COUNT)
    scene_starts = {s.start_s for s in ctx.scenes}
    seg_starts = [s.start_s for s in ctx.segments]
    latest_end = list(itertools.accumulate((s.end_s for s in ctx.segments), max))

    def strength(t: float) -> float:
        # Best cuts: a scene change in a pause in speech; worst: mid-sentence.
        score = 2.0 if t in scene_starts else 0.0
        k = bisect.bisect_left(seg_starts, t) - 1
        if k < 0:
            return score + 1.0
        if latest_end[k] > t + 1e-6:
            return score - 1.0
        return score + min(t - latest_end[k], 5.0)

    starts = [0.0]
    while True:
        prev = starts[-1]
        allowed = [t for t in candidates if t >= prev + min_len and duration - t >= min_len]
        if not allowed:
            break
        window = [t for t in allowed if t <= prev + 2 * min_len] or allowed[:1]
        starts.append(max(window, key=lambda t: (strength(t), -t)))
    return starts


def extract(a: Analysis) -> Body:
    starts = _chapter_starts(a)
    ends = [*starts[1:], a.ctx.duration_s]
    chapters = []
    for count, (start, end) in enumerate(zip(starts, ends, strict=True), start=1):
        title = ""
        for pool in (a.speech, a.screen, a.frames):
            inside = [u for u in pool if start <= u.start_s < end or (u.start_s == end == start)]
            if inside:
                title = as_title(a.rank(inside)[0].text, CHAPTER_TITLE_CHARS)
                break
        chapters.append({"start_s": start, "title": title or f"Part {count}"})
    return {"chapters": chapters}


def check(value: Body, ctx: VideoContext) -> Body:
    raw = value["chapters"]
    if not raw:
        raise InvalidContent("no chapters; at least one, starting at 0, is needed")
    duration = ctx.duration_s
    tolerance = CHAPTER_SNAP_TOLERANCE_S
    boundaries = chapter_boundaries(ctx)
    entries = []
    for count, chapter in enumerate(raw, start=1):
        title = one_line(chapter["title"])
        if not title:
            raise InvalidContent(f"chapter {count} has an empty title")
        start = finite(chapter["start_s"], f"chapter {count} ({title!r}) start")
        if start < -tolerance or start > duration + tolerance:
            raise InvalidContent(
                f"chapter {count} ({title!r}) starts at {start:.1f} s, outside the video "
                f"(0–{duration:.1f} s)"
            )
        entries.append((start, count, title))
    entries.sort()
    # Chapters must cover the video, so the earliest one is moved to 0 whatever it said.
    entries[0] = (0.0, entries[0][1], entries[0][2])
    chapters: list[dict[str, Any]] = []
    for start, count, title in entries:
        nearest = min(boundaries, key=lambda b: (abs(b - start), b))
        if abs(nearest - start) > tolerance:
            raise InvalidContent(
                f"chapter {count} ({title!r}) starts at {start:.1f} s, more than "
                f"{tolerance:g} s from any scene or speech-segment start (nearest {nearest:.1f} s)"
            )
        if chapters and chapters[-1]["start_s"] == nearest:
            continue  # two chapters snapped to one boundary: keep the first
        chapters.append({"start_s": nearest, "title": title})
    return {"chapters": chapters}


def render(body: Body) -> str:
    # The "00:00 Title" lines are the form YouTube reads chapters from.
    return "\n".join(f"{format_timestamp(c['start_s'])} {c['title']}" for c in body["chapters"])


def prompt_rules(ctx: VideoContext) -> list[str]:
    boundaries = chapter_boundaries(ctx)
    shown = [boundaries[i] for i in sorted(spread_order(len(boundaries))[:MAX_LISTED_BOUNDARIES])]
    listed = ", ".join(f"{b:.1f}" for b in shown)
    more = "" if len(shown) == len(boundaries) else " (a sample; any scene or speech start works)"
    return [
        "The first chapter starts at 0.",
        f"Allowed chapter start times in seconds{more}: {listed}.",
        f"A start more than {CHAPTER_SNAP_TOLERANCE_S:g} s from every allowed time is rejected.",
    ]


KIND = ContentKind(
    name="chapters",
    label="Chapters",
    description="Chapter markers with start times.",
    task="Divide the video into chapters in time order. The first chapter starts at 0. "
    "Every other chapter starts exactly at one of the allowed start times listed in "
    "the digest (a scene start or the start of a speech segment). Prefer chapters of "
    "at least 10 seconds and titles of at most 60 characters.",
    schema=closed_object(
        {
            "chapters": {
                "type": "array",
                "description": "chapters in time order, the first at 0",
                "items": closed_object(
                    {
                        "start_s": number("start time in seconds from the video start"),
                        "title": string("chapter title"),
                    }
                ),
            }
        }
    ),
    extract=extract,
    check=check,
    render=render,
    prompt_rules=prompt_rules,
)
