"""The library: every video with its status and run, the uploads not taken yet, the
rejected files and the providers' queues; as the ``/library`` page and ``/api/videos``."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vidmine.config import LOCAL_PROVIDER
from vidmine.providers.slots import SlotsUnavailableError, provider_loads
from vidmine.uploads import scan_uploads
from vidmine.web import payloads
from vidmine.web.pages import render
from vidmine.web.params import api_route, page_route
from vidmine.web.runs import pipeline_state, run_queue
from vidmine.web.state import WebState, web_state

# "429s in the last minutes": /stats and the library count them over this window.
PROVIDER_WINDOW_S = 600
LOAD_FIELDS = (
    "in_flight",
    "limit",
    "concurrency",
    "too_many_requests",
    "server_errors",
    "resume_in_s",
    "decreased_at",
    "adaptive",
)


def provider_queues(state: WebState, queue: dict[str, Any]) -> dict[str, Any]:
    """Per provider: requests in flight (every process), the adaptive limit and its
    ceiling, 429s and 5xx in the window, and the queued runs tagged with it."""
    ceilings = state.settings.provider_ceilings
    section: dict[str, Any] = {
        "available": True,
        "window_s": PROVIDER_WINDOW_S,
        "by_provider": [],
    }
    remote = {name: c for name, c in ceilings.items() if name != LOCAL_PROVIDER}
    loads = {}
    try:
        if remote:
            loads = {
                load.provider: load
                for load in provider_loads(state.store.url, remote, window_s=PROVIDER_WINDOW_S)
            }
    except SlotsUnavailableError as err:
        section["available"] = False
        section["reason"] = str(err)
    for name in sorted(ceilings):
        load = loads.get(name)
        waiting = [
            {key: run[key] for key in ("run_id", "partition", "age_s", "priority")}
            | {"priority_label": run["priority_label"]}
            for run in queue["queued"]
            if name in run.get("providers", ())
        ]
        section["by_provider"].append(
            {"provider": name, "ceiling": ceilings[name], "local": name == LOCAL_PROVIDER}
            | {key: getattr(load, key) if load else None for key in LOAD_FIELDS}
            | {"queued_runs": waiting}
        )
    return section


def library_payload(state: WebState, queue: dict[str, Any] | None = None) -> dict[str, Any]:
    """The library: videos with their run, rejected files and uploads still waiting."""
    store = state.store
    videos = store.list_videos()
    registered = {Path(v.source_path) for v in videos}
    waiting = [
        {
            "file_name": upload.path.name,
            "profile": upload.profile,
            "size_bytes": upload.size_bytes,
            "uploaded_at": datetime.fromtimestamp(upload.mtime, tz=UTC),
        }
        for upload in scan_uploads(state.home.uploads)
        if upload.path not in registered
    ]
    rejected = [payloads.rejection_payload(r) for r in store.list_rejections()]
    rejected_names = {r["file_name"] for r in rejected}
    now = datetime.now(UTC)
    for upload in waiting:
        upload["age_s"] = round((now - upload["uploaded_at"]).total_seconds(), 1)
    queue = queue if queue is not None else run_queue(state.active_runs)
    run_of = {run["partition"]: run for run in queue["queued"] + queue["in_progress"]}
    summaries = []
    for video in videos:
        summary = payloads.video_summary(video, store.stage_states(video.video_id))
        summary["run"] = run_of.get(video.video_id)  # queued or in progress, else None
        summaries.append(summary)
    return {
        "pipeline": dataclasses.asdict(pipeline_state(state.pipeline_health)),
        "videos": summaries,
        "rejected": rejected,
        # Files in uploads/ that the pipeline has not registered (or refused) yet.
        "waiting": [w for w in waiting if w["file_name"] not in rejected_names],
    }


def api_videos(request: Request) -> Response:
    """Every video with its status, and the uploads not taken yet (contract: vidmine.web.openapi)."""
    return payloads.json_answer(library_payload(web_state(request)))


def library_page(request: Request) -> Response:
    state = web_state(request)
    queue = run_queue(state.active_runs)
    return render(
        request,
        "library.html",
        page="library",
        library=library_payload(state, queue),
        providers=provider_queues(state, queue),
        profiles=sorted(state.settings.known_profiles),
        max_upload_mb=state.settings.max_upload_bytes / 1_000_000,
    )


routes = [
    page_route("/library", library_page),
    api_route("/api/videos", api_videos),
]
