"""What the content writers know about one video, and the digest a prompt is built from.

``VideoContext`` gathers the facts earlier stages produced (transcript, scenes, OCR,
captions) with every time clamped into the video. ``digest_lines`` and
``select_evenly`` make a compact, timestamped digest of it for a language model,
sampled evenly over the whole video when it would exceed the budget (see
:mod:`vidmine.content.prompt`). Knows no content kind.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from vidmine.models import FrameCaption, Keyframe, OcrText, Scene, TranscriptSegment

log = logging.getLogger(__name__)

MAX_LINE_CHARS = 400  # one long segment or OCR block must not crowd out the rest


@dataclass(frozen=True)
class TimedCaption:
    """A keyframe caption placed in time through its keyframe."""

    frame_index: int
    timestamp_s: float
    caption: str
    on_screen_text: str
    entities: tuple[str, ...]
    descriptor_only: bool  # no captioning model looked at the picture


@dataclass(frozen=True)
class VideoContext:
    video_id: str
    file_name: str
    duration_s: float
    segments: tuple[TranscriptSegment, ...] = ()
    scenes: tuple[Scene, ...] = ()
    ocr_texts: tuple[OcrText, ...] = ()
    captions: tuple[TimedCaption, ...] = ()

    @property
    def title_stem(self) -> str:
        """The file name as a human title: no extension, separators as spaces."""
        stem = PurePath(self.file_name).stem if self.file_name else ""
        words = re.sub(r"[_\-.+]+", " ", stem).split()
        return " ".join(words) or self.video_id or "Untitled video"


def keyframe_times(keyframes: Iterable[Keyframe]) -> dict[int, float]:
    """frame_index -> timestamp, the mapping ``build_video_context`` places captions with."""
    return {kf.index: kf.timestamp_s for kf in keyframes}


def _clamp(value: float, duration_s: float) -> float:
    if not math.isfinite(value):
        return 0.0
    return min(max(value, 0.0), duration_s)


def build_video_context(
    *,
    video_id: str,
    file_name: str,
    duration_s: float,
    segments: Sequence[TranscriptSegment] = (),
    scenes: Sequence[Scene] = (),
    ocr_texts: Sequence[OcrText] = (),
    captions: Sequence[FrameCaption] = (),
    frame_times: Mapping[int, float] | None = None,
) -> VideoContext:
    """Collect a video's facts, sorted by time and clamped into ``0..duration_s``.

    ``frame_times`` maps a caption's ``frame_index`` to its time (see
    ``keyframe_times``); captions of frames it does not know are left out, since
    they cannot be placed. An unknown duration (0) is taken from the latest fact.
    """
    frame_times = frame_times or {}
    if not (math.isfinite(duration_s) and duration_s > 0):
        ends = (
            [s.end_s for s in segments] + [s.end_s for s in scenes] + [o.end_s for o in ocr_texts]
        )
        ends += [frame_times[c.frame_index] for c in captions if c.frame_index in frame_times]
        duration_s = max((e for e in ends if math.isfinite(e)), default=0.0)
    duration = max(duration_s, 0.0)

    def span(start: float, end: float) -> tuple[float, float]:
        start = _clamp(start, duration)
        return start, max(start, _clamp(end, duration))

    clean_segments = []
    for seg in sorted(segments, key=lambda s: (s.start_s, s.index)):
        text = " ".join(seg.text.split())
        if text:
            start, end = span(seg.start_s, seg.end_s)
            clean_segments.append(TranscriptSegment(seg.index, start, end, text))
    clean_scenes = []
    for scene in sorted(scenes, key=lambda s: (s.start_s, s.index)):
        start, end = span(scene.start_s, scene.end_s)
        clean_scenes.append(Scene(scene.index, start, end, scene.start_frame, scene.end_frame))
    clean_ocr = []
    for ocr in sorted(ocr_texts, key=lambda o: (o.start_s, o.index)):
        text = " ".join(ocr.text.split())
        if text:
            start, end = span(ocr.start_s, ocr.end_s)
            clean_ocr.append(OcrText(ocr.index, start, end, text, ocr.confidence, ocr.frame_path))
    timed = []
    unplaced = 0
    for cap in captions:
        if cap.frame_index not in frame_times:
            unplaced += 1
            continue
        timed.append(
            TimedCaption(
                frame_index=cap.frame_index,
                timestamp_s=_clamp(frame_times[cap.frame_index], duration),
                caption=" ".join(cap.caption.split()),
                on_screen_text=" ".join(cap.on_screen_text.split()),
                entities=tuple(cap.entities),
                descriptor_only=cap.descriptor_only,
            )
        )
    if unplaced:
        log.warning(
            "video %s: %d caption(s) refer to keyframes with no known time; left out",
            video_id,
            unplaced,
        )
    timed.sort(key=lambda c: (c.timestamp_s, c.frame_index))
    return VideoContext(
        video_id=video_id,
        file_name=file_name,
        duration_s=duration,
        segments=tuple(clean_segments),
        scenes=tuple(clean_scenes),
        ocr_texts=tuple(clean_ocr),
        captions=tuple(timed),
    )


def chapter_boundaries(ctx: VideoContext) -> list[float]:
    """Times a chapter may start at: 0, every scene start and every speech segment start."""
    times = {0.0}
    times.update(s.start_s for s in ctx.scenes)
    times.update(s.start_s for s in ctx.segments)
    # A start at the very end would make an empty chapter.
    return sorted(t for t in times if t == 0.0 or t < ctx.duration_s)


def seconds_text(value: float) -> str:
    return f"{value:.1f}"


def _cap(text: str, limit: int = MAX_LINE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def digest_lines(ctx: VideoContext) -> list[tuple[float, str]]:
    """Every fact as one timestamped line, in time order (scene lines before what they hold)."""
    lines: list[tuple[float, int, str]] = [
        (s.start_s, 0, f"[scene {s.index} {seconds_text(s.start_s)}-{seconds_text(s.end_s)}s]")
        for s in ctx.scenes
    ]
    lines += [
        (
            s.start_s,
            1,
            f"[{seconds_text(s.start_s)}-{seconds_text(s.end_s)}s] speech: {_cap(s.text)}",
        )
        for s in ctx.segments
    ]
    lines += [
        (
            o.start_s,
            2,
            f"[{seconds_text(o.start_s)}-{seconds_text(o.end_s)}s] on screen: {_cap(o.text)}",
        )
        for o in ctx.ocr_texts
    ]
    for cap in ctx.captions:
        kind = "frame descriptor (no vision model)" if cap.descriptor_only else "frame"
        text = cap.caption
        if cap.on_screen_text and cap.on_screen_text.lower() not in text.lower():
            text = f"{text} | text: {cap.on_screen_text}" if text else f"text: {cap.on_screen_text}"
        if text:
            lines.append(
                (cap.timestamp_s, 3, f"[{seconds_text(cap.timestamp_s)}s] {kind}: {_cap(text)}")
            )
    lines.sort(key=lambda item: (item[0], item[1]))
    return [(t, line) for t, _, line in lines]


def spread_order(count: int) -> list[int]:
    """Indices 0..count-1 ordered so that every prefix is spread evenly over the range.

    Taking items in this order until a budget is spent keeps the start, the end and
    evenly spaced points between, instead of cutting the tail.
    """
    if count <= 0:
        return []
    order = [0] if count == 1 else [0, count - 1]
    seen = set(order)
    intervals = [(0, count - 1)]
    while intervals:
        next_intervals = []
        for low, high in intervals:
            if high - low < 2:
                continue
            mid = (low + high) // 2
            if mid not in seen:
                seen.add(mid)
                order.append(mid)
            next_intervals += [(low, mid), (mid, high)]
        intervals = next_intervals
    return order


def select_evenly(lines: Sequence[str], max_chars: int) -> list[int]:
    """Indices of the lines to keep (in order) so their total length fits ``max_chars``."""
    if sum(len(line) + 1 for line in lines) <= max_chars:
        return list(range(len(lines)))
    kept: list[int] = []
    used = 0
    for index in spread_order(len(lines)):
        cost = len(lines[index]) + 1
        if used + cost <= max_chars:
            kept.append(index)
            used += cost
    return sorted(kept)
