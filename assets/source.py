"""``source_video``: the uploaded file, probed and hashed. The first asset of a run, so
a file that is not a readable video, or the same content as another video, fails its
own run with the reason (and is recorded as rejected) instead of slowing the sensor."""

from pathlib import Path

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.registration import SourceRejected, verify_source


@dg.asset(
    partitions_def=video_partitions,
    code_version="1",  # bump when the code changes what it makes
    group_name=GROUP_PIPELINE,
    kinds={"ffmpeg", "postgres"},
    owners=OWNERS,
)
def source_video(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> dg.MaterializeResult:
    """The uploaded file: duration, streams, codecs, fps, rotation, size and sha256,
    stored in the ``videos`` row."""
    with stage_work(context, "source_video", database, media, providers) as work:
        path = Path(work.video.source_path)
        try:
            verified = verify_source(work.store, work.video, work.config.limits)
        except SourceRejected as err:
            raise dg.Failure(f"rejected {path.name}: {err}") from None
        probe, sha = verified.probe, verified.sha256
        work.unchanged({"sha256": sha})  # always re-read; sets the data version
        work.summary = {
            "duration_s": probe.duration_s,
            "has_video": probe.has_video,
            "has_audio": probe.has_audio,
        }
        return dg.MaterializeResult(
            metadata={
                "file": dg.MetadataValue.path(str(path)),
                "profile": work.profile_name,
                "duration_s": round(probe.duration_s, 3),
                "size_bytes": probe.size_bytes,
                "container": probe.format_name,
                "video": (
                    f"{probe.video_codec} {probe.width}x{probe.height} @ {probe.fps or 0:.3f} fps"
                    if probe.has_video
                    else "none"
                ),
                "rotation": probe.rotation,
                "audio": (
                    f"{probe.audio_codec} {probe.audio_sample_rate} Hz x{probe.audio_channels}"
                    if probe.has_audio
                    else "none"
                ),
                "sha256": sha,
            }
        )
