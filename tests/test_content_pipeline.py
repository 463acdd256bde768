"""Written content through the real pipeline: the ten content assets on a processed
video (extractive under the ``local`` provider, and through the real ``openai`` client
against the project's fake OpenAI server), an audio-only profile picked from the upload
folder, and ``vidmine content``. Real ffmpeg, faster-whisper, MiniLM and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
import yaml
from db_helpers import row_counts
from fake_openai import FakeOpenAI, running_fake_openai
from pipeline_helpers import assert_content_sound, bodies, stored_context
from pipeline_helpers import ingest_ready as ingest
from typer.testing import CliRunner

from assets.tags import FORCE_TAG
from local_runtime.cli import app
from pipeline_defs.definitions import defs
from resources import AIProviders, VidmineDatabase
from vidmine.content import (
    CONTENT_KINDS,
    CONTENT_TYPES,
    generate_content,
)
from vidmine.db.store import Store
from vidmine.samples import SampleScene, make_sample_video

pytestmark = pytest.mark.slow
LATENCY_MS = 200.0
FAKE_KEY_ENV = "VIDMINE_TEST_FAKE_OPENAI_KEY"
FAKE_MAX_RETRIES = 2
VISUAL_STAGES = ("scenes", "keyframes", "ocr_text", "frame_captions")
# Only x_thread's prompts hold this (its system prompt's task sentence).
X_THREAD_MARKER = "Write a thread for X"

TALK_SCENES = (
    SampleScene(
        "darkgreen",
        "SPRING PLANTING",
        "Tomatoes need plenty of sunlight and water. Plant them after the last frost.",
        7.0,
    ),
    SampleScene(
        "navy",
        "SUMMER HARVEST",
        "Harvest the beans every morning. Pick the zucchini while it is still small.",
        7.0,
    ),
    SampleScene(
        "maroon",
        "AUTUMN COMPOST",
        "Autumn leaves make excellent compost. Spread the compost over the garden beds.",
        7.0,
    ),
)


@pytest.fixture(scope="module")
def env(pipeline_env: dict) -> dict:
    """The module's database, VIDMINE_HOME and Dagster instance (see conftest)."""
    return pipeline_env


# --- local provider: extractive content -------------------------------------------------


@pytest.fixture(scope="module")
def talk(env: dict, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("talk")
    video = make_sample_video(folder / "garden year.mp4", TALK_SCENES, size="640x360")
    return ingest(env, video).video_id


def test_ten_content_assets_are_valid_and_inside_the_video(env: dict, talk: str) -> None:
    store: Store = env["store"]
    ctx = assert_content_sound(store, talk)
    assert len(ctx.scenes) == 3 and ctx.segments
    content = bodies(store, talk)
    spoken = " ".join(s.text.lower() for s in ctx.segments)
    # Extractive content quotes the video: its tags are words the video says or shows.
    shown = " ".join(o.text.lower() for o in ctx.ocr_texts)
    assert all(t in spoken or t in shown for t in content["tags"]["tags"]), content["tags"]
    assert any(word in " ".join(content["tags"]["tags"]) for word in ("compost", "tomatoes"))


def test_same_inputs_give_the_same_extractive_content(env: dict, talk: str) -> None:
    store: Store = env["store"]
    before = bodies(store, talk)
    # The content assets alone, through the per-stage job a user would re-run, forced to
    # write again rather than reuse what the unchanged inputs already produced.
    result = defs.resolve_job_def("write_content").execute_in_process(
        instance=env["instance"],
        partition_key=talk,
        tags={FORCE_TAG: "true"},
        raise_on_error=False,
    )
    assert result.success
    assert not store.stage_states(talk)["content"].metadata.get("reused")
    assert bodies(store, talk) == before
    # And the writer itself, on the rows the pipeline stored, agrees with the stored bodies.
    fresh = generate_content(stored_context(store, talk), None)
    assert {t: r.body for t, r in fresh.items()} == before


# --- an OpenAI-compatible provider: the fake server through the real openai client ------


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAI]:
    with running_fake_openai(latency_ms=LATENCY_MS) as fake:
        yield fake


@pytest.fixture(scope="module")
def fake_config(env: dict, fake_server: FakeOpenAI) -> Path:
    """vidmine.yaml with content written by provider ``fake``; every other stage local."""
    path = env["home"] / "fake.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "providers": {
                    "fake": {
                        "base_url": fake_server.base_url,
                        "api_key_env": FAKE_KEY_ENV,
                        "max_concurrent": 3,
                        "max_retries": FAKE_MAX_RETRIES,
                        "timeout_s": 10,
                    }
                },
                "stages": {"generate": {"provider": "fake", "model": "gpt-4o-mini"}},
            }
        )
    )
    return path


@contextmanager
def configured(config_path: Path) -> Iterator[None]:
    """VIDMINE_CONFIG (and the key it names) set for the block only, so later tests in
    the module run on the default local config again."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDMINE_CONFIG", str(config_path))
        mp.setenv(FAKE_KEY_ENV, "sk-test-not-a-real-key")
        yield


@pytest.fixture(scope="module")
def fake_video(env: dict, fake_server: FakeOpenAI, fake_config: Path, tmp_path_factory) -> dict:
    """A video processed end to end with content from the fake server; its server stats."""
    video = make_sample_video(
        tmp_path_factory.mktemp("fake") / "bees.mp4",
        (
            SampleScene("olive", "BEEKEEPING", "Bees pollinate the apple orchard in spring."),
            SampleScene("purple", "HONEY", "Honey is harvested from the hive in late summer."),
        ),
        size="320x240",
    )
    fake_server.reset()
    with configured(fake_config):
        outcome = ingest(env, video)
    return {"video_id": outcome.video_id, "outcome": outcome, "stats": fake_server.stats()}


def test_ten_content_calls_overlap_up_to_max_concurrent(env: dict, fake_video: dict) -> None:
    stats = fake_video["stats"]
    assert stats["by_endpoint"] == {"/v1/chat/completions": len(CONTENT_TYPES)}, stats
    assert stats["max_in_flight"] == 3, stats  # overlapped as allowed, never beyond

    store: Store = env["store"]
    video_id = fake_video["video_id"]
    records = store.load_content(video_id)
    assert sorted(r.content_type for r in records) == sorted(CONTENT_TYPES)
    for record in records:
        assert (record.provider, record.model, record.extractive) == ("fake", "gpt-4o-mini", False)
    content = store.stage_states(video_id)["content"]
    assert content.status == "succeeded"
    assert content.metadata["provider_calls"] == len(CONTENT_TYPES), content.metadata
    (generate,) = [
        r for r in store.provider_call_summary(video_id)["by_stage"] if r["stage"] == "generate"
    ]
    assert (generate["provider"], generate["calls"], generate["errors"]) == ("fake", 10, 0)


def test_a_malformed_answer_fails_its_asset_alone(
    env: dict, fake_server: FakeOpenAI, fake_config: Path, fake_video: dict
) -> None:
    store: Store = env["store"]
    video_id = fake_video["video_id"]
    with store.connection() as conn:
        # Start from nothing: no stored content and no cached answers to reuse.
        conn.execute("DELETE FROM content_assets WHERE video_id = %s", (video_id,))
        conn.execute("DELETE FROM response_cache WHERE provider = 'fake'")
    fake_server.reset()
    fake_server.configure(malformed_marker=X_THREAD_MARKER)
    try:
        with configured(fake_config):
            result = defs.resolve_job_def("write_content").execute_in_process(
                instance=env["instance"], partition_key=video_id, raise_on_error=False
            )
    finally:
        fake_server.configure(malformed_marker=None)
    stats = fake_server.stats()

    # x_thread was asked 1 + max_retries times; the other nine once each.
    assert stats["served_malformed"] == 1 + FAKE_MAX_RETRIES, stats
    assert stats["by_endpoint"]["/v1/chat/completions"] == 9 + 1 + FAKE_MAX_RETRIES, stats
    others = sorted(set(CONTENT_TYPES) - {"x_thread"})
    materialized = sorted(
        m.asset_key.path[-1] for m in result.asset_materializations_for_node("video_content")
    )
    assert materialized == others
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "1 of 10 content assets failed" in message and "x_thread" in message, message
    assert "not valid JSON" in message and f"after {FAKE_MAX_RETRIES} retries" in message, message

    assert sorted(bodies(store, video_id)) == others
    content = store.stage_states(video_id)["content"]
    assert content.status == "failed" and "x_thread" in (content.error or ""), content
    assert content.metadata["failed"] == ["x_thread"], content.metadata

    missing = CliRunner().invoke(app, ["content", video_id, "--type", "x_thread"])
    assert missing.exit_code != 0
    assert "no x_thread content" in missing.stderr and "failed" in missing.stderr


def test_rerunning_content_leaves_a_ready_video_ready(env: dict, talk: str) -> None:
    store: Store = env["store"]
    store.set_video_status(talk, "ready")  # where a finished pipeline leaves it
    result = defs.resolve_job_def("write_content").execute_in_process(
        instance=env["instance"], partition_key=talk, raise_on_error=False
    )
    assert result.success
    assert store.get_video(talk).status == "ready"


# --- a processing profile chosen by the upload folder ----------------------------------


def test_fast_audio_only_folder_makes_no_visual_rows_and_has_content(
    env: dict, tmp_path: Path
) -> None:
    sensor = defs.get_sensor_def("upload_folder_sensor")
    instance: dg.DagsterInstance = env["instance"]
    video = make_sample_video(
        tmp_path / "radio.mp4",
        (
            SampleScene("teal", "RADIO", "Good morning, this is the weather on the radio."),
            SampleScene("orange", "NEWS", "Heavy rain is expected over the mountains tonight."),
        ),
        size="320x240",
    )
    target = env["home"] / "uploads" / "fast_audio_only" / "radio.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(video, target)
    past = time.time() - 30
    os.utime(target, (past, past))

    def tick(cursor: str | None) -> dg.SensorResult:
        resources = {"database": VidmineDatabase(), "providers": AIProviders()}
        with dg.build_sensor_context(
            instance=instance, cursor=cursor, definitions=defs, resources=resources
        ) as context:
            result = sensor(context)
        assert isinstance(result, dg.SensorResult)
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        return result

    (request,) = tick(None).run_requests  # copied in whole: the first tick takes it
    video_id = request.partition_key
    assert request.tags["vidmine/profile"] == "fast_audio_only"
    store: Store = env["store"]
    assert store.get_video(video_id).profile == "fast_audio_only"

    # The run the daemon would launch for that request, in-process.
    result = defs.resolve_job_def(request.job_name or "process_video").execute_in_process(
        instance=instance, partition_key=video_id, tags=request.tags, raise_on_error=False
    )
    assert result.success
    assert store.get_video(video_id).status == "ready"
    states = store.stage_states(video_id)
    for stage in VISUAL_STAGES:
        assert states[stage].status == "skipped", (stage, states[stage])
    counts = row_counts(store, video_id)
    for table in ("scenes", "keyframes", "ocr_texts", "frame_captions"):
        assert counts[table] == 0, counts
    assert store.load_transcript(video_id)
    ctx = assert_content_sound(store, video_id)
    assert not ctx.scenes and not ctx.captions


# --- vidmine content -------------------------------------------------------------------


def test_cli_prints_content_as_markdown_json_and_one_type(env: dict, talk: str) -> None:
    runner = CliRunner()
    store: Store = env["store"]
    records = {r.content_type: r for r in store.load_content(talk)}

    md = runner.invoke(app, ["content", talk, "--format", "md"])
    assert md.exit_code == 0, md.output
    for record in records.values():
        assert record.markdown.strip() in md.stdout
    headings = [line for line in md.stdout.splitlines() if line.startswith("## ")]
    assert headings == [f"## {CONTENT_KINDS[t].label}" for t in CONTENT_TYPES]  # reading order

    as_json = runner.invoke(app, ["content", talk, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.stdout)
    assert payload["video_id"] == talk
    assert {t: c["body"] for t, c in payload["content"].items()} == {
        t: r.body for t, r in records.items()
    }
    assert all(c["extractive"] and c["provider"] == "local" for c in payload["content"].values())

    chapters = runner.invoke(app, ["content", talk, "--type", "chapters"])
    assert chapters.exit_code == 0, chapters.output
    assert chapters.stdout.strip() == records["chapters"].markdown.strip()
    assert chapters.stdout.startswith("## Chapters\n\n00:00 ")


def test_cli_content_errors_are_clear(env: dict, talk: str) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["content", "no-such-video-0000000000"])
    assert unknown.exit_code != 0
    assert "no video 'no-such-video-0000000000'" in unknown.stderr
    assert "vidmine status" in unknown.stderr

    bad_type = runner.invoke(app, ["content", talk, "--type", "haiku"])
    assert bad_type.exit_code != 0
    assert "haiku" in bad_type.stderr and "chapters" in bad_type.stderr, bad_type.stderr

    bad_format = runner.invoke(app, ["content", talk, "--format", "html"])
    assert bad_format.exit_code != 0 and "md or json" in bad_format.stderr
