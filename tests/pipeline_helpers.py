"""Helpers for tests that run the whole pipeline in-process (see ``pipeline_env``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster_graphql.test.utils import execute_dagster_graphql

from local_runtime.ingest import IngestOutcome, ingest_file
from vidmine.config import load_config
from vidmine.content import (
    CONTENT_TYPES,
    VideoContext,
    build_video_context,
    chapter_boundaries,
    content_markdown,
    keyframe_times,
    validate_content,
)
from vidmine.db.store import Store


def ingest_ready(
    env: dict, path: Path, profile: str = "standard_audio_visual", *, force: bool = False
) -> IngestOutcome:
    """Process ``path`` the way `vidmine ingest` does and insist it reaches ready."""
    outcome = ingest_file(path, profile, load_config(), env["instance"], force=force)
    assert outcome.status == "ready", (
        outcome.error,
        [(s.stage, s.status, s.error) for s in outcome.stages],
    )
    return outcome


UI_PARTITION_STATS = """
query { assetNodes { assetKey { path } partitionStats { numMaterialized numFailed numPartitions } } }
"""


def ui_partition_stats(instance: dg.DagsterInstance) -> dict[str, dict[str, int]]:
    """What the Dagster UI shows for each asset's partitions (materialized, failed, how
    many), asked through its own GraphQL API over vidmine's code location loaded here."""
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="pipeline_defs.definitions", attribute="defs"),
        location_name="vidmine",
    )
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as workspace:
        result = execute_dagster_graphql(workspace.create_request_context(), UI_PARTITION_STATS)
    assert not result.errors, result.errors
    return {
        "/".join(node["assetKey"]["path"]): node["partitionStats"]
        for node in result.data["assetNodes"]
    }


def partitions_shown_failed(instance: dg.DagsterInstance) -> dict[str, int]:
    """The assets the Dagster UI shows with failed partitions, and how many."""
    stats = ui_partition_stats(instance)
    return {asset: shown["numFailed"] for asset, shown in stats.items() if shown["numFailed"]}


def stored_context(store: Store, video_id: str) -> VideoContext:
    """The context the content step builds, from the rows the earlier stages stored."""
    video = store.get_video(video_id)
    assert video is not None
    return build_video_context(
        video_id=video_id,
        file_name=video.file_name,
        duration_s=video.duration_s or 0.0,
        segments=store.load_transcript(video_id),
        scenes=store.load_scenes(video_id),
        ocr_texts=store.load_ocr_texts(video_id),
        captions=store.load_captions(video_id),
        frame_times=keyframe_times(store.load_keyframes(video_id)),
    )


def bodies(store: Store, video_id: str) -> dict[str, dict[str, Any]]:
    return {r.content_type: r.body for r in store.load_content(video_id)}


def assert_content_sound(store: Store, video_id: str) -> VideoContext:
    """Every content type is stored, valid for the video, and marked extractive."""
    ctx = stored_context(store, video_id)
    records = {r.content_type: r for r in store.load_content(video_id)}
    assert sorted(records) == sorted(CONTENT_TYPES)
    for content_type, record in records.items():
        # Stored bodies are already the validated, repaired form: checking again changes nothing.
        assert validate_content(content_type, record.body, ctx) == record.body, content_type
        assert record.markdown == content_markdown(content_type, record.body)
        assert record.extractive and (record.provider, record.model) == ("local", "extractive")

    chapters = records["chapters"].body["chapters"]
    starts = [c["start_s"] for c in chapters]
    assert starts[0] == 0.0 and starts == sorted(set(starts)), starts
    assert starts[-1] < ctx.duration_s
    allowed = {0.0} | {s.start_s for s in ctx.scenes} | {s.start_s for s in ctx.segments}
    assert set(starts) <= allowed and set(starts) <= set(chapter_boundaries(ctx)), starts
    assert all(c["title"].strip() for c in chapters)

    for clip in records["short_clip_plan"].body["clips"]:
        assert 0.0 <= clip["start_s"] < clip["end_s"] <= ctx.duration_s, clip

    tags = records["tags"].body["tags"]
    assert tags and len({t.casefold() for t in tags}) == len(tags), tags
    assert not any(t.startswith("#") or t != t.strip() for t in tags), tags
    assert store.stage_states(video_id)["content"].status == "succeeded"
    return ctx
