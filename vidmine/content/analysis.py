"""The extractive engine: a video's text units, their TF-IDF weights, rankings and keywords.

The ``local`` provider has no language model, so every content kind's ``extract``
assembles its body from what the video says (transcript), shows (OCR text) and what
frame captions describe, through one :class:`Analysis` computed once per video, and
the text helpers here. Speech is quoted, on-screen text is labelled as such and the
rest states only counts and times, so nothing claims more than the facts hold.

Sentences are ranked by how close their TF-IDF word vector lies to the centroid of
the whole video (or of one chapter), keywords by TF-IDF against a built-in English
stop-word list. Everything is deterministic: ties break on time, then text.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vidmine.content.context import VideoContext
from vidmine.content.markdown import format_timestamp

HASHTAG_COUNT = 3
TOP_MOMENTS = 5  # how many moments the summarising kinds quote

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


def is_term(word: str) -> bool:
    # Two letters at least: "500g" or "2024" name no topic, "gpt4" and "mp3" do.
    return len(word) >= 3 and word not in STOP_WORDS and sum(ch.isalpha() for ch in word) >= 2


def terms_of(text: str) -> tuple[str, ...]:
    return tuple(w for w in words_of(text) if is_term(w))


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


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def as_title(text: str, limit: int) -> str:
    return capitalised(shorten(text, limit).rstrip(".,;:!? "))


def join_words(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def duration_text(seconds: float) -> str:
    """``0:45``, ``2:05``, ``1:02:03``: a duration as people write it."""
    stamp = format_timestamp(seconds)
    return stamp[1:] if stamp.startswith("0") and stamp.count(":") == 1 else stamp


def quote(text: str) -> str:
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


class Analysis:
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
                if is_term(first) and is_term(second) and first != second:
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
        return capitalised(shorten(self.ctx.title_stem, 60))

    @property
    def duration(self) -> str:
        return duration_text(self.ctx.duration_s)

    def hashtags(self, count: int = HASHTAG_COUNT) -> list[str]:
        tags = ["#" + re.sub(r"[\W_]+", "", keyword) for keyword in self.distinct_keywords(count)]
        return unique(tag for tag in tags if len(tag) > 2)


def unique(texts: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    result = []
    for text in texts:
        key = text.casefold()
        if text and key not in seen:
            seen.add(key)
            result.append(text)
    return result


def moment_line(unit: TextUnit, limit: int) -> str:
    """``mm:ss “what was said”`` (or on-screen text / frame), at most ``limit`` characters."""
    stamp = format_timestamp(unit.start_s)
    if unit.source == "speech":
        return fit(f"{stamp} “", unit.text, "”", limit)
    if unit.source == "screen":
        return fit(f"{stamp} on screen: “", unit.text, "”", limit)
    return fit(f"{stamp} frame: ", unit.text, "", limit)


def fit(prefix: str, body: str, suffix: str, limit: int) -> str:
    """``prefix + body + suffix`` within ``limit`` characters, shortening the body only."""
    room = limit - len(prefix) - len(suffix)
    if room < 12:  # too little left for a useful body
        return shorten(prefix + suffix, limit)
    return prefix + shorten(body, room) + suffix


def keyword_phrase(a: Analysis) -> str:
    return join_words(a.distinct_keywords(3))
