"""What operators and monitors call: ``/healthz`` (does the database answer) and
``/stats`` (videos by status, the run queue, the providers' load, provider calls)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vidmine.db.connection import connect
from vidmine.web import payloads
from vidmine.web.params import api_route
from vidmine.web.routes.library import library_payload, provider_queues
from vidmine.web.runs import run_queue
from vidmine.web.state import web_state

HEALTH_TIMEOUT_S = 3


def healthz(request: Request) -> Response:
    """200 when the database answers, 503 with the reason when not (contract: vidmine.web.openapi)."""
    try:
        with connect(web_state(request).store.url, connect_timeout=HEALTH_TIMEOUT_S) as conn:
            conn.execute("SELECT 1")
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return JSONResponse(
            {
                "status": "unavailable",
                "error": f"database unreachable: {reason}; check DATABASE_URL",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "reachable"})


def stats(request: Request) -> Response:
    """Videos by status, runs queued and in progress, provider calls and cost (contract: vidmine.web.openapi)."""
    state = web_state(request)
    videos = state.store.list_videos()
    runs = run_queue(state.active_runs)
    library = library_payload(state, runs)
    summary = state.store.provider_call_summary()
    calls = state.embedding_calls
    return payloads.json_answer(
        {
            "videos": {
                "total": len(videos),
                "by_status": dict(Counter(v.status for v in videos)),
                "rejected": len(library["rejected"]),
                "waiting": len(library["waiting"]),
            },
            "runs": runs,
            "provider_calls": {"total": summary["total"], "by_stage": summary["by_stage"]},
            "providers": provider_queues(state, runs),
            "query_embeddings": {
                "calls": calls.calls,
                "errors": calls.errors,
                "latency_ms": round(calls.latency_ms, 1),
            },
            "generated_at": datetime.now(UTC),
        }
    )


routes = [
    api_route("/healthz", healthz),
    api_route("/stats", stats),
]
