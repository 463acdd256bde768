"""Stage rows and video status are a projection of Dagster's event log
(``assets.stage_record``), against a real run, a real Dagster instance and PostgreSQL.

- A run process killed with SIGKILL between a step's end (its materialization is in the
  event log) and its row write: the rows said the step was still running; once run
  monitoring fails the run, the failed-run sensor writes what Dagster holds, the step
  finished, the video failed with the run's reason, and `vidmine status` says so.
- Rows rebuilt from the event log equal the rows the pipeline wrote as it went.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from pipeline_helpers import ingest_ready
from typer.testing import CliRunner

from assets.partitions import VIDEO_PARTITIONS_NAME
from assets.stage_record import HOLD_AFTER_STEP_ENV, HOLD_MARKER_ENV, rebuild_all
from local_runtime.cli import app
from resources import VidmineDatabase
from sensors.failed_runs import failed_run_stage_rows
from vidmine.db.models import StageState
from vidmine.db.store import Store
from vidmine.registration import register_upload
from vidmine.samples import SampleScene, make_sample_video

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
HELD_STEP = "transcript"
# The run of one video, in a process of its own on the instance at DAGSTER_HOME.
RUN_ONE_VIDEO = """
import sys
import dagster as dg
from pipeline_defs.definitions import defs
defs.resolve_job_def("process_video").execute_in_process(
    instance=dg.DagsterInstance.get(), partition_key=sys.argv[1], raise_on_error=False
)
"""


def clip(folder: Path, colour: str) -> Path:
    return make_sample_video(
        folder / f"{colour} tide talk.mp4",
        (SampleScene(colour, "TIDES", "The ocean tides are pulled by the moon."),),
        size="640x360",
    )


@pytest.fixture
def instance(pipeline_env: dict, tmp_path: Path):
    """A Dagster instance on disk, which a run process of its own can share."""
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


def status_json(video_id: str) -> dict:
    shown = CliRunner().invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    return next(v for v in json.loads(shown.stdout)["videos"] if v["video_id"] == video_id)


def comparable(states: dict[str, StageState]) -> dict[str, tuple]:
    return {
        name: (s.status, s.started_at, s.finished_at, s.seconds, s.error, s.metadata)
        for name, s in states.items()
    }


def test_a_run_killed_between_a_step_end_and_its_row_write_leaves_the_status_right(
    pipeline_env: dict, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    store: Store = pipeline_env["store"]
    video_id = register_upload(store, clip(tmp_path, "navy"), "standard_audio_visual").video_id
    instance.add_dynamic_partitions(VIDEO_PARTITIONS_NAME, [video_id])
    marker = tmp_path / "held"
    worker = subprocess.Popen(
        [sys.executable, "-c", RUN_ONE_VIDEO, video_id],
        cwd=REPO,
        env={
            **os.environ,
            "DAGSTER_HOME": str(instance.root_directory),
            HOLD_AFTER_STEP_ENV: HELD_STEP,
            HOLD_MARKER_ENV: str(marker),
        },
    )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert worker.poll() is None, "the run ended before the held step"
            assert time.monotonic() < deadline, "the run never reached the held step"
            time.sleep(0.2)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(timeout=30)

    # The step ended: Dagster has its materialization. Its row write never happened.
    (run,) = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": video_id}))
    assert run.status == dg.DagsterRunStatus.STARTED
    latest = instance.get_latest_materialization_event(dg.AssetKey(HELD_STEP))
    assert latest is not None and latest.run_id == run.run_id
    assert store.stage_states(video_id)[HELD_STEP].status == "running"

    # What run monitoring does for a dead worker, then the failed-run sensor's tick.
    instance.report_run_failed(run, "run worker killed (SIGKILL)")
    failed = instance.get_run_by_id(run.run_id)
    failure = next(
        record.event_log_entry.dagster_event
        for record in instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE
        ).records
    )
    with dg.build_run_status_sensor_context(
        sensor_name="failed_run_stage_rows",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=failed,
        resources={"database": VidmineDatabase()},
    ) as status_context:
        failed_run_stage_rows(status_context.for_run_failure())

    states = store.stage_states(video_id)
    for stage in ("source_video", "audio_wav", "scenes", HELD_STEP):
        assert states[stage].status == "succeeded", (stage, states[stage])
    assert states[HELD_STEP].metadata["segments"] >= 1
    assert "running" not in {s.status for s in states.values()}, states
    video = store.get_video(video_id)
    assert video is not None and video.status == "failed"
    assert "ended before the video was ready" in (video.error or "")
    shown = status_json(video_id)
    assert shown["status"] == "failed"
    assert shown["stages"][HELD_STEP] == "succeeded"


def test_rows_rebuilt_from_the_event_log_equal_the_rows_written_as_it_ran(
    pipeline_env: dict, tmp_path: Path
) -> None:
    store: Store = pipeline_env["store"]
    outcome = ingest_ready(pipeline_env, clip(tmp_path, "maroon"), "fast_audio_only")
    video_id = outcome.video_id
    written = comparable(store.stage_states(video_id))
    assert written["video_ready"][0] == "succeeded"
    assert written["scenes"][0] == "skipped"  # the audio-only profile skips the pictures

    store.replace_stage_states(video_id, [])
    store.set_video_status(video_id, "registered")
    assert video_id in rebuild_all(pipeline_env["instance"], store)

    assert comparable(store.stage_states(video_id)) == written
    video = store.get_video(video_id)
    assert video is not None and (video.status, video.error) == ("ready", None)
