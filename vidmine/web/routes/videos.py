"""One video: its page ``/videos/{id}``, ``/api/videos/{id}`` and naming its speakers."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from vidmine.db.speakers import load_speakers, rename_speaker
from vidmine.files import atomic_write_text
from vidmine.transcript import to_srt, to_vtt
from vidmine.web import payloads
from vidmine.web.errors import WebError
from vidmine.web.media import checked_video
from vidmine.web.pages import render
from vidmine.web.params import api_route, float_param, page_route
from vidmine.web.state import WebState, web_state


def api_video(request: Request) -> Response:
    """Everything vidmine knows about one video (contract: vidmine.web.openapi)."""
    store = web_state(request).store
    video = checked_video(store, request.path_params["video_id"])
    return payloads.json_answer(payloads.video_detail(store, video))


async def api_rename_speaker(request: Request) -> Response:
    """Name a speaker of a video (contract: vidmine.web.openapi)."""
    video_id = request.path_params["video_id"]
    speaker = request.path_params["speaker"]
    try:
        body = await request.json()
    except ValueError:
        raise WebError(400, 'send JSON: {"name": "Diane"}') from None
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str):
        raise WebError(400, 'send JSON with a "name" string: {"name": "Diane"}')
    state = web_state(request)
    return payloads.json_answer(await run_in_threadpool(renamed, state, video_id, speaker, name))


def renamed(state: WebState, video_id: str, speaker: str, name: str) -> dict[str, Any]:
    """Gives ``speaker`` of the video ``name`` and writes its subtitles again with it."""
    store = state.store
    video = checked_video(store, video_id)
    try:
        record = rename_speaker(store, video.video_id, speaker, name)
    except KeyError:
        raise WebError(404, f"{video.file_name} has no speaker {speaker!r}") from None
    except ValueError as err:
        raise WebError(400, str(err)) from None
    # The subtitles name speakers too: write them again with the new name.
    folder = state.home.video_dir(video.video_id)
    if (folder / "transcript.vtt").is_file():
        segments = store.load_transcript(video.video_id)
        names = {s.speaker: s.name for s in load_speakers(store, video.video_id)}
        atomic_write_text(folder / "transcript.srt", to_srt(segments, names))
        atomic_write_text(folder / "transcript.vtt", to_vtt(segments, names))
    return dataclasses.asdict(record)


def video_page(request: Request) -> Response:
    state = web_state(request)
    video = checked_video(state.store, request.path_params["video_id"])
    detail = payloads.jsonable(payloads.video_detail(state.store, video))
    start = float_param(request, "t", 0.0)
    chapters = detail["content"].get("chapters", {}).get("body", {}).get("chapters", [])
    other_content = {k: v for k, v in detail["content"].items() if k != "chapters"}
    return render(
        request,
        "video.html",
        page="video",
        video=video,
        detail=detail,
        start=start,
        chapters=chapters,
        other_content=other_content,
        speaker_names={s["speaker"]: s["name"] for s in detail["speakers"]},
        video_url=payloads.video_url(video.video_id),
        has_subtitles=(state.home.video_dir(video.video_id) / "transcript.vtt").is_file(),
        captions_url=payloads.transcript_url(video.video_id, "vtt"),
        downloads={
            fmt.upper(): payloads.transcript_url(video.video_id, fmt, download=True)
            for fmt in ("srt", "vtt")
        },
    )


routes = [
    page_route("/videos/{video_id}", video_page, {"t"}),
    api_route("/api/videos/{video_id}/speakers/{speaker}", api_rename_speaker, ["POST"]),
    api_route("/api/videos/{video_id}", api_video),
]
