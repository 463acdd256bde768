"""Search: ``/api/search`` for programs and the search page ``/`` for people, which also
shows an answer to a question (``mode=ask``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vidmine.db.models import SEARCH_KINDS
from vidmine.search import search_answer, search_text
from vidmine.web import payloads
from vidmine.web.errors import WebError
from vidmine.web.openapi import query_parameter_names
from vidmine.web.pages import render
from vidmine.web.params import api_route, page_route
from vidmine.web.routes.ask import answer_question
from vidmine.web.state import web_state

MAX_SEARCH_LIMIT = 100
MAX_QUERY_CHARS = 500
MAX_SPEAKER_CHARS = 80


def search_request(request: Request) -> tuple[str, dict[str, Any]]:
    """The checked query ``q`` and filters: video, kind, limit, group, speaker."""
    params = request.query_params
    query = params.get("q", "").strip()
    kind = params.get("kind") or None
    if kind is not None and kind not in SEARCH_KINDS:
        raise WebError(400, f"kind must be one of {', '.join(SEARCH_KINDS)}, got {kind!r}")
    if len(query) > MAX_QUERY_CHARS:
        raise WebError(400, f"the query is longer than {MAX_QUERY_CHARS} characters")
    raw_limit = params.get("limit", "10")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise WebError(400, f"limit must be a whole number, got {raw_limit!r}") from None
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise WebError(400, f"limit must be between 1 and {MAX_SEARCH_LIMIT}, got {limit}")
    group = params.get("group") or None
    if group not in (None, "video"):
        raise WebError(400, f"group must be 'video' or absent, got {group!r}")
    speaker = " ".join(params.get("speaker", "").split()) or None
    if speaker is not None and len(speaker) > MAX_SPEAKER_CHARS:
        raise WebError(400, f"speaker must be at most {MAX_SPEAKER_CHARS} characters")
    video = params.get("video") or None
    return query, {"video": video, "kind": kind, "limit": limit, "group": group, "speaker": speaker}


def run_search(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answer (vidmine.search.search_answer, hits as payloads) and the filters."""
    state = web_state(request)
    query, filters = search_request(request)
    hits = []
    if query:
        hits = search_text(
            state.store,
            state.embedder,
            query,
            video_id=filters["video"],
            kind=filters["kind"],
            limit=filters["limit"],
            embed_lock=state.embed_lock,
            speaker=filters["speaker"],
        )
    grouped = filters["group"] == "video"
    answer = search_answer(query, hits, group=grouped, hit_payload=payloads.hit_payload)
    return answer, filters


def api_search(request: Request) -> Response:
    """Search transcripts, on-screen text and captions across videos (contract: vidmine.web.openapi)."""
    answer, _ = run_search(request)
    return payloads.json_answer(answer)


def search_page(request: Request) -> Response:
    """The search page: the hits of ``q``, or with ``mode=ask`` the answer to it."""
    mode = request.query_params.get("mode") or "search"
    if mode not in ("search", "ask"):
        raise WebError(400, f"mode must be search or ask, got {mode!r}")
    videos = web_state(request).store.list_videos()
    if mode == "ask" and request.query_params.get("q", "").strip():
        asked = payloads.jsonable(answer_question(request))
        video = request.query_params.get("video") or None
        return render(
            request,
            "search.html",
            page="search",
            query=asked["question"],
            hits=[],
            nothing_found=False,
            message=None,
            groups=None,
            filters={"video": video, "kind": None, "group": None, "speaker": None},
            videos=videos,
            kinds=payloads.KIND_LABELS,
            mode=mode,
            answer=asked,
        )
    found, filters = run_search(request)
    return render(
        request,
        "search.html",
        page="search",
        query=found["query"],
        hits=found["hits"],
        nothing_found=found["nothing_found"],
        message=found["message"],
        groups=found.get("groups"),
        filters=filters,
        videos=videos,
        kinds=payloads.KIND_LABELS,
        mode=mode,
        answer=None,
    )


routes = [
    page_route("/", search_page, query_parameter_names("/api/search") | {"mode"}),
    api_route("/api/search", api_search),
]
