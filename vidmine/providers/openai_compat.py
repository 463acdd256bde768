"""Providers that talk to OpenAI or any OpenAI-compatible server, via the official client.

One class per AI stage: :class:`OpenAITranscriber`, :class:`OpenAICaptioner`,
:class:`OpenAIEmbedder` and :class:`OpenAITextGenerator`. What they share:

- the client is built from the provider's config (``base_url``, the key read from the
  environment variable ``api_key_env`` names, or the placeholder ``"unused"`` for
  servers that need none, ``timeout_s``) with the client's own retries off: retries,
  the in-flight bound and the per-minute limits are :mod:`vidmine.providers.limits`';
- before asking, the response cache is consulted (key over provider, model, a hash of
  the input content and the parameters); a hit is recorded as a ``"cached"`` call and
  no request is made. The cache is only touched from the calling thread;
- every request ends in one :class:`CallRecord` (tokens from ``usage``, latency,
  retries, status) in the recorder given to the constructor;
- batch methods run requests in parallel threads; the limiter bounds them (across
  processes too when ``slots_database_url`` names vidmine's database, see
  :mod:`vidmine.providers.slots`);
- the API key never appears in a record, a log line or an exception message: error
  texts are scrubbed of it (and of anything shaped like a key) before they leave.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import openai
from PIL import Image

from vidmine.config import ProviderConfig
from vidmine.languages import normalize_language
from vidmine.media.ffmpeg import MediaError, run_ffmpeg, run_ffprobe_json
from vidmine.models import FrameCaption, TranscriptSegment, Word
from vidmine.providers.base import (
    CallRecord,
    CallRecorder,
    FrameInput,
    GenerationRequest,
    GenerationResult,
    MemoryRecorder,
    ProviderError,
)
from vidmine.providers.cache import ResponseCache, cache_key, content_hash, file_hash
from vidmine.providers.limits import (
    RequestFailed,
    RetryableAnswerError,
    RetryPolicy,
    call_with_retries,
    limiter_for,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")

NO_KEY_PLACEHOLDER = "unused"  # local OpenAI-compatible servers often need no key
# OpenAI rejects uploads over 25 MB; stay a little under.
MAX_AUDIO_UPLOAD_BYTES = 24 * 1024 * 1024
PCM_16K_MONO_BYTES_PER_S = 32_000
EMBEDDING_BATCH_SIZE = 96
JPEG_QUALITY = 85

CAPTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "caption": {"type": "string"},
        "entities": {"type": "array", "items": {"type": "string"}},
        "on_screen_text": {"type": "string"},
    },
    "required": ["caption", "entities", "on_screen_text"],
    "additionalProperties": False,
}
CAPTION_SYSTEM_PROMPT = (
    "You describe one keyframe of a video so that people can find the moment by searching. "
    "Answer with JSON: 'caption' is one or two plain sentences on what is visible (people, "
    "objects, setting, actions, charts or slides); 'entities' lists the named things and key "
    "objects visible; 'on_screen_text' is the legible text in the image, verbatim, or an "
    "empty string. Describe only what the image shows."
)

_KEY_SHAPES = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}[A-Za-z0-9_\-*.]*"),
    re.compile(r"(?i)\bbearer\s+\S+"),
)


# -- shared machinery --------------------------------------------------------------------


def api_key_from_env(provider: str, config: ProviderConfig) -> str | None:
    """The provider's key from the environment; None when the provider needs none."""
    if not config.api_key_env:
        return None
    key = os.environ.get(config.api_key_env, "").strip()
    if not key:
        raise ProviderError(
            f"providers.{provider}.api_key_env names {config.api_key_env}, which is not set; "
            f"export {config.api_key_env}=... or point the stages at another provider"
        )
    return key


@dataclass
class _Usage:
    """What the attempts of one call used, added up (a malformed answer still costs)."""

    input_tokens: int = 0
    output_tokens: int = 0
    audio_seconds: float = 0.0

    def add(self, usage: Any) -> None:
        if usage is None:
            return
        self.input_tokens += int(
            getattr(usage, "prompt_tokens", None) or getattr(usage, "input_tokens", None) or 0
        )
        self.output_tokens += int(
            getattr(usage, "completion_tokens", None) or getattr(usage, "output_tokens", None) or 0
        )


class _OpenAIProvider:
    """The client, limiter, retry policy, recorder and cache behind one stage's provider."""

    stage: str

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        config: ProviderConfig,
        recorder: CallRecorder | None = None,
        cache: ResponseCache | None = None,
        retry_policy: RetryPolicy | None = None,
        slots_database_url: str | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self._config = config
        self._recorder: CallRecorder = recorder if recorder is not None else MemoryRecorder()
        # Records arrive from worker threads; the recorder need not be thread-safe.
        self._record_lock = threading.Lock()
        self._cache = cache
        self._key = api_key_from_env(provider, config)
        self._policy = retry_policy or RetryPolicy.from_config(config)
        self._limiter = limiter_for(provider, config, slots_database_url=slots_database_url)
        self._client = openai.OpenAI(
            base_url=config.base_url,
            api_key=self._key or NO_KEY_PLACEHOLDER,
            timeout=config.timeout_s,
            max_retries=0,
        )

    # -- key hygiene --

    def _redact(self, text: str) -> str:
        if self._key:
            text = text.replace(self._key, "[redacted]")
        for shape in _KEY_SHAPES:
            text = shape.sub("[redacted]", text)
        return text

    def _describe(self, error: BaseException) -> str:
        """The error as one line for records, logs and messages, with no key in it."""
        if isinstance(error, openai.APITimeoutError):
            detail = f"no answer within timeout_s={self._config.timeout_s:g}"
        elif isinstance(error, openai.APIConnectionError):
            detail = f"cannot reach {self._client.base_url}"
        elif isinstance(error, openai.APIStatusError):
            body = error.body.get("message") if isinstance(error.body, dict) else None
            detail = f"HTTP {error.status_code}: {body or error.message}"
        else:
            detail = str(error) or type(error).__name__
        return self._redact(f"{type(error).__name__}: {detail}")

    def _hint(self, error: BaseException) -> str:
        """What the user can do about a failure, naming the setting."""
        setting = f"providers.{self.provider}"
        if isinstance(error, openai.APITimeoutError):
            return f"; if the server is just slow, raise {setting}.timeout_s"
        if isinstance(error, openai.APIConnectionError):
            return f"; is the server running, and is {setting}.base_url right?"
        if isinstance(error, openai.APIStatusError):
            if error.status_code in (401, 403):
                if self._config.api_key_env:
                    return f"; check the key in ${self._config.api_key_env} ({setting}.api_key_env)"
                return f"; the server wants a key: set {setting}.api_key_env"
            if error.status_code == 404:
                return f"; check {setting}.base_url and that the server has model {self.model!r}"
            if error.status_code == 429:
                return f"; lower {setting}.max_concurrent or requests_per_minute"
        return ""

    # -- cache --

    def _cache_key(self, input_hash: str, params: dict[str, Any]) -> str:
        return cache_key(self.provider, self.model, input_hash, params)

    def _cached(self, key: str) -> dict[str, Any] | None:
        if self._cache is None:
            return None
        started = time.monotonic()
        hit = self._cache.cache_get(key)
        if hit is not None:
            self._emit(
                CallRecord(
                    stage=self.stage,
                    provider=self.provider,
                    model=self.model,
                    status="cached",
                    latency_ms=(time.monotonic() - started) * 1000,
                    cached=True,
                )
            )
        return hit

    def _emit(self, call: CallRecord) -> None:
        with self._record_lock:
            self._recorder.record(call)

    def _store(self, key: str, response: dict[str, Any]) -> None:
        if self._cache is not None:
            self._cache.cache_put(key, self.provider, self.model, response)

    # -- requests --

    def _request(
        self,
        what: str,
        attempt: Callable[[_Usage], T],
        *,
        tokens: int = 0,
        audio_seconds: float = 0.0,
    ) -> T:
        """Run one logical request (with retries), record it, and return its value.

        ``attempt`` makes one HTTP request and adds the usage it reports to the tally
        before validating the answer (raising RetryableAnswerError if it is unusable).
        """
        usage = _Usage(audio_seconds=audio_seconds)
        started = time.monotonic()
        try:
            value, retries = call_with_retries(
                lambda: attempt(usage),
                limiter=self._limiter,
                policy=self._policy,
                tokens=tokens,
                describe=self._describe,
            )
        except RequestFailed as failed:
            message = self._describe(failed.cause)
            self._record("error", started, failed.retries, usage, error=message)
            log.warning("%s %s %s failed: %s", self.provider, self.model, what, message)
            after = f" after {failed.retries} retries" if failed.retries else ""
            raise ProviderError(
                f"{self.provider} ({self.model}): {what} failed{after}: {message}"
                + self._hint(failed.cause)
            ) from None
        self._record("ok", started, retries, usage)
        return value

    def _record(
        self, status: str, started: float, retries: int, usage: _Usage, error: str = ""
    ) -> None:
        self._emit(
            CallRecord(
                stage=self.stage,
                provider=self.provider,
                model=self.model,
                status=status,
                latency_ms=(time.monotonic() - started) * 1000,
                retries=retries,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                audio_seconds=usage.audio_seconds,
                error=error,
            )
        )

    def _parallel(self, work: Callable[[U], T], items: Sequence[U]) -> list[T | BaseException]:
        """``work`` over ``items`` in threads, results in order; errors returned, not raised."""

        def guarded(item: U) -> T | BaseException:
            try:
                return work(item)
            except Exception as error:
                return error

        if len(items) <= 1:
            return [guarded(item) for item in items]
        workers = min(len(items), self._limiter.max_concurrent)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=self.provider) as pool:
            return list(pool.map(guarded, items))

    def _chat_json(
        self,
        usage: _Usage,
        *,
        messages: list[dict[str, Any]],
        schema_name: str,
        schema: dict[str, Any],
    ) -> dict[str, Any]:
        """One chat completion asking for JSON that validates against ``schema``."""
        completion = self._client.chat.completions.create(
            model=self.model,
            messages=messages,  # type: ignore[arg-type]
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": _schema_name(schema_name),
                    "strict": is_strict_compatible(schema),
                    "schema": schema,
                },
            },
        )
        usage.add(completion.usage)
        if not completion.choices:
            raise RetryableAnswerError("the answer had no choices")
        message = completion.choices[0].message
        if getattr(message, "refusal", None):
            raise ProviderError(f"the model refused: {message.refusal}")
        return parse_json_answer(message.content, schema)


def _schema_name(name: str) -> str:
    # OpenAI accepts only [a-zA-Z0-9_-]{1,64} here.
    return (re.sub(r"[^a-zA-Z0-9_-]", "_", name) or "answer")[:64]


def is_strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict structured output accepts the schema: every object closed
    (``additionalProperties: false``) and listing all its properties as required."""
    if isinstance(schema, list):
        return all(is_strict_compatible(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    if "properties" in schema or schema.get("type") == "object":
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required", [])) != set(properties):
            return False
    return all(is_strict_compatible(value) for value in schema.values())


def parse_json_answer(content: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    """The answer as a JSON object validated against ``schema``; RetryableAnswerError if not."""
    if not content:
        raise RetryableAnswerError("the answer was empty")
    try:
        value = json.loads(content)
    except json.JSONDecodeError as err:
        raise RetryableAnswerError(f"the answer was not valid JSON ({err.msg})") from None
    if not isinstance(value, dict):
        raise RetryableAnswerError("the answer was JSON but not an object")
    problem = schema_problem(value, schema)
    if problem:
        raise RetryableAnswerError(f"the answer does not match the schema: {problem}")
    return value


def schema_problem(value: Any, schema: dict[str, Any]) -> str | None:
    """Why ``value`` does not validate against ``schema``, or None when it does.

    Uses jsonschema when installed; otherwise checks that required keys are present.
    """
    try:
        import jsonschema
    except ImportError:
        return _missing_required(value, schema, "$")
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as err:
        where = "$" + "".join(f"[{p!r}]" for p in err.absolute_path)
        return f"{where}: {err.message}"
    return None


def _missing_required(value: Any, schema: dict[str, Any], where: str) -> str | None:
    if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
        for key in schema.get("required", []):
            if key not in value:
                return f"{where}: {key!r} is a required property"
        for key, sub in schema["properties"].items():
            if key in value and isinstance(sub, dict):
                problem = _missing_required(value[key], sub, f"{where}[{key!r}]")
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = _missing_required(item, schema["items"], f"{where}[{i}]")
            if problem:
                return problem
    return None


# -- transcription ---------------------------------------------------------------------------


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


class OpenAITranscriber(_OpenAIProvider):
    """Speech to timed segments with ``audio.transcriptions`` (verbose_json, segment times).

    Audio over the upload limit is cut into chunks with ffmpeg, transcribed in parallel,
    and the chunk's start added to its segment times. Chunks are cut at fixed lengths,
    so a word at a cut may be split between two segments.
    """

    stage = "transcribe"

    def __init__(
        self,
        *,
        provider: str,
        model: str = "whisper-1",
        config: ProviderConfig,
        recorder: CallRecorder | None = None,
        cache: ResponseCache | None = None,
        retry_policy: RetryPolicy | None = None,
        slots_database_url: str | None = None,
        language: str | None = None,
        max_upload_bytes: int = MAX_AUDIO_UPLOAD_BYTES,
    ) -> None:
        super().__init__(
            provider=provider,
            model=model,
            config=config,
            recorder=recorder,
            cache=cache,
            retry_policy=retry_policy,
            slots_database_url=slots_database_url,
        )
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
        for (_, offset, length), answer in zip(chunks, answers, strict=True):
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
            "response_format": "verbose_json",
            # Still "segment" although words are asked for too: answers cached before
            # (without words) stay usable instead of being paid for again.
            "granularity": "segment",
            "language": self.language,
        }
        keys = [self._cache_key(file_hash(path), params) for path, _, _ in chunks]
        answers: list[dict[str, Any] | None] = [self._cached(key) for key in keys]
        missing = [i for i, answer in enumerate(answers) if answer is None]
        results = self._parallel(lambda i: self._transcribe_chunk(*chunks[i]), missing)
        failure: BaseException | None = None
        for i, result in zip(missing, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            answers[i] = result
            self._store(keys[i], result)
        if failure is not None:
            raise failure
        return [answer for answer in answers if answer is not None]

    def _transcribe_chunk(self, path: Path, offset: float, length: float) -> dict[str, Any]:
        audio = path.read_bytes()
        extra: dict[str, Any] = {"language": self.language} if self.language else {}
        # A long chunk takes the server a while to transcribe; do not time it out at a
        # timeout_s meant for chat-sized requests (about 5x real time is ample).
        timeout = max(self._config.timeout_s, length / 5)

        def attempt(usage: _Usage) -> dict[str, Any]:
            answer = self._client.audio.transcriptions.create(
                model=self.model,
                file=(path.name, audio, "audio/wav"),
                response_format="verbose_json",
                timestamp_granularities=["segment", "word"],
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
                    {"start": float(s.start), "end": float(s.end), "text": str(s.text)}
                    for s in raw_segments
                ],
                "language": getattr(answer, "language", None),
                "words": [
                    {"word": str(w.word), "start": float(w.start), "end": float(w.end)}
                    for w in getattr(answer, "words", None) or []
                ],
            }

        return self._request(
            f"transcription of {path.name} (from {offset:.1f} s)", attempt, audio_seconds=length
        )


# -- captions ----------------------------------------------------------------------------------


def jpeg_for_upload(image_path: Path, max_image_px: int) -> bytes:
    """The image as JPEG with its long side at most ``max_image_px`` (fewer image tokens)."""
    try:
        with Image.open(image_path) as image:
            image = image.convert("RGB")
            image.thumbnail((max_image_px, max_image_px), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
            return buffer.getvalue()
    except (OSError, ValueError) as err:
        raise ProviderError(f"cannot read keyframe image {image_path}: {err}") from None


class OpenAICaptioner(_OpenAIProvider):
    """Keyframe captions from a vision chat model, as structured JSON (caption, entities, text)."""

    stage = "vision"

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        config: ProviderConfig,
        detail: str = "low",
        max_image_px: int = 768,
        recorder: CallRecorder | None = None,
        cache: ResponseCache | None = None,
        retry_policy: RetryPolicy | None = None,
        slots_database_url: str | None = None,
    ) -> None:
        super().__init__(
            provider=provider,
            model=model,
            config=config,
            recorder=recorder,
            cache=cache,
            retry_policy=retry_policy,
            slots_database_url=slots_database_url,
        )
        self.detail = detail
        self.max_image_px = max_image_px

    def caption(self, frames: list[FrameInput]) -> list[FrameCaption]:
        prepared = [
            (frame, jpeg_for_upload(frame.image_path, self.max_image_px)) for frame in frames
        ]
        params = {
            "detail": self.detail,
            "max_image_px": self.max_image_px,
            "schema": "frame_caption/1",
        }
        keys = [
            self._cache_key(
                content_hash(jpeg, CAPTION_SYSTEM_PROMPT, _caption_prompt(frame)), params
            )
            for frame, jpeg in prepared
        ]
        answers: list[dict[str, Any] | None] = [self._cached(key) for key in keys]
        missing = [i for i, answer in enumerate(answers) if answer is None]
        results = self._parallel(lambda i: self._caption_one(*prepared[i]), missing)
        failure: BaseException | None = None
        for i, result in zip(missing, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            answers[i] = result
            # Stored as each one succeeds, so a rerun after a failure pays only for the rest.
            self._store(keys[i], result)
        if failure is not None:
            raise failure
        return [
            FrameCaption(
                frame_index=frame.frame_index,
                caption=str(answer["caption"]).strip(),
                entities=[str(e).strip() for e in answer["entities"] if str(e).strip()],
                on_screen_text=str(answer["on_screen_text"]).strip(),
                provider=self.provider,
                model=self.model,
                descriptor_only=False,
            )
            for (frame, _), answer in zip(prepared, answers, strict=True)
            if answer is not None
        ]

    def _caption_one(self, frame: FrameInput, jpeg: bytes) -> dict[str, Any]:
        data_url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
        messages = [
            {"role": "system", "content": CAPTION_SYSTEM_PROMPT},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": _caption_prompt(frame)},
                    {"type": "image_url", "image_url": {"url": data_url, "detail": self.detail}},
                ],
            },
        ]
        tokens = (len(CAPTION_SYSTEM_PROMPT) + len(frame.ocr_text)) // 4 + 85
        return self._request(
            f"caption of frame {frame.frame_index}",
            lambda usage: self._chat_json(
                usage, messages=messages, schema_name="frame_caption", schema=CAPTION_SCHEMA
            ),
            tokens=tokens,
        )


def _caption_prompt(frame: FrameInput) -> str:
    prompt = f"Keyframe at {frame.timestamp_s:.1f} s into the video."
    ocr = " ".join(frame.ocr_text.split())
    if ocr:
        prompt += (
            f" OCR read this text on screen around then (it may contain errors): {ocr[:1000]!r}"
        )
    return prompt


# -- embeddings --------------------------------------------------------------------------------


class OpenAIEmbedder(_OpenAIProvider):
    """Text embeddings in batches, in the order given; ``dimensions`` sent to text-embedding-3."""

    stage = "embed"

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        dimensions: int,
        config: ProviderConfig,
        recorder: CallRecorder | None = None,
        cache: ResponseCache | None = None,
        retry_policy: RetryPolicy | None = None,
        slots_database_url: str | None = None,
        batch_size: int = EMBEDDING_BATCH_SIZE,
    ) -> None:
        super().__init__(
            provider=provider,
            model=model,
            config=config,
            recorder=recorder,
            cache=cache,
            retry_policy=retry_policy,
            slots_database_url=slots_database_url,
        )
        self.dimensions = dimensions
        self.batch_size = batch_size

    def _sends_dimensions(self) -> bool:
        # Only the text-embedding-3 family accepts a dimensions parameter.
        return self.model.startswith("text-embedding-3")

    def embed(self, texts: list[str]) -> list[list[float]]:
        params = {"dimensions": self.dimensions}
        keys = [self._cache_key(content_hash(text), params) for text in texts]
        vectors: list[list[float] | None] = []
        for key in keys:
            hit = self._cached(key)
            vectors.append(hit["embedding"] if hit else None)
        missing = [i for i, vector in enumerate(vectors) if vector is None]
        batches = [
            missing[i : i + self.batch_size] for i in range(0, len(missing), self.batch_size)
        ]
        results = self._parallel(
            lambda batch: self._embed_batch([texts[i] for i in batch]), batches
        )
        failure: BaseException | None = None
        for batch, result in zip(batches, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            for i, vector in zip(batch, result, strict=True):
                vectors[i] = vector
                self._store(keys[i], {"embedding": vector})
        if failure is not None:
            raise failure
        return [vector for vector in vectors if vector is not None]

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        # The API rejects empty strings; a space embeds as "nothing" all the same.
        inputs = [text if text.strip() else " " for text in texts]
        extra: dict[str, Any] = {"dimensions": self.dimensions} if self._sends_dimensions() else {}

        def attempt(usage: _Usage) -> list[list[float]]:
            answer = self._client.embeddings.create(
                model=self.model, input=inputs, encoding_format="float", **extra
            )
            usage.add(answer.usage)
            ordered = sorted(answer.data, key=lambda item: item.index)
            if len(ordered) != len(inputs):
                raise RetryableAnswerError(
                    f"asked for {len(inputs)} embeddings, got {len(ordered)}"
                )
            vectors = [list(map(float, item.embedding)) for item in ordered]
            if any(len(v) != self.dimensions for v in vectors):
                raise ProviderError(
                    f"{self.model} returned {len(vectors[0])}-dimensional embeddings but "
                    f"stages.embed.dimensions is {self.dimensions}; set it to match the model"
                )
            return vectors

        tokens = sum(len(text) for text in inputs) // 4
        return self._request(f"embedding of {len(inputs)} texts", attempt, tokens=tokens)


# -- text generation -----------------------------------------------------------------------------


class OpenAITextGenerator(_OpenAIProvider):
    """JSON written by a chat model under a JSON schema (structured outputs).

    A schema OpenAI's strict mode accepts (every object closed and fully required) is
    sent with ``strict: true``; others are sent non-strict. Either way the answer is
    validated here, and a malformed one is asked again up to ``max_retries`` times.
    """

    stage = "generate"

    def generate_json(
        self, *, system: str, user: str, schema_name: str, schema: dict[str, Any]
    ) -> dict[str, Any]:
        key = self._generation_key(system, user, schema_name, schema)
        hit = self._cached(key)
        if hit is not None:
            return hit["value"]
        value = self._generate(system, user, schema_name, schema)
        self._store(key, {"value": value})
        return value

    def generate_many(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        keys = [self._generation_key(r.system, r.user, r.schema_name, r.schema) for r in requests]
        results: list[GenerationResult | None] = []
        for request, key in zip(requests, keys, strict=True):
            hit = self._cached(key)
            results.append(GenerationResult(request.key, hit["value"]) if hit else None)
        missing = [i for i, result in enumerate(results) if result is None]
        answers = self._parallel(
            lambda i: self._generate(
                requests[i].system, requests[i].user, requests[i].schema_name, requests[i].schema
            ),
            missing,
        )
        for i, answer in zip(missing, answers, strict=True):
            if isinstance(answer, BaseException):
                error = str(answer) if isinstance(answer, ProviderError) else self._describe(answer)
                results[i] = GenerationResult(requests[i].key, None, error=error)
            else:
                results[i] = GenerationResult(requests[i].key, answer)
                self._store(keys[i], {"value": answer})
        return [result for result in results if result is not None]

    def _generation_key(
        self, system: str, user: str, schema_name: str, schema: dict[str, Any]
    ) -> str:
        schema_text = json.dumps(schema, sort_keys=True)
        return self._cache_key(
            content_hash(system, user, schema_name, schema_text), {"format": "json_schema"}
        )

    def _generate(
        self, system: str, user: str, schema_name: str, schema: dict[str, Any]
    ) -> dict[str, Any]:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return self._request(
            f"generation of {schema_name}",
            lambda usage: self._chat_json(
                usage, messages=messages, schema_name=schema_name, schema=schema
            ),
            tokens=(len(system) + len(user)) // 4,
        )
