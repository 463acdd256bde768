"""The records the store reads back (a video, a refused upload, a stage row, a search item,
generated content), the statuses they may hold, and the error for an unknown video.

Plain dataclasses and constants: no SQL here, so anything may import them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

VIDEO_STATUSES = ("registered", "processing", "ready", "failed")
STAGE_STATUSES = ("running", "succeeded", "failed", "skipped")
SEARCH_KINDS = ("segment", "ocr", "caption")


class VideoNotFoundError(LookupError):
    """The video id is not in the videos table."""


@dataclass(frozen=True)
class VideoRecord:
    video_id: str
    file_name: str
    source_path: str
    sha256: str | None  # the whole file's, once source_video has read it
    size_bytes: int
    profile: str | None
    status: str  # one of VIDEO_STATUSES
    error: str | None
    created_at: datetime
    updated_at: datetime
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    rotation: int | None = None
    has_video: bool | None = None
    has_audio: bool | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    probe: dict[str, Any] | None = None
    fingerprint: str | None = None  # vidmine.media.probe.quick_fingerprint, from the upload
    languages: list[str] = dataclasses.field(default_factory=list)  # most spoken first


@dataclass(frozen=True)
class RejectionRecord:
    path: str
    size_bytes: int
    mtime: float
    reason: str
    rejected_at: datetime


@dataclass(frozen=True)
class StageState:
    stage: str
    status: str  # one of STAGE_STATUSES
    started_at: datetime | None
    finished_at: datetime | None
    seconds: float | None
    error: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class SearchItem:
    """One searchable text with its place in the video and its embedding."""

    item_id: str
    kind: str  # one of SEARCH_KINDS
    source_id: str  # the segment, OCR text or frame the text came from
    start_s: float
    end_s: float
    text: str
    embedding: Sequence[float] | None  # None: found by full-text search only
    language: str | None = None  # ISO 639-1; picks the text search configuration


@dataclass(frozen=True)
class ContentRecord:
    video_id: str
    content_type: str  # e.g. "summary", "chapters"
    body: dict[str, Any]
    markdown: str
    provider: str
    model: str
    extractive: bool  # True when written from the video's own text without an LLM
    created_at: datetime
