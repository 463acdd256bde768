"""Query parameters and routes: each address takes the query parameters it names and
refuses any other, so a misspelt ``limt=5`` is an error instead of being ignored.

An API route takes what its entry in ``vidmine.web.openapi.ENDPOINTS`` documents, so the
published contract and the checks cannot drift (a route with no entry fails at import).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from vidmine.web.errors import WebError
from vidmine.web.openapi import query_parameter_names

Endpoint = Callable[[Request], Any]


def refuse_unknown_parameters(request: Request, names: Iterable[str]) -> None:
    """WebError(400) naming a query parameter this address does not take: a misspelt
    ``limt=5`` silently ignored would answer something other than what was asked."""
    unknown = sorted(set(request.query_params) - set(names))
    if unknown:
        takes = ", ".join(sorted(names)) or "no parameters"
        raise WebError(400, f"unknown parameter {unknown[0]!r}; this address takes {takes}")


def taking(names: Iterable[str], endpoint: Endpoint) -> Endpoint:
    """``endpoint`` refusing query parameters other than ``names`` (sync or async alike)."""
    allowed = frozenset(names)
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def checked_async(request: Request) -> Any:
            refuse_unknown_parameters(request, allowed)
            return await endpoint(request)

        return checked_async

    @functools.wraps(endpoint)
    def checked(request: Request) -> Any:
        refuse_unknown_parameters(request, allowed)
        return endpoint(request)

    return checked


def page_route(path: str, endpoint: Endpoint, takes: Iterable[str] = ()) -> Route:
    """A GET route for people or media, taking the query parameters ``takes``."""
    return Route(path, taking(takes, endpoint))


def api_route(path: str, endpoint: Endpoint, methods: list[str] | None = None) -> Route:
    """A route of the HTTP API, taking the query parameters its ENDPOINTS entry documents
    (KeyError when it has none: every API route is in the published contract)."""
    return Route(path, taking(query_parameter_names(path), endpoint), methods=methods)


def float_param(request: Request, name: str, default: float | None = None) -> float | None:
    """The query parameter ``name`` as seconds (0 to 10^7), ``default`` when absent."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise WebError(400, f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 <= value < 10**7:
        raise WebError(400, f"{name} must be between 0 and 10^7 seconds, got {raw!r}")
    return value
