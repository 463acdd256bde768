"""The interfaces the AI stages call, independent of who answers.

Each stage asks a factory (see ``vidmine.providers.registry``) for the object that
serves it under the configured provider and model. Implementations must be safe to
call from one thread at a time per instance; batch methods may parallelise inside,
bounded by the provider's limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# CallRecord lives with the other plain records, so the store can write it without
# importing the provider layer; it is re-exported here for the providers' callers.
from vidmine.models import CallRecord, FrameCaption, TranscriptSegment

__all__ = [
    "CallRecord",
    "CallRecorder",
    "Captioner",
    "Embedder",
    "FrameInput",
    "GenerationRequest",
    "GenerationResult",
    "MemoryRecorder",
    "ProviderError",
    "TextGenerator",
    "Transcriber",
]


class CallRecorder(Protocol):
    def record(self, call: CallRecord) -> None: ...


@dataclass
class MemoryRecorder:
    """Collects call records in memory; the asset writes them to the database afterwards."""

    calls: list[CallRecord] = field(default_factory=list)

    def record(self, call: CallRecord) -> None:
        self.calls.append(call)


@dataclass(frozen=True)
class FrameInput:
    """What a captioner gets for one keyframe."""

    frame_index: int
    image_path: Path
    timestamp_s: float
    ocr_text: str = ""  # text OCR found near this moment, a hint for the captioner


class Transcriber(Protocol):
    provider: str
    model: str

    def transcribe(self, wav_path: Path) -> list[TranscriptSegment]: ...


class Captioner(Protocol):
    provider: str
    model: str

    def caption(self, frames: list[FrameInput]) -> list[FrameCaption]: ...


class Embedder(Protocol):
    provider: str
    model: str
    dimensions: int

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class TextGenerator(Protocol):
    """Structured text generation: returns a JSON object that validates against ``schema``."""

    provider: str
    model: str

    def generate_json(
        self, *, system: str, user: str, schema_name: str, schema: dict[str, Any]
    ) -> dict[str, Any]: ...

    def generate_many(self, requests: list[GenerationRequest]) -> list[GenerationResult]: ...


@dataclass(frozen=True)
class GenerationRequest:
    key: str  # e.g. the content type, "chapters"
    system: str
    user: str
    schema_name: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class GenerationResult:
    key: str
    value: dict[str, Any] | None
    error: str | None = None  # set when this one request failed after its retries


class ProviderError(RuntimeError):
    """A provider call failed after its retries; the message never contains a key."""
