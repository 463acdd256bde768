"""The HTTP API's contract: every endpoint's parameters, request body and answers, as one
table that builds the OpenAPI 3.1 document (``/openapi.json``, the ``/api/docs`` page)
and tells the app which query parameters each address takes (any other is refused).

The answer shapes are pydantic models, so the document carries real schemas that client
generators accept. They describe what ``vidmine.web.payloads`` builds; they do not build
it. Keys are only ever added: every model allows extra keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from vidmine.web.guard import ALLOWED_HOSTS_ENV

API_TITLE = "vidmine serve"
API_VERSION = "1"
SCHEMA_REF = "#/components/schemas/{model}"


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorAnswer(Answer):
    """Every error: what was wrong and what to do."""

    error: str
    status: int


class Hit(Answer):
    video_id: str
    file_name: str
    start_s: float
    end_s: float
    kind: Literal["segment", "ocr", "caption"]
    snippet: str
    score: float
    item_id: str
    video_url: str
    thumbnail_url: str
    page_url: str
    speaker: str | None = None  # who said it (speech, once the speakers stage ran)


class VideoMoments(Answer):
    video_id: str
    file_name: str
    moments: int
    label: str  # "3 moments in talk.mp4"
    hits: list[Hit]


class SearchAnswer(Answer):
    query: str
    hits: list[Hit]
    nothing_found: bool  # a query was asked and nothing matched
    message: str | None  # then, what to tell a person
    groups: list[VideoMoments] | None = None  # with group=video: the video of the best hit first


class Citation(Answer):
    n: int
    video_id: str
    file_name: str
    start_s: float
    end_s: float
    kind: Literal["segment", "ocr", "caption"]
    text: str
    speaker: str | None
    item_id: str
    video_url: str
    thumbnail_url: str
    page_url: str


class AskAnswer(Answer):
    question: str
    answer: str
    mode: Literal["written", "extractive"]
    citations: list[Citation]
    note: str
    busy: bool
    supported: bool
    provider: str
    model: str
    seconds: float


class SpeakerAnswer(Answer):
    speaker: str
    name: str
    talk_s: float
    turns: int
    renamed: bool


class FailedStage(Answer):
    stage: str
    error: str | None


class VideoSummary(Answer):
    video_id: str
    file_name: str
    profile: str | None
    status: str
    error: str | None
    failed_stage: FailedStage | None
    duration_s: float | None
    languages: list[str]
    created_at: datetime | None
    updated_at: datetime | None
    stages: dict[str, str]
    page_url: str
    video_url: str
    thumbnail_url: str
    has_video: bool | None


class QueuedRun(Answer):
    run_id: str
    job_name: str
    status: str
    partition: str | None
    created_at: datetime
    age_s: float
    priority: int | None
    priority_label: str | None
    providers: list[str] = []  # its vidmine/provider/<name> tags: the pools it waits on


class LibraryVideo(VideoSummary):
    run: QueuedRun | None


class Rejection(Answer):
    file_name: str
    reason: str
    size_bytes: int | None
    rejected_at: datetime | None


class WaitingUpload(Answer):
    file_name: str
    profile: str | None
    size_bytes: int
    uploaded_at: datetime
    age_s: float


class PipelineState(Answer):
    running: bool | None
    detail: str


class LibraryAnswer(Answer):
    pipeline: PipelineState
    videos: list[LibraryVideo]
    rejected: list[Rejection]
    waiting: list[WaitingUpload]


class VideoDetailAnswer(Answer):
    video: dict[str, Any]
    stages: list[dict[str, Any]]
    transcript: list[dict[str, Any]]
    scenes: list[dict[str, Any]]
    keyframes: list[dict[str, Any]]
    ocr_texts: list[dict[str, Any]]
    captions: list[dict[str, Any]]
    content: dict[str, Any]
    provider_calls: dict[str, Any]


class UploadAnswer(Answer):
    file_name: str
    profile: str | None
    size_bytes: int
    path: str


class HealthAnswer(Answer):
    status: Literal["ok", "unavailable"]
    database: str | None = None
    error: str | None = None


class ProviderWaitingRun(Answer):
    run_id: str
    partition: str | None
    age_s: float
    priority: int | None
    priority_label: str | None


class ProviderLoad(Answer):
    """One provider's requests and queue; the request figures are null for ``local``."""

    provider: str
    ceiling: int  # max_concurrent
    local: bool
    in_flight: int | None  # requests in flight now, every process
    limit: float | None  # the adaptive limit (fractional)
    concurrency: int | None  # requests in flight it allows now
    too_many_requests: int | None  # 429s within window_s
    server_errors: int | None  # 5xx within window_s
    resume_in_s: float | None  # the provider asked to wait (Retry-After) this much longer
    decreased_at: datetime | None  # the last time the limit was lowered
    adaptive: bool | None  # false: the database lacks provider_limits (not migrated)
    queued_runs: list[ProviderWaitingRun]  # oldest first


class ProviderSection(Answer):
    available: bool
    window_s: int
    by_provider: list[ProviderLoad]
    reason: str | None = None


class StatsAnswer(Answer):
    videos: dict[str, Any]
    runs: dict[str, Any]
    provider_calls: dict[str, Any]
    providers: ProviderSection
    query_embeddings: dict[str, Any]
    generated_at: datetime


@dataclass(frozen=True)
class Parameter:
    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False
    location: Literal["query", "path"] = "query"


@dataclass(frozen=True)
class Endpoint:
    method: Literal["get", "post"]
    path: str
    summary: str
    answer: type[BaseModel]
    description: str = ""
    parameters: tuple[Parameter, ...] = ()
    errors: dict[int, str] = field(default_factory=dict)
    success_status: int = 200
    upload_form: bool = False  # multipart/form-data: file, profile
    json_body: dict[str, Any] | None = None  # the schema of a JSON request body


VIDEO_ID = Parameter(
    "video_id", {"type": "string"}, "a video id (GET /api/videos lists them)", True, "path"
)
SEARCH_PARAMETERS = (
    Parameter(
        "q",
        {"type": "string", "maxLength": 500},
        "the words to look for; empty or absent: no hits",
    ),
    Parameter("video", {"type": "string"}, "only this video id"),
    Parameter("kind", {"type": "string", "enum": ["segment", "ocr", "caption"]}, "only this kind"),
    Parameter(
        "limit",
        {"type": "integer", "default": 10, "minimum": 1, "maximum": 100},
        "at most this many hits",
    ),
    Parameter(
        "speaker",
        {"type": "string", "maxLength": 80},
        'only what this speaker said: a name given to a speaker, "Speaker 2", or its key "2"',
    ),
    Parameter("group", {"type": "string", "enum": ["video"]}, "also group the hits by video"),
)
BAD_PARAMETER = "a bad or unknown parameter, named in error"

ENDPOINTS = (
    Endpoint(
        "get",
        "/api/search",
        "Search transcripts, on-screen text and captions across videos",
        SearchAnswer,
        "The hits of `vidmine search --json`, best first, each with video_url (playable, "
        "seekable, the moment as a #t= fragment), thumbnail_url (JPEG) and page_url. Only what "
        "matches is returned: a query nothing matches gives no hits, nothing_found true and a "
        "message to show. group=video adds groups, one per video.",
        SEARCH_PARAMETERS,
        {400: BAD_PARAMETER},
    ),
    Endpoint(
        "get",
        "/api/ask",
        "Answer a question from the library's moments, citing them",
        AskAnswer,
        "The best moments (the hybrid search), then an answer citing them as [1], [2] ... "
        "(each citation's page_url plays it). With an OpenAI-compatible generate provider the "
        'answer is written from the cited moments only (mode written; unsupported: "The '
        "videos don't say.\"); offline it is extractive, the best passages in their own words. "
        "When the provider's request slots are all taken it answers at once with the "
        "extractive answer and busy true, instead of waiting: ask again for the written one.",
        (
            Parameter(
                "q", {"type": "string", "minLength": 1, "maxLength": 500}, "the question", True
            ),
            Parameter("video", {"type": "string"}, "only this video id"),
        ),
        {400: BAD_PARAMETER},
    ),
    Endpoint(
        "post",
        "/api/videos/{video_id}/speakers/{speaker}",
        "Name a speaker of a video (kept when the speakers stage runs again)",
        SpeakerAnswer,
        'JSON body {"name": "Diane"}; an empty name goes back to "Speaker N". Names '
        "show in the transcript, subtitles, search hits and exports.",
        (
            VIDEO_ID,
            Parameter(
                "speaker", {"type": "string"}, 'the speaker key ("1", "2" ...)', True, "path"
            ),
        ),
        {
            400: "no name, or a name over 80 characters",
            403: "a write from another site's page",
            404: "no such video or speaker",
        },
        json_body={
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "maxLength": 80}},
        },
    ),
    Endpoint(
        "get",
        "/api/videos",
        "Every video with its status, the uploads not taken yet, and whether the pipeline runs",
        LibraryAnswer,
        errors={400: BAD_PARAMETER},
    ),
    Endpoint(
        "get",
        "/api/videos/{video_id}",
        "Everything vidmine knows about one video",
        VideoDetailAnswer,
        parameters=(VIDEO_ID,),
        errors={400: BAD_PARAMETER, 404: "no such video"},
    ),
    Endpoint(
        "post",
        "/api/uploads",
        "Upload a video or audio file into uploads/ for the pipeline to take",
        UploadAnswer,
        "The file is written under a hidden temporary name and appears under its own (safe, "
        "de-duplicated) name only when complete. Only this server's own pages may upload "
        "from a browser (another site's page is refused with 403).",
        (Parameter("profile", {"type": "string"}, "the processing profile (or a form field)"),),
        {
            400: "no file, an empty file or an unknown profile",
            403: "a write from another site's page",
            413: "larger than the upload limit (VIDMINE_MAX_UPLOAD_MB)",
            415: "not a media file extension",
            422: "over the media limits (vidmine.yaml `limits`: duration, width, height)",
        },
        success_status=201,
        upload_form=True,
    ),
    Endpoint(
        "get",
        "/healthz",
        "200 when the database answers, 503 with the reason when not",
        HealthAnswer,
        errors={503: "the database does not answer"},
    ),
    Endpoint(
        "get",
        "/stats",
        "Videos by status, runs queued and in progress, provider calls and cost",
        StatsAnswer,
    ),
)


def query_parameter_names(path: str) -> frozenset[str]:
    """The query parameters the API endpoint at ``path`` (its route pattern) takes."""
    for endpoint in ENDPOINTS:
        if endpoint.path == path:
            return frozenset(p.name for p in endpoint.parameters if p.location == "query")
    raise KeyError(path)


def _response(description: str, model: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": SCHEMA_REF.format(model=model)}}},
    }


def _operation(endpoint: Endpoint, token_required: bool) -> dict[str, Any]:
    responses = {
        str(endpoint.success_status): _response(endpoint.summary, endpoint.answer.__name__),
        **{str(status): _response(text, "ErrorAnswer") for status, text in endpoint.errors.items()},
    }
    if token_required and endpoint.path != "/healthz":
        responses["401"] = _response("the access token is missing or wrong", "ErrorAnswer")
    operation: dict[str, Any] = {
        "operationId": _operation_id(endpoint),
        "summary": endpoint.summary,
        "responses": responses,
        "parameters": [
            {
                "name": p.name,
                "in": p.location,
                "required": p.required,
                "description": p.description,
                "schema": p.schema,
            }
            for p in endpoint.parameters
        ],
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if endpoint.upload_form:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "profile": {"type": "string"},
                        },
                    }
                }
            },
        }
    if endpoint.json_body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": endpoint.json_body}},
        }
    if endpoint.path == "/healthz":
        operation["security"] = []  # monitors probe it without the token
    return operation


def _operation_id(endpoint: Endpoint) -> str:
    words = [w for w in endpoint.path.replace("{", "").replace("}", "").split("/") if w]
    if words and words[0] == "api":
        words = words[1:]
    return "_".join([endpoint.method, *words])


def openapi_document(*, token_required: bool) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API (valid: tests/test_web.py validates it)."""
    models = sorted(
        {endpoint.answer for endpoint in ENDPOINTS} | {ErrorAnswer}, key=lambda m: m.__name__
    )
    _, schemas = models_json_schema(
        [(model, "serialization") for model in models], ref_template=SCHEMA_REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method] = _operation(endpoint, token_required)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": API_TITLE,
            "version": API_VERSION,
            "description": (
                "Search and read what vidmine found in your videos. Errors are JSON "
                "`{error, status}`. Host names other than IP addresses, localhost and "
                f"{ALLOWED_HOSTS_ENV} are refused."
            ),
        },
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {})},
    }
    if token_required:
        document["components"]["securitySchemes"] = {
            "bearerToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "VIDMINE_SERVE_TOKEN",
            }
        }
        document["security"] = [{"bearerToken": []}]
    return document
