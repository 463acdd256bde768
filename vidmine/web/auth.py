"""The access token `vidmine serve` requires when it listens beyond this machine.

A client proves it knows the token with ``Authorization: Bearer <token>``. A person gets
a login form on any page instead of a 401 in JSON; the form posts the token to ``/login``
(a same-origin write: vidmine.web.guard refuses it from other sites), or a link carries
``?token=<token>`` once. Either way the browser gets an HttpOnly cookie and is sent on to
the page it asked for, without the token in its address. ``/healthz`` stays open so that load
balancers and monitors can probe the server.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from typing import Protocol
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from vidmine.web.errors import for_programs

TOKEN_ENV = "VIDMINE_SERVE_TOKEN"
TOKEN_COOKIE = "vidmine_token"
OPEN_PATHS = frozenset({"/healthz"})
# The stylesheet and script are the same for everyone and hold nothing of the library: the
# login form needs them before the browser has the token.
OPEN_PREFIXES = ("/static/",)
LOGIN_PATH = "/login"
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


class LoginPage(Protocol):
    def __call__(self, next_path: str, problem: str | None) -> str: ...


class TokenGuard:
    """ASGI middleware: lets through requests that carry the token; answers the others
    401, as a login form for people (``login_page``) and as JSON for programs."""

    def __init__(self, app: ASGIApp, token: str, login_page: LoginPage | None = None) -> None:
        if problem := token_problem(token):
            raise ValueError(problem)
        self.app = app
        self.token = token.encode()
        self.login_page = login_page

    def _signed_in(self, target: str, token: str) -> Response:
        response = RedirectResponse(target, 303)
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/")
        return response

    async def _login(self, scope: Scope, receive: Receive) -> Response:
        form = await Request(scope, receive).form()
        given, next_path = form.get("token"), form.get("next")
        target = on_site(next_path if isinstance(next_path, str) else "/")
        if isinstance(given, str) and self._matches(given.strip()):
            return self._signed_in(target, given.strip())
        return self._refused(target, "That token is not the one this server was given.")

    def _refused(self, next_path: str, problem: str | None = None) -> Response:
        if self.login_page is not None and not for_programs(next_path):
            return HTMLResponse(self.login_page(next_path, problem), status_code=401)
        return JSONResponse(
            {
                "error": "an access token is required: send 'Authorization: Bearer <token>' "
                f"or open the page once with ?token=<token> (the server's {TOKEN_ENV})",
                "status": 401,
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    def _matches(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
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
        if scope["path"] == LOGIN_PATH and scope["method"] == "POST":
            await (await self._login(scope, receive))(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        given = next((value for key, value in query if key == "token"), None)
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        here = on_site(scope["path"]) + (f"?{rest}" if rest else "")
        if self._matches(given):
            await self._signed_in(here, given or "")(scope, receive, send)
            return
        await self._refused(here)(scope, receive, send)
