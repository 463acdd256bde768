"""The speakers stage's work, without Dagster: label a transcript with who speaks.

A transcript whose provider already told the speakers (a diarizing OpenAI-compatible
transcription model gives each segment a ``speaker``) keeps them, renumbered "1", "2" ...
by first appearance; otherwise the offline encoder and clustering of
:mod:`vidmine.speakers.diarize` find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from vidmine.models import TranscriptSegment
from vidmine.speakers.diarize import (
    DiarizationSettings,
    SpeakerTurn,
    assign_speakers,
    diarize,
    talk_seconds,
)


@dataclass(frozen=True)
class SpeakerLabels:
    segments: list[TranscriptSegment]
    turns: list[SpeakerTurn]
    engine: str  # "local/resemblyzer" or "transcript" (the provider told them)
    windows: int = 0
    eigengap: float | None = None

    @property
    def talk_s(self) -> dict[str, float]:
        return talk_seconds(self.turns)


def provider_speakers(segments: Sequence[TranscriptSegment]) -> SpeakerLabels | None:
    """The speakers a diarizing transcriber gave, renumbered; None when it gave none."""
    if not segments or any(s.speaker is None for s in segments):
        return None
    numbers: dict[str, str] = {}
    labelled, turns = [], []
    for segment in segments:
        key = numbers.setdefault(segment.speaker or "", str(len(numbers) + 1))
        words = tuple(replace(w, speaker=key) for w in segment.words)
        labelled.append(replace(segment, speaker=key, words=words))
        if turns and turns[-1].speaker == key and segment.start_s - turns[-1].end_s < 1.0:
            turns[-1] = replace(turns[-1], end_s=segment.end_s)
        else:
            turns.append(SpeakerTurn(key, segment.start_s, segment.end_s))
    return SpeakerLabels(labelled, turns, "transcript")


def label_speakers(
    wav_path: Path | None,
    segments: Sequence[TranscriptSegment],
    settings: DiarizationSettings | None = None,
) -> SpeakerLabels:
    told = provider_speakers(segments)
    if told is not None:
        return told
    if wav_path is None or not segments:
        return SpeakerLabels(list(segments), [], "none (no speech)")
    from vidmine.speakers.audio import read_wav
    from vidmine.speakers.encoder import shared_encoder

    result = diarize(
        read_wav(wav_path), segments, shared_encoder(), settings or DiarizationSettings()
    )
    return SpeakerLabels(
        assign_speakers(segments, result.turns),
        result.turns,
        "local/resemblyzer",
        result.windows,
        result.eigengap,
    )
