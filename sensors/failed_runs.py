"""The stage rows of runs that failed, from the event log: a run whose worker was killed
(or lost in a power cut) is failed by run monitoring, but never got to its steps' hooks,
so the rows still say what they said before its last step ended (a stage ``running``, or
one that finished after the last write). This sensor writes the video's rows and status
again from Dagster's record (``assets.stage_record.project_video``): the stages the dead
run had started and not finished become failed with the run's reason, what it finished
shows finished, and the video is failed unless it was ready by then; run retries then
take the video back to processing.
"""

import dagster as dg

from assets.stage_record import project_video
from assets.tags import PARTITION_TAG
from resources import VidmineDatabase


@dg.run_failure_sensor(
    name="failed_run_stage_rows",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="Writes the stage rows and status of a failed run's video from the event log.",
)
def failed_run_stage_rows(context: dg.RunFailureSensorContext, database: VidmineDatabase):
    run = context.dagster_run
    video_id = run.tags.get(PARTITION_TAG)
    if video_id is None:
        return
    project_video(context.instance, database.store(), video_id)
    context.log.info(f"video {video_id}: stage rows written from the event log of {run.run_id}")
