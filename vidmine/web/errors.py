"""The one error a handler raises, and the one shape of an error answer for programs:
JSON ``{"error": message, "status": status}``.

The message says what was wrong and what to do; it never carries a traceback or a path
on the server. ``vidmine.web.pages`` answers a ``WebError`` (and Starlette's own 404 and 405)
as a page for people or as this JSON for programs, by the path asked for.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

# Paths whose errors stay JSON: what programs call. Every other path is a page for people.
MACHINE_PATHS = ("/api/", "/media/", "/static/", "/healthz", "/stats", "/openapi.json")


class WebError(HTTPException):
    """A request that cannot be answered: ``status`` is the HTTP status, ``message`` says
    what was wrong and what to do. A Starlette ``HTTPException``, so the app's one handler
    for those answers it, beside the router's own 404 and 405."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, detail=message, headers=headers)

    @property
    def status(self) -> int:
        return self.status_code

    @property
    def message(self) -> str:
        return self.detail


def for_programs(path: str) -> bool:
    """Whether ``path`` is called by programs (JSON errors) rather than read by people."""
    return path.startswith(MACHINE_PATHS)


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)
