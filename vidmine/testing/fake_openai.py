"""A fake OpenAI-compatible HTTP server for tests and benchmarks, on 127.0.0.1 only.

It answers the four endpoints vidmine uses, deterministically and without any model:

- ``POST /v1/audio/transcriptions`` (multipart): ``verbose_json`` segments derived from
  the uploaded audio's length (one per ``segment_s`` seconds), or ``transcript_text``
  spread over them; ``diarized_json`` the same segments with speakers "A" and "B" taking
  turns of two segments;
- ``POST /v1/chat/completions``: with a ``json_schema`` response format, a JSON object
  generated from the schema (so it validates), seeded by the prompt; token usage from
  the text length;
- ``POST /v1/embeddings``: unit vectors from a hash of each input, honouring
  ``dimensions`` and ``encoding_format``;
- ``GET /v1/models``.

Misbehaviour can be injected at start or at run time (:meth:`FakeOpenAI.configure`, or
``POST /_control`` with a JSON body of the same options): a fixed latency, a number of
upcoming 429s (with ``Retry-After``), an overload (a 429 to every request
that arrives while more than ``throttle_above`` are in flight, as a server at capacity
answers; ``None`` turns it off), upcoming 5xx, hangs (a sleep past the client's
timeout), malformed chat answers (N times, or whenever the prompt holds a marker), and
a required API key (a wrong one gets a 401 that echoes it, as a leak trap). Counters
(``GET /_control/stats``, :meth:`FakeOpenAI.stats`): requests in total and per
endpoint, requests in flight now and at most, injected failures served, answers
completed (status 200). A benchmark drives phases (a storm of 429s, slow answers) by
changing the behaviour while it runs.

A request counts as in flight from when its body has been read until just before its
answer is written, so a client that never has more than N requests open can never make
the server count more than N (except hung requests the client gave up on).

Use :func:`running_fake_openai` in tests; ``python -m vidmine.testing.fake_openai
--port N --latency-ms L ...`` runs it standalone and prints its base URL.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import email.parser
import email.policy
import hashlib
import io
import json
import logging
import math
import signal
import socket
import struct
import threading
import time
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_EMBEDDING_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
FALLBACK_EMBEDDING_DIMENSIONS = 1536
PCM_16K_MONO_BYTES_PER_S = 32_000  # length estimate for uploads that are not WAV
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclasses.dataclass
class Behaviour:
    """What the server does to the next requests; counts are used up as requests arrive."""

    latency_ms: float = 0.0
    fail_429: int = 0  # upcoming requests answered 429
    retry_after: str | None = "0"  # Retry-After header of those 429s (None: no header)
    throttle_above: int | None = None  # 429 to a request arriving with more in flight
    fail_5xx: int = 0  # upcoming requests answered with status_5xx
    status_5xx: int = 500
    hang: int = 0  # upcoming requests that sleep hang_s before answering
    hang_s: float = 30.0
    malformed: int = 0  # upcoming chat completions answered with broken JSON
    malformed_marker: str | None = None  # chat prompts holding this always get broken JSON
    transcript_text: str | None = None  # spread over the transcription segments
    transcript_language: str = "english"  # the verbose_json "language", named as whisper-1 does
    segment_s: float = 5.0
    require_api_key: str | None = None  # other keys get 401

    def update(self, options: dict[str, Any]) -> None:
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise ValueError(f"unknown fake server options {unknown}; known: {sorted(names)}")
        for name, value in options.items():
            setattr(self, name, value)


@dataclasses.dataclass
class _Counters:
    requests: int = 0
    by_endpoint: dict[str, int] = dataclasses.field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    served_429: int = 0
    served_5xx: int = 0
    served_hangs: int = 0
    served_malformed: int = 0
    served_401: int = 0
    completed: int = 0  # answered 200


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeOpenAI


class FakeOpenAI:
    """The server; start with :meth:`start` (or use as a context manager), stop with :meth:`stop`."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the fake OpenAI server only listens on loopback, not {host!r}")
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._behaviour = Behaviour()
        self._behaviour.update(options)
        self._counters = _Counters()
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        server = _HTTPServer((self.host, self.port), _Handler)
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        log.info("fake OpenAI server listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers and close open keep-alive connections."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    # -- control ---------------------------------------------------------------------

    def configure(self, **options: Any) -> None:
        """Change behaviour (see :class:`Behaviour`) for the requests still to come."""
        with self._lock:
            self._behaviour.update(options)

    def reset(self) -> None:
        """Zero the counters (behaviour is left as configured)."""
        with self._lock:
            in_flight = self._counters.in_flight
            self._counters = _Counters(in_flight=in_flight, max_in_flight=in_flight)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counters = dataclasses.asdict(self._counters)
            counters["pending"] = {
                "fail_429": self._behaviour.fail_429,
                "fail_5xx": self._behaviour.fail_5xx,
                "hang": self._behaviour.hang,
                "malformed": self._behaviour.malformed,
            }
            return counters

    # -- used by the handler -----------------------------------------------------------

    def _register(self, conn: socket.socket, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _begin(self, endpoint: str) -> Behaviour:
        """Count a request in, and decide (using up injections) what happens to it."""
        with self._lock:
            c = self._counters
            c.requests += 1
            c.by_endpoint[endpoint] = c.by_endpoint.get(endpoint, 0) + 1
            c.in_flight += 1
            c.max_in_flight = max(c.max_in_flight, c.in_flight)
            plan = dataclasses.replace(self._behaviour, fail_429=0, fail_5xx=0, hang=0, malformed=0)
            b = self._behaviour
            if b.fail_429 > 0:
                b.fail_429 -= 1
                plan.fail_429 = 1
                c.served_429 += 1
            elif b.throttle_above is not None and c.in_flight > b.throttle_above:
                plan.fail_429 = 1
                c.served_429 += 1
            elif b.fail_5xx > 0:
                b.fail_5xx -= 1
                plan.fail_5xx = 1
                c.served_5xx += 1
            elif b.hang > 0:
                b.hang -= 1
                plan.hang = 1
                c.served_hangs += 1
            elif b.malformed > 0 and endpoint == "/v1/chat/completions":
                b.malformed -= 1
                plan.malformed = 1
            return plan

    def _end(self, completed: bool = False) -> None:
        with self._lock:
            self._counters.in_flight -= 1
            self._counters.completed += completed

    def _count(self, field: str) -> None:
        with self._lock:
            setattr(self._counters, field, getattr(self._counters, field) + 1)

    def _sleep(self, seconds: float) -> None:
        # Wakes early when the server stops, so stop() never waits for a hang.
        if seconds > 0:
            self._stopping.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects
    # Without it, Nagle plus delayed ACK adds ~40 ms to every reply on a kept-open connection.
    disable_nagle_algorithm = True
    server: _HTTPServer
    timeout = 60  # an idle keep-alive connection is dropped after this

    def setup(self) -> None:
        super().setup()
        self.server.fake._register(self.connection, opened=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._register(self.connection, opened=False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake OpenAI: " + format, *args)

    # -- plumbing ----------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ValueError(f"request body of {length} bytes is over the fake's limit")
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            # The client gave up (e.g. its timeout fired during a hang).
            self.close_connection = True

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), headers=headers)

    def _error(
        self, status: int, message: str, kind: str, headers: dict[str, str] | None = None
    ) -> None:
        payload = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        self._send_json(status, payload, headers)

    # -- routes --------------------------------------------------------------------------

    def do_GET(self) -> None:
        fake = self.server.fake
        if self.path == "/_control/stats":
            self._send_json(200, fake.stats())
            return
        if self.path.rstrip("/") == "/v1/models":
            self._api("/v1/models", b"")
            return
        self._error(404, f"no route GET {self.path}", "invalid_request_error")

    def do_POST(self) -> None:
        fake = self.server.fake
        try:
            body = self._read_body()
        except ValueError as err:
            self.close_connection = True
            self._error(413, str(err), "invalid_request_error")
            return
        if self.path == "/_control":
            try:
                fake.configure(**json.loads(body or b"{}"))
            except (ValueError, TypeError) as err:
                self._error(400, str(err), "invalid_request_error")
                return
            self._send_json(200, fake.stats())
            return
        if self.path == "/_control/reset":
            fake.reset()
            self._send_json(200, fake.stats())
            return
        endpoint = self.path.split("?")[0].rstrip("/")
        if endpoint not in (
            "/v1/chat/completions",
            "/v1/embeddings",
            "/v1/audio/transcriptions",
        ):
            self._error(404, f"no route POST {self.path}", "invalid_request_error")
            return
        self._api(endpoint, body)

    def _api(self, endpoint: str, body: bytes) -> None:
        fake = self.server.fake
        plan = fake._begin(endpoint)
        status, payload, content_type, headers = 500, b"", "application/json", {}
        try:
            fake._sleep(plan.latency_ms / 1000.0)
            if plan.require_api_key is not None:
                sent = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                if sent != plan.require_api_key:
                    fake._count("served_401")
                    # Echoes the key it got, as some real servers partly do: a leak trap.
                    status, payload = (
                        401,
                        _error_body(f"Incorrect API key provided: {sent}", "invalid_request_error"),
                    )
                    return
            if plan.fail_429:
                status, payload = (
                    429,
                    _error_body("Rate limit reached (injected)", "rate_limit_exceeded"),
                )
                if plan.retry_after is not None:
                    headers["Retry-After"] = str(plan.retry_after)
                return
            if plan.fail_5xx:
                status, payload = (
                    plan.status_5xx,
                    _error_body("Server error (injected)", "server_error"),
                )
                return
            if plan.hang:
                fake._sleep(plan.hang_s)
            status, payload, content_type = _answer(endpoint, body, self.headers, plan, fake)
        except Exception as err:  # an answer, not a dead connection, for any bug in the fake
            log.exception("fake OpenAI failed on %s", endpoint)
            status, payload = 500, _error_body(f"fake server error: {err}", "server_error")
        finally:
            # Out of flight before the answer is written: the client can only see the
            # answer (and send its next request) after the count went down.
            fake._end(completed=status == 200)
            self._send(status, payload, content_type, headers)


def _error_body(message: str, kind: str) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": kind, "param": None, "code": None}}
    ).encode()


def _answer(
    endpoint: str, body: bytes, headers: Any, plan: Behaviour, fake: FakeOpenAI
) -> tuple[int, bytes, str]:
    if endpoint == "/v1/models":
        return 200, json.dumps(_models()).encode(), "application/json"
    if endpoint == "/v1/audio/transcriptions":
        return _transcription(body, headers.get("Content-Type", ""), plan)
    request = json.loads(body or b"{}")
    if endpoint == "/v1/embeddings":
        return 200, json.dumps(_embeddings(request)).encode(), "application/json"
    return 200, json.dumps(_chat(request, plan, fake)).encode(), "application/json"


def _models() -> dict[str, Any]:
    names = [
        "gpt-4o",
        "gpt-4o-mini",
        "whisper-1",
        "text-embedding-3-small",
        "text-embedding-3-large",
    ]
    return {
        "object": "list",
        "data": [
            {"id": n, "object": "model", "created": 0, "owned_by": "vidmine-fake"} for n in names
        ],
    }


# -- chat completions ------------------------------------------------------------------


def _message_text(messages: list[dict[str, Any]]) -> tuple[str, int]:
    """All text in the messages, and how many images they carry."""
    texts, images = [], 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "text":
                    texts.append(str(part.get("text", "")))
                elif part.get("type") == "image_url":
                    images += 1
    return "\n".join(texts), images


def _digest(seed: str) -> str:
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def example_from_schema(
    schema: dict[str, Any],
    seed: str,
    *,
    root: dict[str, Any] | None = None,
    name: str = "value",
    depth: int = 0,
) -> Any:
    """A deterministic value that validates against ``schema`` (the subset structured outputs use)."""
    root = root if root is not None else schema
    if depth > 20:
        return None
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part] if part else target
        return example_from_schema(target, seed, root=root, name=name, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    digest = _digest(f"{seed}/{name}")
    if "enum" in schema:
        return schema["enum"][int(digest[:8], 16) % len(schema["enum"])]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return example_from_schema(options[0], seed, root=root, name=name, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        properties = schema.get("properties", {})
        return {
            key: example_from_schema(sub, seed, root=root, name=key, depth=depth + 1)
            for key, sub in properties.items()
        }
    if kind == "array":
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        # Three, because answers often need "a few" of something (titles, posts).
        count = max(low, 3 if high is None else min(3, int(high)))
        item_schema = schema.get("items", {"type": "string"})
        return [
            example_from_schema(item_schema, seed, root=root, name=f"{name}[{i}]", depth=depth + 1)
            for i in range(count)
        ]
    if kind in ("number", "integer"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        value: float = (
            int(digest[:4], 16) % 100 if kind == "integer" else (int(digest[:4], 16) % 1000) / 10
        )
        if name.endswith("start_s") or name.endswith("end_s"):
            # A time in the media: the opening second is inside any media file there is.
            value = 0.0 if name.endswith("start_s") else 1.0
        elif low is not None and high is not None:
            value = (low + high) / 2
        elif low is not None:
            value = low + 1
        elif high is not None:
            value = high - 1
        return math.floor(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return int(digest[0], 16) % 2 == 0
    if kind == "null":
        return None
    text = f"fake {name} {digest[:8]}"
    min_len = int(schema.get("minLength", 0))
    max_len = schema.get("maxLength")
    text = text.ljust(min_len, "x")
    return text[: int(max_len)] if max_len is not None else text


def _chat(request: dict[str, Any], plan: Behaviour, fake: FakeOpenAI) -> dict[str, Any]:
    text, images = _message_text(request.get("messages", []))
    seed = _digest(text)
    response_format = request.get("response_format") or {}
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema", {})
        content = json.dumps(example_from_schema(schema, seed))
    elif kind == "json_object":
        content = json.dumps({"answer": f"fake answer {seed[:8]}"})
    else:
        content = f"Fake answer {seed[:8]}."
    marked = bool(plan.malformed_marker) and plan.malformed_marker in text
    if plan.malformed or marked:
        fake._count("served_malformed")
        content = content[: max(1, len(content) // 2)]  # cut off mid-object: not JSON
    prompt_tokens = math.ceil(len(text) / 4) + 85 * images
    completion_tokens = math.ceil(len(content) / 4)
    return {
        "id": f"chatcmpl-fake-{seed[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "gpt-4o-mini"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


# -- embeddings ------------------------------------------------------------------------


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector from a hash of the text."""
    raw = hashlib.shake_256(text.encode("utf-8")).digest(4 * dimensions)
    values = [(v / 0xFFFFFFFF) * 2.0 - 1.0 for v in struct.unpack(f"<{dimensions}I", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _embeddings(request: dict[str, Any]) -> dict[str, Any]:
    model = request.get("model", "text-embedding-3-small")
    inputs = request.get("input", [])
    if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)):
        inputs = [inputs]
    dimensions = int(
        request.get("dimensions")
        or DEFAULT_EMBEDDING_DIMENSIONS.get(model, FALLBACK_EMBEDDING_DIMENSIONS)
    )
    as_base64 = request.get("encoding_format") == "base64"
    data, tokens = [], 0
    for index, item in enumerate(inputs):
        text = item if isinstance(item, str) else json.dumps(item)
        tokens += max(1, math.ceil(len(text) / 4))
        vector = fake_embedding(text, dimensions)
        encoded: Any = (
            base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            if as_base64
            else vector
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# -- transcriptions --------------------------------------------------------------------


def _multipart_fields(body: bytes, content_type: str) -> dict[str, tuple[bytes, str | None]]:
    """Form fields of a multipart/form-data body: name -> (bytes, file name or None)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, tuple[bytes, str | None]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        payload = part.get_payload(decode=True) or b""
        if str(name) in fields:  # a list, e.g. timestamp_granularities[]: values joined by ","
            payload = fields[str(name)][0] + b"," + payload
        fields[str(name)] = (payload, part.get_filename())
    return fields


def audio_duration_s(data: bytes) -> float:
    """Length of WAV audio from its header; other formats estimated as 16 kHz mono PCM."""
    try:
        with wave.open(io.BytesIO(data)) as reader:
            return reader.getnframes() / float(reader.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return len(data) / PCM_16K_MONO_BYTES_PER_S


def _transcription(body: bytes, content_type: str, plan: Behaviour) -> tuple[int, bytes, str]:
    fields = _multipart_fields(body, content_type)
    if "file" not in fields:
        return (
            400,
            _error_body("missing form field 'file'", "invalid_request_error"),
            "application/json",
        )
    duration = audio_duration_s(fields["file"][0])
    response_format = fields.get("response_format", (b"json", None))[0].decode() or "json"
    count = math.ceil(duration / plan.segment_s) if duration > 0 else 0
    words = plan.transcript_text.split() if plan.transcript_text else []
    segments = []
    for i in range(count):
        start, end = i * plan.segment_s, min((i + 1) * plan.segment_s, duration)
        if words:
            share = words[len(words) * i // count : len(words) * (i + 1) // count]
            text = " " + " ".join(share)
        else:
            text = f" Fake transcript segment {i + 1}."
        segments.append(
            {
                "id": i,
                "seek": 0,
                "start": round(start, 3),
                "end": round(end, 3),
                "text": text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": -0.1,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.01,
            }
        )
    # Asked for word times, each segment's words share its time evenly.
    want_words = b"word" in fields.get("timestamp_granularities[]", (b"", None))[0]
    word_times = []
    for segment in segments if want_words else []:
        tokens = segment["text"].split()
        step = (segment["end"] - segment["start"]) / max(1, len(tokens))
        word_times += [
            {
                "word": token,
                "start": round(segment["start"] + n * step, 3),
                "end": round(segment["start"] + (n + 1) * step, 3),
            }
            for n, token in enumerate(tokens)
        ]
    full_text = "".join(s["text"] for s in segments).strip()
    if response_format == "diarized_json":
        # gpt-4o-transcribe-diarize's shape: segments with a speaker, here "A", "B" in
        # turns of two segments (a conversation with a known truth to check against).
        diarized = {
            "task": "transcribe",
            "duration": round(duration, 3),
            "text": full_text,
            "segments": [
                {
                    "type": "transcript.text.segment",
                    "id": f"seg_{s['id']}",
                    "start": s["start"],
                    "end": s["end"],
                    "text": s["text"],
                    "speaker": "AB"[(s["id"] // 2) % 2],
                }
                for s in segments
            ],
            "usage": {"type": "duration", "seconds": math.ceil(duration)},
        }
        return 200, json.dumps(diarized).encode(), "application/json"
    if response_format == "text":
        return 200, full_text.encode(), "text/plain"
    if response_format != "verbose_json":
        return 200, json.dumps({"text": full_text}).encode(), "application/json"
    answer = {
        "task": "transcribe",
        "language": plan.transcript_language,
        "duration": round(duration, 3),
        "text": full_text,
        "segments": segments,
        **({"words": word_times} if want_words else {}),
        "usage": {"type": "duration", "seconds": math.ceil(duration)},
    }
    return 200, json.dumps(answer).encode(), "application/json"


# -- entry points ------------------------------------------------------------------------


@contextlib.contextmanager
def running_fake_openai(**options: Any) -> Iterator[FakeOpenAI]:
    """A started fake server on an ephemeral loopback port, stopped on exit."""
    fake = FakeOpenAI(**options).start()
    try:
        yield fake
    finally:
        fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Fake OpenAI-compatible server for tests and benchmarks."
    )
    parser.add_argument("--host", default="127.0.0.1", choices=LOOPBACK_HOSTS)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fail-429", type=int, default=0)
    parser.add_argument("--retry-after", default="0")
    parser.add_argument("--throttle-above", type=int, default=None)
    parser.add_argument("--fail-5xx", type=int, default=0)
    parser.add_argument("--status-5xx", type=int, default=500)
    parser.add_argument("--hang", type=int, default=0)
    parser.add_argument("--hang-s", type=float, default=30.0)
    parser.add_argument("--malformed", type=int, default=0)
    parser.add_argument("--malformed-marker", default=None)
    parser.add_argument("--transcript-text", default=None)
    parser.add_argument("--transcript-language", default="english")
    parser.add_argument("--segment-s", type=float, default=5.0)
    parser.add_argument("--require-api-key", default=None)
    parser.add_argument(
        "--max-lifetime-s",
        type=float,
        default=3600.0,
        help="stop by itself after this long, so a forgotten server does not linger",
    )
    args = vars(parser.parse_args(argv))
    host, port, lifetime = args.pop("host"), args.pop("port"), args.pop("max_lifetime_s")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    fake = FakeOpenAI(host=host, port=port, **args).start()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    # The one line a script reads to learn the port.
    print(fake.base_url, flush=True)  # noqa: T201
    stop.wait(lifetime)
    fake.stop()


if __name__ == "__main__":
    main()
