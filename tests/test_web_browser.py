"""`vidmine serve` in a real browser: Debian's Chromium driven by Playwright against a
real uvicorn server on 127.0.0.1, on a video the real pipeline processed.

Screenshots of the search results, the video page and the library are written to
``$VIDMINE_SCREENSHOTS`` (default: the test's temporary folder) for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import uvicorn
from pipeline_helpers import ingest_ready
from web_helpers import web_app

from vidmine.samples import SampleScene, make_sample_video

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Sound from the first play, as after a person's click: the tests check it is heard.
    "--autoplay-policy=no-user-gesture-required",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is missing: scripts/install.sh installs Debian's chromium",
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def env(web_env: dict, tmp_path_factory) -> dict:
    return {**web_env, "folder": tmp_path_factory.mktemp("browser")}


@contextmanager
def serving(app) -> Iterator[str]:
    """A real uvicorn serving ``app`` in a thread; yields its base URL."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uvicorn_server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 20 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(env: dict) -> Iterator[str]:
    with serving(web_app(env)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra is missing")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("VIDMINE_SCREENSHOTS") or tmp_path_factory.mktemp("screens"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_result_opens_the_video_playing_at_its_moment(server, page, screenshots) -> None:
    page.goto(server + "/")
    page.fill("input[name=q]", "revenue grew this quarter")
    page.press("input[name=q]", "Enter")
    first = page.locator(".result-link").first
    first.wait_for()
    page.screenshot(path=str(screenshots / "search.png"), full_page=True)
    start = float(parse_qs(urlsplit(first.get_attribute("href")).query)["t"][0])
    assert start > 1.0, "the revenue sentence is in the third scene, not at the start"
    at_arrival = _open_playing(page, first, start)
    page.wait_for_timeout(1200)
    later = page.evaluate("document.getElementById('player').currentTime")
    assert later > at_arrival + 0.3, "the video plays: its time advances"
    assert page.evaluate("document.getElementById('player').paused") is False
    _assert_heard(page)
    # Captions from the transcript show in the player, the cue of the moment playing.
    page.wait_for_function(
        "() => { const t = document.getElementById('player').textTracks[0];"
        " return t && t.mode === 'showing' && t.activeCues && t.activeCues.length > 0; }",
        timeout=10000,
    )
    # The transcript follows playback: the segment being spoken is marked.
    assert page.locator("#transcript li.active").count() == 1
    # ... and inside it, the word being spoken.
    page.wait_for_function(
        "() => document.querySelectorAll('#transcript .word.speaking').length === 1",
        timeout=5000,
    )
    # Written content is rendered Markdown, not its source in a <pre>.
    page.locator("details.content summary").first.click()
    rendered = page.locator("details.content .markdown").first
    assert rendered.locator("p, li, h1, h2, h3").count() > 0
    assert "**" not in rendered.inner_text()
    page.set_viewport_size({"width": 1366, "height": 900})
    page.screenshot(path=str(screenshots / "video.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    _assert_fits(page, 390, "the video page")
    page.screenshot(path=str(screenshots / "video-390.png"), full_page=True)


def test_a_question_is_answered_and_a_cited_moment_plays(server, page, screenshots) -> None:
    page.goto(server + "/")
    page.select_option("select[name=mode]", "ask")
    page.fill("input[name=q]", "What pulls the ocean tides?")
    page.press("input[name=q]", "Enter")
    cite = page.locator(".answer-text a.cite").first
    cite.wait_for()
    assert "extractive" in page.locator(".answer-note").inner_text().lower()
    page.screenshot(path=str(screenshots / "ask.png"), full_page=True)
    start = float(parse_qs(urlsplit(cite.get_attribute("href")).query)["t"][0])
    _open_playing(page, cite, start)
    _assert_heard(page)
    # The speaker list names a speaker, and the name is kept when the page comes back.
    page.locator("#speakers summary").click()
    form = page.locator("#speakers form.rename").first
    form.locator("input[name=name]").fill("Narrator")
    form.locator("button").click()
    page.wait_for_function(
        "() => document.querySelector('#speakers .rename-status').textContent.includes('Saved')"
    )
    page.reload()
    assert page.locator("#speakers input[name=name]").first.input_value() == "Narrator"
    page.locator("#speakers summary").click()
    form = page.locator("#speakers form.rename").first
    form.locator("input[name=name]").fill("")  # back to "Speaker 1" for the other tests
    form.locator("button").click()
    page.wait_for_function(
        "() => document.querySelector('#speakers .rename-status').textContent.includes('Saved')"
    )


def _open_playing(page, link, start: float) -> float:
    """Click ``link`` to a moment; the video page opens playing there. Returns its time."""
    link.click()
    page.wait_for_url("**/videos/**")
    page.wait_for_function(
        "() => { const v = document.getElementById('player');"
        " return v && !v.paused && v.currentTime > 0 && v.readyState >= 2; }",
        timeout=15000,
    )
    at_arrival = page.evaluate("document.getElementById('player').currentTime")
    assert abs(at_arrival - start) < 1.0, (at_arrival, start)
    return at_arrival


def _assert_fits(page, width: int, what: str) -> None:
    """No sideways scrolling: nothing on the page is wider than the screen."""
    wide = page.evaluate(
        f"""() => Array.from(document.querySelectorAll('body *'))
            .filter((e) => e.getBoundingClientRect().right > {width} + 1)
            .slice(0, 5).map((e) => e.tagName + '.' + e.className)"""
    )
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{what} is {scroll_width} px wide on a {width} px phone: {wide}"


def _assert_heard(page) -> None:
    """The player plays sound, not only pictures: unmuted, with audio bytes decoded."""
    page.wait_for_function(
        "() => { const v = document.getElementById('player');"
        " return !v.muted && v.volume > 0 && v.webkitAudioDecodedByteCount > 0; }",
        timeout=10000,
    )


def test_a_reencoded_video_is_heard_too(server, env, page, screenshots) -> None:
    """A source no browser plays (MPEG-4 Part 2 video, FLAC sound, in Matroska) gets an
    H.264 + AAC playback copy, and the copy has sound."""
    sample = make_sample_video(
        env["folder"] / "reenc" / "sample.mp4",
        (SampleScene("purple", "ENCODED AGAIN", "This video was encoded again for the web."),),
        size="320x240",
    )
    source = sample.with_name("old camera.mkv")
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(sample),
            "-c:v",
            "mpeg4",
            "-q:v",
            "5",
            "-c:a",
            "flac",
            str(source),
        ],
        check=True,
    )
    with ThreadPoolExecutor(max_workers=1) as worker:
        video_id = worker.submit(ingest_ready, env, source).result().video_id
    copy = Path(env["home"]) / "media" / video_id / "normalized.mp4"
    assert copy.is_file(), "the playback copy was made"
    page.goto(f"{server}/videos/{video_id}?t=0.5")
    page.wait_for_function(
        "() => { const v = document.getElementById('player');"
        " return v && !v.paused && v.currentTime > 0.5; }",
        timeout=15000,
    )
    _assert_heard(page)


def test_a_page_on_another_port_cannot_upload(server, env, page, tmp_path) -> None:
    """A page served from another origin (here: another port of this machine) posts a file
    to the library, by fetch in no-cors mode and by a form: both are refused, and nothing
    reaches uploads/."""
    uploads = Path(env["home"]) / "uploads"
    before = sorted(uploads.rglob("*")) if uploads.exists() else []
    (tmp_path / "evil.html").write_text(
        "<!doctype html><title>evil</title>"
        f'<form id="f" action="{server}/api/uploads" method="post" enctype="multipart/form-data">'
        '<input type="file" name="file" id="file"></form>'
        "<script>"
        "const data = new FormData();"
        "data.append('file', new File([new Uint8Array(2000)], 'evil.mp4', {type: 'video/mp4'}));"
        f"fetch('{server}/api/uploads', {{method: 'POST', mode: 'no-cors', body: data}})"
        ".then(() => { document.title = 'sent'; }, () => { document.title = 'sent'; });"
        "</script>"
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as other_site:
        threading.Thread(target=other_site.serve_forever, daemon=True).start()
        try:
            page.goto(f"http://127.0.0.1:{other_site.server_address[1]}/evil.html")
            page.wait_for_function("() => document.title === 'sent'")
            page.set_input_files(
                "#file",
                files=[
                    {
                        "name": "evil2.mp4",
                        "mimeType": "video/mp4",
                        "buffer": b"0" * 2000,
                    }
                ],
            )
            with page.expect_navigation():
                page.evaluate("document.getElementById('f').submit()")
            assert "only this server's own pages may write" in page.content()
        finally:
            other_site.shutdown()
    assert (sorted(uploads.rglob("*")) if uploads.exists() else []) == before


def test_a_query_that_matches_nothing_says_so(server, page, screenshots) -> None:
    page.set_viewport_size({"width": 1366, "height": 800})
    page.goto(server + "/?q=zzzqqq+xylophone")
    found = page.locator(".nothing-found")
    found.wait_for()
    assert "Nothing found for “zzzqqq xylophone”" in found.inner_text()
    assert page.locator(".result").count() == 0
    page.screenshot(path=str(screenshots / "search-nothing.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 800})
    page.screenshot(path=str(screenshots / "search-nothing-390.png"), full_page=True)


def test_a_person_gets_a_page_for_a_missing_video(server, page, screenshots) -> None:
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 700})
        answer = page.goto(server + "/videos/no-such-video-0000")
        assert answer is not None and answer.status == 404
        assert page.locator("h1").inner_text() == "Not found"
        assert "no video" in page.locator(".error-page").inner_text()
        page.screenshot(path=str(screenshots / f"error-404-{width}.png"), full_page=True)
    page.click("text=See every video")
    page.wait_for_url("**/library")


def test_a_person_signs_in_with_the_token_once(env, page, screenshots) -> None:
    token = "a-browser-token-0123456789"
    with serving(web_app(env, token=token)) as guarded:
        answer = page.goto(guarded + "/library")
        assert answer is not None and answer.status == 401
        page.screenshot(path=str(screenshots / "login.png"), full_page=True)
        page.fill("input[name=token]", "not the token at all")
        page.click("button[type=submit]")
        assert "not the one this server was given" in page.locator(".error").inner_text()
        page.fill("input[name=token]", token)
        page.click("button[type=submit]")
        page.wait_for_url("**/library")
        assert page.locator("h1", has_text="Library").count() == 1
        page.goto(guarded + "/")  # the cookie carries on
        assert page.locator("form.search").count() == 1


def test_a_timestamp_seeks_the_player(server, env, page) -> None:
    page.goto(f"{server}/videos/{env['video_id']}")
    page.locator("#player").wait_for()
    last = page.locator("#transcript a.ts").last
    target = float(last.get_attribute("data-seek"))
    last.click()
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('player').currentTime - {target}) < 1.0"
    )


def test_an_upload_through_the_page_appears_in_the_library(server, env, page, screenshots) -> None:
    clip = make_sample_video(
        env["folder"] / "up" / "Browser Upload.mp4",
        (SampleScene("teal", "UPLOADED", "This file came through the browser."),),
        size="320x240",
    )
    page.goto(server + "/library")
    page.set_input_files("#file-input", str(clip))
    page.wait_for_function(
        "() => document.getElementById('upload-status').textContent.startsWith('Uploaded')"
    )
    page.wait_for_load_state("load")  # the page reloads itself after the upload
    row = page.locator(".waiting-row", has_text="Browser Upload.mp4")
    row.wait_for(timeout=10000)
    uploaded = Path(env["home"]) / "uploads" / "Browser Upload.mp4"
    assert uploaded.read_bytes() == clip.read_bytes()
    # What the sensor would do next; then the library shows it ready. In another thread:
    # Playwright's sync API holds this thread's event loop, which Dagster must not reuse.
    with ThreadPoolExecutor(max_workers=1) as worker:
        worker.submit(ingest_ready, env, uploaded).result()
    page.reload()
    ready = page.locator(".video-row", has_text="Browser Upload.mp4")
    ready.wait_for()
    assert "ready" in ready.inner_text()
    page.screenshot(path=str(screenshots / "library.png"), full_page=True)
