"""Speech to timed segments through an OpenAI-compatible ``audio.transcriptions`` endpoint."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from vidmine.languages import normalize_language
from vidmine.media.ffmpeg import MediaError, run_ffmpeg, run_ffprobe_json
from vidmine.models import TranscriptSegment, Word
from vidmine.providers.base import ProviderError
from vidmine.providers.cache import file_hash
from vidmine.providers.openai.client import OpenAIProvider, Usage, first_failure

# OpenAI rejects uploads over 25 MB; stay a little under.
MAX_AUDIO_UPLOAD_BYTES = 24 * 1024 * 1024
PCM_16K_MONO_BYTES_PER_S = 32_000


def _media_duration_s(path: Path) -> float:
    try:
        duration = run_ffprobe_json(path).get("format", {}).get("duration")
        return float(duration)
    except MediaError as err:
        raise ProviderError(str(err)) from None
    except (TypeError, ValueError):
        raise ProviderError(f"{path}: ffprobe reports no duration; is it an audio file?") from None


def _cut_audio(source: Path, start_s: float, length_s: float, target: Path) -> None:
    """One chunk of ``source`` as 16 kHz mono PCM WAV (decoding makes the cut sample-exact)."""
    args = ["-v", "error", "-ss", f"{start_s:.3f}", "-t", f"{length_s:.3f}", "-i", str(source)]
    args += ["-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", str(target)]
    try:
        run_ffmpeg(args, what=f"cut {source} at {start_s:.1f} s for upload")
    except MediaError as err:
        raise ProviderError(str(err)) from None


def diarizes(model: str) -> bool:
    """Whether the model tells speakers (``gpt-4o-transcribe-diarize``): it is asked for
    ``diarized_json``, whose segments carry a ``speaker`` and no word times."""
    return "diarize" in model


class OpenAITranscriber(OpenAIProvider):
    """Speech to timed segments with ``audio.transcriptions`` (verbose_json, segment times;
    diarized_json, segments with their speaker, for a diarizing model).

    Audio over the upload limit is cut into chunks with ffmpeg, transcribed in parallel,
    and the chunk's start added to its segment times. Chunks are cut at fixed lengths,
    so a word at a cut may be split between two segments.
    """

    stage = "transcribe"

    def __init__(
        self,
        *,
        model: str = "whisper-1",
        language: str | None = None,
        max_upload_bytes: int = MAX_AUDIO_UPLOAD_BYTES,
        **common: Any,
    ) -> None:
        super().__init__(model=model, **common)
        self.language = language
        self.max_upload_bytes = max_upload_bytes

    def transcribe(self, wav_path: Path) -> list[TranscriptSegment]:
        wav_path = Path(wav_path)
        if not wav_path.is_file():
            raise ProviderError(f"audio file {wav_path} does not exist")
        with tempfile.TemporaryDirectory(prefix="vidmine-chunks-") as scratch:
            chunks = self._chunks(wav_path, Path(scratch))
            answers = self._answers(chunks)
        segments: list[TranscriptSegment] = []
        for chunk_index, ((_, offset, length), answer) in enumerate(
            zip(chunks, answers, strict=True)
        ):
            # whisper-1 names the chunk's language in full ("german"); older cached
            # answers hold no language or words.
            language = normalize_language(answer.get("language")) or self.language
            words = [
                Word(
                    str(w["word"]).strip(),
                    round(offset + float(w["start"]), 3),
                    round(offset + max(float(w["end"]), float(w["start"])), 3),
                )
                for w in answer.get("words", [])
                if str(w["word"]).strip()
            ]
            for item in answer["segments"]:
                text = str(item["text"]).strip()
                if not text:
                    continue
                start = offset + max(0.0, float(item["start"]))
                end = offset + min(float(item["end"]), length)
                segments.append(
                    TranscriptSegment(
                        index=len(segments),
                        start_s=round(start, 3),
                        end_s=round(max(end, start), 3),
                        text=text,
                        language=language,
                        # a word belongs to the segment its middle falls in
                        words=tuple(
                            w for w in words if start <= (w.start_s + w.end_s) / 2 < max(end, start)
                        ),
                        # a diarizing model's label; chunks are labelled apart, so the
                        # chunk is part of the name ("0:A"), and the speakers stage numbers them
                        speaker=f"{chunk_index}:{item['speaker']}" if item.get("speaker") else None,
                    )
                )
        return segments

    def _chunks(self, wav_path: Path, scratch: Path) -> list[tuple[Path, float, float]]:
        """(file, start in the whole audio, length) of each piece to upload."""
        duration = _media_duration_s(wav_path)
        if wav_path.stat().st_size <= self.max_upload_bytes:
            return [(wav_path, 0.0, duration)]
        chunk_s = max(1.0, float(int(0.95 * self.max_upload_bytes / PCM_16K_MONO_BYTES_PER_S)))
        chunks = []
        start = 0.0
        while start < duration:
            length = min(chunk_s, duration - start)
            target = scratch / f"chunk_{len(chunks):04d}.wav"
            _cut_audio(wav_path, start, length, target)
            chunks.append((target, start, length))
            start += chunk_s
        return chunks

    def _answers(self, chunks: list[tuple[Path, float, float]]) -> list[dict[str, Any]]:
        params = {
            "response_format": "diarized_json" if diarizes(self.model) else "verbose_json",
            # Still "segment" although words are asked for too: answers cached before
            # (without words) stay usable instead of being paid for again.
            "granularity": "segment",
            "language": self.language,
        }
        keys = [self.cache_key(file_hash(path), params) for path, _, _ in chunks]
        return first_failure(
            self.answers(keys, lambda batch: [self._transcribe_chunk(*chunks[i]) for i in batch])
        )

    def _transcribe_chunk(self, path: Path, offset: float, length: float) -> dict[str, Any]:
        audio = path.read_bytes()
        extra: dict[str, Any] = {"language": self.language} if self.language else {}
        # A long chunk takes the server a while to transcribe; do not time it out at a
        # timeout_s meant for chat-sized requests (about 5x real time is ample).
        timeout = max(self._config.timeout_s, length / 5)

        if diarizes(self.model):
            # diarized_json has no word times; long audio needs a chunking strategy
            extra |= {"response_format": "diarized_json", "chunking_strategy": "auto"}
        else:
            extra |= {
                "response_format": "verbose_json",
                "timestamp_granularities": ["segment", "word"],
            }

        def attempt(usage: Usage) -> dict[str, Any]:
            answer = self._client.audio.transcriptions.create(
                model=self.model,
                file=(path.name, audio, "audio/wav"),
                timeout=timeout,
                **extra,
            )
            usage.add(getattr(answer, "usage", None))
            usage.audio_seconds = float(getattr(answer, "duration", None) or length)
            raw_segments = getattr(answer, "segments", None)
            if raw_segments is None:
                # A server without segment times: one segment over the whole chunk.
                text = str(getattr(answer, "text", "") or "")
                return {
                    "segments": [{"start": 0.0, "end": length, "text": text}]
                    if text.strip()
                    else []
                }
            return {
                "segments": [
                    {
                        "start": float(s.start),
                        "end": float(s.end),
                        "text": str(s.text),
                        **(
                            {"speaker": str(s.speaker)}
                            if getattr(s, "speaker", None) is not None
                            else {}
                        ),
                    }
                    for s in raw_segments
                ],
                "language": getattr(answer, "language", None),
                "words": [
                    {"word": str(w.word), "start": float(w.start), "end": float(w.end)}
                    for w in getattr(answer, "words", None) or []
                ],
            }

        return self.request(
            f"transcription of {path.name} (from {offset:.1f} s)", attempt, audio_seconds=length
        )
