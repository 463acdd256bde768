"""Questions answered from the library's moments: ``/api/ask`` (the search page asks
through ``answer_question`` too)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vidmine.ask import ask
from vidmine.web import payloads
from vidmine.web.errors import WebError
from vidmine.web.params import api_route
from vidmine.web.state import web_state

MAX_QUESTION_CHARS = 500


def answer_question(request: Request) -> dict[str, Any]:
    """The answer to ``q`` (optionally about one ``video``), as the API's payload."""
    state = web_state(request)
    params = request.query_params
    question = params.get("q", "").strip()
    if not question:
        raise WebError(400, "q (the question) is required")
    if len(question) > MAX_QUESTION_CHARS:
        raise WebError(400, f"the question is longer than {MAX_QUESTION_CHARS} characters")
    answer = ask(
        state.store,
        state.embedder,
        question,
        generator=state.generator,
        video_id=params.get("video") or None,
        embed_lock=state.embed_lock,
    )
    return payloads.answer_payload(answer)


def api_ask(request: Request) -> Response:
    """Answer a question from the library's moments, citing them (contract: vidmine.web.openapi)."""
    return payloads.json_answer(answer_question(request))


routes = [api_route("/api/ask", api_ask)]
