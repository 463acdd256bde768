"""An upload through the page, as a new user meets it: first with only `vidmine serve`
running (the library says the pipeline is not running and how to start it), then with a
real Dagster daemon started (the page refreshes itself until the video is ready).

Real Chromium, a real uvicorn, a real `dagster-daemon run`, real PostgreSQL, local models.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from dagster_daemon import open_instance, prepare_dagster_home, running_daemon, write_workspace
from test_daemon_pipeline import fresh_database
from test_web_browser import CHROMIUM, CHROMIUM_FLAGS, serving

from local_runtime.instance import pipeline_health_checker
from vidmine.config import load_config
from vidmine.db.pool import PooledStore
from vidmine.providers.local import LocalEmbedder
from vidmine.samples import SampleScene, make_sample_video
from vidmine.settings import VidmineHome
from vidmine.web import WebSettings, create_app

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is missing: scripts/install.sh installs Debian's chromium",
    ),
]


def test_an_upload_waits_for_the_pipeline_then_reaches_ready(
    pg_url: str, migrated_template: str, tmp_path: Path
) -> None:
    screenshots = Path(os.environ.get("VIDMINE_SCREENSHOTS") or tmp_path / "screens")
    screenshots.mkdir(parents=True, exist_ok=True)
    sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra is missing")
    home = tmp_path / "home"
    (home / "uploads").mkdir(parents=True)
    config_path = tmp_path / "vidmine.yaml"
    config_path.write_text(yaml.safe_dump({"default_profile": "standard_audio_visual"}))
    clip = make_sample_video(
        tmp_path / "clips" / "First Upload.mp4",
        (SampleScene("teal", "FIRST UPLOAD", "This file came through the browser."),),
        size="320x240",
    )
    with fresh_database(pg_url, migrated_template) as url:
        env = {
            "VIDMINE_HOME": str(home),
            "VIDMINE_CONFIG": str(config_path),
            "DATABASE_URL": url,
            "VIDMINE_SENSOR_INTERVAL_S": "1",
        }
        dagster_home = tmp_path / "dagster"
        prepare_dagster_home(dagster_home, load_config(config_path, check_keys=False))
        workspace = write_workspace(tmp_path / "workspace.yaml")
        store = PooledStore(url)
        with open_instance(dagster_home) as instance:
            app = create_app(
                store,
                LocalEmbedder(),
                WebSettings(home=VidmineHome(home)),
                pipeline_health=pipeline_health_checker(instance),
            )
            with (
                serving(app) as server,
                sync_api.sync_playwright() as playwright,
            ):
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
                )
                page = browser.new_page(viewport={"width": 1366, "height": 800})
                # Only `vidmine serve`: the page says so, and what to do.
                page.goto(server + "/library")
                stopped = page.locator(".pipeline-stopped")
                assert "The pipeline is not running" in stopped.inner_text()
                assert "make dev" in stopped.inner_text()
                page.set_input_files("#file-input", str(clip))
                waiting = page.locator(".waiting-row", has_text="First Upload.mp4")
                waiting.wait_for(timeout=15000)
                assert "the pipeline is not running" in waiting.inner_text()
                page.screenshot(path=str(screenshots / "library-stopped.png"))

                # The daemon starts: the page, refreshing itself, shows it ready.
                with running_daemon(dagster_home, workspace, env):
                    page.locator(".pipeline-running").wait_for(timeout=60000)
                    ready = page.locator(".video-row", has_text="First Upload.mp4")
                    ready.locator(".status-ready").wait_for(timeout=240000)
                    page.screenshot(path=str(screenshots / "library-1366.png"), full_page=True)
                    page.set_viewport_size({"width": 390, "height": 800})
                    page.reload()
                    width = page.evaluate("document.documentElement.scrollWidth")
                    assert width <= 390, f"the library is {width} px wide on a 390 px phone"
                    page.screenshot(path=str(screenshots / "library-390.png"), full_page=True)
                browser.close()
        store.close()
