"""`vidmine serve` in a real browser: Debian's Chromium driven by Playwright against a
real uvicorn server on 127.0.0.1, on a video the real pipeline processed.

Screenshots of the search results, the video page and the library are written to
``$VIDMINE_SCREENSHOTS`` (default: the test's temporary folder) for a person to look at.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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


@pytest.fixture(scope="module")
def server(env: dict) -> Iterator[str]:
    """A real uvicorn serving the app in a thread; yields its base URL."""
    port = _free_port()
    config = uvicorn.Config(web_app(env), host="127.0.0.1", port=port, log_level="warning")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uvicorn_server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 20 s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


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
    first.click()
    page.wait_for_url("**/videos/**")
    page.wait_for_function(
        "() => { const v = document.getElementById('player');"
        " return v && !v.paused && v.currentTime > 0 && v.readyState >= 2; }",
        timeout=15000,
    )
    at_arrival = page.evaluate("document.getElementById('player').currentTime")
    assert abs(at_arrival - start) < 1.0, (at_arrival, start)
    page.wait_for_timeout(1200)
    later = page.evaluate("document.getElementById('player').currentTime")
    assert later > at_arrival + 0.3, "the video plays: its time advances"
    assert page.evaluate("document.getElementById('player').paused") is False
    # The transcript follows playback: the segment being spoken is marked.
    assert page.locator("#transcript li.active").count() == 1
    page.screenshot(path=str(screenshots / "video.png"), full_page=True)


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
