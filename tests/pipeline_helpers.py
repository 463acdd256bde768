"""Helpers for tests that run the whole pipeline in-process (see ``pipeline_env``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from assets.partitions import video_partitions
from pipeline_defs.ingest import IngestOutcome, ingest_file
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


def partitions_shown_failed(instance: dg.DagsterInstance) -> dict[str, list[str]]:
    """Every asset of the graph with the partitions the Dagster UI shows failed, from the
    asset status cache its partition health and counts read."""
    from pipeline_defs.definitions import defs

    shown = {}
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        status = get_and_update_asset_status_cache_value(instance, key, video_partitions)
        failed = status.deserialize_failed_partition_subsets(video_partitions) if status else None
        if failed is not None and len(failed):
            shown[key.to_user_string()] = sorted(failed.get_partition_keys())
    return shown


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
