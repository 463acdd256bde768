"""Media files by video id: the playable video (with HTTP Range), keyframes, thumbnails,
the poster, OCR frames and subtitles. Which file an address means is decided by
``vidmine.web.media`` from the database only."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from vidmine.web.media import (
    MediaFile,
    checked_video,
    keyframe_image,
    ocr_frame,
    playable_video,
    poster_image,
    transcript_subtitles,
)
from vidmine.web.params import float_param, page_route
from vidmine.web.state import web_state


def send(media: MediaFile, filename: str | None = None) -> Response:
    # FileResponse answers Range requests with 206 and the asked bytes: the player seeks.
    return FileResponse(
        media.path,
        media_type=media.media_type,
        filename=filename,
        headers={"Cache-Control": "private"},
    )


def media_video(request: Request) -> Response:
    state = web_state(request)
    return send(playable_video(state.store, state.home, request.path_params["video_id"]))


def media_thumbnail(request: Request) -> Response:
    state = web_state(request)
    at_s = float_param(request, "t", 0.0)
    until_s = float_param(request, "end")
    video_id = request.path_params["video_id"]
    return send(
        keyframe_image(state.store, state.home, video_id, index=None, at_s=at_s, until_s=until_s)
    )


def media_transcript(request: Request) -> Response:
    """The subtitles; with ``download``, as a file named after the video."""
    state = web_state(request)
    video_id = request.path_params["video_id"]
    fmt = request.path_params["fmt"]
    media = transcript_subtitles(state.store, state.home, video_id, fmt)
    if "download" not in request.query_params:
        return send(media)
    video = checked_video(state.store, video_id)
    return send(media, filename=f"{Path(video.file_name).stem}.{fmt}")


def media_poster(request: Request) -> Response:
    state = web_state(request)
    return send(poster_image(state.store, state.home, request.path_params["video_id"]))


def media_ocr_frame(request: Request) -> Response:
    state = web_state(request)
    video_id = request.path_params["video_id"]
    return send(ocr_frame(state.store, state.home, video_id, request.path_params["index"]))


def media_keyframe(request: Request) -> Response:
    state = web_state(request)
    index = request.path_params["index"]
    video_id = request.path_params["video_id"]
    return send(keyframe_image(state.store, state.home, video_id, index=index, at_s=None))


routes = [
    page_route("/media/{video_id}/video", media_video),
    page_route("/media/{video_id}/thumbnail", media_thumbnail, {"t", "end"}),
    page_route("/media/{video_id}/keyframes/{index:int}", media_keyframe),
    page_route("/media/{video_id}/poster", media_poster),
    page_route("/media/{video_id}/ocr/{index:int}", media_ocr_frame),
    page_route("/media/{video_id}/transcript.{fmt}", media_transcript, {"download"}),
]
