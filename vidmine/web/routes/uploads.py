"""``POST /api/uploads``: a video or audio file into ``uploads/`` for the pipeline to take,
refused at once when it is over the media limits (vidmine.yaml ``limits``)."""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from vidmine.config import MediaLimits
from vidmine.media.ffmpeg import MediaError
from vidmine.media.probe import probe_media
from vidmine.uploads import limits_problem
from vidmine.web import payloads
from vidmine.web.params import api_route
from vidmine.web.state import web_state
from vidmine.web.uploads import receive_upload

log = logging.getLogger(__name__)


def over_the_limits(path: Path, limits: MediaLimits) -> str | None:
    """Why the file at ``path`` is over ``limits``, or None (unreadable files included)."""
    try:
        probe = probe_media(path)
    except MediaError:
        return None  # unreadable: the pipeline records why, and the library shows it
    return limits_problem(probe, limits)


async def api_upload(request: Request) -> Response:
    """Upload a video or audio file into uploads/ for the pipeline to take (contract: vidmine.web.openapi)."""
    state = web_state(request)
    settings = state.settings
    length = request.headers.get("content-length")
    saved = await receive_upload(
        request.headers.get("content-type", ""),
        int(length) if length and length.isdigit() else None,
        request.stream(),
        state.home.uploads,
        max_bytes=settings.max_upload_bytes,
        known_profiles=set(settings.known_profiles),
        profile=request.query_params.get("profile") or None,
        check=lambda path: over_the_limits(path, settings.media_limits),
    )
    relative = saved.path.relative_to(state.home.root)
    log.info("upload saved: %s (%d bytes)", relative, saved.size_bytes)
    return payloads.json_answer(
        {
            "file_name": saved.file_name,
            "profile": saved.profile,
            "size_bytes": saved.size_bytes,
            "path": relative.as_posix(),
        },
        status=201,
    )


routes = [api_route("/api/uploads", api_upload, ["POST"])]
