"""``scenes``: shots found by PySceneDetect's AdaptiveDetector."""

from pathlib import Path

import dagster as dg

from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from pipeline_defs.partitions import video_partitions
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.export import scenes_markdown_table
from vidmine.media.scenes import detect_scenes


@dg.asset(
    partitions_def=video_partitions,
    deps=["normalized_video"],
    group_name=GROUP_PIPELINE,
    kinds={"opencv", "postgres"},
    owners=OWNERS,
)
def scenes(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> dg.MaterializeResult:
    """Scene rows with start and end seconds and frames. Detection reads the source
    video so frame numbers are the source's own."""
    with stage_work(context, "scenes", database, media, providers) as work:
        reason = work.visual_skip_reason()
        if work.unchanged({"visual": reason is None}, upstream=["source_video"]):
            return work.cached_result()
        if reason:
            work.store.replace_scenes(work.video_id, [])
            return work.skip(reason)
        found = detect_scenes(Path(work.video.source_path))
        work.store.replace_scenes(work.video_id, found)
        work.summary = {"scenes": len(found)}
        return dg.MaterializeResult(
            metadata={
                "scenes": len(found),
                "cuts_s": [round(s.start_s, 3) for s in found[1:]],
                "table": dg.MetadataValue.md(scenes_markdown_table(found)),
            }
        )
