"""Short clip plan: moments to cut into short vertical clips (Shorts, Reels, TikTok)."""

from __future__ import annotations

from typing import Any

from vidmine.content.analysis import Analysis, quote, shorten, words_of
from vidmine.content.checks import InvalidContent, finite
from vidmine.content.context import VideoContext
from vidmine.content.kind import Body, ContentKind, closed_object, number, string
from vidmine.content.markdown import format_timestamp

CLIP_MIN_S = 5.0
CLIP_TARGET_S = 30.0
CLIP_MAX_S = 60.0
CLIP_COUNT = 3


def _clip(start: float, end: float, hook: str, reason: str) -> dict[str, Any]:
    return {"start_s": start, "end_s": end, "hook": hook, "reason": reason}


def _non_overlapping(
    windows: list[tuple[float, float, float]], count: int
) -> list[tuple[float, float, float]]:
    """Best-scored windows (score, start, end) that do not overlap, best first."""
    chosen: list[tuple[float, float, float]] = []
    for score, start, end in sorted(windows, key=lambda w: (-w[0], w[1], w[2])):
        if all(end <= s or start >= e for _, s, e in chosen):
            chosen.append((score, start, end))
            if len(chosen) == count:
                break
    return chosen


def _speech_clips(a: Analysis) -> list[dict[str, Any]]:
    segments = a.ctx.segments
    counts = [len(words_of(s.text)) for s in segments]
    windows = []
    for i, first in enumerate(segments):
        words = 0
        end = first.end_s
        for j in range(i, len(segments)):
            if j > i and segments[j].end_s - first.start_s > CLIP_MAX_S:
                break
            words += counts[j]
            end = max(end, segments[j].end_s)
            if end - first.start_s >= CLIP_TARGET_S:
                break
        span = end - first.start_s
        if span > 0 and words:
            windows.append((words / max(span, CLIP_MIN_S), first.start_s, end))
    clips = []
    for rank, (density, start, end) in enumerate(_non_overlapping(windows, CLIP_COUNT)):
        opening = next(s.text for s in segments if s.start_s == start)
        words = sum(
            c
            for s, c in zip(segments, counts, strict=True)
            if start <= s.start_s and s.end_s <= end
        )
        which = (
            "the densest stretch of speech in the video"
            if rank == 0
            else "the next densest stretch that does not overlap an earlier clip"
        )
        reason = f"{words} words in {end - start:.0f} s ({density:.1f} words/s), {which}."
        clips.append(_clip(start, end, quote(shorten(opening, 120)), reason))
    return clips


def _visual_clips(a: Analysis) -> list[dict[str, Any]]:
    duration = a.ctx.duration_s
    visual = a.screen + a.frames
    if a.ctx.scenes:
        spans = [(s.start_s, s.end_s) for s in a.ctx.scenes]
    else:
        spans = [(u.start_s, u.start_s + CLIP_TARGET_S) for u in visual]
    windows = []
    for start, end in spans:
        end = min(duration, max(end, start + CLIP_MIN_S), start + CLIP_MAX_S)
        items = sum(1 for u in visual if start <= u.start_s < end)
        if items and end > start:
            windows.append((float(items), start, end))
    clips = []
    for items, start, end in _non_overlapping(windows, CLIP_COUNT):
        first = next(u for u in visual if start <= u.start_s < end)
        hook = (
            f"On screen: {quote(shorten(first.text, 110))}"
            if first.source == "screen"
            else shorten(first.text, 120)
        )
        reason = (
            f"{int(items)} on-screen text(s) or described frame(s) in these {end - start:.0f} s."
        )
        clips.append(_clip(start, end, hook, reason))
    return clips


def extract(a: Analysis) -> Body:
    duration = a.ctx.duration_s
    clips = _speech_clips(a) if a.ctx.segments else []
    if not clips:
        clips = _visual_clips(a)
    if not clips and duration > 0:
        clips = [
            _clip(
                0.0,
                min(duration, CLIP_TARGET_S),
                a.stem,
                "No speech, on-screen text or frame description was found; this is simply "
                "the opening of the video.",
            )
        ]
    return {"clips": clips}


def check(value: Body, ctx: VideoContext) -> Body:
    duration = ctx.duration_s
    clips = []
    for count, clip in enumerate(value["clips"], start=1):
        start = finite(clip["start_s"], f"clip {count} start")
        end = finite(clip["end_s"], f"clip {count} end")
        start, end = max(start, 0.0), min(end, duration)
        if end <= start:
            continue  # nothing of it lies inside the video
        clips.append(
            {
                "start_s": start,
                "end_s": end,
                "hook": clip["hook"].strip(),
                "reason": clip["reason"].strip(),
            }
        )
    if value["clips"] and not clips:
        raise InvalidContent(
            f"none of the {len(value['clips'])} clips has a range with start < end inside "
            f"the video (0–{duration:.1f} s)"
        )
    return {"clips": clips}


def render(body: Body) -> str:
    if not body["clips"]:
        return "_(no clips)_"
    lines = [
        f"{i}. **{format_timestamp(c['start_s'])}–{format_timestamp(c['end_s'])}** "
        f"{c['hook']}  \n   _{c['reason']}_"
        for i, c in enumerate(body["clips"], start=1)
    ]
    return "\n".join(lines)


def prompt_rules(ctx: VideoContext) -> list[str]:
    return [f"Each clip has 0 <= start_s < end_s <= {ctx.duration_s:.1f}."]


KIND = ContentKind(
    name="short_clip_plan",
    label="Short clip plan",
    description="Moments to cut into short vertical clips.",
    task="Pick one to five moments that would work as short clips (Shorts, Reels, "
    "TikTok) of 15 to 60 seconds each. Each range lies inside the video with start "
    "before end; the hook is the clip's opening line or on-screen moment and the "
    "reason says why it stands alone.",
    schema=closed_object(
        {
            "clips": {
                "type": "array",
                "description": "clips, best first",
                "items": closed_object(
                    {
                        "start_s": number("clip start in seconds"),
                        "end_s": number("clip end in seconds, after start_s"),
                        "hook": string("the opening line or moment"),
                        "reason": string("why this moment works as a clip"),
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
