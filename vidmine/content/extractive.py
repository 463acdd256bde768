"""Content written without a language model, extracted from the video's own material.

The ``local`` provider has no language model, so every content type is assembled
from what the video says (transcript), shows (OCR text) and what frame captions
describe. Speech is quoted, on-screen text is labelled as such and the rest states
only counts and times, so nothing claims more than the facts hold; the caller
records separately that the result is extractive.

Sentences are ranked by how close their TF-IDF word vector lies to the centroid of
the whole video (or of one chapter), keywords by TF-IDF against a built-in English
stop-word list. Everything is deterministic: ties break on time, then text.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vidmine.content.context import VideoContext, chapter_boundaries
from vidmine.content.render import format_timestamp
from vidmine.content.types import (
    CONTENT_TYPES,
    TITLE_MAX_CHARS,
    TITLE_MAX_COUNT,
    X_POST_MAX_CHARS,
    content_spec,
)

CHAPTER_MIN_S = 10.0  # YouTube ignores chapters shorter than this
CHAPTER_MAX_COUNT = 12
CHAPTER_TITLE_CHARS = 60
CLIP_MIN_S = 5.0
CLIP_TARGET_S = 30.0
CLIP_MAX_S = 60.0
CLIP_COUNT = 3
TAG_COUNT = 12
HASHTAG_COUNT = 3
LINKEDIN_TARGET_CHARS = 1300  # about what LinkedIn shows before "see more" and a bit
TOP_MOMENTS = 5

# Common English function words plus the fillers of speech, which carry no topic.
_STOP_WORDS_TEXT = """
    a about above after again against all almost also although always am among an and
    another any anyone anything are aren't around as at away back be because been
    before being below between both but by can can't cannot could couldn't did didn't
    do does doesn't doing don't done down during each either else enough etc even ever
    every everything few for from further get gets getting go goes going gone gonna got
    gotta had hadn't has hasn't have haven't having he he'd he'll he's her here here's
    hers herself him himself his how how's however i i'd i'll i'm i've if in into is
    isn't it it's its itself just kind know let let's like likely made make makes many
    may maybe me might mine more most much must mustn't my myself need needs neither
    never no nor not nothing now of off often oh ok okay on once one only onto or other
    others otherwise our ours ourselves out over own per perhaps put quite rather
    really right said same say says see seem seems shall shan't she she'd she'll she's
    should shouldn't since so some something somewhat still such sure take than that
    that's the their theirs them themselves then there there's therefore these they
    they'd they'll they're they've thing things think this those though through thus
    to too toward towards uh um under until up upon us use used using very via want
    wanna was wasn't way we we'd we'll we're we've well went were weren't what what's
    whatever when when's where where's whether which while who who's whom whose why
    why's will with within without won't would wouldn't yeah yes yet you you'd you'll
    you're you've your yours yourself yourselves actually basically literally lot lots
    mean means okay pretty stuff sort anyway alright hey hi hello thanks thank
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+")


@dataclass(frozen=True)
class TextUnit:
    """One sentence of speech, one on-screen text or one frame caption, with its time."""

    start_s: float
    end_s: float
    text: str
    source: str  # "speech" | "screen" | "frame"
    terms: tuple[str, ...]


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def _is_term(word: str) -> bool:
    # Two letters at least: "500g" or "2024" name no topic, "gpt4" and "mp3" do.
    return len(word) >= 3 and word not in STOP_WORDS and sum(ch.isalpha() for ch in word) >= 2


def terms_of(text: str) -> tuple[str, ...]:
    return tuple(w for w in words_of(text) if _is_term(w))


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary to at most ``limit`` characters, marking the cut with '…'."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    if limit <= 1:
        return text[:limit]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _as_title(text: str, limit: int) -> str:
    return _capitalised(shorten(text, limit).rstrip(".,;:!? "))


def _join_words(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _duration_text(seconds: float) -> str:
    """``0:45``, ``2:05``, ``1:02:03``: a duration as people write it."""
    stamp = format_timestamp(seconds)
    return stamp[1:] if stamp.startswith("0") and stamp.count(":") == 1 else stamp


def _quote(text: str) -> str:
    return f"“{text}”"


def _units(ctx: VideoContext) -> list[TextUnit]:
    units: list[TextUnit] = []
    for seg in ctx.segments:
        for sentence in _SENTENCE_BREAK.split(seg.text):
            sentence = sentence.strip()
            if sentence:
                units.append(
                    TextUnit(seg.start_s, seg.end_s, sentence, "speech", terms_of(sentence))
                )
    units.extend(
        TextUnit(ocr.start_s, ocr.end_s, ocr.text, "screen", terms_of(ocr.text))
        for ocr in ctx.ocr_texts
    )
    for cap in ctx.captions:
        # Captioner hints duplicate the OCR rows when those exist.
        if cap.on_screen_text and not ctx.ocr_texts:
            units.append(
                TextUnit(
                    cap.timestamp_s,
                    cap.timestamp_s,
                    cap.on_screen_text,
                    "screen",
                    terms_of(cap.on_screen_text),
                )
            )
        # A descriptor was not written by anyone who saw the picture: not content.
        if cap.caption and not cap.descriptor_only:
            units.append(
                TextUnit(
                    cap.timestamp_s, cap.timestamp_s, cap.caption, "frame", terms_of(cap.caption)
                )
            )
    units.sort(key=lambda u: (u.start_s, u.source, u.text))
    return units


def _norm(vector: dict[str, float]) -> float:
    return math.sqrt(sum(w * w for w in vector.values()))


def _cosine(a: dict[str, float], b: dict[str, float], b_norm: float) -> float:
    norm = _norm(a) * b_norm
    if not norm:
        return 0.0
    return sum(weight * b.get(term, 0.0) for term, weight in a.items()) / norm


class _Analysis:
    """Term weights, keywords and sentence rankings of one video, computed once."""

    def __init__(self, ctx: VideoContext) -> None:
        self.ctx = ctx
        self.units = _units(ctx)
        doc_freq = Counter(term for u in self.units for term in set(u.terms))
        n_docs = len(self.units)
        self.idf = {t: math.log((1 + n_docs) / (1 + df)) + 1.0 for t, df in doc_freq.items()}
        self.speech = [u for u in self.units if u.source == "speech"]
        self.screen = [u for u in self.units if u.source == "screen"]
        self.frames = [u for u in self.units if u.source == "frame"]
        # Speech says what the video is about; without it, fall back on what it shows.
        self.primary = self.speech or (self.screen + self.frames)
        self.ranked = self.rank(self.primary)
        self.keywords = self._keywords()

    def vector(self, unit: TextUnit) -> dict[str, float]:
        counts = Counter(unit.terms)
        return {term: count * self.idf[term] for term, count in counts.items()}

    def rank(self, units: Sequence[TextUnit]) -> list[TextUnit]:
        """Units most like their centroid first; one-word units rank below the rest."""
        vectors = [self.vector(u) for u in units]
        centroid: Counter[str] = Counter()
        for vec in vectors:
            centroid.update(vec)

        centroid_norm = _norm(centroid)

        def key(item: tuple[TextUnit, dict[str, float]]) -> tuple[float, float, str]:
            unit, vec = item
            score = _cosine(vec, centroid, centroid_norm)
            if len(set(unit.terms)) < 2:
                score -= 1.0
            return (-score, unit.start_s, unit.text)

        return [unit for unit, _ in sorted(zip(units, vectors, strict=True), key=key)]

    def top(self, count: int, ranked: Sequence[TextUnit] | None = None) -> list[TextUnit]:
        """The best ``count`` units that do not repeat each other, best first."""
        picked: list[TextUnit] = []
        for unit in self.ranked if ranked is None else ranked:
            terms = set(unit.terms)
            if any(
                terms and len(terms & set(p.terms)) / len(terms | set(p.terms)) > 0.5
                for p in picked
            ) or any(unit.text.lower() == p.text.lower() for p in picked):
                continue
            picked.append(unit)
            if len(picked) == count:
                break
        return picked

    def moments(self, count: int) -> list[TextUnit]:
        """The best ``count`` units in time order."""
        return sorted(self.top(count), key=lambda u: (u.start_s, u.text))

    def _keywords(self) -> list[str]:
        scores: Counter[str] = Counter()
        pair_counts: Counter[tuple[str, str]] = Counter()
        for unit in self.units:
            for term in unit.terms:
                scores[term] += self.idf[term]
            words = words_of(unit.text)
            for first, second in itertools.pairwise(words):
                if _is_term(first) and _is_term(second) and first != second:
                    pair_counts[(first, second)] += 1
        for (first, second), count in pair_counts.items():
            if count >= 2:  # a pair seen once is a coincidence, not a phrase
                scores[f"{first} {second}"] = count * (self.idf[first] + self.idf[second])
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return [term for term, _ in ranked]

    def distinct_keywords(self, count: int) -> list[str]:
        """Top keywords, skipping a word already inside a chosen phrase ("bread" after
        "sourdough bread")."""
        chosen: list[str] = []
        covered: set[str] = set()
        for keyword in self.keywords:
            words = set(keyword.split())
            if words <= covered:
                continue
            chosen.append(keyword)
            covered |= words
            if len(chosen) == count:
                break
        return chosen

    @property
    def stem(self) -> str:
        return _capitalised(shorten(self.ctx.title_stem, 60))

    @property
    def duration(self) -> str:
        return _duration_text(self.ctx.duration_s)

    def hashtags(self, count: int = HASHTAG_COUNT) -> list[str]:
        tags = ["#" + re.sub(r"[\W_]+", "", keyword) for keyword in self.distinct_keywords(count)]
        return _unique(tag for tag in tags if len(tag) > 2)


def _unique(texts: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    result = []
    for text in texts:
        key = text.casefold()
        if text and key not in seen:
            seen.add(key)
            result.append(text)
    return result


def _moment_line(unit: TextUnit, limit: int) -> str:
    """``mm:ss “what was said”`` (or on-screen text / frame), at most ``limit`` characters."""
    stamp = format_timestamp(unit.start_s)
    if unit.source == "speech":
        return _fit(f"{stamp} “", unit.text, "”", limit)
    if unit.source == "screen":
        return _fit(f"{stamp} on screen: “", unit.text, "”", limit)
    return _fit(f"{stamp} frame: ", unit.text, "", limit)


def _title_set(a: _Analysis) -> dict[str, Any]:
    top = a.top(3)
    candidates = [_as_title(u.text, 70) for u in top[:1]]
    if len(a.distinct_keywords(3)) >= 2:
        candidates.append(_capitalised(_keyword_phrase(a)))
    candidates += [_as_title(u.text, 70) for u in top[1:]]
    candidates += [a.stem, f"{a.stem} ({a.duration} video)", f"Video: {a.stem}"]
    titles = [shorten(t, TITLE_MAX_CHARS) for t in candidates]
    return {"titles": _unique(titles)[:TITLE_MAX_COUNT]}


def _description(a: _Analysis) -> dict[str, Any]:
    parts = []
    if a.speech:
        moments = sorted(a.top(TOP_MOMENTS, a.rank(a.speech)), key=lambda u: u.start_s)
        parts.append(
            f"Key moments from the speech in this {a.duration} video:\n"
            + "\n".join(f"- {_moment_line(u, 200)}" for u in moments)
        )
    else:
        parts.append(f"This {a.duration} video has no transcribed speech.")
    if a.screen:
        shown = sorted(a.top(TOP_MOMENTS, a.rank(a.screen)), key=lambda u: u.start_s)
        parts.append(
            "On-screen text includes:\n"
            + "\n".join(
                f"- {format_timestamp(u.start_s)} {_quote(shorten(u.text, 150))}" for u in shown
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


def _chapter_starts(a: _Analysis) -> list[float]:
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


def _chapters(a: _Analysis) -> dict[str, Any]:
    starts = _chapter_starts(a)
    ends = [*starts[1:], a.ctx.duration_s]
    chapters = []
    for number, (start, end) in enumerate(zip(starts, ends, strict=True), start=1):
        title = ""
        for pool in (a.speech, a.screen, a.frames):
            inside = [u for u in pool if start <= u.start_s < end or (u.start_s == end == start)]
            if inside:
                title = _as_title(a.rank(inside)[0].text, CHAPTER_TITLE_CHARS)
                break
        chapters.append({"start_s": start, "title": title or f"Part {number}"})
    return {"chapters": chapters}


def _tags(a: _Analysis) -> dict[str, Any]:
    tags = a.keywords[:TAG_COUNT] or list(terms_of(a.ctx.title_stem))
    return {"tags": _unique(t.lower() for t in tags)}


def _fit(prefix: str, body: str, suffix: str, limit: int) -> str:
    """``prefix + body + suffix`` within ``limit`` characters, shortening the body only."""
    room = limit - len(prefix) - len(suffix)
    if room < 12:  # too little left for a useful body
        return shorten(prefix + suffix, limit)
    return prefix + shorten(body, room) + suffix


def _x_post(a: _Analysis) -> dict[str, Any]:
    tags = " ".join(a.hashtags(2))
    suffix = f"\n\n{tags}" if tags else ""
    top = a.top(1)
    if not top:
        return {"post": shorten(f"{a.stem}: a {a.duration} video.", X_POST_MAX_CHARS)}
    unit = top[0]
    prefix = f"From “{a.stem}” at {format_timestamp(unit.start_s)}: "
    if unit.source == "frame":
        return {"post": _fit(prefix, unit.text, suffix, X_POST_MAX_CHARS)}
    if unit.source == "screen":
        prefix += "on screen "
    return {"post": _fit(prefix + "“", unit.text, "”" + suffix, X_POST_MAX_CHARS)}


def _x_thread(a: _Analysis) -> dict[str, Any]:
    moments = a.moments(TOP_MOMENTS + 1)
    total = 1 + len(moments)

    def marker(number: int) -> str:
        return f" ({number}/{total})" if total > 1 else ""

    intro = (
        f"{a.stem}: key moments from this {a.duration} video, in order."
        if moments
        else f"{a.stem}: a {a.duration} video with no transcribed speech or on-screen text."
    )
    posts = [_fit("", intro, marker(1), X_POST_MAX_CHARS)]
    for number, unit in enumerate(moments, start=2):
        suffix = marker(number)
        posts.append(_moment_line(unit, X_POST_MAX_CHARS - len(suffix)) + suffix)
    return {"posts": posts}


def _linkedin_post(a: _Analysis) -> dict[str, Any]:
    moments = a.moments(TOP_MOMENTS)
    if not moments:
        return {"post": f"{a.stem}: a {a.duration} video."}
    lines = [f"{a.stem} — key moments from this {a.duration} video, in its own words:", ""]
    used = len(lines[0])
    for unit in moments:
        line = f"▸ {_moment_line(unit, 280)}"
        if used + len(line) > LINKEDIN_TARGET_CHARS:
            break
        lines.append(line)
        used += len(line) + 1
    tags = a.hashtags()
    if tags:
        lines += ["", " ".join(tags)]
    return {"post": "\n".join(lines)}


def _keyword_phrase(a: _Analysis) -> str:
    return _join_words(a.distinct_keywords(3))


def _article_brief(a: _Analysis) -> dict[str, Any]:
    headline = _title_set(a)["titles"][0]
    sources = [
        name for name, units in (("transcript", a.speech), ("on-screen text", a.screen)) if units
    ]
    if a.units:
        about = f" about {_keyword_phrase(a)}" if a.keywords else ""
        built = f", built from its {' and '.join(sources)}" if sources else ""
        angle = f"What the video itself says{about}{built}, quoted in the order it comes."
        key_points = [_moment_line(u, 200) for u in a.moments(TOP_MOMENTS)]
    else:
        angle = (
            "There is no speech, on-screen text or frame description to build on; the "
            f"article can only present {a.ctx.file_name or a.stem} as a {a.duration} video."
        )
        key_points = [f"The video runs {a.duration} with no transcribed speech or on-screen text."]
    audience = (
        f"Readers interested in {_keyword_phrase(a)}." if a.keywords else f"Viewers of {a.stem}."
    )
    return {"headline": headline, "angle": angle, "key_points": key_points, "audience": audience}


def _newsletter_summary(a: _Analysis) -> dict[str, Any]:
    top = a.top(2)
    if a.speech:
        summary = f"Highlights of this {a.duration} video, in its own words: " + " ".join(
            _quote(shorten(u.text, 200)) for u in top
        )
    elif top:
        summary = f"This {a.duration} video has no transcribed speech. It shows: " + "; ".join(
            _quote(shorten(u.text, 200)) if u.source == "screen" else shorten(u.text, 200)
            for u in top
        )
    else:
        summary = (
            f"This {a.duration} video has no transcribed speech, on-screen text or frame "
            "descriptions."
        )
    bullets = [_moment_line(u, 200) for u in a.moments(TOP_MOMENTS)]
    return {"summary": summary, "bullets": bullets}


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


def _speech_clips(a: _Analysis) -> list[dict[str, Any]]:
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
        clips.append(_clip(start, end, _quote(shorten(opening, 120)), reason))
    return clips


def _visual_clips(a: _Analysis) -> list[dict[str, Any]]:
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
            f"On screen: {_quote(shorten(first.text, 110))}"
            if first.source == "screen"
            else shorten(first.text, 120)
        )
        reason = (
            f"{int(items)} on-screen text(s) or described frame(s) in these {end - start:.0f} s."
        )
        clips.append(_clip(start, end, hook, reason))
    return clips


def _short_clip_plan(a: _Analysis) -> dict[str, Any]:
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


_BUILDERS: dict[str, Callable[[_Analysis], dict[str, Any]]] = {
    "title_set": _title_set,
    "description": _description,
    "chapters": _chapters,
    "tags": _tags,
    "linkedin_post": _linkedin_post,
    "x_post": _x_post,
    "x_thread": _x_thread,
    "article_brief": _article_brief,
    "newsletter_summary": _newsletter_summary,
    "short_clip_plan": _short_clip_plan,
}


def extractive_contents(
    ctx: VideoContext, types: Sequence[str] = CONTENT_TYPES
) -> dict[str, dict[str, Any]]:
    """Bodies of the given content types, analysing the video once."""
    for content_type in types:
        content_spec(content_type)
    analysis = _Analysis(ctx)
    return {content_type: _BUILDERS[content_type](analysis) for content_type in types}


def extractive_content(ctx: VideoContext, content_type: str) -> dict[str, Any]:
    """The body of one content type, matching its schema."""
    return extractive_contents(ctx, (content_type,))[content_type]
