"""Plain data types shared by every stage of the pipeline.

These are the values the stage functions return and the storage layer writes;
they carry no behaviour and import nothing heavier than the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def scene_id(video_id: str, index: int) -> str:
    return f"{video_id}_scene_{index:03d}"


def frame_id(video_id: str, index: int) -> str:
    return f"{video_id}_frame_{index:03d}"


def segment_id(video_id: str, index: int) -> str:
    return f"{video_id}_segment_{index:03d}"


def ocr_id(video_id: str, index: int) -> str:
    return f"{video_id}_ocr_{index:03d}"


@dataclass(frozen=True)
class ProbeResult:
    """What ffprobe says about a media file, with rotation already applied to width/height."""

    path: Path
    format_name: str
    duration_s: float
    size_bytes: int
    has_video: bool
    has_audio: bool
    width: int | None = None  # display width (after rotation)
    height: int | None = None  # display height (after rotation)
    fps: float | None = None
    rotation: int = 0  # degrees clockwise the picture must be turned to be upright
    video_codec: str | None = None
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    sample_aspect_ratio: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Word:
    """One spoken word with its own times (as the transcriber aligned it)."""

    word: str  # as transcribed, without surrounding spaces
    start_s: float
    end_s: float
    speaker: str | None = None  # "1", "2" ... once the speakers stage ran


@dataclass(frozen=True)
class TranscriptSegment:
    index: int
    start_s: float
    end_s: float
    text: str
    language: str | None = None  # ISO 639-1 code ("en", "de"); None: not known
    words: tuple[Word, ...] = ()  # empty when the transcriber gave no word times
    speaker: str | None = None  # who says most of it ("1", "2" ...); None: not told


@dataclass(frozen=True)
class Scene:
    index: int
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int  # exclusive


@dataclass(frozen=True)
class Keyframe:
    index: int
    scene_index: int
    timestamp_s: float
    path: Path
    phash: str
    width: int
    height: int


@dataclass(frozen=True)
class OcrText:
    """Text read on screen; consecutive samples that look alike or read alike are merged."""

    index: int
    start_s: float
    end_s: float
    text: str
    confidence: float
    frame_path: Path | None = None
    language: str | None = None  # ISO 639-1 code of the text, when it can be told


@dataclass(frozen=True)
class FrameCaption:
    frame_index: int
    caption: str
    entities: list[str]
    on_screen_text: str
    provider: str
    model: str
    descriptor_only: bool  # True when no captioning model looked at the picture
    note: str = ""


@dataclass(frozen=True)
class SearchHit:
    video_id: str
    file_name: str
    start_s: float
    end_s: float
    kind: str  # "segment" | "ocr" | "caption"
    snippet: str
    score: float
    item_id: str = ""
    speaker: str | None = None  # a speech hit's speaker (name given, else "Speaker N")


@dataclass(frozen=True)
class CallRecord:
    """One request to a provider, as recorded for cost and debugging (never holds a key)."""

    stage: str
    provider: str
    model: str
    status: str  # "ok" | "error" | "cached"
    latency_ms: float
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    audio_seconds: float = 0.0
    error: str = ""
    cached: bool = False
