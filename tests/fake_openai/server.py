"""The fake server itself: ``FakeOpenAI`` (start, stop, configure, counters), its HTTP
handler routing each request to the endpoint's module after the injected failures, and
``running_fake_openai`` for tests."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fake_openai.chat import chat_completion
from fake_openai.embeddings import embeddings
from fake_openai.failures import (
    CHAT_ENDPOINT,
    Behaviour,
    Counters,
    error_body,
    injected_failure,
    plan_request,
    wrong_api_key,
)
from fake_openai.transcription import transcription

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_BODY_BYTES = 64 * 1024 * 1024
EMBEDDINGS_ENDPOINT = "/v1/embeddings"
TRANSCRIPTIONS_ENDPOINT = "/v1/audio/transcriptions"


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
        self._counters = Counters()
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
            self._counters = Counters(in_flight=in_flight, max_in_flight=in_flight)

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
            return plan_request(self._behaviour, self._counters, endpoint)

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

    def _error(self, status: int, message: str, kind: str) -> None:
        self._send(status, error_body(message, kind))

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
        if endpoint not in (CHAT_ENDPOINT, EMBEDDINGS_ENDPOINT, TRANSCRIPTIONS_ENDPOINT):
            self._error(404, f"no route POST {self.path}", "invalid_request_error")
            return
        self._api(endpoint, body)

    def _api(self, endpoint: str, body: bytes) -> None:
        fake = self.server.fake
        plan = fake._begin(endpoint)
        status, payload, content_type, headers = 500, b"", "application/json", {}
        try:
            fake._sleep(plan.latency_ms / 1000.0)
            refused = wrong_api_key(plan, self.headers.get("Authorization", ""))
            if refused is not None:
                fake._count("served_401")
                status, payload = refused
                return
            failure = injected_failure(plan)
            if failure is not None:
                status, payload, headers = failure
                return
            if plan.hang:
                fake._sleep(plan.hang_s)
            status, payload, content_type = _answer(endpoint, body, self.headers, plan, fake)
        except Exception as err:  # an answer, not a dead connection, for any bug in the fake
            log.exception("fake OpenAI failed on %s", endpoint)
            status, payload = 500, error_body(f"fake server error: {err}", "server_error")
        finally:
            # Out of flight before the answer is written: the client can only see the
            # answer (and send its next request) after the count went down.
            fake._end(completed=status == 200)
            self._send(status, payload, content_type, headers)


def _answer(
    endpoint: str, body: bytes, headers: Any, plan: Behaviour, fake: FakeOpenAI
) -> tuple[int, bytes, str]:
    if endpoint == "/v1/models":
        return 200, json.dumps(_models()).encode(), "application/json"
    if endpoint == TRANSCRIPTIONS_ENDPOINT:
        return transcription(body, headers.get("Content-Type", ""), plan)
    request = json.loads(body or b"{}")
    if endpoint == EMBEDDINGS_ENDPOINT:
        return 200, json.dumps(embeddings(request)).encode(), "application/json"
    completion, broken = chat_completion(request, plan)
    if broken:
        fake._count("served_malformed")
    return 200, json.dumps(completion).encode(), "application/json"


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


@contextlib.contextmanager
def running_fake_openai(**options: Any) -> Iterator[FakeOpenAI]:
    """A started fake server on an ephemeral loopback port, stopped on exit."""
    fake = FakeOpenAI(**options).start()
    try:
        yield fake
    finally:
        fake.stop()
