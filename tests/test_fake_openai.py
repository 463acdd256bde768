"""The fake OpenAI-compatible server: its answers, its injected misbehaviour, its counters."""

from __future__ import annotations

import base64
import io
import json
import math
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import wave
from pathlib import Path

import jsonschema
import openai
import pytest
from fake_openai import (
    FakeOpenAI,
    example_from_schema,
    fake_embedding,
    running_fake_openai,
)


def _client(fake: FakeOpenAI, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0, timeout=timeout)


def _wav_bytes(seconds: float, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()


def _post_json(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 3, "maxLength": 40},
        "chapters": {
            "type": "array",
            "minItems": 3,
            "items": {"$ref": "#/$defs/chapter"},
        },
        "tone": {"type": "string", "enum": ["calm", "urgent"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "count": {"type": "integer", "minimum": 5},
        "public": {"type": "boolean"},
        "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
    },
    "required": ["title", "chapters", "tone", "score", "count", "public", "note"],
    "additionalProperties": False,
    "$defs": {
        "chapter": {
            "type": "object",
            "properties": {"start_s": {"type": "number"}, "heading": {"type": "string"}},
            "required": ["start_s", "heading"],
            "additionalProperties": False,
        }
    },
}


def test_examples_validate_against_their_schema_and_are_deterministic():
    value = example_from_schema(SCHEMA, "seed-a")
    jsonschema.validate(value, SCHEMA)
    assert len(value["chapters"]) == 3
    assert example_from_schema(SCHEMA, "seed-a") == value
    assert example_from_schema(SCHEMA, "seed-b")["title"] != value["title"]


def test_chat_answers_json_matching_the_requested_schema_with_usage():
    with running_fake_openai() as fake:
        completion = _client(fake).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Write chapters for this talk."}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "chapters", "strict": True, "schema": SCHEMA},
            },
        )
    jsonschema.validate(json.loads(completion.choices[0].message.content), SCHEMA)
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0


def test_embeddings_are_unit_vectors_honouring_dimensions_and_base64():
    with running_fake_openai() as fake:
        client = _client(fake)
        floats = client.embeddings.create(
            model="text-embedding-3-small", input=["alpha", "beta"], dimensions=64
        )
        default = client.embeddings.create(model="text-embedding-3-small", input="alpha")
        raw = client.with_raw_response.embeddings.create(
            model="text-embedding-3-small", input=["alpha"], dimensions=8, encoding_format="base64"
        )
    vectors = [item.embedding for item in floats.data]
    assert [len(v) for v in vectors] == [64, 64]
    # The client may fetch float32 base64 and decode it: equal to float32 precision.
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-6)
    assert vectors[0] == pytest.approx(fake_embedding("alpha", 64), abs=1e-6)
    assert vectors[0] != vectors[1]
    assert len(default.data[0].embedding) == 1536
    encoded = json.loads(raw.http_response.text)["data"][0]["embedding"]
    decoded = struct.unpack("<8f", base64.b64decode(encoded))
    assert decoded == pytest.approx(fake_embedding("alpha", 8), abs=1e-6)


def test_transcription_segments_follow_the_audio_length():
    with running_fake_openai(segment_s=4.0, transcript_text="one two three four five six") as fake:
        answer = _client(fake).audio.transcriptions.create(
            model="whisper-1",
            file=("a.wav", _wav_bytes(10.0), "audio/wav"),
            response_format="verbose_json",
            timestamp_granularities=["segment"],
        )
    assert answer.duration == pytest.approx(10.0)
    assert [(s.start, s.end) for s in answer.segments] == [(0.0, 4.0), (4.0, 8.0), (8.0, 10.0)]
    assert " ".join(s.text.strip() for s in answer.segments) == "one two three four five six"


def test_injected_failures_are_served_in_order_and_counted():
    with running_fake_openai(fail_429=1, retry_after="2", fail_5xx=1) as fake:
        client = _client(fake)
        with pytest.raises(openai.RateLimitError) as rate_limited:
            client.models.list()
        assert rate_limited.value.response.headers["retry-after"] == "2"
        with pytest.raises(openai.InternalServerError):
            client.models.list()
        client.models.list()
        stats = fake.stats()
        assert stats["requests"] == 3
        assert stats["by_endpoint"] == {"/v1/models": 3}
        assert stats["served_429"] == 1 and stats["served_5xx"] == 1
        fake.reset()
        assert fake.stats()["requests"] == 0


def test_malformed_answers_by_count_and_by_marker():
    with running_fake_openai(malformed=1, malformed_marker="BREAK-ME") as fake:
        client = _client(fake)

        def ask(text: str) -> str:
            completion = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": text}],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": SCHEMA},
                },
            )
            return completion.choices[0].message.content

        with pytest.raises(json.JSONDecodeError):
            json.loads(ask("first"))
        json.loads(ask("second"))
        with pytest.raises(json.JSONDecodeError):
            json.loads(ask("please BREAK-ME now"))
        assert fake.stats()["served_malformed"] == 2


def test_hang_outlasts_the_client_timeout_and_stop_does_not_wait_for_it():
    fake = FakeOpenAI(hang=1, hang_s=30).start()
    try:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            _client(fake, timeout=0.3).models.list()
        assert time.monotonic() - started < 5
        assert fake.stats()["served_hangs"] == 1
    finally:
        started = time.monotonic()
        fake.stop()
    assert time.monotonic() - started < 5


def test_required_key_mismatch_gets_401():
    with running_fake_openai(require_api_key="right") as fake:
        with pytest.raises(openai.AuthenticationError):
            _client(fake).models.list()
        ok = openai.OpenAI(base_url=fake.base_url, api_key="right", max_retries=0)
        assert ok.models.list().data


def test_control_endpoint_configures_counts_and_resets():
    with running_fake_openai() as fake:
        root = fake.base_url.removesuffix("/v1")
        status, stats = _post_json(f"{root}/_control", {"fail_5xx": 1, "status_5xx": 503})
        assert status == 200 and stats["pending"]["fail_5xx"] == 1
        with pytest.raises(openai.InternalServerError) as failed:
            _client(fake).models.list()
        assert failed.value.status_code == 503
        with urllib.request.urlopen(f"{root}/_control/stats", timeout=5) as response:
            assert json.loads(response.read())["served_5xx"] == 1
        status, _ = _post_json(f"{root}/_control", {"no_such_option": 1})
        assert status == 400
        status, stats = _post_json(f"{root}/_control/reset", {})
        assert status == 200 and stats["requests"] == 0


def test_in_flight_counts_concurrent_requests():
    import threading

    with running_fake_openai(latency_ms=150) as fake:
        client = _client(fake)
        threads = [threading.Thread(target=client.models.list) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        stats = fake.stats()
    assert stats["max_in_flight"] == 4
    assert stats["in_flight"] == 0


def test_only_loopback_hosts_are_allowed():
    with pytest.raises(ValueError, match="loopback"):
        FakeOpenAI(host="0.0.0.0")


def test_command_line_server_prints_its_url_and_stops_on_terminate():
    process = subprocess.Popen(
        [sys.executable, "-m", "fake_openai", "--port", "0", "--latency-ms", "1"],
        cwd=Path(__file__).parent,  # `python -m` finds tests/fake_openai from here
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=5)
        assert any(m.id == "whisper-1" for m in client.models.list().data)
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
