"""The one shape of an error answer: JSON ``{"error": message, "status": status}``.

The message says what was wrong and what to do; it never carries a traceback or a path
on the server.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

# Paths whose errors stay JSON: what programs call. Every other path is a page for people.
MACHINE_PATHS = ("/api/", "/media/", "/static/", "/healthz", "/stats", "/openapi.json")


def for_programs(path: str) -> bool:
    """Whether ``path`` is called by programs (JSON errors) rather than read by people."""
    return path.startswith(MACHINE_PATHS)


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)
