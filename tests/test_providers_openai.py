"""The OpenAI-compatible providers, with the real openai client against the fake server."""

from __future__ import annotations

import itertools
import logging
import subprocess
import threading
import time
from pathlib import Path

import jsonschema
import pytest
from fake_openai import FakeOpenAI, fake_embedding, running_fake_openai
from PIL import Image

from vidmine.config import ConfigError, Price, ProviderConfig, parse_config
from vidmine.providers import local, registry
from vidmine.providers.base import (
    CallRecord,
    FrameInput,
    GenerationRequest,
    MemoryRecorder,
    ProviderError,
)
from vidmine.providers.cache import MemoryCache, cache_key
from vidmine.providers.limits import RetryPolicy, limiter_for
from vidmine.providers.openai import (
    OpenAICaptioner,
    OpenAIEmbedder,
    OpenAITextGenerator,
    OpenAITranscriber,
    jpeg_for_upload,
)
from vidmine.providers.pricing import estimate_cost

FAST = RetryPolicy(max_retries=5, initial_backoff_s=0.01, max_backoff_s=0.05)
_names = itertools.count()


def _provider_name() -> str:
    # Limiters are shared per provider name and settings: a fresh name per test keeps
    # one test's in-flight counts out of another's.
    return f"fake{next(_names)}"


def _config(fake: FakeOpenAI, **overrides) -> ProviderConfig:
    settings = {"base_url": fake.base_url, "timeout_s": 5.0, "max_retries": 5} | overrides
    return ProviderConfig(**settings)


def _generator(fake: FakeOpenAI, recorder: MemoryRecorder, policy=FAST, cache=None, **config):
    return OpenAITextGenerator(
        provider=_provider_name(),
        model="gpt-4o-mini",
        config=_config(fake, **config),
        recorder=recorder,
        cache=cache,
        retry_policy=policy,
    )


SUMMARY_SCHEMA = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "topics": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "start_s": {"type": "number"}},
                "required": ["name", "start_s"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["summary", "topics"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> list[FrameInput]:
    folder = tmp_path_factory.mktemp("frames")
    made = []
    for index, source in enumerate(["testsrc2=size=1280x720", "color=c=navy:size=640x360"]):
        path = folder / f"frame_{index}.png"
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                source,
                "-frames:v",
                "1",
                str(path),
            ],
            check=True,
        )
        made.append(FrameInput(index, path, 12.3 + index, ocr_text="QUARTERLY RESULTS"))
    return made


@pytest.fixture(scope="module")
def speech_like_wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=12"),
            *("-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", str(path)),
        ],
        check=True,
    )
    return path


def test_captions_round_trip_as_structured_json(frames):
    recorder = MemoryRecorder()
    with running_fake_openai() as fake:
        captioner = OpenAICaptioner(
            provider=_provider_name(),
            model="gpt-4o",
            config=_config(fake),
            detail="low",
            max_image_px=256,
            recorder=recorder,
            retry_policy=FAST,
        )
        captions = captioner.caption(frames)
        assert fake.stats()["by_endpoint"] == {"/v1/chat/completions": 2}
    assert [c.frame_index for c in captions] == [0, 1]
    for caption in captions:
        assert caption.caption and caption.on_screen_text and caption.entities
        assert caption.provider == captioner.provider and caption.model == "gpt-4o"
        assert caption.descriptor_only is False
    assert [c.status for c in recorder.calls] == ["ok", "ok"]
    assert all(
        c.stage == "vision" and c.input_tokens > 85 and c.output_tokens > 0 for c in recorder.calls
    )


def test_uploaded_image_is_downscaled_to_the_profile_limit(frames):
    import io

    with Image.open(io.BytesIO(jpeg_for_upload(frames[0].image_path, 256))) as image:
        assert image.format == "JPEG" and max(image.size) == 256
        assert image.size == (256, 144)


def test_generate_json_round_trip_validates_against_the_schema():
    recorder = MemoryRecorder()
    with running_fake_openai() as fake:
        value = _generator(fake, recorder).generate_json(
            system="You summarise talks.",
            user="Transcript: ...",
            schema_name="summary",
            schema=SUMMARY_SCHEMA,
        )
    jsonschema.validate(value, SUMMARY_SCHEMA)
    (call,) = recorder.calls
    assert call.status == "ok" and call.stage == "generate" and call.retries == 0
    assert call.input_tokens > 0 and call.output_tokens > 0


def test_embeddings_keep_order_across_batches_and_send_dimensions():
    recorder = MemoryRecorder()
    texts = [f"sentence number {i}" for i in range(7)] + [""]
    with running_fake_openai() as fake:
        embedder = OpenAIEmbedder(
            provider=_provider_name(),
            model="text-embedding-3-small",
            dimensions=256,
            config=_config(fake),
            recorder=recorder,
            retry_policy=FAST,
            batch_size=3,
        )
        vectors = embedder.embed(texts)
        assert fake.stats()["by_endpoint"] == {"/v1/embeddings": 3}
    assert len(vectors) == len(texts)
    for text, vector in zip(texts[:-1], vectors, strict=False):
        assert vector == pytest.approx(fake_embedding(text, 256), abs=1e-6)
    assert len(recorder.calls) == 3 and all(c.input_tokens > 0 for c in recorder.calls)


def test_embedding_dimension_mismatch_names_the_setting():
    with running_fake_openai() as fake:
        embedder = OpenAIEmbedder(
            provider=_provider_name(),
            model="some-other-embedder",  # gets no dimensions parameter: answers 1536
            dimensions=384,
            config=_config(fake),
            retry_policy=FAST,
        )
        with pytest.raises(ProviderError, match=r"stages\.embed\.dimensions"):
            embedder.embed(["hello"])
        assert fake.stats()["requests"] == 1  # not retried: asking again cannot help


def test_transcription_whole_and_in_chunks_gives_absolute_times(speech_like_wav):
    with running_fake_openai(segment_s=2.0, transcript_text="a b c d e f g h i j k l") as fake:
        recorder = MemoryRecorder()
        whole = OpenAITranscriber(
            provider=_provider_name(), config=_config(fake), recorder=recorder, retry_policy=FAST
        ).transcribe(speech_like_wav)
        assert [s.start_s for s in whole] == [0, 2, 4, 6, 8, 10]
        assert whole[-1].end_s == pytest.approx(12.0)
        assert [s.index for s in whole] == list(range(6))
        assert recorder.calls[0].audio_seconds == pytest.approx(12.0)

        chunked_recorder = MemoryRecorder()
        chunked = OpenAITranscriber(
            provider=_provider_name(),
            config=_config(fake),
            recorder=chunked_recorder,
            retry_policy=FAST,
            max_upload_bytes=200_000,  # 5 s of 16 kHz mono PCM per chunk
        ).transcribe(speech_like_wav)
    # Chunks [0,5) [5,10) [10,12], each with fake segments every 2 s.
    assert [s.start_s for s in chunked] == [0, 2, 4, 5, 7, 9, 10]
    assert [s.end_s for s in chunked] == pytest.approx([2, 4, 5, 7, 9, 10, 12], abs=0.01)
    assert [s.index for s in chunked] == list(range(7))
    assert len(chunked_recorder.calls) == 3
    assert sum(c.audio_seconds for c in chunked_recorder.calls) == pytest.approx(12.0, abs=0.01)


def test_transcription_fills_language_and_words_from_the_answer(speech_like_wav):
    """whisper-1 names the language in full ("german") and gives word times on request."""
    with running_fake_openai(
        segment_s=6.0, transcript_text="eins zwei drei vier", transcript_language="german"
    ) as fake:
        segments = OpenAITranscriber(
            provider=_provider_name(), config=_config(fake), retry_policy=FAST
        ).transcribe(speech_like_wav)
    assert [s.language for s in segments] == ["de", "de"]
    assert [[w.word for w in s.words] for s in segments] == [["eins", "zwei"], ["drei", "vier"]]
    assert [(w.start_s, w.end_s) for w in segments[1].words] == [(6.0, 9.0), (9.0, 12.0)]


def test_in_flight_never_exceeds_max_concurrent_and_reaches_it(frames):
    """20 generations plus captions from a second provider object of the same provider."""
    name = _provider_name()
    with running_fake_openai(latency_ms=100) as fake:
        config = _config(fake, max_concurrent=3)
        generator = OpenAITextGenerator(
            provider=name, model="gpt-4o-mini", config=config, retry_policy=FAST
        )
        captioner = OpenAICaptioner(provider=name, model="gpt-4o", config=config, retry_policy=FAST)
        requests = [
            GenerationRequest(f"r{i}", "system", f"user {i}", "summary", SUMMARY_SCHEMA)
            for i in range(20)
        ]
        captions: list = []
        side = threading.Thread(target=lambda: captions.extend(captioner.caption(frames * 3)))
        started = time.monotonic()
        side.start()
        results = generator.generate_many(requests)
        side.join(timeout=30)
        elapsed = time.monotonic() - started
        stats = fake.stats()
    assert all(r.error is None and r.value for r in results)
    assert [r.key for r in results] == [f"r{i}" for i in range(20)]
    assert len(captions) == 6
    assert stats["requests"] == 26
    assert stats["max_in_flight"] == 3
    assert limiter_for(name, config).max_in_flight == 3
    assert elapsed >= 26 / 3 * 0.1 * 0.9  # bounded: 3 at a time, 100 ms each


def test_requests_per_minute_blocks_until_allowed():
    # 120 per minute: a burst of 12, then one every 0.5 s.
    with running_fake_openai() as fake:
        generator = _generator(fake, MemoryRecorder(), requests_per_minute=120, max_concurrent=4)
        requests = [
            GenerationRequest(f"r{i}", "s", f"u{i}", "summary", SUMMARY_SCHEMA) for i in range(14)
        ]
        started = time.monotonic()
        results = generator.generate_many(requests)
        elapsed = time.monotonic() - started
    assert all(r.error is None for r in results)
    assert elapsed >= 0.9


def test_a_storm_of_429s_ends_in_success_with_the_retries_counted():
    recorder = MemoryRecorder()
    with running_fake_openai(fail_429=5, retry_after="0") as fake:
        value = _generator(fake, recorder).generate_json(
            system="s", user="u", schema_name="summary", schema=SUMMARY_SCHEMA
        )
        stats = fake.stats()
    assert value["summary"]
    assert stats["served_429"] == 5 and stats["requests"] == 6
    (call,) = recorder.calls
    assert call.status == "ok" and call.retries == 5


def test_retry_after_is_honoured():
    recorder = MemoryRecorder()
    with running_fake_openai(fail_429=1, retry_after="0.4") as fake:
        started = time.monotonic()
        _generator(fake, recorder).generate_json(
            system="s", user="u", schema_name="x", schema=SUMMARY_SCHEMA
        )
    assert time.monotonic() - started >= 0.4
    assert recorder.calls[0].retries == 1


def test_too_many_429s_fail_after_max_retries():
    recorder = MemoryRecorder()
    with running_fake_openai(fail_429=10) as fake:
        generator = _generator(
            fake, recorder, policy=RetryPolicy(max_retries=2, initial_backoff_s=0.01)
        )
        with pytest.raises(ProviderError, match=r"after 2 retries.*429"):
            generator.generate_json(system="s", user="u", schema_name="x", schema=SUMMARY_SCHEMA)
        assert fake.stats()["requests"] == 3
    (call,) = recorder.calls
    assert call.status == "error" and call.retries == 2 and "429" in call.error


def test_a_hang_times_out_then_the_retry_succeeds():
    recorder = MemoryRecorder()
    with running_fake_openai(hang=1, hang_s=20) as fake:
        started = time.monotonic()
        value = _generator(fake, recorder, timeout_s=0.5).generate_json(
            system="s", user="u", schema_name="x", schema=SUMMARY_SCHEMA
        )
        elapsed = time.monotonic() - started
        assert fake.stats()["served_hangs"] == 1
    assert value["summary"]
    assert 0.5 <= elapsed < 5
    assert recorder.calls[0].retries == 1 and recorder.calls[0].status == "ok"


def test_server_errors_are_retried():
    recorder = MemoryRecorder()
    with running_fake_openai(fail_5xx=2, status_5xx=503) as fake:
        _generator(fake, recorder).generate_json(
            system="s", user="u", schema_name="x", schema=SUMMARY_SCHEMA
        )
        assert fake.stats()["served_5xx"] == 2
    assert recorder.calls[0].retries == 2


def test_malformed_json_is_retried_then_fails_alone_in_generate_many():
    recorder = MemoryRecorder()
    policy = RetryPolicy(max_retries=2, initial_backoff_s=0.01)
    with running_fake_openai(malformed_marker="GARBLE") as fake:
        generator = _generator(fake, recorder, policy=policy)
        requests = [
            GenerationRequest("chapters", "s", "fine request", "chapters", SUMMARY_SCHEMA),
            GenerationRequest("summary", "s", "please GARBLE this", "summary", SUMMARY_SCHEMA),
            GenerationRequest("quotes", "s", "another fine one", "quotes", SUMMARY_SCHEMA),
        ]
        results = generator.generate_many(requests)
        assert fake.stats()["served_malformed"] == 3  # first try and two retries
    by_key = {r.key: r for r in results}
    assert by_key["chapters"].value and by_key["quotes"].value
    assert by_key["summary"].value is None
    assert "not valid JSON" in by_key["summary"].error
    failed = [c for c in recorder.calls if c.status == "error"]
    assert len(failed) == 1 and failed[0].retries == 2
    # The malformed answers still cost tokens, and the record says so.
    assert failed[0].output_tokens > 0


def test_malformed_answer_then_valid_one_succeeds():
    recorder = MemoryRecorder()
    with running_fake_openai(malformed=1) as fake:
        value = _generator(fake, recorder).generate_json(
            system="s", user="u", schema_name="x", schema=SUMMARY_SCHEMA
        )
        assert fake.stats()["requests"] == 2
    jsonschema.validate(value, SUMMARY_SCHEMA)
    assert recorder.calls[0].retries == 1


def test_a_cache_hit_makes_no_request(frames):
    cache = MemoryCache()
    recorder = MemoryRecorder()
    with running_fake_openai() as fake:
        generator = _generator(fake, recorder, cache=cache)
        first = generator.generate_json(
            system="s", user="u", schema_name="x", schema=SUMMARY_SCHEMA
        )
        second = generator.generate_json(
            system="s", user="u", schema_name="x", schema=SUMMARY_SCHEMA
        )
        assert fake.stats()["requests"] == 1

        captioner = OpenAICaptioner(
            provider=generator.provider,
            model="gpt-4o",
            config=_config(fake),
            cache=cache,
            recorder=recorder,
        )
        assert captioner.caption(frames) == captioner.caption(frames)
        embedder = OpenAIEmbedder(
            provider=generator.provider,
            model="text-embedding-3-small",
            dimensions=32,
            config=_config(fake),
            cache=cache,
            recorder=recorder,
        )
        embedder.embed(["a", "b"])
        assert embedder.embed(["b", "c", "a"]) == [
            pytest.approx(fake_embedding(t, 32), abs=1e-6) for t in ["b", "c", "a"]
        ]
        assert fake.stats()["requests"] == 1 + 2 + 1 + 1
    assert first == second
    statuses = [c.status for c in recorder.calls]
    assert statuses.count("cached") == 1 + 2 + 2
    cached = [c for c in recorder.calls if c.status == "cached"]
    assert all(c.cached and c.input_tokens == 0 for c in cached)


def test_a_rerun_after_a_partial_failure_pays_only_for_what_failed():
    cache = MemoryCache()
    policy = RetryPolicy(max_retries=0, initial_backoff_s=0.01)
    requests = [
        GenerationRequest(key, "s", f"{key} GARBLE" if key == "b" else key, key, SUMMARY_SCHEMA)
        for key in ("a", "b", "c")
    ]
    with running_fake_openai(malformed_marker="GARBLE") as fake:
        generator = _generator(fake, MemoryRecorder(), cache=cache, policy=policy)
        first = generator.generate_many(requests)
        assert [r.value is not None for r in first] == [True, False, True]
        assert len(cache) == 2  # each success is stored, whatever happened to the others
        fake.configure(malformed_marker=None)
        before = fake.stats()["requests"]
        second = generator.generate_many(requests)
        assert fake.stats()["requests"] - before == 1
    assert all(r.error is None and r.value for r in second)
    assert [r.value for r in second][::2] == [r.value for r in first][::2]


def test_cache_key_is_canonical():
    assert cache_key("p", "m", "h", {"a": 1, "b": 2}) == cache_key("p", "m", "h", {"b": 2, "a": 1})
    assert cache_key("p", "m", "h", {"a": 1}) != cache_key("p", "m2", "h", {"a": 1})


def test_the_api_key_never_leaks(monkeypatch, caplog, tmp_path):
    secret = "sk-test-LEAKCHECK-0123456789abcdef"
    monkeypatch.setenv("VIDMINE_FAKE_KEY", secret)
    caplog.set_level(logging.DEBUG)
    recorder = MemoryRecorder()
    # The server wants another key and echoes the one it got in its 401, as real ones partly do.
    with running_fake_openai(require_api_key="another-key") as fake:
        generator = _generator(fake, recorder, api_key_env="VIDMINE_FAKE_KEY")
        with pytest.raises(ProviderError) as failed:
            generator.generate_json(system="s", user="u", schema_name="x", schema=SUMMARY_SCHEMA)
        results = generator.generate_many([GenerationRequest("k", "s", "u2", "x", SUMMARY_SCHEMA)])
        assert fake.stats()["served_401"] == 2
        fake.configure(require_api_key=secret, fail_429=1)
        generator.generate_json(system="s", user="ok now", schema_name="x", schema=SUMMARY_SCHEMA)
    assert "401" in str(failed.value)
    texts = [str(failed.value), repr(failed.value), results[0].error or "", caplog.text]
    texts += [c.error for c in recorder.calls] + [repr(c) for c in recorder.calls]
    for text in texts:
        assert secret not in text
        assert "LEAKCHECK" not in text


def test_a_missing_key_variable_is_named(monkeypatch):
    monkeypatch.delenv("VIDMINE_UNSET_KEY", raising=False)
    with pytest.raises(ProviderError, match="VIDMINE_UNSET_KEY"):
        OpenAITextGenerator(
            provider="somewhere",
            model="m",
            config=ProviderConfig(
                base_url="http://127.0.0.1:9/v1", api_key_env="VIDMINE_UNSET_KEY"
            ),
        )


def test_registry_picks_local_or_openai_compatible(tmp_path):
    config = parse_config(
        {
            "providers": {"fake": {"base_url": "http://127.0.0.1:9/v1", "max_concurrent": 2}},
            "stages": {
                "embed": {"provider": "fake", "model": "text-embedding-3-small", "dimensions": 64}
            },
            "profiles": {
                "premium": {
                    "image_detail": "high",
                    "max_image_px": 1024,
                    "stages": {"vision": {"provider": "fake"}},
                },
                "plain": {},
            },
            "default_profile": "plain",
        },
        tmp_path / "vidmine.yaml",
    )
    recorder = MemoryRecorder()
    captioner = registry.captioner_for(config, "premium", recorder, None)
    assert isinstance(captioner, OpenAICaptioner)
    assert (captioner.model, captioner.detail, captioner.max_image_px) == ("gpt-4o", "high", 1024)
    assert isinstance(registry.captioner_for(config, "plain", recorder, None), local.LocalCaptioner)
    embedder = registry.embedder_for(config, None, recorder, None)
    assert isinstance(embedder, OpenAIEmbedder) and embedder.dimensions == 64
    assert isinstance(
        registry.transcriber_for(config, None, recorder, None), local.LocalTranscriber
    )
    assert registry.generator_for(config, None, recorder, None) is None  # extractive
    assert isinstance(
        registry.transcriber_for(
            parse_config(
                {"providers": {"fake": {}}, "stages": {"transcribe": {"provider": "fake"}}},
                tmp_path / "c.yaml",
            ),
            None,
            recorder,
            None,
        ),
        OpenAITranscriber,
    )

    wrong_local = parse_config(
        {"stages": {"transcribe": {"model": "large-v3"}}}, tmp_path / "w.yaml"
    )
    with pytest.raises(ConfigError, match=r"stages.transcribe.model.*tiny.en"):
        registry.transcriber_for(wrong_local, None, recorder, None)
    unknown_dims = parse_config(
        {"providers": {"fake": {}}, "stages": {"embed": {"provider": "fake", "model": "e5-large"}}},
        tmp_path / "d.yaml",
    )
    with pytest.raises(ConfigError, match=r"stages\.embed\.dimensions"):
        registry.embedder_for(unknown_dims, None, recorder, None)


def test_limiters_are_shared_per_provider():
    config = ProviderConfig(max_concurrent=2)
    assert limiter_for("shared-check", config) is limiter_for(
        "shared-check", ProviderConfig(max_concurrent=2)
    )
    assert limiter_for("shared-check", config) is not limiter_for("other-check", config)


def _call(**fields) -> CallRecord:
    base = {
        "stage": "generate",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "status": "ok",
        "latency_ms": 1.0,
    }
    return CallRecord(**(base | fields))


def test_cost_estimates_use_config_prices_then_built_in_ones():
    assert estimate_cost(
        _call(model="whisper-1", stage="transcribe", audio_seconds=120), {}
    ) == pytest.approx(0.012)
    assert estimate_cost(
        _call(input_tokens=1_000_000, output_tokens=1_000_000), {}
    ) == pytest.approx(0.75)
    assert estimate_cost(
        _call(model="text-embedding-3-small", input_tokens=500_000), {}
    ) == pytest.approx(0.01)
    own = {"openai": {"gpt-4o-mini": Price(input_per_1m_tokens=1.0)}}
    assert estimate_cost(_call(input_tokens=2_000_000), own) == pytest.approx(2.0)
    assert estimate_cost(_call(input_tokens=10**6, status="cached", cached=True), {}) == 0.0
    assert estimate_cost(_call(provider="local", model="tiny.en", audio_seconds=600), {}) == 0.0
    assert estimate_cost(_call(provider="vllm", model="llama", input_tokens=10**6), {}) == 0.0


def test_tokens_per_minute_budget_blocks_until_refilled():
    from vidmine.providers.limits import ProviderLimiter

    limiter = ProviderLimiter(
        "tpm-check", max_concurrent=2, requests_per_minute=6000, tokens_per_minute=6000
    )
    started = time.monotonic()
    with limiter.request_slot(tokens=6000):
        pass
    assert time.monotonic() - started < 0.2
    with limiter.request_slot(tokens=50):  # 100 tokens a second come back: ~0.5 s
        pass
    assert time.monotonic() - started >= 0.4
    assert limiter.in_flight == 0 and limiter.max_in_flight == 1
