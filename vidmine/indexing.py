"""What becomes searchable: transcript segments, OCR text and captions, each with the
time range it covers, ready to embed."""

from __future__ import annotations

from dataclasses import dataclass

from vidmine.models import (
    FrameCaption,
    Keyframe,
    OcrText,
    Scene,
    TranscriptSegment,
    frame_id,
    ocr_id,
    segment_id,
)


@dataclass(frozen=True)
class SearchText:
    item_id: str
    kind: str  # "segment" | "ocr" | "caption"
    source_id: str
    start_s: float
    end_s: float
    text: str
    language: str | None = None  # ISO 639-1: which text search configuration indexes it


def caption_time_range(
    frame: Keyframe | None, scenes_by_index: dict[int, Scene]
) -> tuple[float, float]:
    """A caption describes its keyframe's scene: the scene's range contains the moment."""
    if frame is None:
        return 0.0, 0.0
    scene = scenes_by_index.get(frame.scene_index)
    if scene is None:
        return frame.timestamp_s, frame.timestamp_s
    return scene.start_s, scene.end_s


def search_texts(
    video_id: str,
    segments: list[TranscriptSegment],
    ocr_texts: list[OcrText],
    captions: list[FrameCaption],
    keyframes: list[Keyframe],
    scenes: list[Scene],
) -> list[SearchText]:
    items = [
        SearchText(
            f"{segment_id(video_id, s.index)}",
            "segment",
            segment_id(video_id, s.index),
            s.start_s,
            s.end_s,
            s.text.strip(),
            s.language,
        )
        for s in segments
        if s.text.strip()
    ]
    items += [
        SearchText(
            ocr_id(video_id, t.index),
            "ocr",
            ocr_id(video_id, t.index),
            t.start_s,
            t.end_s,
            t.text.strip(),
            t.language,
        )
        for t in ocr_texts
        if t.text.strip()
    ]
    frames = {f.index: f for f in keyframes}
    scenes_by_index = {s.index: s for s in scenes}
    for c in captions:
        text = c.caption.strip()
        if not text:
            continue
        start, end = caption_time_range(frames.get(c.frame_index), scenes_by_index)
        fid = frame_id(video_id, c.frame_index)
        # Captions are written in English, by the descriptor and by the captioning prompt.
        items.append(SearchText(f"{fid}_caption", "caption", fid, start, end, text, "en"))
    return items
