"""What a hostile page or a malformed request must not get from `vidmine serve`, in one
place: one ASGI middleware that runs before every route (and before the token check).

- **Host check** (DNS rebinding): a page on ``evil.example`` whose name an attacker points
  at 127.0.0.1 reaches this server with ``Host: evil.example``. Only IP literals (which
  rebinding cannot produce), ``localhost``, the address the server is bound to, this
  machine's own names and ``VIDMINE_ALLOWED_HOSTS`` are answered.
- **Cross-origin writes refused**: a page on another site can send a POST (a form, or
  ``fetch`` with ``mode: 'no-cors'``) without reading the answer; the browser still says
  where it comes from in ``Origin`` (and ``Sec-Fetch-Site``). A write whose origin is not
  this server's is answered 403 before it touches anything. Clients that are not browsers
  send neither header and are judged by the access token alone.
- **Invalid input**: a NUL or other control character, or bytes that are not UTF-8, in
  the path or the query string is answered 400 naming the parameter (PostgreSQL refuses
  NUL in text, which surfaced as a 500).
- **Headers on every answer**: a Content-Security-Policy with no inline script, no
  framing, no MIME sniffing, no referrer sent to other sites.

It must not decide anything about what a route does with valid input: routes do.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidmine.web.errors import error_response

ALLOWED_HOSTS_ENV = "VIDMINE_ALLOWED_HOSTS"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Every script and style is a file under /static: nothing inline runs.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
# C0 controls and DEL, less tab, newline and carriage return (harmless in a query).
_CONTROL_CHARACTERS = frozenset(chr(c) for c in [*range(0x20), 0x7F]) - set("\t\n\r")
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})


def allowed_host_names(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names (not IP literals: those are always answered) this server answers
    to when bound to ``bind_host``: localhost, the bound name, this machine's own names
    when bound to every interface, and ``extra``."""
    names = {"localhost", bind_host.strip().lower()}
    if bind_host in _WILDCARD_BINDS:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    names |= {name.strip().lower() for name in extra if name.strip()}
    return frozenset(names - {""})


def allowed_hosts_from_env(bind_host: str) -> frozenset[str]:
    """``allowed_host_names`` with the comma-separated names of ``VIDMINE_ALLOWED_HOSTS``."""
    return allowed_host_names(bind_host, os.environ.get(ALLOWED_HOSTS_ENV, "").split(","))


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port and brackets, lower case."""
    return (urlsplit(f"//{host_header}").hostname or "").lower()


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def invalid_input(scope: Scope) -> str | None:
    """Why the request's path or query string is unusable, or None when it is fine."""
    if set(scope["path"]) & _CONTROL_CHARACTERS:
        return "the address contains a control character (such as NUL)"
    raw_query = scope.get("query_string", b"").decode("latin-1")
    try:
        pairs = parse_qsl(raw_query, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        return "the query string is not valid UTF-8"
    for name, value in pairs:
        if set(name) & _CONTROL_CHARACTERS or set(value) & _CONTROL_CHARACTERS:
            return f"the parameter {name!r} contains a control character (such as NUL)"
    return None


def cross_origin_write(scope: Scope, headers: Headers) -> str | None:
    """Why a write comes from another site, or None when it comes from this one (or from a
    client that is not a browser: it sends no Origin, and the token judges it)."""
    if scope["method"] in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        own_scheme = scope.get("scheme", "http")
        if origin == "null" or parts.scheme != own_scheme:
            return f"a write from {origin} is refused: only this server's own pages may write"
        if parts.netloc.lower() != headers.get("host", "").lower():
            return f"a write from {origin} is refused: only this server's own pages may write"
        return None
    if headers.get("sec-fetch-site") in {"cross-site", "same-site"}:
        return "a write from another site is refused: only this server's own pages may write"
    return None


class RequestGuard:
    """ASGI middleware: refuses foreign hosts, cross-origin writes and invalid input, and
    adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, allowed_hosts: frozenset[str]) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    def host_refused(self, headers: Headers) -> str | None:
        name = host_name(headers.get("host", ""))
        if not name:
            return "the request has no Host header"
        if _is_ip_literal(name) or name in self.allowed_hosts:
            return None
        return (
            f"this server does not answer to the host name {name!r}; "
            f"if it is yours, add it to {ALLOWED_HOSTS_ENV} (comma-separated)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    response_headers.setdefault(name, value)
            await send(message)

        headers = Headers(scope=scope)
        bad_request = self.host_refused(headers) or invalid_input(scope)
        forbidden = None if bad_request else cross_origin_write(scope, headers)
        if bad_request or forbidden:
            status, reason = (400, bad_request) if bad_request else (403, forbidden)
            await error_response(status, str(reason))(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
