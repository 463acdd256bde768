"""`vidmine serve`: who may connect, and the web app built over this machine's database,
models and Dagster instance.

The command line parses the options and runs uvicorn; this module decides whether the
settings are safe (:func:`serve_access`) and assembles the app (:func:`build_web_app`).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vidmine.config import VidmineConfig


class ServeSettingError(ValueError):
    """A setting of `vidmine serve` is unsafe or malformed; the message says which and what
    to do."""


@dataclass(frozen=True)
class ServeAccess:
    token: str | None  # None: loopback only, no token asked
    max_upload_bytes: int


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve beyond this machine


def serve_access(host: str, environ: Mapping[str, str] = os.environ) -> ServeAccess:
    """The token and upload limit to serve with, from the environment; refuses to serve
    beyond this machine without a token."""
    from vidmine.web.auth import TOKEN_ENV, token_problem
    from vidmine.web.uploads import DEFAULT_MAX_UPLOAD_MB

    token = environ.get(TOKEN_ENV, "").strip() or None
    if not is_loopback(host) and token is None:
        raise ServeSettingError(
            f"--host {host} serves beyond this machine: set {TOKEN_ENV} to an access token "
            "(clients send 'Authorization: Bearer <token>' or open ?token=<token> once), "
            "or keep the default --host 127.0.0.1"
        )
    if token is not None and (problem := token_problem(token)):
        raise ServeSettingError(problem)
    raw_limit = environ.get("VIDMINE_MAX_UPLOAD_MB", str(DEFAULT_MAX_UPLOAD_MB))
    try:
        max_upload_mb = float(raw_limit)
    except ValueError:
        max_upload_mb = -1.0
    if max_upload_mb <= 0:
        raise ServeSettingError(
            f"VIDMINE_MAX_UPLOAD_MB must be a positive number of megabytes, got {raw_limit!r}"
        )
    return ServeAccess(token, int(max_upload_mb * 1_000_000))


class CallsIntoStore:
    """A recorder writing each provider call to provider_calls as it happens (a server
    lives long; a question's calls belong to no video)."""

    def __init__(self, store) -> None:
        self.store = store

    def record(self, call) -> None:
        self.store.record_provider_calls(None, [call])


def build_web_app(
    config: VidmineConfig,
    store,
    host: str,
    access: ServeAccess,
    say: Callable[[str], None] = lambda _line: None,
):
    """The web app over ``store`` (a pooled store the caller closes), with the query
    embedder loaded now rather than on the first search."""
    from local_runtime.instance import active_runs_lister, local_instance, pipeline_health_checker
    from vidmine.providers.registry import embedder_for, generator_for
    from vidmine.search import hub_centroid
    from vidmine.settings import VidmineHome
    from vidmine.web import WebSettings, create_app
    from vidmine.web.app import QueryEmbeddingCalls, tune_for_serving
    from vidmine.web.guard import allowed_hosts_from_env

    home = VidmineHome.from_env().ensure()
    instance = local_instance(config)
    tune_for_serving()
    calls = QueryEmbeddingCalls()
    embedder = embedder_for(config, None, calls, store)
    say("loading the query embedder ...")
    embedder.embed(["warm up"])  # load the model now, not on the first search
    hub_centroid(embedder)  # and the probe questions' centroid search measures hubs by
    calls.reset()  # /stats counts the searches, not the warm-up
    return create_app(
        store,
        embedder,
        WebSettings(
            home=home,
            max_upload_bytes=access.max_upload_bytes,
            token=access.token,
            known_profiles=frozenset(config.profiles),
            allowed_hosts=allowed_hosts_from_env(host),
            media_limits=config.limits,
            provider_ceilings={
                name: config.provider(name).max_concurrent
                for name in sorted(config.providers_in_use())
            },
        ),
        active_runs=active_runs_lister(instance),
        pipeline_health=pipeline_health_checker(instance),
        embedding_calls=calls,
        # the answers to questions: written by an OpenAI-compatible generate provider (its
        # calls recorded in provider_calls like the pipeline's), extractive when local
        generator=generator_for(
            config, None, CallsIntoStore(store), store, slots_database_url=store.url
        ),
    )
