"""``source_video``: the uploaded file, probed and hashed. The first asset of a run, so
a file that is not a readable video, or the same content as another video, fails its
own run with the reason (and is recorded as rejected) instead of slowing the sensor.

A refused file is a failed run, on purpose: the run did not make what its job promises,
and the run list, run-failure sensors and alerts should say so, with the reason as the
failure's description and metadata. Materializing ``source_video`` "as rejected" instead
would paint a partition green that is no video and leave nineteen assets downstream to
skip, or fail, one by one. What must not last is the red: a partition exists to be a
video, so once the refusal is recorded (``upload_rejections``; the video's status and
stage row follow from the run's events) the partition is removed (``assets.partitions.remove_refused_partition``), here in
the run that refused it, so the sensor's runs, `dagster job launch`, the UI and `vidmine
ingest` all behave alike without waiting for a daemon. The failed run, its logs and
events stay in the run history.
"""

from pathlib import Path

import dagster as dg

from assets.partitions import remove_refused_partition, video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.registration import SourceRejected, verify_source
from vidmine.stages import code_version

# Metadata key of a refusal's dg.Failure: the reason, as vidmine recorded it.
REFUSED_REASON = "refused_reason"


@dg.asset(
    partitions_def=video_partitions,
    code_version=code_version("source_video"),  # vidmine.stages: bump its revision there
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
    stored in the ``videos`` row. A file it refuses fails the run and loses its partition
    (see the module docstring)."""
    try:
        return _read_source(context, database, media, providers)
    except dg.Failure as failure:
        if REFUSED_REASON in failure.metadata:
            # The step's failure hook writes the stage row and the video's status (failed,
            # with the reason) from the run's events, which outlive the partition.
            context.log.info(
                remove_refused_partition(context.instance, context.partition_key, context.run_id)
            )
        raise


def _read_source(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> dg.MaterializeResult:
    with stage_work(context, "source_video", database, media, providers) as work:
        path = Path(work.video.source_path)
        try:
            verified = verify_source(work.store, work.video, work.config.limits)
        except SourceRejected as err:
            metadata = {"file": dg.MetadataValue.path(str(path)), REFUSED_REASON: str(err)}
            if err.twin:
                metadata["same_content_as"] = err.twin
            raise dg.Failure(
                f"rejected {path.name}: {err}", metadata=metadata, allow_retries=False
            ) from None
        probe, sha = verified.probe, verified.sha256
        work.set_data_versions({"sha256": sha})  # always re-read
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
