"""What the handlers of `vidmine serve` share, kept on ``app.state``: the settings, the
store, the query embedder, the Dagster callables and the page templates.

``create_app`` builds one ``WebState``; a handler reads it with ``web_state(request)``, so
a route module needs no closure and a test can build an app around one router.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import jinja2
from starlette.requests import Request

from vidmine.config import MediaLimits
from vidmine.db.store import Store
from vidmine.providers.base import CallRecord, TextGenerator
from vidmine.settings import VidmineHome
from vidmine.web.runs import ActiveRuns, PipelineHealth
from vidmine.web.uploads import DEFAULT_MAX_UPLOAD_MB


class QueryEmbedder(Protocol):
    """What search needs from an embedder (vidmine.providers' embedders are this)."""

    model: str
    dimensions: int

    def embed(self, texts: list[str]) -> list[list[float]]: ...


@dataclass
class QueryEmbeddingCalls:
    """Counts the embedder's calls for /stats; keeps no records, so memory stays flat."""

    calls: int = 0
    errors: int = 0
    latency_ms: float = 0.0
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, call: CallRecord) -> None:
        with self._guard:
            self.calls += 1
            self.errors += call.status == "error"
            self.latency_ms += call.latency_ms or 0.0

    def reset(self) -> None:
        with self._guard:
            self.calls = self.errors = 0
            self.latency_ms = 0.0


@dataclass(frozen=True)
class WebSettings:
    home: VidmineHome
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 1_000_000
    # Required when serving beyond loopback (the CLI enforces it); None: no token checked.
    token: str | None = None
    known_profiles: frozenset[str] = frozenset()
    # Host names answered besides IP literals (vidmine.web.guard); the CLI adds the bound
    # name, this machine's names and VIDMINE_ALLOWED_HOSTS.
    allowed_hosts: frozenset[str] = frozenset({"localhost"})
    media_limits: MediaLimits = field(default_factory=MediaLimits)  # vidmine.yaml `limits`
    # The providers the stages use, with their max_concurrent (vidmine.yaml `providers`):
    # /stats and the library show each one's requests, adaptive limit and waiting runs.
    provider_ceilings: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WebState:
    """Everything a handler may read, built once per app by ``create_app``."""

    store: Store
    embedder: QueryEmbedder
    settings: WebSettings
    templates: jinja2.Environment
    api_document: dict[str, Any]  # /openapi.json, built once: it depends on the token only
    # Dagster's queued and running runs for /stats and the library; None: unavailable.
    active_runs: ActiveRuns | None = None
    # Whether the daemon that takes uploads is alive; None: this server cannot tell.
    pipeline_health: PipelineHealth | None = None
    embedding_calls: QueryEmbeddingCalls = field(default_factory=QueryEmbeddingCalls)
    # Writes answers to questions; None or local: extractive answers.
    generator: TextGenerator | None = None
    # One query embedding at a time: the model is CPU-bound.
    embed_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def home(self) -> VidmineHome:
        return self.settings.home


def web_state(request: Request) -> WebState:
    """The state ``create_app`` put on the app that answers ``request``."""
    return request.app.state.web
