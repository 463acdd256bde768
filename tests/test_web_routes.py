"""Each route module of `vidmine serve` alone (vidmine.web.routes): an app holding only
that module's routes and the app's error handlers, over this test's fresh database with
seeded rows and a word-counting embedder. No pipeline run and no model: these are the
fast tests of the handlers; tests/test_web.py drives the whole app on a processed video."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Route
from starlette.testclient import TestClient

from vidmine.db.models import SearchItem
from vidmine.db.speakers import TurnRecord, replace_speakers
from vidmine.db.store import Store
from vidmine.models import TranscriptSegment, segment_id
from vidmine.settings import VidmineHome
from vidmine.web import WebSettings, create_app
from vidmine.web.errors import MACHINE_PATHS, WebError, for_programs
from vidmine.web.openapi import ENDPOINTS, openapi_document
from vidmine.web.pages import on_http_error, on_unexpected, page_templates
from vidmine.web.routes import api_docs, ask, library, media, operations, search, uploads, videos
from vidmine.web.runs import ActiveRun, PipelineState
from vidmine.web.state import WebState

VIDEO = "harbour-talk-1a2b3c"
LINES = (
    "The lighthouse keeper counts the ships at night.",
    "The ocean tides are pulled by the moon.",
    "Revenue grew by twelve percent this quarter.",
)


class WordEmbedder:
    """Each word hashed to one of 384 dimensions: texts that share words are near."""

    model = "test-words"
    dimensions = 384

    def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * self.dimensions
            for word in text.lower().split():
                digest = hashlib.sha256(word.strip(".,?!").encode()).digest()
                vector[int.from_bytes(digest[:4]) % self.dimensions] += 1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            vectors.append([v / norm for v in vector])
        return vectors


def client_of(routes: Sequence[BaseRoute], store: Store, home: Path, **state: object) -> TestClient:
    """A client of an app with only ``routes``, as create_app sets up its state and errors."""
    settings = state.pop("settings", None) or WebSettings(home=VidmineHome(home))
    app = Starlette(
        routes=list(routes),
        exception_handlers={HTTPException: on_http_error, Exception: on_unexpected},
    )
    app.state.web = WebState(
        store=store,
        embedder=WordEmbedder(),
        settings=settings,
        templates=page_templates(),
        api_document=openapi_document(token_required=False),
        **state,  # type: ignore[arg-type]
    )
    return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)


@pytest.fixture
def seeded(store: Store) -> Store:
    """One video with three transcript segments, their search items and two speakers."""
    store.register_video(
        VIDEO, file_name="harbour talk.mp4", source_path="/up/harbour talk.mp4", size_bytes=10
    )
    segments = [
        TranscriptSegment(i, i * 5.0, i * 5.0 + 5.0, text, "en", speaker=str(1 + i % 2))
        for i, text in enumerate(LINES)
    ]
    store.replace_transcript(VIDEO, segments)
    turns = [TurnRecord(s.speaker or "1", s.start_s, s.end_s) for s in segments]
    replace_speakers(store, VIDEO, segments, turns)
    embedder = WordEmbedder()
    items = [
        SearchItem(
            f"{VIDEO}_item_{s.index:03d}",
            "segment",
            segment_id(VIDEO, s.index),
            s.start_s,
            s.end_s,
            s.text,
            vector,
            "en",
        )
        for s, vector in zip(segments, embedder.embed(list(LINES)), strict=True)
    ]
    store.replace_search_items(VIDEO, items, embedder.model, embedder.dimensions)
    return store


# --- search and ask --------------------------------------------------------------------------


def test_search_api_finds_the_seeded_line(seeded: Store, tmp_path: Path) -> None:
    client = client_of(search.routes, seeded, tmp_path)
    answer = client.get("/api/search", params={"q": "ocean tides", "limit": 2})
    assert answer.status_code == 200
    top = answer.json()["hits"][0]
    assert top["video_id"] == VIDEO and top["start_s"] == 5.0 and "**" in top["snippet"]
    grouped = client.get("/api/search", params={"q": "ocean tides", "group": "video"}).json()
    assert grouped["groups"][0]["video_id"] == VIDEO
    assert client.get("/api/search").json()["hits"] == []  # no query, no hits


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "x", "kind": "poem"}, "kind must be one of"),
        ({"q": "x" * 501}, "the query is longer than 500 characters"),
        ({"q": "x", "limit": "101"}, "limit must be between 1 and 100"),
        ({"q": "x", "group": "scene"}, "group must be 'video' or absent"),
        ({"q": "x", "speaker": "y" * 81}, "speaker must be at most 80 characters"),
        ({"q": "x", "limt": "5"}, "unknown parameter 'limt'"),
    ],
)
def test_search_api_refuses_bad_parameters_as_json(
    store: Store, tmp_path: Path, params: dict, message: str
) -> None:
    answer = client_of(search.routes, store, tmp_path).get("/api/search", params=params)
    assert answer.status_code == 400
    assert message in answer.json()["error"] and answer.json()["status"] == 400


def test_the_search_page_marks_the_words_and_refuses_a_bad_mode_as_a_page(
    seeded: Store, tmp_path: Path
) -> None:
    client = client_of([*search.routes, *ask.routes], seeded, tmp_path)
    page = client.get("/", params={"q": "lighthouse"})
    assert page.status_code == 200 and "<mark>lighthouse</mark>" in page.text.lower()
    asked = client.get("/", params={"q": "What pulls the tides?", "mode": "ask"})
    assert asked.status_code == 200 and 'class="cite"' in asked.text
    wrong = client.get("/", params={"mode": "poem"})
    assert wrong.status_code == 400 and wrong.headers["content-type"].startswith("text/html")
    assert "That request cannot be answered" in wrong.text
    assert "mode must be search or ask, got &#39;poem&#39;" in wrong.text


def test_ask_api_cites_the_seeded_moment_and_wants_a_question(
    seeded: Store, tmp_path: Path
) -> None:
    client = client_of(ask.routes, seeded, tmp_path)
    answer = client.get("/api/ask", params={"q": "What pulls the ocean tides?"}).json()
    assert answer["mode"] == "extractive"
    assert answer["citations"][0]["video_id"] == VIDEO
    missing = client.get("/api/ask", params={"q": "  "})
    assert missing.status_code == 400
    assert missing.json()["error"] == "q (the question) is required"


# --- the library and one video ---------------------------------------------------------------


def test_the_library_lists_videos_uploads_and_the_run_queue(seeded: Store, tmp_path: Path) -> None:
    home = VidmineHome(tmp_path)
    home.uploads.mkdir(parents=True)
    (home.uploads / "waiting.mp4").write_bytes(b"not yet")
    now = datetime.now(UTC)

    def active_runs():
        return [ActiveRun("r1", "process_video", "STARTED", VIDEO, now, 0, ())]

    def pipeline_health():
        return PipelineState(True, "the daemon is alive")

    client = client_of(
        library.routes,
        seeded,
        tmp_path,
        active_runs=active_runs,
        pipeline_health=pipeline_health,
    )
    answer = client.get("/api/videos").json()
    assert [v["video_id"] for v in answer["videos"]] == [VIDEO]
    assert answer["videos"][0]["run"]["run_id"] == "r1"
    assert [w["file_name"] for w in answer["waiting"]] == ["waiting.mp4"]
    assert answer["pipeline"] == {"running": True, "detail": "the daemon is alive"}
    page = client.get("/library")
    assert page.status_code == 200 and "harbour talk.mp4" in page.text
    assert "waiting.mp4" in page.text


def test_a_failing_dagster_instance_leaves_the_library_readable(
    seeded: Store, tmp_path: Path
) -> None:
    def broken():
        raise RuntimeError("instance gone")

    client = client_of(library.routes, seeded, tmp_path, active_runs=broken, pipeline_health=broken)
    answer = client.get("/api/videos").json()
    assert answer["videos"][0]["run"] is None
    assert answer["pipeline"]["running"] is None
    assert "did not answer: instance gone" in answer["pipeline"]["detail"]


def test_one_video_as_json_and_as_a_page(seeded: Store, tmp_path: Path) -> None:
    client = client_of(videos.routes, seeded, tmp_path)
    detail = client.get(f"/api/videos/{VIDEO}").json()
    assert detail["video"]["video_id"] == VIDEO and len(detail["speakers"]) == 2
    page = client.get(f"/videos/{VIDEO}", params={"t": "5"})
    assert page.status_code == 200 and "The ocean tides are pulled by the moon." in page.text
    assert client.get(f"/videos/{VIDEO}", params={"t": "soon"}).status_code == 400
    unknown = client.get("/api/videos/no-such-video")
    assert unknown.status_code == 404 and "GET /api/videos lists the ids" in unknown.json()["error"]
    page_missing = client.get("/videos/no-such-video")
    assert page_missing.status_code == 404 and "Not found" in page_missing.text


def test_renaming_a_speaker(seeded: Store, tmp_path: Path) -> None:
    client = client_of(videos.routes, seeded, tmp_path)
    named = client.post(f"/api/videos/{VIDEO}/speakers/2", json={"name": "Diane"})
    assert named.status_code == 200 and named.json()["name"] == "Diane"
    assert client.get(f"/api/videos/{VIDEO}").json()["speakers"][1]["name"] == "Diane"
    nobody = client.post(f"/api/videos/{VIDEO}/speakers/9", json={"name": "X"})
    assert nobody.status_code == 404 and "has no speaker '9'" in nobody.json()["error"]
    not_json = client.post(f"/api/videos/{VIDEO}/speakers/1", content=b"Diane")
    assert not_json.status_code == 400 and "send JSON" in not_json.json()["error"]
    no_name = client.post(f"/api/videos/{VIDEO}/speakers/1", json={"nom": "Diane"})
    assert no_name.status_code == 400 and '"name" string' in no_name.json()["error"]


# --- media, uploads, operations, the contract --------------------------------------------------


def test_media_of_a_video_without_files_are_json_refusals(seeded: Store, tmp_path: Path) -> None:
    client = client_of(media.routes, seeded, tmp_path)
    keyframe = client.get(f"/media/{VIDEO}/keyframes/0")
    assert keyframe.status_code == 404 and "has no keyframe" in keyframe.json()["error"]
    assert "no transcript (yet)" in client.get(f"/media/{VIDEO}/transcript.vtt").json()["error"]
    assert client.get(f"/media/{VIDEO}/transcript.doc").status_code == 404
    bad_time = client.get(f"/media/{VIDEO}/thumbnail", params={"t": "-1"})
    assert bad_time.status_code == 400 and "between 0 and 10^7" in bad_time.json()["error"]
    assert client.get("/media/no-such-video/poster").status_code == 404


def test_an_upload_lands_in_uploads_and_a_text_file_is_refused(
    store: Store, tmp_path: Path
) -> None:
    client = client_of(uploads.routes, store, tmp_path)
    saved = client.post("/api/uploads", files={"file": ("clip.mp4", b"\0" * 64, "video/mp4")})
    assert saved.status_code == 201
    assert saved.json() == {
        "file_name": "clip.mp4",
        "profile": None,
        "size_bytes": 64,
        "path": "uploads/clip.mp4",
    }
    assert (tmp_path / "uploads" / "clip.mp4").stat().st_size == 64
    refused = client.post("/api/uploads", files={"file": ("notes.txt", b"hello", "text/plain")})
    assert refused.status_code == 415 and refused.json()["status"] == 415


def test_healthz_and_stats(seeded: Store, tmp_path: Path) -> None:
    client = client_of(operations.routes, seeded, tmp_path)
    assert client.get("/healthz").json() == {"status": "ok", "database": "reachable"}
    stats = client.get("/stats").json()
    assert stats["videos"]["total"] == 1 and stats["runs"]["available"] is False
    assert stats["query_embeddings"] == {"calls": 0, "errors": 0, "latency_ms": 0.0}


def test_the_contract_is_served_as_json_and_as_a_page(store: Store, tmp_path: Path) -> None:
    client = client_of(api_docs.routes, store, tmp_path)
    assert client.get("/openapi.json").json()["info"]["title"] == "vidmine serve"
    assert "/api/search" in client.get("/api/docs").text


def test_every_api_route_is_in_the_published_contract(tmp_path: Path, store: Store) -> None:
    """ENDPOINTS (what /openapi.json publishes) and the app's routes for programs agree:
    the same paths with the same methods. The media files, the document itself and its
    page are not API operations."""
    app = create_app(store, WordEmbedder(), WebSettings(home=VidmineHome(tmp_path)))
    not_operations = ("/media/", "/openapi.json", "/api/docs")
    routed = {
        (method.lower(), route.path)
        for route in app.routes
        if isinstance(route, Route)
        and for_programs(route.path)
        and not route.path.startswith(not_operations)
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert routed == {(endpoint.method, endpoint.path) for endpoint in ENDPOINTS}
    assert all(for_programs(endpoint.path) for endpoint in ENDPOINTS), MACHINE_PATHS


# --- errors ----------------------------------------------------------------------------------


def test_one_error_type_answers_people_with_a_page_and_programs_with_json(
    store: Store, tmp_path: Path
) -> None:
    def refuse(request):
        raise WebError(409, "already there; pick another name", {"Retry-After": "5"})

    def crash(request):
        raise RuntimeError("secret /etc/vidmine")

    routes = [Route(path, refuse) for path in ("/refused", "/api/refused")]
    routes += [Route(path, crash) for path in ("/crash", "/api/crash")]
    client = client_of(routes, store, tmp_path)
    program = client.get("/api/refused")
    assert program.status_code == 409 and program.headers["retry-after"] == "5"
    assert program.json() == {"error": "already there; pick another name", "status": 409}
    person = client.get("/refused")
    assert person.status_code == 409 and person.headers["content-type"].startswith("text/html")
    assert "already there; pick another name" in person.text
    for path in ("/crash", "/api/crash"):
        crashed = client.get(path)
        assert crashed.status_code == 500 and "/etc/vidmine" not in crashed.text
        assert "internal error (RuntimeError)" in crashed.text
    assert client.get("/api/nothing").json()["error"] == "no such page: /api/nothing"
    assert client.post("/api/refused").status_code == 405
