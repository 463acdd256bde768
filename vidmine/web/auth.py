"""The access token `vidmine serve` requires when it listens beyond this machine.

A client proves it knows the token with ``Authorization: Bearer <token>``, or a browser
visits any page once with ``?token=<token>``: it gets an HttpOnly cookie and is sent on
to the same address without the token in it. ``/healthz`` stays open so that load
balancers and monitors can probe the server.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_ENV = "VIDMINE_SERVE_TOKEN"
TOKEN_COOKIE = "vidmine_token"
OPEN_PATHS = frozenset({"/healthz"})
# 16 characters: a token a person could guess or brute-force over HTTP protects nothing.
MIN_TOKEN_CHARS = 16


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot protect the server, or None when it can."""
    if len(token) < MIN_TOKEN_CHARS:
        return (
            f"{TOKEN_ENV} is {len(token)} characters long; use at least {MIN_TOKEN_CHARS} "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )
    return None


def on_site(path: str) -> str:
    """``path`` as a redirect target that stays on this server: ``//evil.example/x`` (or
    ``/\\evil.example``) would send a browser to another site."""
    return "/" + path.lstrip("/\\")


class TokenGuard:
    """ASGI middleware: answers 401 JSON to HTTP requests that lack the token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        if problem := token_problem(token):
            raise ValueError(problem)
        self.app = app
        self.token = token.encode()

    def _matches(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._matches(credential.strip()):
            await self.app(scope, receive, send)
            return
        cookies = SimpleCookie(headers.get("cookie", ""))
        if TOKEN_COOKIE in cookies and self._matches(cookies[TOKEN_COOKIE].value):
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        given = next((value for key, value in query if key == "token"), None)
        if self._matches(given):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            response = RedirectResponse(on_site(scope["path"]) + (f"?{rest}" if rest else ""), 303)
            response.set_cookie(
                TOKEN_COOKIE, given or "", httponly=True, samesite="strict", path="/"
            )
            await response(scope, receive, send)
            return
        response = JSONResponse(
            {
                "error": "an access token is required: send 'Authorization: Bearer <token>' "
                f"or open the page once with ?token=<token> (the server's {TOKEN_ENV})",
                "status": 401,
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)
