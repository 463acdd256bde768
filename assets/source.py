"""``source_video``: the uploaded file, probed and fingerprinted."""

from pathlib import Path

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.media.ffmpeg import MediaError
from vidmine.media.probe import probe_media, sha256_file


@dg.asset(
    partitions_def=video_partitions,
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
        if not path.is_file():
            raise dg.Failure(
                f"source file {path} of video {work.video_id} is gone; "
                "put it back or drop it into uploads/ again"
            )
        try:
            probe = probe_media(path)
        except MediaError as err:
            raise dg.Failure(str(err)) from None
        sha = sha256_file(path)
        if work.video.sha256 and sha != work.video.sha256:
            raise dg.Failure(
                f"{path} changed since it was registered as {work.video_id} "
                "(different sha256); drop the new version as a new upload"
            )
        work.unchanged({"sha256": sha})  # always re-probed (cheap); sets the fingerprint
        work.store.update_probe(work.video_id, probe)
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
