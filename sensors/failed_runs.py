"""The stage rows of runs that died: a run whose worker was killed (or lost in a power
cut) is failed by run monitoring, but its steps never got to say so, so the stages it
was in still read ``running``. This sensor marks those stages failed with the run's
failure message, and their video too unless it is already ready; run retries then take
the video back to processing.

Stages that failed by themselves already said so and are left alone.
"""

import dagster as dg

from resources import VidmineDatabase


@dg.run_failure_sensor(
    name="failed_run_stage_rows",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="Marks failed the stages (and videos) that a dead run left 'running'.",
)
def failed_run_stage_rows(context: dg.RunFailureSensorContext, database: VidmineDatabase):
    run = context.dagster_run
    message = (context.failure_event.message or "the run failed").strip()
    store = database.store()
    unfinished = store.fail_unfinished_stages(
        run.run_id, f"run {run.run_id[:8]} ended before this stage finished: {message}"
    )
    for video_id, stages in unfinished.items():
        context.log.info(f"video {video_id}: {', '.join(stages)} left running by {run.run_id}")
        video = store.get_video(video_id)
        # A ready video stays ready: what runs after video_ready (the playback copy,
        # written content) is not what makes it searchable.
        if video is not None and video.status != "ready":
            store.set_video_status(
                video_id, "failed", f"{', '.join(sorted(stages))} did not finish: {message}"
            )
