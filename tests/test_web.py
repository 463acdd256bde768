"""`vidmine serve` through Starlette's TestClient on a video the real pipeline processed:
the search API's shape, media with HTTP Range, refusals of paths that leave the media
folder, HTML escaping, uploads, health, stats, the token and JSON errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from db_helpers import delete_video
from media_helpers import make_video
from starlette.testclient import TestClient
from typer.testing import CliRunner
from web_helpers import web_app

from vidmine.config import MediaLimits
from vidmine.db.models import SearchItem, StageState
from vidmine.db.store import Store
from vidmine.providers.local import LocalEmbedder
from vidmine.settings import VidmineHome
from vidmine.web import WebSettings, create_app
from vidmine.web.runs import ActiveRun

pytestmark = pytest.mark.slow  # processes a video through the whole pipeline (see web_env)

HIT_KEYS = {"video_id", "file_name", "start_s", "end_s", "kind", "snippet", "score", "item_id"}


def local_client(app, **options) -> TestClient:
    """A client of ``app`` as a browser on this machine sees it (``Host: 127.0.0.1``)."""
    return TestClient(app, base_url="http://127.0.0.1", **options)


@pytest.fixture(scope="module")
def env(web_env: dict) -> dict:
    return web_env


@pytest.fixture(scope="module")
def client(env: dict) -> TestClient:
    return local_client(web_app(env))


TOKEN = "a-token-of-24-characters"


def _uploads(env: dict) -> Path:
    return Path(env["home"]) / "uploads"


# --- search ----------------------------------------------------------------------------------


def test_search_api_has_the_cli_hits_with_playable_urls(client: TestClient, env: dict) -> None:
    answer = client.get("/api/search", params={"q": "ocean tides moon", "limit": 5})
    assert answer.status_code == 200
    payload = answer.json()
    assert payload["query"] == "ocean tides moon"
    top = payload["hits"][0]
    assert set(top) >= HIT_KEYS | {"video_url", "thumbnail_url", "page_url"}
    assert top["video_id"] == env["video_id"]
    assert "**" in top["snippet"]  # the matched words, marked as in `vidmine search --json`
    video_url, _, fragment = top["video_url"].partition("#")
    assert float(fragment.removeprefix("t=")) == pytest.approx(top["start_s"], abs=0.01)
    video = client.get(video_url)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.headers["accept-ranges"] == "bytes"
    thumb = client.get(top["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:2] == b"\xff\xd8"  # a JPEG
    page = client.get(top["page_url"])
    assert page.status_code == 200 and "<video" in page.text


def test_search_filters_by_kind_and_video(client: TestClient, env: dict) -> None:
    ocr = client.get("/api/search", params={"q": "quarterly results", "kind": "ocr"}).json()
    assert ocr["hits"] and {h["kind"] for h in ocr["hits"]} == {"ocr"}
    speech = client.get("/api/search", params={"q": "revenue", "kind": "segment"}).json()
    assert speech["hits"] and {h["kind"] for h in speech["hits"]} == {"segment"}
    other = client.get("/api/search", params={"q": "revenue", "video": "no-such-video"}).json()
    assert other["hits"] == []
    mine = client.get("/api/search", params={"q": "revenue", "video": env["video_id"]}).json()
    assert {h["video_id"] for h in mine["hits"]} == {env["video_id"]}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "x", "kind": "poem"}, "kind must be one of"),
        ({"q": "x", "limit": "many"}, "limit must be a whole number"),
        ({"q": "x", "limit": "0"}, "limit must be between"),
    ],
)
def test_search_refuses_bad_parameters_with_json(client: TestClient, params, message) -> None:
    answer = client.get("/api/search", params=params)
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_search_page_highlights_and_links_to_the_moment(client: TestClient, env: dict) -> None:
    # A word Whisper wrote, not one it was meant to hear: machines hear differently.
    spoken = env["store"].load_transcript(env["video_id"])[0].text
    word = max(re.findall(r"[A-Za-z]+", spoken), key=len)
    page = client.get("/", params={"q": word})
    assert page.status_code == 200
    assert re.search(rf"<mark>{word}</mark>", page.text, re.IGNORECASE), word
    assert f'href="/videos/{env["video_id"]}?t=' in page.text


# --- ask and speakers --------------------------------------------------------------------------


def test_ask_api_answers_extractively_with_citations_that_play(client: TestClient, env) -> None:
    answer = client.get("/api/ask", params={"q": "What pulls the ocean tides?"})
    assert answer.status_code == 200
    payload = answer.json()
    assert payload["mode"] == "extractive" and payload["busy"] is False
    assert "extractive" in payload["note"]
    first = payload["citations"][0]
    assert first["video_id"] == env["video_id"] and "[1]" in payload["answer"]
    assert first["page_url"].startswith(f"/videos/{env['video_id']}?t=")
    assert client.get(first["video_url"].partition("#")[0]).status_code == 200
    assert client.get(first["thumbnail_url"]).headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("params", "message"),
    [({}, "q (the question) is required"), ({"q": "x", "mood": "1"}, "unknown parameter")],
)
def test_ask_api_refuses_bad_questions(client: TestClient, params, message) -> None:
    answer = client.get("/api/ask", params=params)
    assert answer.status_code == 400 and message in answer.json()["error"]


def test_the_search_page_asks_and_links_each_citation(client: TestClient, env: dict) -> None:
    page = client.get("/", params={"q": "How much did revenue grow?", "mode": "ask"})
    assert page.status_code == 200
    assert 'class="answer"' in page.text and "Extractive answer" in page.text
    assert re.search(r'<a class="cite" href="/videos/[^"]+\?t=[0-9.]+"', page.text)
    assert '<option value="ask" selected>' in page.text
    assert client.get("/", params={"q": "x", "mode": "poem"}).status_code == 400


def test_a_speaker_named_on_the_page_is_named_everywhere(client: TestClient, env: dict) -> None:
    video_id = env["video_id"]
    detail = client.get(f"/api/videos/{video_id}").json()
    assert detail["speakers"] and {"speaker", "name", "talk_s", "colour"} <= set(
        detail["speakers"][0]
    )
    key = detail["speakers"][0]["speaker"]
    url = f"/api/videos/{video_id}/speakers/{key}"
    named = client.post(url, json={"name": "The <b>Narrator</b>"})
    try:
        assert named.status_code == 200 and named.json()["name"] == "The <b>Narrator</b>"
        page = client.get(f"/videos/{video_id}")
        assert 'value="The &lt;b&gt;Narrator&lt;/b&gt;"' in page.text
        hits = client.get(
            "/api/search", params={"q": "revenue", "speaker": "the <b>narrator</b>"}
        ).json()["hits"]
        assert hits and {h["speaker"] for h in hits} == {"The <b>Narrator</b>"}
        page = client.get("/", params={"q": "revenue", "speaker": "The <b>Narrator</b>"})
        assert 'value="The &lt;b&gt;Narrator&lt;/b&gt;"' in page.text  # the filter, kept
        assert page.text.count('class="speaker-name"') >= 1
        assert client.post(url, json={"name": "x" * 81}).status_code == 400
        assert client.post(url, content=b"name=x").status_code == 400
        missing = client.post(f"/api/videos/{video_id}/speakers/99", json={"name": "x"})
        assert missing.status_code == 404
        foreign = client.post(url, json={"name": "Evil"}, headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403
    finally:
        assert client.post(url, json={"name": ""}).json()["name"] == f"Speaker {key}"


# --- media -----------------------------------------------------------------------------------


def test_range_request_gets_206_with_the_asked_bytes(client: TestClient, env: dict) -> None:
    path = Path(env["home"]) / "media" / env["video_id"] / "normalized.mp4"
    data = path.read_bytes()
    answer = client.get(f"/media/{env['video_id']}/video", headers={"Range": "bytes=100-1099"})
    assert answer.status_code == 206
    assert answer.content == data[100:1100]
    assert answer.headers["content-range"] == f"bytes 100-1099/{len(data)}"


@pytest.mark.parametrize(
    "path",
    [
        "/media/../video",
        "/media/%2e%2e/video",
        "/media/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd/video",
        "/media/..%2F..%2Fetc/video",
        "/media/x%2F..%2F..%2Fetc%2Fpasswd/thumbnail",
        "/media/%2e%2e%2fdagster/keyframes/0",
        "/static/..%2F..%2Fapp.py",
        "/static/%2e%2e/app.py",
        "/api/videos/..%2F..%2Fetc",
    ],
)
def test_paths_that_climb_out_are_refused(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code in (400, 403, 404), path
    # JSON for programs; a path the client normalised to a page ("/media/../video" is
    # "/video") gets the page for people.
    if answer.url.path.startswith(("/media/", "/static/", "/api/")):
        assert "error" in answer.json()
    else:
        assert answer.headers["content-type"].startswith("text/html")
    assert b"root:" not in answer.content and b"import" not in answer.content


def test_symlinks_out_of_the_media_folder_are_refused(env: dict, client: TestClient, tmp_path):
    store: Store = env["store"]
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not yours")
    video_id = "symlinked-0123456789"
    store.register_video(
        video_id, file_name="s.mp4", source_path=secret, sha256="s" * 64, size_bytes=9
    )
    folder = Path(env["home"]) / "media" / video_id
    (folder / "keyframes").mkdir(parents=True)
    (folder / "normalized.mp4").symlink_to(secret)
    # A keyframe row whose file is a symlink out, and one whose path is outside outright.
    from vidmine.models import Keyframe

    (folder / "keyframes" / "frame_000.jpg").symlink_to(secret)
    store.replace_scenes(video_id, [])
    store.replace_keyframes(
        video_id,
        [
            Keyframe(0, 0, 0.0, folder / "keyframes" / "frame_000.jpg", "0" * 16, 1, 1),
            Keyframe(1, 0, 5.0, secret, "0" * 16, 1, 1),
        ],
    )
    try:
        for url in (
            f"/media/{video_id}/video",
            f"/media/{video_id}/keyframes/0",
            f"/media/{video_id}/keyframes/1",
            f"/media/{video_id}/thumbnail?t=5",
        ):
            answer = client.get(url)
            assert answer.status_code == 403, url
            assert "outside VIDMINE_HOME/media" in answer.json()["error"]
            assert b"not yours" not in answer.content
    finally:
        delete_video(store, video_id)


def test_unknown_video_and_keyframe_are_json_404(client: TestClient, env: dict) -> None:
    for url in (
        "/media/nope-0000000000/video",
        f"/media/{env['video_id']}/keyframes/999",
        "/media/nope-0000000000/transcript.vtt",
        f"/media/{env['video_id']}/transcript.txt",
    ):
        answer = client.get(url)
        assert answer.status_code == 404 and answer.json()["error"]
    page = client.get("/videos/nope-0000000000")
    assert page.status_code == 404 and "no video &#39;nope-0000000000&#39;" in page.text
    assert page.headers["content-type"].startswith("text/html")


def test_the_poster_is_the_most_detailed_keyframe(client: TestClient, env: dict) -> None:
    keyframes = env["store"].load_keyframes(env["video_id"])
    largest = max(keyframes, key=lambda k: k.path.stat().st_size)
    poster = client.get(f"/media/{env['video_id']}/poster")
    assert poster.status_code == 200 and poster.content == largest.path.read_bytes()
    listing = client.get("/api/videos").json()["videos"]
    (row,) = [v for v in listing if v["video_id"] == env["video_id"]]
    assert row["thumbnail_url"] == f"/media/{env['video_id']}/poster"


def test_an_ocr_hit_links_the_frame_it_was_read_from(client: TestClient, env: dict) -> None:
    (text, *_) = env["store"].load_ocr_texts(env["video_id"])
    hits = client.get("/api/search", params={"q": text.text, "kind": "ocr"}).json()["hits"]
    assert hits and hits[0]["thumbnail_url"] == f"/media/{env['video_id']}/ocr/{text.index}"
    frame = client.get(hits[0]["thumbnail_url"])
    assert frame.status_code == 200 and frame.headers["content-type"].startswith("image/")
    if text.frame_path is not None:
        assert frame.content == text.frame_path.read_bytes()
    assert client.get(f"/media/{env['video_id']}/ocr/999").status_code == 404


def test_the_video_page_marks_words_and_searches_inside(client: TestClient, env: dict) -> None:
    page = client.get(f"/videos/{env['video_id']}").text
    first = env["store"].load_transcript(env["video_id"])[0]
    if first.words:  # the local transcriber aligns words
        word = first.words[0]
        assert f'<span class="word" data-start="{word.start_s}"' in page
    assert f'<input type="hidden" name="video" value="{env["video_id"]}">' in page
    assert f'poster="/media/{env["video_id"]}/poster"' in page


def test_the_transcript_is_served_as_captions_and_downloads(client: TestClient, env: dict) -> None:
    video_id = env["video_id"]
    vtt = client.get(f"/media/{video_id}/transcript.vtt")
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT")
    srt = client.get(f"/media/{video_id}/transcript.srt?download")
    assert srt.text.startswith("1\n") and " --> " in srt.text
    assert "filename*=utf-8''harbour%20talk.srt" in srt.headers["content-disposition"]
    page = client.get(f"/videos/{video_id}").text
    assert f'<track kind="captions" src="/media/{video_id}/transcript.vtt"' in page
    assert f'href="/media/{video_id}/transcript.srt?download"' in page


# --- escaping --------------------------------------------------------------------------------


def test_names_and_texts_from_videos_are_escaped(client: TestClient, env: dict) -> None:
    store: Store = env["store"]
    video_id = "script-0123456789"
    evil = "<script>alert(1)</script>.mp4"
    store.register_video(
        video_id, file_name=evil, source_path="/nowhere/x.mp4", sha256="e" * 64, size_bytes=1
    )
    store.set_video_status(video_id, "failed", "<img src=x onerror=alert(2)>")
    vector = LocalEmbedder().embed(["zanzibar <b onmouseover=alert(3)>bold</b>"])[0]
    store.replace_search_items(
        video_id,
        [
            SearchItem(
                "evil_item",
                "ocr",
                "evil_ocr_000",
                1.0,
                2.0,
                "zanzibar <b onmouseover=alert(3)>bold</b>",
                vector,
            )
        ],
        "all-MiniLM-L6-v2",
        384,
    )
    try:
        for url, params in (
            ("/library", {}),
            (f"/videos/{video_id}", {}),
            ("/", {"q": "zanzibar"}),
        ):
            html = client.get(url, params=params).text
            assert "<script>alert(1)" not in html and "<img src=x" not in html, url
            assert "<b onmouseover" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;.mp4" in client.get("/library").text
        search_html = client.get("/", params={"q": "zanzibar"}).text
        assert "<mark>zanzibar</mark> &lt;b onmouseover=alert(3)&gt;" in search_html
    finally:
        delete_video(store, video_id)


# --- videos ----------------------------------------------------------------------------------


def test_videos_api_lists_status_duration_and_detail(client: TestClient, env: dict) -> None:
    listing = client.get("/api/videos").json()
    (video,) = [v for v in listing["videos"] if v["video_id"] == env["video_id"]]
    assert video["status"] == "ready" and video["duration_s"] > 5
    assert video["failed_stage"] is None and video["created_at"]
    detail = client.get(f"/api/videos/{env['video_id']}").json()
    assert [s["text"] for s in detail["transcript"]]
    assert len(detail["scenes"]) == 3 and detail["scenes"][0]["thumbnail_url"]
    assert any("OCEAN" in t["text"] for t in detail["ocr_texts"])
    assert "chapters" in detail["content"]
    assert {s["stage"] for s in detail["stages"]} >= {"transcript", "scenes", "embeddings"}
    assert "/" not in str(detail["keyframes"][0].get("path", ""))  # no server paths
    assert client.get(detail["keyframes"][0]["url"]).status_code == 200
    page = client.get(f"/videos/{env['video_id']}?t=3.5").text
    assert 'data-start="3.5"' in page and "Chapters" in page and "Stages" in page


def test_failed_video_shows_its_stage_and_error(client: TestClient, env: dict) -> None:
    store: Store = env["store"]
    video_id = "broken-0123456789"
    store.register_video(
        video_id,
        file_name="broken.mp4",
        source_path="/nowhere/b.mp4",
        sha256="b" * 64,
        size_bytes=1,
    )
    store.replace_stage_states(
        video_id,
        [StageState("transcript", "failed", None, None, 0.1, "whisper ran out of memory", {})],
    )
    store.set_video_status(video_id, "failed", "transcript: whisper ran out of memory")
    try:
        listing = client.get("/api/videos").json()
        (video,) = [v for v in listing["videos"] if v["video_id"] == video_id]
        assert video["failed_stage"] == {
            "stage": "transcript",
            "error": "whisper ran out of memory",
        }
        html = client.get("/library").text
        assert "transcript failed: whisper ran out of memory" in html
    finally:
        delete_video(store, video_id)


def test_a_rejection_names_the_file_never_the_server_folder(
    client: TestClient, env: dict, tmp_path: Path
) -> None:
    path = tmp_path / "srv uploads" / "truncated clip.mp4"
    reason = (
        f"{path}: ffprobe cannot read this file as audio or video: it is damaged, incomplete "
        "(e.g. an interrupted upload or copy) or not a media file. Re-export or upload it "
        "again.\nffprobe said:\n[mov,mp4,m4a,3gp,3g2,mj2 @ 0x557f2c4a1b40] moov atom not found"
        f"\n{path}: Invalid data found when processing input"
    )
    with env["store"].connection() as conn:
        conn.execute("DELETE FROM upload_rejections WHERE path = %s", (str(path),))
    env["store"].record_rejection(path, 1234, 1.0, reason)
    (shown,) = [
        r
        for r in client.get("/api/videos").json()["rejected"]
        if r["file_name"] == "truncated clip.mp4"
    ]
    assert shown["reason"].startswith("truncated clip.mp4: ffprobe cannot read this file")
    assert "moov atom not found" in shown["reason"]
    html = client.get("/library").text
    for leak in (str(tmp_path), "srv uploads", "0x557f", "[mov,"):
        assert leak not in shown["reason"] and leak not in html, leak


@pytest.mark.parametrize(
    "path", ["/api/search?q=%00", "/?q=a%00", "/?q=x&video=%00", "/api/search?q=%ff"]
)
def test_nul_and_invalid_bytes_are_400_not_500(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]


def test_a_page_from_another_site_cannot_upload(client: TestClient, env: dict) -> None:
    before = sorted(_uploads(env).rglob("*")) if _uploads(env).exists() else []
    answer = client.post(
        "/api/uploads",
        files={"file": ("evil.mp4", b"0" * 1000, "video/mp4")},
        headers={"Origin": "http://evil.example"},
    )
    assert answer.status_code == 403
    assert (sorted(_uploads(env).rglob("*")) if _uploads(env).exists() else []) == before
    rebound = client.get("/api/videos", headers={"Host": "evil.example"})
    assert rebound.status_code == 400 and "VIDMINE_ALLOWED_HOSTS" in rebound.json()["error"]


# --- uploads ---------------------------------------------------------------------------------


def test_upload_lands_whole_under_a_safe_unique_name(client: TestClient, env: dict) -> None:
    body = os.urandom(300_000)
    first = client.post("/api/uploads", files={"file": ("../../My Clip.mp4", body, "video/mp4")})
    assert first.status_code == 201, first.text
    assert first.json()["file_name"] == "My Clip.mp4"
    assert (_uploads(env) / "My Clip.mp4").read_bytes() == body
    second = client.post("/api/uploads", files={"file": ("My Clip.mp4", b"other", "video/mp4")})
    assert second.json()["file_name"] == "My Clip (1).mp4"
    hidden = client.post("/api/uploads", files={"file": (".sneaky;rm -rf.MOV", b"x", "video/mp4")})
    assert hidden.json()["file_name"] == "sneaky_rm -rf.mov"
    profiled = client.post(
        "/api/uploads",
        data={"profile": "fast_audio_only"},
        files={"file": ("voice.wav", b"RIFF", "audio/wav")},
    )
    assert profiled.json()["path"] == "uploads/fast_audio_only/voice.wav"
    assert not [p for p in _uploads(env).rglob(".*")], "no temporary file is left behind"
    waiting = {w["file_name"] for w in client.get("/api/videos").json()["waiting"]}
    assert {"My Clip.mp4", "My Clip (1).mp4", "voice.wav"} <= waiting


@pytest.mark.parametrize(
    ("upload", "status", "message"),
    [
        ({"files": {"file": ("notes.txt", b"hello", "text/plain")}}, 415, "not a video or audio"),
        ({"files": {"file": ("noext", b"hello", "video/mp4")}}, 415, "extension 'none'"),
        ({"files": {"file": ("empty.mp4", b"", "video/mp4")}}, 400, "empty"),
        (
            {"data": {"other": "x"}, "files": {"nofile": ("a.mp4", b"1", "video/mp4")}},
            400,
            "no file",
        ),
        (
            {"data": {"profile": "ultra"}, "files": {"file": ("a.mp4", b"1", "video/mp4")}},
            400,
            "unknown profile",
        ),
    ],
)
def test_upload_refusals_leave_nothing(client, env, upload, status, message) -> None:
    before = sorted(_uploads(env).rglob("*")) if _uploads(env).exists() else []
    answer = client.post("/api/uploads", **upload)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    after = sorted(_uploads(env).rglob("*")) if _uploads(env).exists() else []
    assert after == before


def test_a_video_over_the_media_limits_is_422_and_leaves_nothing(env: dict, tmp_path: Path) -> None:
    home = VidmineHome(tmp_path)
    strict = local_client(
        create_app(
            env["store"],
            LocalEmbedder(),
            WebSettings(home=home, media_limits=MediaLimits(max_duration_s=1.0)),
        )
    )
    clip = make_video(tmp_path / "long.mp4", duration=2.0)
    answer = strict.post(
        "/api/uploads", files={"file": ("Long Talk.mp4", clip.read_bytes(), "video/mp4")}
    )
    assert answer.status_code == 422
    assert answer.json()["error"].startswith("Long Talk.mp4 lasts")
    assert "limits.max_duration_s" in answer.json()["error"]
    assert not (home.uploads.exists() and list(home.uploads.rglob("*")))
    short = make_video(tmp_path / "short.mp4", duration=0.5)
    ok = strict.post("/api/uploads", files={"file": ("Short.mp4", short.read_bytes(), "video/mp4")})
    assert ok.status_code == 201


def test_upload_over_the_limit_is_413_and_leaves_nothing(env: dict, tmp_path: Path) -> None:
    home = VidmineHome(tmp_path)
    small = local_client(
        create_app(env["store"], LocalEmbedder(), WebSettings(home=home, max_upload_bytes=100_000))
    )
    answer = small.post("/api/uploads", files={"file": ("big.mp4", b"0" * 400_000, "video/mp4")})
    assert answer.status_code == 413
    assert "VIDMINE_MAX_UPLOAD_MB" in answer.json()["error"]
    assert not list(tmp_path.rglob("*.mp4")) and not list(tmp_path.rglob(".upload-*"))


def test_upload_over_the_limit_without_content_length_is_413(env: dict, tmp_path: Path) -> None:
    # A chunked body has no Content-Length: the limit is checked as the bytes arrive.
    small = local_client(
        create_app(
            env["store"],
            LocalEmbedder(),
            WebSettings(home=VidmineHome(tmp_path), max_upload_bytes=1000),
        )
    )
    boundary = "vidmineboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()

    def chunks():
        yield head
        for _ in range(10):
            yield b"0" * 500
        yield f"\r\n--{boundary}--\r\n".encode()

    answer = small.post(
        "/api/uploads",
        content=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert answer.status_code == 413
    assert not list(tmp_path.rglob("*.mp4")) and not list(tmp_path.rglob(".upload-*"))


# --- operations ------------------------------------------------------------------------------


def test_healthz_200_with_the_database_and_503_without(client: TestClient, tmp_path) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "reachable"}
    unreachable = Store("postgresql://vidmine@127.0.0.1:1/vidmine")
    down = local_client(
        create_app(unreachable, LocalEmbedder(), WebSettings(home=VidmineHome(tmp_path)))
    )
    answer = down.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable"
    assert "database unreachable" in answer.json()["error"]


def test_stats_reports_videos_runs_and_provider_calls(env: dict, client: TestClient) -> None:
    stats = client.get("/stats").json()
    assert stats["videos"]["by_status"]["ready"] >= 1
    assert stats["runs"]["available"] is False and stats["runs"]["reason"]
    assert stats["provider_calls"]["total"]["calls"] >= 1
    now = datetime.now(UTC)

    def active_runs():
        return [
            ActiveRun("r1", "process_video", "QUEUED", "a-1", now - timedelta(seconds=30), -10),
            ActiveRun("r2", "process_video", "STARTED", "b-2", now - timedelta(seconds=90), 10),
            ActiveRun(
                "r3", "process_video", "QUEUED", env["video_id"], now - timedelta(seconds=5), 10
            ),
        ]

    app = create_app(
        env["store"],
        LocalEmbedder(),
        WebSettings(home=VidmineHome(Path(env["home"]))),
        active_runs=active_runs,
    )
    runs = local_client(app).get("/stats").json()["runs"]
    assert runs["available"] is True
    assert [r["run_id"] for r in runs["queued"]] == ["r1", "r3"]
    assert runs["queued"][0]["priority_label"] == "bulk"
    assert runs["in_progress"][0]["partition"] == "b-2"
    assert runs["in_progress"][0]["priority_label"] == "interactive"
    assert 89 <= runs["in_progress"][0]["age_s"] < 120
    # The library shows a video's run: queued, for how long, and its priority.
    listing = local_client(app).get("/api/videos").json()["videos"]
    (mine,) = [v for v in listing if v["video_id"] == env["video_id"]]
    assert mine["run"]["run_id"] == "r3" and mine["run"]["priority"] == 10
    # Queued 5 s before the test began; a loaded CI machine took over a second to get here.
    waited = re.search(r"queued for (\d+) s · interactive", local_client(app).get("/library").text)
    assert waited is not None and 5 <= int(waited.group(1)) < 60


def test_token_is_required_when_configured(env: dict) -> None:
    guarded = local_client(web_app(env, token=TOKEN), follow_redirects=False)
    refused = guarded.get("/api/videos")
    assert refused.status_code == 401 and "access token" in refused.json()["error"]
    assert guarded.get("/api/videos", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert (
        guarded.get("/api/videos", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    )
    assert guarded.get("/healthz").status_code == 200  # monitors need no token
    assert guarded.get("/static/app.css").status_code == 200  # the login form needs it
    visit = guarded.get(f"/library?token={TOKEN}")
    assert visit.status_code == 303 and visit.headers["location"] == "/library"
    assert f"vidmine_token={TOKEN}" in visit.headers["set-cookie"]
    assert "httponly" in visit.headers["set-cookie"].lower()
    assert guarded.get("/library", cookies={"vidmine_token": TOKEN}).status_code == 200


def test_errors_are_json_without_tracebacks(env: dict, tmp_path) -> None:
    class BrokenEmbedder:
        model = "all-MiniLM-L6-v2"
        dimensions = 384

        def embed(self, texts):
            raise RuntimeError("secret internals /etc/vidmine")

    app = create_app(env["store"], BrokenEmbedder(), WebSettings(home=VidmineHome(tmp_path)))
    broken = local_client(app, raise_server_exceptions=False)
    answer = broken.get("/api/search", params={"q": "anything"})
    assert answer.status_code == 500
    assert answer.json()["error"].startswith("internal error (RuntimeError)")
    assert "Traceback" not in answer.text and "/etc/vidmine" not in answer.text
    api_missing = broken.get("/api/no/such/thing")
    assert api_missing.status_code == 404
    assert api_missing.json()["error"] == "no such page: /api/no/such/thing"
    # People get a page (#19: raw JSON was the defect), with the same sentence.
    missing = broken.get("/no/such/page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "no such page: /no/such/page" in missing.text and 'href="/library"' in missing.text
    crashed = broken.get("/", params={"q": "anything"})
    assert crashed.status_code == 500 and "Traceback" not in crashed.text
    assert "/etc/vidmine" not in crashed.text and "internal error" in crashed.text
    assert broken.post("/api/videos").status_code == 405


def test_openapi_documents_the_api(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/api/search", "/api/videos", "/api/videos/{video_id}", "/api/uploads"} <= set(
        schema["paths"]
    )
    assert {"/healthz", "/stats"} <= set(schema["paths"])
    params = {p["name"] for p in schema["paths"]["/api/search"]["get"]["parameters"]}
    assert params == {"q", "video", "kind", "limit", "group", "speaker"}
    assert not any(p["required"] for p in schema["paths"]["/api/search"]["get"]["parameters"])
    upload = schema["paths"]["/api/uploads"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    ok = upload["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert ok == "#/components/schemas/UploadAnswer"


def test_the_openapi_document_is_valid_with_and_without_a_token(env: dict) -> None:
    from openapi_spec_validator import validate

    validate(local_client(web_app(env)).get("/openapi.json").json())
    guarded = local_client(web_app(env, token=TOKEN)).get(
        "/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    document = guarded.json()
    validate(document)
    assert document["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    assert document["paths"]["/healthz"]["get"]["security"] == []


def test_a_generated_client_calls_search(client: TestClient, env: dict, tmp_path: Path) -> None:
    """The document is good enough for a client generator: openapi-python-client's client,
    generated from it, searches and reads the hits as typed objects."""
    spec = tmp_path / "openapi.json"
    spec.write_text(client.get("/openapi.json").text)
    package = tmp_path / "vidmine_api_client"
    bin_dir = Path(sys.executable).parent
    generated = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--path", str(spec),
         "--output-path", str(package), "--meta", "none"],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        from vidmine_api_client import Client
        from vidmine_api_client.api.default import get_search
    finally:
        sys.path.remove(str(tmp_path))
    api = Client(base_url="http://127.0.0.1")
    api.set_httpx_client(client)  # Starlette's TestClient is an httpx.Client
    spoken = env["store"].load_transcript(env["video_id"])[0].text
    answer = get_search.sync(client=api, q=spoken, limit=3)
    assert answer is not None and answer.hits, answer
    assert answer.hits[0].video_id == env["video_id"]
    assert answer.hits[0].page_url.startswith("/videos/")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/search?q=moon&limt=5", "limt"),
        ("/api/videos?verbose=1", "verbose"),
        ("/?q=moon&sort=date", "sort"),
        ("/healthz?x=1", "x"),
    ],
)
def test_unknown_parameters_are_refused_by_name(client: TestClient, path: str, name: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 400
    assert f"unknown parameter {name!r}".replace("'", "&#39;") in answer.text or (
        f"unknown parameter {name!r}" in answer.text
    )


def test_a_wrong_method_says_which_are_allowed(client: TestClient) -> None:
    answer = client.post("/api/videos")
    assert answer.status_code == 405
    assert set(answer.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    assert client.get("/api/uploads").headers["allow"] == "POST"


def test_the_api_docs_page_is_served_here(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and "/api/search" in page.text
    assert "<script" not in page.text.replace('<script src="/static/app.js" defer>', "")
    assert "cdn" not in page.text.lower()


def test_serve_refuses_a_public_address_without_a_token(monkeypatch) -> None:
    from local_runtime.cli import app

    monkeypatch.delenv("VIDMINE_SERVE_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert re.search(r"set VIDMINE_SERVE_TOKEN", result.output)


def test_serve_refuses_a_short_token(monkeypatch) -> None:
    from local_runtime.cli import app

    monkeypatch.setenv("VIDMINE_SERVE_TOKEN", "x")
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "at least 16" in result.output


def test_the_library_says_whether_the_pipeline_runs(env: dict, client: TestClient) -> None:
    from local_runtime.instance import pipeline_health_checker

    unknown = client.get("/api/videos").json()["pipeline"]
    assert unknown == {"running": None, "detail": "no Dagster instance given to this server"}
    # This module's instance has never had a daemon: the page says how to start one.
    checked = local_client(
        create_app(
            env["store"],
            LocalEmbedder(),
            WebSettings(home=VidmineHome(Path(env["home"]))),
            pipeline_health=pipeline_health_checker(env["instance"]),
        )
    )
    assert checked.get("/api/videos").json()["pipeline"]["running"] is False
    html = checked.get("/library").text
    assert "The pipeline is not running" in html and "<code>make dev</code>" in html
