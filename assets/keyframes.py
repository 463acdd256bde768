"""``keyframes``: representative frames per scene, deduplicated by perceptual hash."""

from pathlib import Path

import dagster as dg

from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from pipeline_defs.partitions import video_partitions
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.media.keyframes import extract_keyframes


@dg.asset(
    partitions_def=video_partitions,
    deps=["scenes", "normalized_video"],
    group_name=GROUP_PIPELINE,
    kinds={"ffmpeg", "image", "postgres"},
    owners=OWNERS,
)
def keyframes(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> dg.MaterializeResult:
    """JPEG keyframes with their timestamps (the PTS of the frame written, in the
    normalized video) and pHashes; long scenes get more frames under profiles that ask
    for them."""
    with stage_work(context, "keyframes", database, media, providers) as work:
        reason = work.visual_skip_reason()
        params = {
            "visual": reason is None,
            "per_scene": work.profile.keyframes_per_scene,
            "long_scene_s": work.profile.long_scene_s,
        }
        if work.unchanged(params, upstream=["scenes"]):
            return work.cached_result()
        if reason:
            work.store.replace_keyframes(work.video_id, [])
            return work.skip(reason)
        scene_rows = work.store.load_scenes(work.video_id)
        # The normalized video is upright, square-pixelled, at most 720p like the
        # keyframes, and has a key frame every 2 s: seeking in it is cheap.
        normalized = work.normalized_video_path
        frames = extract_keyframes(
            normalized if normalized.is_file() else Path(work.video.source_path),
            scene_rows,
            work.video_dir / "keyframes",
            per_scene=work.profile.keyframes_per_scene,
            long_scene_s=work.profile.long_scene_s,
        )
        work.store.replace_keyframes(work.video_id, frames)
        work.summary = {"keyframes": len(frames), "scenes": len(scene_rows)}
        return dg.MaterializeResult(
            metadata={
                "keyframes": len(frames),
                "scenes": len(scene_rows),
                "timestamps_s": [round(f.timestamp_s, 3) for f in frames],
                "folder": dg.MetadataValue.path(str(work.video_dir / "keyframes")),
            }
        )
