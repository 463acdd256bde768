"""Transcript formats: SRT and WebVTT subtitles and a short markdown preview for the UI.

Subtitle cues are cut from the words' own times: a cue ends at a sentence end, and
never holds more than two lines of ``LINE_CHARS`` characters or lasts over
``MAX_CUE_S`` seconds (a cue may cut a sentence, never a word). Segments without word
times (an OpenAI-compatible server that gave none) get word times spread over the
segment by length.

Once the speakers stage labelled the words, a cue never holds two speakers, and when the
video has two speakers or more each cue names its speaker: WebVTT with a voice span
(``<v Speaker 1>``, which players can style and screen readers announce), SRT with the
name before the text (``Speaker 1: ...``), as SRT has no voice tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vidmine.models import TranscriptSegment, Word

LINE_CHARS = 42  # the usual subtitle line length (Netflix, BBC guidelines)
MAX_LINES = 2
MAX_CUE_S = 7.0
_SENTENCE_END = re.compile(r"[.!?…。！？]['\"”’)\]]*$")


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    lines: tuple[str, ...]
    speaker: str | None = None


def srt_timestamp(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def clock(seconds: float) -> str:
    """``mm:ss.s`` for humans."""
    minutes, secs = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{secs:04.1f}"


def vtt_timestamp(seconds: float) -> str:
    return srt_timestamp(seconds).replace(",", ".")


def segment_words(segment: TranscriptSegment) -> tuple[Word, ...]:
    """The segment's words with times: its own, or spread over it by length."""
    if segment.words:
        return segment.words
    tokens = segment.text.split()
    total = sum(len(t) + 1 for t in tokens)
    length = max(0.0, segment.end_s - segment.start_s)
    words, done = [], 0
    for token in tokens:
        start = segment.start_s + length * done / total
        done += len(token) + 1
        words.append(
            Word(
                token,
                round(start, 3),
                round(segment.start_s + length * done / total, 3),
                speaker=segment.speaker,
            )
        )
    return tuple(words)


def wrap_lines(words: list[str], width: int = LINE_CHARS) -> list[str]:
    """The words on as few lines of at most ``width`` characters as they fit, balanced
    over two lines when they need two (a lone word longer than ``width`` is one line)."""
    text = " ".join(words)
    if len(text) <= width:
        return [text] if text else []
    best: list[str] | None = None
    for cut in range(1, len(words)):
        first, second = " ".join(words[:cut]), " ".join(words[cut:])
        fits = len(first) <= width and len(second) <= width
        if fits and (
            best is None or abs(len(first) - len(second)) < abs(len(best[0]) - len(best[1]))
        ):
            best = [first, second]
    if best is not None:
        return best
    lines, current = [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return [*lines, current] if current else lines


def subtitle_cues(
    segments: list[TranscriptSegment],
    *,
    line_chars: int = LINE_CHARS,
    max_lines: int = MAX_LINES,
    max_s: float = MAX_CUE_S,
) -> list[Cue]:
    """Cues ending at sentence ends, each at most ``max_lines`` lines and ``max_s`` seconds."""
    groups: list[list[Word]] = []
    for segment in segments:
        pending: list[Word] = []
        for word in segment_words(segment):
            if pending and word.speaker != pending[-1].speaker:
                groups.append(pending)
                pending = []
            if pending:
                too_long = word.end_s - pending[0].start_s > max_s
                lines = wrap_lines([w.word for w in [*pending, word]], line_chars)
                if too_long or len(lines) > max_lines:
                    groups.append(pending)
                    pending = []
            pending.append(word)
            if _SENTENCE_END.search(word.word):
                groups.append(pending)
                pending = []
        if pending:
            groups.append(pending)
    return [
        Cue(
            group[0].start_s,
            max(group[-1].end_s, group[0].start_s),
            tuple(wrap_lines([w.word for w in group], line_chars)),
            group[0].speaker,
        )
        for group in groups
    ]


def speaker_labels(
    segments: list[TranscriptSegment], names: dict[str, str] | None = None
) -> dict[str, str]:
    """speaker key -> the label subtitles show, only when two speakers or more are known."""
    keys = {w.speaker for s in segments for w in segment_words(s) if w.speaker is not None}
    if len(keys) < 2:
        return {}
    names = names or {}
    return {key: names.get(key) or f"Speaker {key}" for key in keys}


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_srt(segments: list[TranscriptSegment], names: dict[str, str] | None = None) -> str:
    labels = speaker_labels(segments, names)
    blocks = []
    for n, c in enumerate(subtitle_cues(segments), start=1):
        lines = list(c.lines)
        if lines and c.speaker in labels:
            lines[0] = f"{labels[c.speaker]}: {lines[0]}"
        blocks.append(
            f"{n}\n{srt_timestamp(c.start_s)} --> {srt_timestamp(c.end_s)}\n"
            + "\n".join(lines)
            + "\n"
        )
    return "\n".join(blocks)


def to_vtt(segments: list[TranscriptSegment], names: dict[str, str] | None = None) -> str:
    labels = speaker_labels(segments, names)
    blocks = []
    for c in subtitle_cues(segments):
        lines = list(c.lines)
        if lines and c.speaker in labels:
            lines[0] = f"<v {_vtt_escape(labels[c.speaker])}>{lines[0]}"
        blocks.append(
            f"{vtt_timestamp(c.start_s)} --> {vtt_timestamp(c.end_s)}\n" + "\n".join(lines) + "\n"
        )
    return "WEBVTT\n\n" + "\n".join(blocks)


def transcript_preview(segments: list[TranscriptSegment], limit: int = 20) -> str:
    if not segments:
        return "_no speech found_"
    lines = [f"- **{clock(s.start_s)}–{clock(s.end_s)}** {s.text}" for s in segments[:limit]]
    if len(segments) > limit:
        lines.append(f"- … {len(segments) - limit} more segments")
    return "\n".join(lines)
