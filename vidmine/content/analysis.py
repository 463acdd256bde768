"""The extractive engine: a video's text units, their TF-IDF weights, rankings and keywords.

The ``local`` provider has no language model, so every content kind's ``extract``
assembles its body from what the video says (transcript), shows (OCR text) and what
frame captions describe, through one :class:`Analysis` computed once per video, and
the text helpers here. Speech is quoted, on-screen text is labelled as such and the
rest states only counts and times, so nothing claims more than the facts hold.

Sentences are ranked by how close their TF-IDF word vector lies to the centroid of
the whole video (or of one chapter), keywords by TF-IDF against scikit-learn's English
stop-word list with the fillers of speech added. Everything is deterministic: ties
break on time, then text.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vidmine.content.context import VideoContext
from vidmine.content.markdown import format_timestamp

HASHTAG_COUNT = 3
TOP_MOMENTS = 5  # how many moments the summarising kinds quote

# scikit-learn's English list, plus what it lacks for speech: fillers, verbs of talk
# and the contractions our tokenizer keeps whole ("don't"), none of which name a topic.
_SPEECH_WORDS = """
    actually alright anyway aren't away basically can't couldn't did didn't does doesn't
    doing don't gets getting goes going gone gonna got gotta hadn't hasn't haven't having
    he'd he'll he's hello here's hey hi how's i'd i'll i'm i've isn't it's just kind know
    let let's like likely literally lot lots make makes maybe mean means mustn't need needs
    oh ok okay pretty quite really right said say says shall shan't she'd she'll she's
    shouldn't somewhat sort stuff sure thank thanks that's theirs there's they'd they'll
    they're they've thing things think uh um use used using wanna want wasn't way we'd
    we'll we're we've went weren't what's when's where's who's why's won't wouldn't yeah
    yes you'd you'll you're you've
"""
# Words of scikit-learn's list that name topics a video can be about (its documentation
# warns the list has known issues); kept as terms.
_TOPIC_WORDS = frozenset({"bill", "fire", "interest", "mill", "system"})
SCORE_DECIMALS = 9  # scores equal to this many places are ties, broken on time or text

# scikit-learn is imported where it is used, not at the top: importing it takes a second
# or more, and most processes that import vidmine.content never write extractive content.


@functools.cache
def stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return (ENGLISH_STOP_WORDS - _TOPIC_WORDS) | frozenset(_SPEECH_WORDS.split())


_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# Web and mail addresses (often on screen: a credits slide, a URL bar) name no topic; their
# pieces ("www", "com", a user name) made junk tags.
_ADDRESS = re.compile(
    r"\S+@\S+|\b(?:https?://|www\.)\S+"
    r"|\b(?:[a-z0-9-]+\.)+(?:com|org|net|io|edu|gov|info|biz|app|dev|ai|tv|me|co|us|uk|eu"
    r"|de|fr|es|it|nl|ch|at|ly)\b(?:/\S*)?",
    re.IGNORECASE,
)
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
    return _WORD.findall(_ADDRESS.sub(" ", text.lower().replace("’", "'")))


def is_term(word: str) -> bool:
    # Two letters at least: "500g" or "2024" name no topic, "gpt4" and "mp3" do.
    return len(word) >= 3 and word not in stop_words() and sum(ch.isalpha() for ch in word) >= 2


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


class Analysis:
    """Term weights, keywords and sentence rankings of one video, computed once.

    Each unit is a document of scikit-learn's ``TfidfVectorizer`` over its terms:
    raw counts times smoothed idf, not normalised (a long sentence weighs more in a
    centroid than a short one).
    """

    def __init__(self, ctx: VideoContext) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.ctx = ctx
        self.units = _units(ctx)
        self._row = {unit: row for row, unit in enumerate(self.units)}
        # Rows are units, columns terms; None when there are no terms at all (the
        # vectorizer refuses an empty vocabulary).
        self._weights = None
        self.idf: dict[str, float] = {}
        if any(unit.terms for unit in self.units):
            vectorizer = TfidfVectorizer(analyzer=terms_of, norm=None, smooth_idf=True)
            self._weights = vectorizer.fit_transform([unit.text for unit in self.units])
            self.idf = dict(zip(vectorizer.get_feature_names_out(), vectorizer.idf_, strict=True))
        self.speech = [u for u in self.units if u.source == "speech"]
        self.screen = [u for u in self.units if u.source == "screen"]
        self.frames = [u for u in self.units if u.source == "frame"]
        # Speech says what the video is about; without it, fall back on what it shows.
        self.primary = self.speech or (self.screen + self.frames)
        self.ranked = self.rank(self.primary)
        self.keywords = self._keywords()

    def rank(self, units: Sequence[TextUnit]) -> list[TextUnit]:
        """Units most like their centroid first; one-word units rank below the rest."""
        from sklearn.metrics.pairwise import cosine_similarity

        if not units:
            return []
        similarity = np.zeros(len(units))
        if self._weights is not None:
            rows = self._weights[[self._row[unit] for unit in units]]
            similarity = cosine_similarity(rows, np.asarray(rows.sum(axis=0))).ravel()

        def key(item: tuple[TextUnit, float]) -> tuple[float, float, str]:
            unit, score = item
            if len(set(unit.terms)) < 2:
                score -= 1.0
            return (-round(score, SCORE_DECIMALS), unit.start_s, unit.text)

        ranked = sorted(zip(units, similarity.tolist(), strict=True), key=key)
        return [unit for unit, _ in ranked]

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
        totals = [] if self._weights is None else self._weights.sum(axis=0).A1.tolist()
        scores = dict(zip(self.idf, totals, strict=True))
        pair_counts: Counter[tuple[str, str]] = Counter()
        for unit in self.units:
            words = words_of(unit.text)
            for first, second in itertools.pairwise(words):
                if is_term(first) and is_term(second) and first != second:
                    pair_counts[(first, second)] += 1
        for (first, second), count in pair_counts.items():
            if count >= 2:  # a pair seen once is a coincidence, not a phrase
                scores[f"{first} {second}"] = count * (self.idf[first] + self.idf[second])
        ranked = sorted(scores.items(), key=lambda item: (-round(item[1], SCORE_DECIMALS), item[0]))
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
