"""Transcript formats: SRT subtitles and a short markdown preview for the UI."""

from __future__ import annotations

from vidmine.models import TranscriptSegment


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


def to_srt(segments: list[TranscriptSegment]) -> str:
    blocks = [
        f"{n}\n{srt_timestamp(s.start_s)} --> {srt_timestamp(max(s.end_s, s.start_s))}\n{s.text}\n"
        for n, s in enumerate(segments, start=1)
    ]
    return "\n".join(blocks)


def transcript_preview(segments: list[TranscriptSegment], limit: int = 20) -> str:
    if not segments:
        return "_no speech found_"
    lines = [f"- **{clock(s.start_s)}–{clock(s.end_s)}** {s.text}" for s in segments[:limit]]
    if len(segments) > limit:
        lines.append(f"- … {len(segments) - limit} more segments")
    return "\n".join(lines)
