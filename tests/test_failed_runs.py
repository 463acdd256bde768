"""The failed-run sensor against a real Dagster instance and PostgreSQL: the stages a
dead run left ``running`` (a SIGKILLed worker never reaches its own ``except``) become
failed with the run's reason, and nothing else changes."""

from __future__ import annotations

import dagster as dg

from resources import VidmineDatabase
from sensors.failed_runs import failed_run_stage_rows
from vidmine.db.store import Store


@dg.op
def dies() -> None:
    raise RuntimeError("worker gone")


@dg.job
def dying_job() -> None:
    dies()


def test_stages_a_dead_run_left_running_become_failed(database_env: str, store_url: str) -> None:
    store = Store(store_url)
    for video_id in ("talk", "other", "shown"):
        store.register_video(video_id, file_name=f"{video_id}.mp4", source_path="/x", size_bytes=1)
        store.set_video_status(video_id, "processing")
    with dg.instance_for_test() as instance:
        result = dying_job.execute_in_process(instance=instance, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        store.finish_stage("talk", "source_video", "succeeded", 0.1)
        store.start_stage("talk", "transcript", run.run_id)  # the worker died in here
        store.start_stage("other", "transcript", "a-later-run")  # another run's, alive
        store.set_video_status("shown", "ready")
        store.start_stage("shown", "normalized_video", run.run_id)  # the playback copy, after ready
        with dg.build_run_status_sensor_context(
            sensor_name="failed_run_stage_rows",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=run,
            resources={"database": VidmineDatabase()},
        ) as status_context:
            failed_run_stage_rows(status_context.for_run_failure())

    states = store.stage_states("talk")
    assert states["source_video"].status == "succeeded"
    assert states["transcript"].status == "failed"
    assert "ended before this stage finished" in (states["transcript"].error or "")
    talk = store.get_video("talk")
    assert talk is not None and talk.status == "failed"
    assert "transcript did not finish" in (talk.error or "")
    assert store.stage_states("other")["transcript"].status == "running"
    other = store.get_video("other")
    assert other is not None and other.status == "processing"
    # Work after video_ready was cut short: the row says so, the video stays searchable.
    assert store.stage_states("shown")["normalized_video"].status == "failed"
    shown = store.get_video("shown")
    assert shown is not None and shown.status == "ready"
