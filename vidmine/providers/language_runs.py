"""Which language each stretch of speech is in, and how to cut the audio for transcription.

Whisper decodes one language per window (faster-whisper's ``multilingual=True`` switches
badly: faster-whisper issues #918, #1233), so a recording that changes language is
transcribed language by language:

1. voice-activity detection finds the speech regions;
2. regions closer than ``JOIN_GAP_S`` are joined into detection windows (a language
   rarely changes without a pause, and a window of a few words is too short to tell);
3. Whisper tells each window's language (the caller does this, batched);
4. :func:`smooth_languages` gives an unsure, short window the language of its
   neighbours, so a stray "OK" does not become its own language;
5. the batched pipeline transcribes each window with its language. The windows are the
   clips because telling a window's language already encoded its audio, and the same
   features are not encoded again (:mod:`vidmine.providers.whisper_encoder`).

When the language is known beforehand (configured, or an English-only model),
:func:`language_clips` joins the regions into clips of at most 30 s (Whisper's window).

Pure functions over times and labels; no model is loaded here.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

JOIN_GAP_S = 1.0  # regions this close share a detection window
MAX_WINDOW_S = 30.0  # Whisper's input window
SURE_PROBABILITY = 0.5  # a window whose top language is below this is unsure
SURE_SECONDS = 2.0  # a window shorter than this is unsure whatever its probability


@dataclass(frozen=True)
class SpeechRegion:
    start_s: float
    end_s: float


@dataclass(frozen=True)
class DetectionWindow:
    start_s: float
    end_s: float
    regions: tuple[int, ...]  # indices into the region list

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    probability: float


def detection_windows(
    regions: list[SpeechRegion], *, join_gap_s: float = JOIN_GAP_S, max_s: float = MAX_WINDOW_S
) -> list[DetectionWindow]:
    """Consecutive regions joined while the pause between them is short and the window fits."""
    windows: list[DetectionWindow] = []
    current: list[int] = []
    for i, region in enumerate(regions):
        if current:
            first, last = regions[current[0]], regions[current[-1]]
            if region.start_s - last.end_s < join_gap_s and region.end_s - first.start_s <= max_s:
                current.append(i)
                continue
            windows.append(DetectionWindow(first.start_s, last.end_s, tuple(current)))
        current = [i]
    if current:
        windows.append(
            DetectionWindow(regions[current[0]].start_s, regions[current[-1]].end_s, tuple(current))
        )
    return windows


def smooth_languages(windows: list[DetectionWindow], guesses: list[LanguageGuess]) -> list[str]:
    """Each window's language; an unsure window takes the nearest sure window's language
    (the earlier one on a tie), or the language with the most sure seconds overall."""
    if len(windows) != len(guesses):
        raise ValueError(f"{len(windows)} windows but {len(guesses)} language guesses")
    sure = [
        g.probability >= SURE_PROBABILITY and w.seconds >= SURE_SECONDS
        for w, g in zip(windows, guesses, strict=True)
    ]
    if not any(sure):
        weight: dict[str, float] = {}
        for w, g in zip(windows, guesses, strict=True):
            weight[g.language] = weight.get(g.language, 0.0) + w.seconds * g.probability
        top = max(weight.items(), key=lambda item: item[1])[0] if weight else "en"
        return [top] * len(windows)
    languages = []
    for i, guess in enumerate(guesses):
        if sure[i]:
            languages.append(guess.language)
            continue
        before = next((j for j in range(i - 1, -1, -1) if sure[j]), None)
        after = next((j for j in range(i + 1, len(windows)) if sure[j]), None)
        if before is None or (
            after is not None
            and windows[after].start_s - windows[i].end_s
            < windows[i].start_s - windows[before].end_s
        ):
            languages.append(guesses[after].language)  # type: ignore[index]
        else:
            languages.append(guesses[before].language)
    return languages


def language_clips(
    regions: list[SpeechRegion], languages: list[str], *, max_s: float = MAX_WINDOW_S
) -> list[tuple[str, float, float]]:
    """(language, start, end) clips in time order: consecutive regions of one language
    joined while the clip stays within ``max_s``; a clip never spans two languages."""
    clips: list[tuple[str, float, float]] = []
    for region, language in zip(regions, languages, strict=True):
        if clips:
            last_language, start, end = clips[-1]
            if last_language == language and region.end_s - start <= max_s:
                clips[-1] = (language, start, max(end, region.end_s))
                continue
        clips.append((language, region.start_s, region.end_s))
    return clips


UNHEARD_MIN_SPEECH_S = 1.0  # this much speech after a clip's last word is decoded again
UNHEARD_MARGIN_S = 0.2  # speech this close after the last word is that word's own tail


def unheard_tails(
    clips: list[tuple[str, float, float]],
    heard: list[tuple[float, float]],
    regions: list[SpeechRegion],
    *,
    min_speech_s: float = UNHEARD_MIN_SPEECH_S,
) -> list[tuple[str, float, float]]:
    """The end of each clip whose speech the decode never reached, as (language, start,
    end) clips of their own.

    Whisper may end a 30 s window early (its end-of-text comes after the first speaker, or
    after a long pause) and the batched pipeline has no fallback; the words after that
    point are lost. ``heard``: the (start, end) of the segments the decode gave. Where the
    voice activity of ``regions`` holds at least ``min_speech_s`` of speech after a clip's
    last heard segment, that stretch is decoded again, on its own. A clip with nothing
    heard is not (music or noise the voice activity took for speech)."""
    tails = []
    for language, start, end in clips:
        ends = [e for b, e in heard if start <= (b + e) / 2 <= end]
        if not ends:  # nothing heard at all: the same audio again would give the same
            continue
        last = max(ends)
        after = [
            (max(region.start_s, last + UNHEARD_MARGIN_S), min(region.end_s, end))
            for region in regions
            if region.end_s > last + UNHEARD_MARGIN_S and region.start_s < end
        ]
        after = [(a, b) for a, b in after if b > a]
        if sum(b - a for a, b in after) >= min_speech_s:
            tails.append((language, after[0][0], after[-1][1]))
    return tails


# Whisper's own threshold (``compression_ratio_threshold``): a decode whose text zlib
# shrinks more than this repeats itself, the mark of a decoder caught in a loop.
LOOP_COMPRESSION_RATIO = 2.4
LOOP_REDECODE_S = 10.0  # a looped clip is decoded again in pieces of at most this


def compression_ratio(text: str) -> float:
    """How much zlib shrinks ``text`` (Whisper's measure of a repetition loop)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def looped_clips(
    clips: list[tuple[str, float, float]],
    heard: list[tuple[float, float, str]],
    *,
    threshold: float = LOOP_COMPRESSION_RATIO,
) -> list[tuple[str, float, float]]:
    """The clips in which a segment's text (``heard``: start, end, text) compresses more
    than ``threshold``: its decode looped.

    A batched decode keeps only its first temperature, so a window that falls into
    repeating one sentence stays there (on the speed benchmark's speech, one sentence
    ten times in 30 s, 208 words where about 60 were spoken). Each segment is measured on
    its own: a clip of a speaker who really does say the same thing twice holds several
    short segments, each of which compresses like any sentence (0.8 to 1.4 there)."""
    return [
        clip
        for clip in clips
        if any(
            clip[1] <= (b + e) / 2 <= clip[2] and compression_ratio(t) > threshold
            for b, e, t in heard
        )
    ]


def shorter_clips(
    clips: list[tuple[str, float, float]],
    regions: list[SpeechRegion],
    *,
    max_s: float = LOOP_REDECODE_S,
) -> list[tuple[str, float, float]]:
    """``clips`` cut into clips of at most ``max_s``, at the pauses the voice activity
    found where it can, in equal parts where one stretch of speech is longer.

    A decoder that looped over 30 s rarely loops over 10: there is less room to repeat,
    and the next piece starts afresh."""
    pieces: list[tuple[str, float, float]] = []
    for language, start, end in clips:
        inside = [
            SpeechRegion(max(r.start_s, start), min(r.end_s, end))
            for r in regions
            if r.end_s > start and r.start_s < end
        ] or [SpeechRegion(start, end)]
        parts: list[SpeechRegion] = []
        for region in inside:
            count = max(1, math.ceil((region.end_s - region.start_s) / max_s))
            step = (region.end_s - region.start_s) / count
            parts += [
                SpeechRegion(region.start_s + i * step, region.start_s + (i + 1) * step)
                for i in range(count)
            ]
        pieces += language_clips(parts, [language] * len(parts), max_s=max_s)
    return pieces
