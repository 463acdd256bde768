"""``normalized_video``: the H.264 + AAC playback copy of the video (the source remuxed
when browsers play it, else re-encoded at most 720p).

Nothing that makes a video searchable reads it (the analysis decodes the source once,
see ``decode_source``), and re-encoding costs about as much as a second decode, so it is
made after the video is ready: search does not wait for it. Players use it, and the
source until it exists.
"""

from pathlib import Path

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.media.normalize import normalize_video
from vidmine.media.probe import probe_media
from vidmine.stages import code_version


@dg.asset(
    partitions_def=video_partitions,
    code_version=code_version("normalized_video"),  # vidmine.stages: bump its revision there
    deps=["source_video", "video_ready"],
    group_name=GROUP_PIPELINE,
    kinds={"ffmpeg", "video"},
    owners=OWNERS,
)
def normalized_video(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> dg.MaterializeResult:
    """The playback copy: the source remuxed when browsers play it (H.264 up to 1080p and
    30 fps in MP4/MOV), else re-encoded at most 720p (never upscaled, aspect kept,
    rotation applied) at its own constant rate up to 30 fps with a key frame every 2 s at
    low CPU priority; with the source's first audio track as AAC (or MP3, copied)."""
    with stage_work(context, "normalized_video", database, media, providers) as work:
        wants_video = work.profile.visual and bool(work.video.has_video)
        out = work.normalized_video_path
        files = [out] if wants_video else []
        playback = work.config.playback
        params = {"video": wants_video, **playback.model_dump()}
        if work.reuse_if_unchanged(params, files=files):
            return work.cached_result()
        if not wants_video:
            reason = (
                f"profile {work.profile_name} has no visual stages"
                if not work.profile.visual
                else "no video stream (audio-only file)"
            )
            return work.skip(reason)
        source = Path(work.video.source_path)
        result = normalize_video(source, probe_media(source), out, playback=playback)
        work.summary = {"video_reencoded": result.reencoded}
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(out)),
                "size": f"{result.width}x{result.height}",
                "fps": result.fps,
                "reencoded": result.reencoded,
                "has_audio": result.has_audio,
                "bytes": out.stat().st_size,
            }
        )
