"""The Starlette app behind `vidmine serve`: HTML pages, the JSON API, media and uploads.

Endpoints are plain functions over ``Store``; the blocking ones (database, embedding,
files) are sync and run in Starlette's thread pool, so pages stay responsive while a
search or the pipeline is busy. Every error answers JSON ``{"error": message}``; a
traceback goes to the server log, never to the client.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import jinja2
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.schemas import SchemaGenerator
from starlette.staticfiles import StaticFiles

from vidmine.db.connection import connect
from vidmine.db.store import SEARCH_KINDS, Store
from vidmine.providers.base import CallRecord
from vidmine.providers.minilm import EMBED_THREADS_ENV
from vidmine.search import search_answer, search_text
from vidmine.settings import VidmineHome
from vidmine.transcript import clock
from vidmine.uploads import scan_uploads
from vidmine.web import payloads
from vidmine.web.auth import TokenGuard
from vidmine.web.media import (
    MediaFile,
    MediaRefused,
    checked_video,
    keyframe_image,
    playable_video,
)
from vidmine.web.runs import ActiveRuns
from vidmine.web.uploads import DEFAULT_MAX_UPLOAD_MB, UploadRefused, receive_upload

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).parent
MAX_SEARCH_LIMIT = 100
MAX_QUERY_CHARS = 500
HEALTH_TIMEOUT_S = 3


class QueryEmbedder(Protocol):
    """What search needs from an embedder (vidmine.providers' embedders are this)."""

    model: str
    dimensions: int

    def embed(self, texts: list[str]) -> list[list[float]]: ...


@dataclass
class QueryEmbeddingCalls:
    """Counts the embedder's calls for /stats; keeps no records, so memory stays flat."""

    calls: int = 0
    errors: int = 0
    latency_ms: float = 0.0
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, call: CallRecord) -> None:
        with self._guard:
            self.calls += 1
            self.errors += call.status == "error"
            self.latency_ms += call.latency_ms or 0.0

    def reset(self) -> None:
        with self._guard:
            self.calls = self.errors = 0
            self.latency_ms = 0.0


@dataclass(frozen=True)
class WebSettings:
    home: VidmineHome
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 1_000_000
    # Required when serving beyond loopback (the CLI enforces it); None: no token checked.
    token: str | None = None
    known_profiles: frozenset[str] = frozenset()


class ApiError(Exception):
    """An error answered as JSON ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def _json(payload: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(_jsonable(payload), status_code=status)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return value.name
    return value


def highlight(snippet: str) -> Markup:
    """The snippet as HTML: escaped, with the words search matched (``**word**``) in <mark>."""
    parts = snippet.split("**")
    if len(parts) % 2 == 0:  # an unpaired marker: show the text as it is
        return escape(snippet)
    return Markup("").join(
        Markup("<mark>{}</mark>").format(part) if i % 2 else escape(part)
        for i, part in enumerate(parts)
    )


def tune_for_serving() -> None:
    """Let the local embedder use one thread per query embedding (unless
    ``VIDMINE_EMBED_THREADS`` says otherwise). A query is a few words: splitting it over
    cores gains nothing and, on a machine that is busy (the pipeline runs beside the
    server), makes every search wait for the others (measured with torch: 24 ms median
    with one thread against 66 ms with two on a loaded 2-core machine). Concurrent
    requests still use the cores, one each. Call it before the embedder loads."""
    os.environ.setdefault(EMBED_THREADS_ENV, "1")


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=True,  # every file name, transcript, OCR text and LLM answer is escaped
        undefined=jinja2.StrictUndefined,
    )
    env.filters["clock"] = clock
    env.filters["highlight"] = highlight
    env.filters["kind_label"] = lambda kind: payloads.KIND_LABELS.get(kind, kind)
    env.filters["when"] = lambda dt: dt.strftime("%Y-%m-%d %H:%M") if dt else ""
    return env


def _float_param(request: Request, name: str, default: float | None = None) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 <= value < 10**7:
        raise ApiError(400, f"{name} must be between 0 and 10^7 seconds, got {raw!r}")
    return value


def create_app(
    store: Store,
    embedder: QueryEmbedder,
    settings: WebSettings,
    *,
    active_runs: ActiveRuns | None = None,
    embedding_calls: QueryEmbeddingCalls | None = None,
) -> Starlette:
    """The `vidmine serve` app on ``store``, embedding queries with ``embedder`` (made once
    per process: loading a local model takes seconds). ``active_runs`` lists Dagster's
    queued and running runs for /stats; without it /stats reports runs as unavailable."""
    templates = _templates()
    home = settings.home
    embed_guard = threading.Lock()  # one query embedding at a time: the model is CPU-bound

    def render(name: str, **context: Any) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(**context))

    # --- search ---------------------------------------------------------------------------

    def run_search(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
        """The answer (vidmine.search.search_answer, hits as payloads) and the filters."""
        params = request.query_params
        query = params.get("q", "").strip()
        video = params.get("video") or None
        kind = params.get("kind") or None
        if kind is not None and kind not in SEARCH_KINDS:
            raise ApiError(400, f"kind must be one of {', '.join(SEARCH_KINDS)}, got {kind!r}")
        if len(query) > MAX_QUERY_CHARS:
            raise ApiError(400, f"the query is longer than {MAX_QUERY_CHARS} characters")
        raw_limit = params.get("limit", "10")
        try:
            limit = int(raw_limit)
        except ValueError:
            raise ApiError(400, f"limit must be a whole number, got {raw_limit!r}") from None
        if not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise ApiError(400, f"limit must be between 1 and {MAX_SEARCH_LIMIT}, got {limit}")
        group = params.get("group") or None
        if group not in (None, "video"):
            raise ApiError(400, f"group must be 'video' or absent, got {group!r}")
        filters = {"video": video, "kind": kind, "limit": limit, "group": group}
        hits = []
        if query:
            hits = search_text(
                store,
                embedder,
                query,
                video_id=video,
                kind=kind,
                limit=limit,
                embed_lock=embed_guard,
            )
        answer = search_answer(
            query, hits, group=group == "video", hit_payload=payloads.hit_payload
        )
        return answer, filters

    def api_search(request: Request) -> Response:
        """
        summary: Search transcripts, on-screen text and captions across videos
        description: >
          The hits of `vidmine search --json`, best first, each with video_url (playable,
          seekable, the moment as a #t= fragment), thumbnail_url (JPEG) and page_url. Only
          what matches is returned: a query nothing matches gives no hits, nothing_found
          true and a message to show. group=video adds groups, one per video ("3 moments in
          talk.mp4"), the video of the best hit first.
        parameters:
          - {name: q, in: query, required: true, schema: {type: string}}
          - {name: video, in: query, schema: {type: string}, description: only this video id}
          - {name: kind, in: query, schema: {type: string, enum: [segment, ocr, caption]}}
          - {name: limit, in: query, schema: {type: integer, default: 10, minimum: 1, maximum: 100}}
          - {name: group, in: query, schema: {type: string, enum: [video]}}
        responses:
          200:
            description: '{"query", "hits": [{"video_id", "file_name", "start_s", "end_s",
              "kind", "snippet", "score", "item_id", "video_url", "thumbnail_url", "page_url"}],
              "nothing_found", "message", "groups" (with group=video): [{"video_id",
              "file_name", "moments", "label", "hits"}]}'
          400: {description: a bad parameter, named in "error"}
        """
        answer, _ = run_search(request)
        return _json(answer)

    def search_page(request: Request) -> Response:
        answer, filters = run_search(request)
        videos = store.list_videos()
        return render(
            "search.html",
            page="search",
            query=answer["query"],
            hits=answer["hits"],
            nothing_found=answer["nothing_found"],
            message=answer["message"],
            groups=answer.get("groups"),
            filters=filters,
            videos=videos,
            kinds=payloads.KIND_LABELS,
        )

    # --- videos ---------------------------------------------------------------------------

    def library_payload() -> dict[str, Any]:
        videos = store.list_videos()
        registered = {Path(v.source_path) for v in videos}
        waiting = [
            {
                "file_name": upload.path.name,
                "profile": upload.profile,
                "size_bytes": upload.size_bytes,
                "uploaded_at": datetime.fromtimestamp(upload.mtime, tz=UTC),
            }
            for upload in scan_uploads(home.uploads)
            if upload.path not in registered
        ]
        rejected = [payloads.rejection_payload(r) for r in store.list_rejections()]
        rejected_names = {r["file_name"] for r in rejected}
        return {
            "videos": [payloads.video_summary(v, store.stage_states(v.video_id)) for v in videos],
            "rejected": rejected,
            # Files in uploads/ that the pipeline has not registered (or refused) yet.
            "waiting": [w for w in waiting if w["file_name"] not in rejected_names],
        }

    def api_videos(request: Request) -> Response:
        """
        summary: Every video with its status, and the uploads not taken yet
        responses:
          200:
            description: '{"videos": [{"video_id", "file_name", "profile", "status",
              "error", "failed_stage": {"stage", "error"} | null, "duration_s",
              "created_at", "updated_at", "stages": {stage: status}, "page_url",
              "video_url", "thumbnail_url"}], "rejected": [{"file_name", "reason",
              "size_bytes", "rejected_at"}], "waiting": [{"file_name", "profile",
              "size_bytes", "uploaded_at"}]}'
        """
        return _json(library_payload())

    def known_video(video_id: str):
        try:
            return checked_video(store, video_id)
        except MediaRefused as refused:
            raise ApiError(refused.status, refused.message) from None

    def api_video(request: Request) -> Response:
        """
        summary: Everything vidmine knows about one video
        parameters:
          - {name: video_id, in: path, required: true, schema: {type: string}}
        responses:
          200:
            description: '{"video": {...summary, size_bytes, sha256, width, height, fps,
              codecs}, "stages": [...], "transcript": [...], "scenes": [...],
              "keyframes": [...], "ocr_texts": [...], "captions": [...],
              "content": {type: {"body", "markdown", "extractive", "provider", "model"}},
              "provider_calls": {...}}'
          404: {description: no such video}
        """
        video = known_video(request.path_params["video_id"])
        return _json(payloads.video_detail(store, video))

    def video_page(request: Request) -> Response:
        video = known_video(request.path_params["video_id"])
        detail = _jsonable(payloads.video_detail(store, video))
        start = _float_param(request, "t", 0.0)
        chapters = detail["content"].get("chapters", {}).get("body", {}).get("chapters", [])
        other_content = {k: v for k, v in detail["content"].items() if k != "chapters"}
        return render(
            "video.html",
            page="video",
            video=video,
            detail=detail,
            start=start,
            chapters=chapters,
            other_content=other_content,
            video_url=payloads.video_url(video.video_id),
        )

    def library_page(request: Request) -> Response:
        return render(
            "library.html",
            page="library",
            library=library_payload(),
            profiles=sorted(settings.known_profiles),
            max_upload_mb=settings.max_upload_bytes / 1_000_000,
        )

    # --- media ----------------------------------------------------------------------------

    def send(media: MediaFile) -> Response:
        # FileResponse answers Range requests with 206 and the asked bytes: the player seeks.
        return FileResponse(
            media.path, media_type=media.media_type, headers={"Cache-Control": "private"}
        )

    def media_video(request: Request) -> Response:
        return send(playable_video(store, home, request.path_params["video_id"]))

    def media_thumbnail(request: Request) -> Response:
        at_s = _float_param(request, "t", 0.0)
        until_s = _float_param(request, "end")
        video_id = request.path_params["video_id"]
        return send(keyframe_image(store, home, video_id, index=None, at_s=at_s, until_s=until_s))

    def media_keyframe(request: Request) -> Response:
        index = request.path_params["index"]
        video_id = request.path_params["video_id"]
        return send(keyframe_image(store, home, video_id, index=index, at_s=None))

    # --- uploads --------------------------------------------------------------------------

    async def api_upload(request: Request) -> Response:
        """
        summary: Upload a video or audio file into uploads/ for the pipeline to take
        description: >
          multipart/form-data with the file in the field `file` and optionally `profile`
          (also accepted as a query parameter). The file is written under a hidden
          temporary name and appears under its own (safe, de-duplicated) name only when
          complete. Limit VIDMINE_MAX_UPLOAD_MB.
        responses:
          201: {description: '{"file_name", "profile", "size_bytes", "path": "uploads/..."}'}
          400: {description: no file, empty file or unknown profile}
          413: {description: larger than the upload limit}
          415: {description: not a media extension}
        """
        length = request.headers.get("content-length")
        try:
            saved = await receive_upload(
                request.headers.get("content-type", ""),
                int(length) if length and length.isdigit() else None,
                request.stream(),
                home.uploads,
                max_bytes=settings.max_upload_bytes,
                known_profiles=set(settings.known_profiles),
                profile=request.query_params.get("profile") or None,
            )
        except UploadRefused as refused:
            raise ApiError(refused.status, refused.message) from None
        relative = saved.path.relative_to(home.root)
        log.info("upload saved: %s (%d bytes)", relative, saved.size_bytes)
        return _json(
            {
                "file_name": saved.file_name,
                "profile": saved.profile,
                "size_bytes": saved.size_bytes,
                "path": relative.as_posix(),
            },
            status=201,
        )

    # --- operations -----------------------------------------------------------------------

    def healthz(request: Request) -> Response:
        """
        summary: 200 when the database answers, 503 with the reason when not
        responses:
          200: {description: '{"status": "ok", "database": "reachable"}'}
          503: {description: '{"status": "unavailable", "error": reason}'}
        """
        try:
            with connect(store.url, connect_timeout=HEALTH_TIMEOUT_S) as conn:
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
        """
        summary: Videos by status, runs queued and in progress, provider calls and cost
        responses:
          200:
            description: '{"videos": {"total", "by_status": {status: n}, "rejected",
              "waiting"}, "runs": {"available", "queued": [run], "in_progress": [run],
              "reason"?}, run = {"run_id", "job_name", "status", "partition", "age_s"},
              "provider_calls": {"total": {...}, "by_stage": [...]},
              "query_embeddings": {"calls", "errors", "latency_ms"}}'
        """
        videos = store.list_videos()
        library = library_payload()
        runs: dict[str, Any] = {"available": False, "queued": [], "in_progress": []}
        if active_runs is None:
            runs["reason"] = "no Dagster instance given to this server"
        else:
            try:
                now = datetime.now(UTC)
                for run in active_runs():
                    created = run.created_at
                    if created.tzinfo is None:
                        created = created.replace(tzinfo=UTC)
                    item = {
                        "run_id": run.run_id,
                        "job_name": run.job_name,
                        "status": run.status,
                        "partition": run.partition,
                        "created_at": created,
                        "age_s": round((now - created).total_seconds(), 1),
                    }
                    runs["queued" if run.status == "QUEUED" else "in_progress"].append(item)
                runs["available"] = True
            except Exception as err:
                log.exception("listing Dagster runs failed")
                runs["reason"] = f"the Dagster instance did not answer: {err}"
        summary = store.provider_call_summary()
        calls = embedding_calls or QueryEmbeddingCalls()
        return _json(
            {
                "videos": {
                    "total": len(videos),
                    "by_status": dict(Counter(v.status for v in videos)),
                    "rejected": len(library["rejected"]),
                    "waiting": len(library["waiting"]),
                },
                "runs": runs,
                "provider_calls": {"total": summary["total"], "by_stage": summary["by_stage"]},
                "query_embeddings": {
                    "calls": calls.calls,
                    "errors": calls.errors,
                    "latency_ms": round(calls.latency_ms, 1),
                },
                "generated_at": datetime.now(UTC),
            }
        )

    schemas = SchemaGenerator(
        {"openapi": "3.0.0", "info": {"title": "vidmine serve", "version": "1"}}
    )

    def openapi(request: Request) -> Response:
        return JSONResponse(schemas.get_schema(routes=app.routes))

    # --- errors ---------------------------------------------------------------------------

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError | MediaRefused)
        return error_response(exc.status, exc.message)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: f"no such page: {request.url.path}", 405: "method not allowed"}.get(
            exc.status_code, str(exc.detail)
        )
        return error_response(exc.status_code, message)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(
            500, f"internal error ({type(exc).__name__}); the server log has the details"
        )

    routes = [
        Route("/", search_page, include_in_schema=False),
        Route("/library", library_page, include_in_schema=False),
        Route("/videos/{video_id}", video_page, include_in_schema=False),
        Route("/media/{video_id}/video", media_video, include_in_schema=False),
        Route("/media/{video_id}/thumbnail", media_thumbnail, include_in_schema=False),
        Route("/media/{video_id}/keyframes/{index:int}", media_keyframe, include_in_schema=False),
        Route("/api/search", api_search),
        Route("/api/videos", api_videos),
        Route("/api/videos/{video_id}", api_video),
        Route("/api/uploads", api_upload, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/stats", stats),
        Route("/openapi.json", openapi, include_in_schema=False),
        Mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static"),
    ]
    middleware = [Middleware(TokenGuard, token=settings.token)] if settings.token else []
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ApiError: on_api_error,
            MediaRefused: on_api_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
    )
    return app
