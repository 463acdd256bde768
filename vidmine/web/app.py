"""The Starlette app behind `vidmine serve`: HTML pages, the JSON API, media and uploads.

Endpoints are plain functions over ``Store``; the blocking ones (database, embedding,
files) are sync and run in Starlette's thread pool, so pages stay responsive while a
search or the pipeline is busy. Every error answers JSON ``{"error": message}``; a
traceback goes to the server log, never to the client.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import jinja2
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from vidmine.ask import ask
from vidmine.config import LOCAL_PROVIDER, MediaLimits
from vidmine.db.connection import connect
from vidmine.db.speakers import load_speakers, rename_speaker
from vidmine.db.store import SEARCH_KINDS, Store
from vidmine.files import atomic_write_text
from vidmine.media.ffmpeg import MediaError
from vidmine.media.probe import probe_media
from vidmine.providers.base import CallRecord, TextGenerator
from vidmine.providers.minilm import EMBED_THREADS_ENV
from vidmine.providers.slots import SlotsUnavailableError, provider_loads
from vidmine.search import search_answer, search_text
from vidmine.settings import VidmineHome
from vidmine.transcript import clock, to_srt, to_vtt
from vidmine.uploads import limits_problem, priority_label, scan_uploads
from vidmine.web import payloads
from vidmine.web.auth import TokenGuard
from vidmine.web.errors import error_response, for_programs
from vidmine.web.guard import RequestGuard
from vidmine.web.markdown import markdown_html
from vidmine.web.media import (
    MediaFile,
    MediaRefused,
    checked_video,
    keyframe_image,
    ocr_frame,
    playable_video,
    poster_image,
    transcript_subtitles,
)
from vidmine.web.openapi import openapi_document, query_parameter_names
from vidmine.web.runs import ActiveRuns, PipelineHealth, PipelineState
from vidmine.web.uploads import DEFAULT_MAX_UPLOAD_MB, UploadRefused, receive_upload

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).parent
MAX_SEARCH_LIMIT = 100
MAX_QUERY_CHARS = 500
HEALTH_TIMEOUT_S = 3
# "429s in the last minutes": /stats and the library count them over this window.
PROVIDER_WINDOW_S = 600
ERROR_TITLES = {
    400: "That request cannot be answered",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    500: "Something went wrong on the server",
}


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
    # Host names answered besides IP literals (vidmine.web.guard); the CLI adds the bound
    # name, this machine's names and VIDMINE_ALLOWED_HOSTS.
    allowed_hosts: frozenset[str] = frozenset({"localhost"})
    media_limits: MediaLimits = field(default_factory=MediaLimits)  # vidmine.yaml `limits`
    # The providers the stages use, with their max_concurrent (vidmine.yaml `providers`):
    # /stats and the library show each one's requests, adaptive limit and waiting runs.
    provider_ceilings: dict[str, int] = field(default_factory=dict)


class ApiError(Exception):
    """An error answered as JSON ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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


def _wrap_marked(text: str, marker: str, tag: str) -> Markup:
    """``text`` escaped, with each span between a pair of ``marker`` in <``tag``>; an
    unpaired marker leaves the text as it is."""
    parts = text.split(marker)
    if len(parts) % 2 == 0:
        return escape(text)
    element = Markup(f"<{tag}>{{}}</{tag}>")
    return Markup("").join(
        element.format(part) if i % 2 else escape(part) for i, part in enumerate(parts)
    )


def cite_links(answer: str, citations: Iterable[dict[str, Any]]) -> Markup:
    """An answer as HTML: escaped, each [n] a link that plays its cited moment."""
    links = {int(c["n"]): c for c in citations}
    out = Markup("")
    for i, part in enumerate(re.split(r"\[(\d{1,2})\]", answer)):
        if i % 2 == 0:
            out += escape(part)
        elif int(part) in links:
            c = links[int(part)]
            out += Markup('<a class="cite" href="{}" title="{} at {}">[{}]</a>').format(
                c["page_url"], c["file_name"], clock(c["start_s"]), part
            )
        else:
            out += escape(f"[{part}]")
    return out


def highlight(snippet: str) -> Markup:
    """The snippet as HTML: escaped, with the words search matched (``**word**``) in <mark>."""
    return _wrap_marked(snippet, "**", "mark")


def code_spans(text: str) -> Markup:
    """``text`` escaped, with `backquoted` commands shown as code."""
    return _wrap_marked(text, "`", "code")


def sentence(text: str) -> str:
    """``text`` with its first letter upper case (``capitalize`` lowers the rest)."""
    return text[:1].upper() + text[1:]


def file_size(size_bytes: float) -> str:
    if size_bytes < 1_000_000:
        return f"{size_bytes / 1000:.0f} kB"
    return f"{size_bytes / 1_000_000:.1f} MB"


def age(seconds: float) -> str:
    """A duration for people: "8 s", "3 min", "2 h 5 min", "3 days"."""
    if seconds < 60:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    if seconds < 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{hours:.0f} h {rest // 60:.0f} min"
    return f"{seconds // 86400:.0f} days"


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
    env.filters["age"] = age
    env.filters["code_spans"] = code_spans
    env.filters["sentence"] = sentence
    env.filters["file_size"] = file_size
    env.filters["markdown"] = markdown_html
    env.filters["highlight"] = highlight
    env.filters["speaker_colour"] = payloads.speaker_colour
    env.filters["cite_links"] = cite_links
    env.filters["kind_label"] = lambda kind: payloads.KIND_LABELS.get(kind, kind)
    env.filters["when"] = lambda dt: dt.strftime("%Y-%m-%d %H:%M") if dt else ""
    return env


def refuse_unknown_parameters(request: Request, names: Iterable[str]) -> None:
    """ApiError(400) naming a query parameter this address does not take: a misspelt
    ``limt=5`` silently ignored would answer something other than what was asked."""
    unknown = sorted(set(request.query_params) - set(names))
    if unknown:
        takes = ", ".join(sorted(names)) or "no parameters"
        raise ApiError(400, f"unknown parameter {unknown[0]!r}; this address takes {takes}")


def taking(names: Iterable[str], endpoint: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """``endpoint`` refusing query parameters other than ``names`` (sync or async alike)."""
    allowed = frozenset(names)
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def checked_async(request: Request) -> Any:
            refuse_unknown_parameters(request, allowed)
            return await endpoint(request)

        return checked_async

    @functools.wraps(endpoint)
    def checked(request: Request) -> Any:
        refuse_unknown_parameters(request, allowed)
        return endpoint(request)

    return checked


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
    pipeline_health: PipelineHealth | None = None,
    embedding_calls: QueryEmbeddingCalls | None = None,
    generator: TextGenerator | None = None,
) -> Starlette:
    """The `vidmine serve` app on ``store``, embedding queries with ``embedder`` (made once
    per process: loading a local model takes seconds). ``active_runs`` lists Dagster's
    queued and running runs for /stats; without it /stats reports runs as unavailable.
    ``pipeline_health`` says whether the daemon that takes uploads is alive (the library
    tells a person what to do when it is not). ``generator`` writes answers to questions
    (an OpenAI-compatible ``generate`` provider); None or local: extractive answers."""
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
        speaker = " ".join(params.get("speaker", "").split()) or None
        if speaker is not None and len(speaker) > 80:
            raise ApiError(400, "speaker must be at most 80 characters")
        filters = {"video": video, "kind": kind, "limit": limit, "group": group, "speaker": speaker}
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
                speaker=speaker,
            )
        answer = search_answer(
            query, hits, group=group == "video", hit_payload=payloads.hit_payload
        )
        return answer, filters

    def api_search(request: Request) -> Response:
        """Search transcripts, on-screen text and captions across videos (contract: vidmine.web.openapi)."""
        answer, _ = run_search(request)
        return _json(answer)

    def run_ask(request: Request) -> dict[str, Any]:
        params = request.query_params
        question = params.get("q", "").strip()
        if not question:
            raise ApiError(400, "q (the question) is required")
        if len(question) > MAX_QUERY_CHARS:
            raise ApiError(400, f"the question is longer than {MAX_QUERY_CHARS} characters")
        answer = ask(
            store,
            embedder,
            question,
            generator=generator,
            video_id=params.get("video") or None,
            embed_lock=embed_guard,
        )
        return payloads.answer_payload(answer)

    def api_ask(request: Request) -> Response:
        """Answer a question from the library's moments, citing them (contract: vidmine.web.openapi)."""
        return _json(run_ask(request))

    def search_page(request: Request) -> Response:
        mode = request.query_params.get("mode") or "search"
        if mode not in ("search", "ask"):
            raise ApiError(400, f"mode must be search or ask, got {mode!r}")
        videos = store.list_videos()
        if mode == "ask" and request.query_params.get("q", "").strip():
            asked = _jsonable(run_ask(request))
            video = request.query_params.get("video") or None
            return render(
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

    # --- videos ---------------------------------------------------------------------------

    def provider_queues(queue: dict[str, Any]) -> dict[str, Any]:
        """Per provider: requests in flight (every process), the adaptive limit and its
        ceiling, 429s and 5xx in the window, and the queued runs tagged with it."""
        ceilings = settings.provider_ceilings
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
                    for load in provider_loads(store.url, remote, window_s=PROVIDER_WINDOW_S)
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
                {
                    "provider": name,
                    "ceiling": ceilings[name],
                    "local": name == LOCAL_PROVIDER,
                    "in_flight": load.in_flight if load else None,
                    "limit": load.limit if load else None,
                    "concurrency": load.concurrency if load else None,
                    "too_many_requests": load.too_many_requests if load else None,
                    "server_errors": load.server_errors if load else None,
                    "resume_in_s": load.resume_in_s if load else None,
                    "decreased_at": load.decreased_at if load else None,
                    "adaptive": load.adaptive if load else None,
                    "queued_runs": waiting,
                }
            )
        return section

    def library_payload(queue: dict[str, Any] | None = None) -> dict[str, Any]:
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
        now = datetime.now(UTC)
        for upload in waiting:
            upload["age_s"] = round((now - upload["uploaded_at"]).total_seconds(), 1)
        queue = queue if queue is not None else run_queue()
        run_of = {run["partition"]: run for run in queue["queued"] + queue["in_progress"]}
        summaries = []
        for video in videos:
            summary = payloads.video_summary(video, store.stage_states(video.video_id))
            summary["run"] = run_of.get(video.video_id)  # queued or in progress, else None
            summaries.append(summary)
        return {
            "pipeline": dataclasses.asdict(pipeline_state()),
            "videos": summaries,
            "rejected": rejected,
            # Files in uploads/ that the pipeline has not registered (or refused) yet.
            "waiting": [w for w in waiting if w["file_name"] not in rejected_names],
        }

    def pipeline_state() -> PipelineState:
        if pipeline_health is None:
            return PipelineState(None, "no Dagster instance given to this server")
        try:
            return pipeline_health()
        except Exception as err:  # the page still shows the library
            log.exception("asking the Dagster instance for the daemon's heartbeat failed")
            return PipelineState(None, f"the Dagster instance did not answer: {err}")

    def api_videos(request: Request) -> Response:
        """Every video with its status, and the uploads not taken yet (contract: vidmine.web.openapi)."""
        return _json(library_payload())

    def known_video(video_id: str):
        try:
            return checked_video(store, video_id)
        except MediaRefused as refused:
            raise ApiError(refused.status, refused.message) from None

    def api_video(request: Request) -> Response:
        """Everything vidmine knows about one video (contract: vidmine.web.openapi)."""
        video = known_video(request.path_params["video_id"])
        return _json(payloads.video_detail(store, video))

    async def api_rename_speaker(request: Request) -> Response:
        """Name a speaker of a video (contract: vidmine.web.openapi)."""
        video_id = request.path_params["video_id"]
        speaker = request.path_params["speaker"]
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, 'send JSON: {"name": "Diane"}') from None
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            raise ApiError(400, 'send JSON with a "name" string: {"name": "Diane"}')
        return _json(await run_in_threadpool(renamed, video_id, speaker, name))

    def renamed(video_id: str, speaker: str, name: str) -> dict[str, Any]:
        video = known_video(video_id)
        try:
            record = rename_speaker(store, video.video_id, speaker, name)
        except KeyError:
            raise ApiError(404, f"{video.file_name} has no speaker {speaker!r}") from None
        except ValueError as err:
            raise ApiError(400, str(err)) from None
        # The subtitles name speakers too: write them again with the new name.
        folder = home.video_dir(video.video_id)
        if (folder / "transcript.vtt").is_file():
            segments = store.load_transcript(video.video_id)
            names = {s.speaker: s.name for s in load_speakers(store, video.video_id)}
            atomic_write_text(folder / "transcript.srt", to_srt(segments, names))
            atomic_write_text(folder / "transcript.vtt", to_vtt(segments, names))
        return dataclasses.asdict(record)

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
            speaker_names={s["speaker"]: s["name"] for s in detail["speakers"]},
            video_url=payloads.video_url(video.video_id),
            has_subtitles=(home.video_dir(video.video_id) / "transcript.vtt").is_file(),
            captions_url=payloads.transcript_url(video.video_id, "vtt"),
            downloads={
                fmt.upper(): payloads.transcript_url(video.video_id, fmt, download=True)
                for fmt in ("srt", "vtt")
            },
        )

    def library_page(request: Request) -> Response:
        queue = run_queue()
        return render(
            "library.html",
            page="library",
            library=library_payload(queue),
            providers=provider_queues(queue),
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

    def media_transcript(request: Request) -> Response:
        video_id = request.path_params["video_id"]
        fmt = request.path_params["fmt"]
        media = transcript_subtitles(store, home, video_id, fmt)
        if "download" not in request.query_params:
            return send(media)
        video = checked_video(store, video_id)
        return FileResponse(
            media.path,
            media_type=media.media_type,
            filename=f"{Path(video.file_name).stem}.{fmt}",
            headers={"Cache-Control": "private"},
        )

    def media_poster(request: Request) -> Response:
        return send(poster_image(store, home, request.path_params["video_id"]))

    def media_ocr_frame(request: Request) -> Response:
        video_id = request.path_params["video_id"]
        return send(ocr_frame(store, home, video_id, request.path_params["index"]))

    def media_keyframe(request: Request) -> Response:
        index = request.path_params["index"]
        video_id = request.path_params["video_id"]
        return send(keyframe_image(store, home, video_id, index=index, at_s=None))

    # --- uploads --------------------------------------------------------------------------

    def over_the_limits(path: Path) -> str | None:
        try:
            probe = probe_media(path)
        except MediaError:
            return None  # unreadable: the pipeline records why, and the library shows it
        return limits_problem(probe, settings.media_limits)

    async def api_upload(request: Request) -> Response:
        """Upload a video or audio file into uploads/ for the pipeline to take (contract: vidmine.web.openapi)."""
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
                check=over_the_limits,
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
        """200 when the database answers, 503 with the reason when not (contract: vidmine.web.openapi)."""
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

    def run_queue() -> dict[str, Any]:
        """Dagster's runs queued and in progress, oldest first, with their age and priority."""
        runs: dict[str, Any] = {"available": False, "queued": [], "in_progress": []}
        if active_runs is None:
            runs["reason"] = "no Dagster instance given to this server"
            return runs
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
                    "priority": run.priority,
                    "priority_label": priority_label(run.priority),
                    "providers": list(run.providers),
                }
                runs["queued" if run.status == "QUEUED" else "in_progress"].append(item)
            runs["available"] = True
        except Exception as err:
            log.exception("listing Dagster runs failed")
            runs["reason"] = f"the Dagster instance did not answer: {err}"
        return runs

    def stats(request: Request) -> Response:
        """Videos by status, runs queued and in progress, provider calls and cost (contract: vidmine.web.openapi)."""
        videos = store.list_videos()
        runs = run_queue()
        library = library_payload(runs)
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
                "providers": provider_queues(runs),
                "query_embeddings": {
                    "calls": calls.calls,
                    "errors": calls.errors,
                    "latency_ms": round(calls.latency_ms, 1),
                },
                "generated_at": datetime.now(UTC),
            }
        )

    api_document = openapi_document(token_required=bool(settings.token))

    def openapi(request: Request) -> Response:
        return JSONResponse(api_document)

    def api_docs(request: Request) -> Response:
        return render("api_docs.html", page="api", api=api_document)

    # --- errors ---------------------------------------------------------------------------

    def login_page(next_path: str, problem: str | None) -> str:
        return templates.get_template("login.html").render(
            page="login", next_path=next_path, problem=problem
        )

    def answer_error(request: Request, status: int, message: str) -> Response:
        # People get a page they can read and leave; programs (/api, media, operations)
        # keep the JSON shape.
        if for_programs(request.url.path):
            return error_response(status, message)
        return HTMLResponse(
            templates.get_template("error.html").render(
                page="error", status=status, message=message, title=ERROR_TITLES.get(status)
            ),
            status_code=status,
        )

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError | MediaRefused)
        return answer_error(request, exc.status, exc.message)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: f"no such page: {request.url.path}", 405: "method not allowed"}.get(
            exc.status_code, str(exc.detail)
        )
        answer = answer_error(request, exc.status_code, message)
        answer.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return answer

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return answer_error(
            request, 500, f"internal error ({type(exc).__name__}); the server log has the details"
        )

    search_names = query_parameter_names("/api/search")
    routes = [
        Route("/", taking(search_names | {"mode"}, search_page)),
        Route("/library", taking((), library_page)),
        Route("/videos/{video_id}", taking({"t"}, video_page)),
        Route("/media/{video_id}/video", taking((), media_video)),
        Route("/media/{video_id}/thumbnail", taking({"t", "end"}, media_thumbnail)),
        Route("/media/{video_id}/keyframes/{index:int}", taking((), media_keyframe)),
        Route("/media/{video_id}/poster", taking((), media_poster)),
        Route("/media/{video_id}/ocr/{index:int}", taking((), media_ocr_frame)),
        Route("/media/{video_id}/transcript.{fmt}", taking({"download"}, media_transcript)),
        Route("/api/search", taking(search_names, api_search)),
        Route("/api/ask", taking(query_parameter_names("/api/ask"), api_ask)),
        Route(
            "/api/videos/{video_id}/speakers/{speaker}",
            taking((), api_rename_speaker),
            methods=["POST"],
        ),
        Route("/api/videos", taking((), api_videos)),
        Route("/api/videos/{video_id}", taking((), api_video)),
        Route(
            "/api/uploads",
            taking(query_parameter_names("/api/uploads"), api_upload),
            methods=["POST"],
        ),
        Route("/api/docs", taking((), api_docs)),
        Route("/healthz", taking((), healthz)),
        Route("/stats", taking((), stats)),
        Route("/openapi.json", taking((), openapi)),
        Mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static"),
    ]
    # The guard first: a foreign host, a cross-origin write or a NUL is refused before the
    # token is even looked at, and every answer (a 401 too) carries the security headers.
    middleware = [Middleware(RequestGuard, allowed_hosts=settings.allowed_hosts)]
    if settings.token:
        middleware.append(Middleware(TokenGuard, token=settings.token, login_page=login_page))
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
