"""The built-in offline providers: Whisper base and tiny.en, MiniLM, the frame descriptor,
no LLM."""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest
from media_helpers import shared_media, word_error_rate

from vidmine.providers import local
from vidmine.providers.base import FrameInput, MemoryRecorder, ProviderError
from vidmine.samples import DEMO_SCENES, make_sample_video


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


JFK_WORDS = (
    "and so my fellow americans ask not what your country can do for you "
    "ask what you can do for your country"
)


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z ]", " ", text.lower()).split())


@pytest.fixture(scope="module")
def transcriber() -> local.LocalTranscriber:
    return local.LocalTranscriber(MemoryRecorder())


@pytest.fixture(scope="module")
def embedder() -> local.LocalEmbedder:
    return local.LocalEmbedder(MemoryRecorder())


def test_jfk_speech_is_transcribed_with_word_aligned_times(transcriber, tmp_path):
    source = shared_media("audio/jfk.flac")
    wav = tmp_path / "jfk.wav"
    _ffmpeg("-i", str(source), "-ac", "1", "-ar", "16000", str(wav))
    recorder = MemoryRecorder()
    segments = local.LocalTranscriber(recorder).transcribe(wav)
    text = _words(" ".join(s.text for s in segments))
    assert text == JFK_WORDS  # word-exact, with Whisper base as it was with tiny.en
    assert {s.language for s in segments} == {"en"}
    assert all(s.words for s in segments)
    americans = next(s for s in segments if "americans" in s.text.lower())
    assert americans.start_s <= 2.0
    assert [s.index for s in segments] == list(range(len(segments)))
    assert all(s.text == s.text.strip() and s.end_s >= s.start_s for s in segments)
    assert segments[-1].end_s <= 11.5
    (call,) = recorder.calls
    assert call.provider == "local" and call.status == "ok"
    assert call.audio_seconds == pytest.approx(11.0, abs=0.1)


def test_tiny_en_stays_available_and_word_exact_on_jfk(tmp_path):
    wav = tmp_path / "jfk.wav"
    _ffmpeg("-i", str(shared_media("audio/jfk.flac")), "-ac", "1", "-ar", "16000", str(wav))
    segments = local.LocalTranscriber(model="tiny.en").transcribe(wav)
    assert _words(" ".join(s.text for s in segments)) == JFK_WORDS
    assert {s.language for s in segments} == {"en"}


def test_silence_and_empty_audio_give_no_segments(transcriber, tmp_path):
    silent = tmp_path / "silent.wav"
    _ffmpeg(
        "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3", "-c:a", "pcm_s16le", str(silent)
    )
    assert transcriber.transcribe(silent) == []
    empty = tmp_path / "empty.wav"
    _ffmpeg(
        "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "0", "-c:a", "pcm_s16le", str(empty)
    )
    assert transcriber.transcribe(empty) == []


def test_whisper_loads_once_per_process(transcriber):
    assert local.LocalTranscriber()._whisper() is transcriber._whisper()


def test_missing_audio_is_named(transcriber, tmp_path):
    with pytest.raises(ProviderError, match=r"nope\.wav"):
        transcriber.transcribe(tmp_path / "nope.wav")


def test_minilm_embeddings_are_normalised_384_dims_and_meaningful(embedder):
    texts = [
        "The cat sits on the mat.",
        "A kitten is sitting on a rug.",
        "Quarterly revenue grew 8%.",
    ]
    vectors = embedder.embed(texts)
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors)

    def cosine(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2
    assert embedder.embed([]) == []
    assert local.LocalEmbedder()._encoder() is embedder._encoder()
    assert (embedder.provider, embedder.model, embedder.dimensions) == (
        "local",
        "all-MiniLM-L6-v2",
        384,
    )


def test_embedding_batches_give_the_same_vectors(embedder):
    texts = [f"sentence {i} about topic {i % 3}" for i in range(10)]
    small_batches = local.LocalEmbedder(batch_size=3).embed(texts)
    for a, b in zip(embedder.embed(texts), small_batches, strict=True):
        assert a == pytest.approx(b, abs=1e-5)


def test_descriptor_caption_from_colours_faces_and_ocr(tmp_path):
    frame_path = tmp_path / "frame.png"
    _ffmpeg("-f", "lavfi", "-i", "color=c=navy:size=320x180", "-frames:v", "1", str(frame_path))
    recorder = MemoryRecorder()
    captioner = local.LocalCaptioner(recorder)
    (caption,) = captioner.caption(
        [FrameInput(7, frame_path, 12.34, ocr_text="  QUARTERLY\n RESULTS ")]
    )
    assert caption.frame_index == 7
    assert caption.caption.startswith("Frame at 12.3 s: mostly ")
    assert "no faces" in caption.caption
    assert "on-screen text: 'QUARTERLY RESULTS'" in caption.caption
    assert caption.on_screen_text == "QUARTERLY RESULTS"
    assert {"QUARTERLY", "RESULTS"} <= set(caption.entities)
    assert caption.descriptor_only is True
    assert caption.note == local.DESCRIPTOR_NOTE
    assert (caption.provider, caption.model) == ("local", "descriptor")
    assert recorder.calls and recorder.calls[0].stage == "vision"


def test_descriptor_of_an_unreadable_image_names_the_file(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_text("not a picture")
    with pytest.raises(ProviderError, match=r"broken\.png"):
        local.LocalCaptioner().caption([FrameInput(0, broken, 1.0)])
    with pytest.raises(ProviderError, match=r"gone\.png"):
        local.LocalCaptioner().caption([FrameInput(0, tmp_path / "gone.png", 1.0)])


def test_descriptor_wording_without_visual_helpers():
    frame = FrameInput(0, Path("unused.png"), 5.0, ocr_text="")
    with_ocr = local.LocalCaptioner()._describe(
        FrameInput(0, Path("unused.png"), 5.0, ocr_text="Q3 of 2024"), [], 0
    )
    assert with_ocr.entities == ["Q3", "2024"]
    caption = local.LocalCaptioner()._describe(frame, ["dark blue", "white"], 1)
    assert caption.caption == "Frame at 5.0 s: mostly dark blue and white; 1 face"
    assert caption.entities == ["dark blue", "white"]
    assert caption.on_screen_text == ""
    two = local.LocalCaptioner()._describe(frame, [], 2)
    assert two.caption == "Frame at 5.0 s: 2 faces"


def test_the_demo_sample_is_heard_right(transcriber, tmp_path):
    """`make demo`'s first screen: what the sample says is what Whisper writes, within a
    bound (CTranslate2's int8 kernels differ by CPU, so not to the letter)."""
    video = make_sample_video(tmp_path / "demo.mp4", size="320x240")
    wav = tmp_path / "demo.wav"
    _ffmpeg("-i", str(video), "-ac", "1", "-ar", "16000", str(wav))
    heard = " ".join(seg.text for seg in transcriber.transcribe(wav))
    spoken = " ".join(scene.speech for scene in DEMO_SCENES)
    assert word_error_rate(spoken, heard) <= 0.1, heard


def test_device_auto_takes_a_gpu_if_there_is_one_else_the_cpu(tmp_path):
    """`device: auto` (the default) takes a CUDA GPU when CTranslate2 finds one; this
    machine has none, so both CTranslate2 models run on the CPU, as before the setting."""
    from vidmine.config import load_config
    from vidmine.providers.devices import cuda_devices
    from vidmine.providers.registry import embedder_for, transcriber_for

    gpu = cuda_devices() > 0
    config_file = tmp_path / "vidmine.yaml"
    config_file.write_text(
        "stages:\n  transcribe: {provider: local, device: auto}\n  embed: {device: cpu}\n"
    )
    config = load_config(config_file)
    transcriber = transcriber_for(config, None, MemoryRecorder())
    embedder = embedder_for(config, None, MemoryRecorder())
    expected = ("cuda", "float16") if gpu else ("cpu", "int8")
    assert (transcriber.placement.device, transcriber.placement.compute_type) == expected
    assert (embedder.placement.device, embedder.placement.compute_type) == ("cpu", "float32")
    assert len(embedder.embed(["a lighthouse on the coast"])[0]) == local.EMBED_DIMENSIONS


def test_device_cuda_without_a_gpu_and_device_on_a_remote_stage_are_named(tmp_path):
    from vidmine.config import ConfigError, load_config
    from vidmine.providers.devices import cuda_devices

    if cuda_devices() == 0:  # with a GPU, device: cuda is satisfied
        with pytest.raises(ProviderError, match=r"stages\.transcribe\.device: cuda.*no CUDA"):
            local.LocalTranscriber(device="cuda")
    config_file = tmp_path / "vidmine.yaml"
    config_file.write_text(
        "providers:\n  openai: {base_url: 'http://127.0.0.1:9/v1'}\n"
        "stages:\n  embed: {provider: openai, device: cuda, dimensions: 8}\n"
    )
    with pytest.raises(ConfigError, match=r"stages\.embed\.device: only the local provider"):
        load_config(config_file, check_keys=False)
    config_file.write_text("stages:\n  transcribe: {device: gpu}\n")
    with pytest.raises(ConfigError, match=r"device"):
        load_config(config_file)
