"""The `vidmine` command line, run through typer's runner on a real pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from local_runtime.cli import app
from vidmine.samples import SampleScene, make_sample_video

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def ingested(pipeline_env: dict, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("cli")
    video = make_sample_video(
        folder / "cli talk.mp4",
        (SampleScene("navy", "LIGHTHOUSE", "The lighthouse keeper counts the ships at night."),),
        size="320x240",
    )
    bad = folder / "notes.mp4"
    bad.write_text("not a video")
    result = runner.invoke(app, ["ingest", str(video), str(bad), "--json"])
    payload = json.loads(result.stdout)
    return {"exit": result.exit_code, "payload": payload, "env": pipeline_env}


def test_ingest_json_reports_each_video_and_exits_1_on_a_rejection(ingested: dict) -> None:
    assert ingested["exit"] == 1
    ready, rejected = ingested["payload"]["videos"]
    assert ready["status"] == "ready" and ready["video_id"].startswith("cli-talk-")
    stages = {s["stage"]: s for s in ready["stages"]}
    assert stages["transcript"]["status"] == "succeeded"
    assert stages["scenes"]["seconds"] >= 0
    # CPU time includes the ffmpeg that decoded the clip, and Whisper's threads
    assert stages["scenes"]["metadata"]["cpu_seconds"] > 0
    assert stages["transcript"]["metadata"]["cpu_seconds"] > 0
    # As the sensor takes it: registered, then refused by its run's first asset, which
    # reads the file (before, ingest probed it before registering and gave no id).
    assert rejected["status"] == "rejected" and rejected["video_id"].startswith("notes-")
    assert rejected["error"].startswith("rejected notes.mp4: ")


def test_status_json_lists_videos_stages_and_rejections(ingested: dict) -> None:
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    video, refused = payload["videos"]
    assert video["status"] == "ready" and video["stages"]["embeddings"] == "succeeded"
    assert refused["status"] == "failed"  # the refused file's row, as the sensor leaves it
    assert any(r["path"].endswith("notes.mp4") for r in payload["rejected"])


def test_search_json_and_text(ingested: dict) -> None:
    result = runner.invoke(app, ["search", "lighthouse keeper ships", "--json", "--limit", "3"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert hits and hits[0]["video_id"].startswith("cli-talk-")
    assert set(hits[0]) >= {"video_id", "file_name", "start_s", "end_s", "kind", "snippet", "score"}
    text = runner.invoke(app, ["search", "lighthouse"])
    assert text.exit_code == 0 and "cli talk.mp4" in text.stdout


def test_export_csv_and_parquet(ingested: dict, tmp_path: Path) -> None:
    video_id = ingested["payload"]["videos"][0]["video_id"]
    for fmt in ("csv", "parquet"):
        result = runner.invoke(app, ["export", video_id, "--format", fmt, "--out", str(tmp_path)])
        assert result.exit_code == 0, result.output
        files = [Path(line) for line in result.stdout.split()]
        segments = next(f for f in files if "segments" in f.name)
        frame = pd.read_csv(segments) if fmt == "csv" else pd.read_parquet(segments)
        assert "lighthouse" in " ".join(frame["text"]).lower()


def test_unknown_video_and_bad_profile_fail_clearly(ingested: dict) -> None:
    result = runner.invoke(app, ["export", "no-such-video"])
    assert result.exit_code == 2 and "no video 'no-such-video'" in result.output
    result = runner.invoke(app, ["ingest", "x.mp4", "--profile", "turbo"])
    assert result.exit_code == 2 and "unknown profile 'turbo'" in result.output
