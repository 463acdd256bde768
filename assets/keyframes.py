"""``keyframes``: representative frames per scene, deduplicated by perceptual hash."""

import shutil
from pathlib import Path

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.media.keyframes import CANDIDATE_FPS, CANDIDATES_DIR, extract_keyframes
from vidmine.media.sampling import read_manifest
from vidmine.stages import code_version


@dg.asset(
    partitions_def=video_partitions,
    code_version=code_version("keyframes"),  # vidmine.stages: bump its revision there
    deps=["scenes"],
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
    """JPEG keyframes with their timestamps (the PTS of the frame written) and pHashes;
    long scenes get more frames under profiles that ask for them. They are picked from
    the frames the decode pass sampled, two a second."""
    with stage_work(context, "keyframes", database, media, providers) as work:
        reason = work.visual_skip_reason()
        params = {
            "visual": reason is None,
            "per_scene": work.profile.keyframes_per_scene,
            "long_scene_s": work.profile.long_scene_s,
        }
        candidates_dir = work.video_dir / CANDIDATES_DIR
        if work.reuse_if_unchanged(params):
            shutil.rmtree(candidates_dir, ignore_errors=True)
            return work.cached_result()
        if reason:
            work.store.replace_keyframes(work.video_id, [])
            return work.skip(reason)
        scene_rows = work.store.load_scenes(work.video_id)
        # Frames the decode pass sampled; a scene none fell into (or a run of this stage
        # alone) is taken from the source.
        candidates = read_manifest(candidates_dir, CANDIDATE_FPS)
        frames = extract_keyframes(
            Path(work.video.source_path),
            scene_rows,
            work.video_dir / "keyframes",
            per_scene=work.profile.keyframes_per_scene,
            long_scene_s=work.profile.long_scene_s,
            candidates=candidates,
        )
        shutil.rmtree(candidates_dir, ignore_errors=True)  # the ones not picked
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
