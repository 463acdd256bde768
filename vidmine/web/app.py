"""The Starlette app behind `vidmine serve`: its state, middleware, error handlers and
routes, put together. The handlers live in ``vidmine.web.routes``, one module per part of
the site.

Endpoints are plain functions over ``Store``; the blocking ones (database, embedding,
files) are sync and run in Starlette's thread pool, so pages stay responsive while a
search or the pipeline is busy. Every error a handler raises is a
``vidmine.web.errors.WebError``: JSON ``{"error": message}`` for programs, a page for people;
a traceback goes to the server log, never to the client.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from vidmine.db.store import Store
from vidmine.providers.base import TextGenerator
from vidmine.providers.minilm import EMBED_THREADS_ENV
from vidmine.web.auth import TokenGuard
from vidmine.web.guard import RequestGuard
from vidmine.web.openapi import openapi_document
from vidmine.web.pages import PACKAGE_DIR, login_form, on_http_error, on_unexpected, page_templates
from vidmine.web.routes import ROUTES
from vidmine.web.runs import ActiveRuns, PipelineHealth
from vidmine.web.state import QueryEmbedder, QueryEmbeddingCalls, WebSettings, WebState

__all__ = ["QueryEmbeddingCalls", "WebSettings", "create_app", "tune_for_serving"]


def tune_for_serving() -> None:
    """Let the local embedder use one thread per query embedding (unless
    ``VIDMINE_EMBED_THREADS`` says otherwise). A query is a few words: splitting it over
    cores gains nothing and, on a machine that is busy (the pipeline runs beside the
    server), makes every search wait for the others (measured with torch: 24 ms median
    with one thread against 66 ms with two on a loaded 2-core machine). Concurrent
    requests still use the cores, one each. Call it before the embedder loads."""
    os.environ.setdefault(EMBED_THREADS_ENV, "1")


def create_app(
    store: Store,
    embedder: QueryEmbedder,
    settings: WebSettings,
    *,
    active_runs: ActiveRuns | None = None,
    pipeline_health: PipelineHealth | None = None,
    embedding_calls: QueryEmbeddingCalls | None = None,
    generator: TextGenerator | None = None,
) -> Starlette:
    """The `vidmine serve` app on ``store``, embedding queries with ``embedder`` (made once
    per process: loading a local model takes seconds). ``active_runs`` lists Dagster's
    queued and running runs for /stats; without it /stats reports runs as unavailable.
    ``pipeline_health`` says whether the daemon that takes uploads is alive (the library
    tells a person what to do when it is not). ``generator`` writes answers to questions
    (an OpenAI-compatible ``generate`` provider); None or local: extractive answers."""
    templates = page_templates()
    state = WebState(
        store=store,
        embedder=embedder,
        settings=settings,
        templates=templates,
        api_document=openapi_document(token_required=bool(settings.token)),
        active_runs=active_runs,
        pipeline_health=pipeline_health,
        embedding_calls=embedding_calls or QueryEmbeddingCalls(),
        generator=generator,
    )
    # The guard first: a foreign host, a cross-origin write or a NUL is refused before the
    # token is even looked at, and every answer (a 401 too) carries the security headers.
    middleware = [Middleware(RequestGuard, allowed_hosts=settings.allowed_hosts)]
    if settings.token:
        middleware.append(
            Middleware(TokenGuard, token=settings.token, login_page=login_form(templates))
        )
    app = Starlette(
        routes=[
            *ROUTES,
            Mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static"),
        ],
        middleware=middleware,
        # A WebError is an HTTPException: one handler answers it and the router's 404 and 405.
        exception_handlers={HTTPException: on_http_error, Exception: on_unexpected},
    )
    app.state.web = state
    return app
