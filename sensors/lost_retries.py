"""Retries Dagster promised and never made: a run failed with ``dagster/will_retry`` but
no ``dagster/auto_retry_run_id`` a minute later.

Dagster's retry daemon makes the retry of a failed run from the run-failure event, a few
seconds after it. A power cut in those seconds loses it: after the restart the daemon
carries on from its cursor, past that event (the crash drill, ``bench/fault_drill.py``,
caught one video left failed for good). This sensor launches the retry itself, once
(the run key names the failed run), unless a newer run of that video already exists.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import dagster as dg

from assets.tags import PARTITION_TAG

WILL_RETRY_TAG = "dagster/will_retry"
RETRY_RUN_TAG = "dagster/auto_retry_run_id"
RETRY_OF_TAG = "vidmine/retry_of"  # on the run this sensor launches
# Dagster makes its retry within seconds; after this long it is not coming.
LOST_AFTER_S = 60.0
# Dagster's own tags are its bookkeeping of the failed run, not settings to carry over.
_CARRIED_PREFIXES = ("vidmine/", "dagster/priority")


def lost_retries(
    failed: Sequence[dg.RunRecord], later_partitions: Iterable[str], now: float
) -> list[dg.DagsterRun]:
    """The failed runs whose promised retry never came: failed over ``LOST_AFTER_S`` ago,
    and no run of their video was created after them (``later_partitions``)."""
    covered = set(later_partitions)
    lost = []
    for record in failed:
        run = record.dagster_run
        if run.tags.get(WILL_RETRY_TAG) != "true" or RETRY_RUN_TAG in run.tags:
            continue
        if now - record.update_timestamp.timestamp() < LOST_AFTER_S:
            continue
        if run.tags.get(PARTITION_TAG) in covered:
            continue
        lost.append(run)
    return lost


def build_lost_retries_sensor(jobs: Sequence[dg.UnresolvedAssetJobDefinition]):
    job_names = {job.name for job in jobs}

    @dg.sensor(
        name="lost_run_retries",
        jobs=list(jobs),
        minimum_interval_seconds=15,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Launches the retry Dagster promised a failed run when a crash lost it.",
    )
    def lost_run_retries(context: dg.SensorEvaluationContext):
        instance = context.instance
        failed = instance.get_run_records(
            filters=dg.RunsFilter(
                statuses=[dg.DagsterRunStatus.FAILURE], tags={WILL_RETRY_TAG: "true"}
            ),
            limit=100,
        )
        later = set()
        for record in failed:
            newer = instance.get_run_records(
                filters=dg.RunsFilter(
                    tags={PARTITION_TAG: record.dagster_run.tags.get(PARTITION_TAG, "")},
                    created_after=record.create_timestamp,
                ),
                limit=1,
            )
            if newer:
                later.add(record.dagster_run.tags.get(PARTITION_TAG))
        requests = []
        for run in lost_retries(failed, later, time.time()):
            if run.job_name not in job_names:
                continue
            context.log.info(f"run {run.run_id} failed and its retry was lost: launching it")
            requests.append(
                dg.RunRequest(
                    run_key=f"lost-retry:{run.run_id}",
                    job_name=run.job_name,
                    partition_key=run.tags.get(PARTITION_TAG),
                    tags={
                        **{
                            key: value
                            for key, value in run.tags.items()
                            if key.startswith(_CARRIED_PREFIXES)
                        },
                        RETRY_OF_TAG: run.run_id,
                    },
                )
            )
        return requests or dg.SkipReason("no failed run is missing its retry")

    return lost_run_retries
