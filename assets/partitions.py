"""One dynamic partition per video, keyed ``<slug>-<short sha256>`` (see vidmine.uploads),
and the one way a partition goes away again: its file was refused before it ever became
a video (see ``remove_refused_partition``)."""

import dagster as dg

from assets.tags import PARTITION_TAG

VIDEO_PARTITIONS_NAME = "videos"
video_partitions = dg.DynamicPartitionsDefinition(name=VIDEO_PARTITIONS_NAME)

SOURCE_ASSET = dg.AssetKey("source_video")
# Runs that may still write events for a partition, or read it when they start.
_UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def remove_refused_partition(instance: dg.DagsterInstance, video_id: str, run_id: str) -> str:
    """Delete the partition of a video whose file ``source_video`` refused in run
    ``run_id``, so the graph shows no failed partition for something that never was a
    video; returns a sentence saying what was done, for the run's log.

    Only Dagster's list of partitions changes: the refused run, its logs and events stay
    in the run history, and the rejection in vidmine's ``upload_rejections``. Dagster
    shows a partition failed only while the partition exists (its status cache keeps the
    keys its partitions definition still has), so the red goes with the partition.

    Kept, with the reason, when:

    - ``source_video`` was materialized for it before: the video was good once (its file
      went missing or changed since), so its lineage is the record worth keeping;
    - another run for it is queued or in progress (the same file dropped again, a launch
      by hand): deleting the key under it would fail that run at start. That run's own
      ``source_video`` decides again when it reads the file.

    A later good upload of the same file name has other content, so another key and a
    partition of its own; the same refused content dropped again gets its partition back
    from the sensor (which adds the key whenever the instance lacks it) and is refused
    again, visibly. Never raises: the refusal itself is what the run must report.
    """
    try:
        if not instance.has_dynamic_partition(VIDEO_PARTITIONS_NAME, video_id):
            return f"partition {video_id} is already gone"
        earlier = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=SOURCE_ASSET, asset_partitions=[video_id]), limit=1
        )
        if earlier.records:
            return (
                f"kept partition {video_id}: source_video was materialized for it before, "
                "so its history stays visible"
            )
        others = [
            record.dagster_run
            for record in instance.get_run_records(
                filters=dg.RunsFilter(tags={PARTITION_TAG: video_id}, statuses=_UNFINISHED),
                limit=10,
            )
            if record.dagster_run.run_id != run_id
        ]
        if others:
            other = others[0]
            return (
                f"kept partition {video_id}: run {other.run_id[:8]} is {other.status.value} "
                "for it and will read the file again"
            )
        instance.delete_dynamic_partition(VIDEO_PARTITIONS_NAME, video_id)
    except Exception as err:  # the instance's storage is unreachable: the refusal stands
        return f"could not remove partition {video_id}: {type(err).__name__}: {err}"
    return (
        f"removed partition {video_id}: its file was refused, so no asset shows it failed; "
        f"run {run_id[:8]} and the rejection stay on record"
    )
