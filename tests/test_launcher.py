"""The local instance's run launcher (local_runtime/launcher.py): runs forked from a warm
process, and a run whose worker dies is failed by run monitoring and retried.

The daemon test is the power-cut case of the local stack in miniature: a run's worker
is killed with SIGKILL mid-run, so nothing in it can report; the launcher's health check
must notice, the run must fail, and run retries must bring the video to ready without
duplicate rows.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest
from dagster._core.launcher import WorkerStatus
from dagster_daemon import (
    open_instance,
    prepare_dagster_home,
    running_daemon,
    wait_for,
    write_workspace,
)
from db_helpers import row_counts
from test_daemon_pipeline import fresh_database

from local_runtime.launcher import (
    QUEUE_DAEMON_THREAD,
    WORKER_PID_TAG,
    WORKER_STARTED_TAG,
    WarmingRunCoordinator,
    WarmRunLauncher,
)
from vidmine.config import load_config
from vidmine.db.store import Store
from vidmine.samples import SampleScene, make_sample_video


def _run(tags: dict[str, str]) -> dg.DagsterRun:
    return dg.DagsterRun(job_name="process_video", run_id="r1", tags=tags)


def test_a_live_worker_is_running_a_gone_or_reused_pid_is_failed() -> None:
    launcher = WarmRunLauncher()
    me = psutil.Process()
    alive = {WORKER_PID_TAG: str(me.pid), WORKER_STARTED_TAG: f"{me.create_time():.3f}"}
    assert launcher.check_run_worker_health(_run(alive)).status == WorkerStatus.RUNNING
    reused = {**alive, WORKER_STARTED_TAG: f"{me.create_time() - 3600:.3f}"}
    failed = launcher.check_run_worker_health(_run(reused))
    assert failed.status == WorkerStatus.FAILED and "is gone" in failed.msg
    assert launcher.check_run_worker_health(_run({})).status == WorkerStatus.FAILED


# In a fresh interpreter, as the warm process: preload, fork, and embed in the child.
_FORKED_EMBEDDING = """
import os, signal, sys
import numpy as np
from local_runtime.run_worker import load_speaker_encoder
load_speaker_encoder()
assert "torch" not in sys.modules, "the speaker encoder imported torch"
pid = os.fork()
if pid == 0:
    signal.alarm(60)  # a child stuck in an inherited thread pool dies instead of hanging
    from vidmine.speakers.encoder import shared_encoder
    out = shared_encoder().embed_mels(np.ones((3, 160, 40), dtype=np.float32))
    os._exit(0 if out.shape == (3, 256) else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""


def test_the_warm_process_loads_the_speaker_encoder_so_a_forked_run_can_use_it() -> None:
    """The speakers stage's encoder is built in the warm process, without torch (whose
    import was ~2 s of CPU per run, 10 s of a ten-clip backlog, and whose OpenMP pool,
    once started, hung a child forked after it), and a forked child embeds with it."""
    if importlib.util.find_spec("resemblyzer") is None:  # its weights only: never imported
        pytest.skip("the local extra's resemblyzer weights are not installed")
    done = subprocess.run(
        [sys.executable, "-c", _FORKED_EMBEDDING], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    child_exit = int(done.stdout.split()[-1])
    assert child_exit == 0, (
        f"the forked child did not embed with the preloaded encoder (exit {child_exit}; "
        f"-{int(signal.SIGALRM)}: it hung)"
    )


def test_only_the_queue_daemon_thread_starts_the_warm_process(tmp_path: Path) -> None:
    """The UI and the CLI read the queue's limits too: that starts nothing. (That the
    daemon's queue thread does start it is checked on a real daemon in
    test_daemon_pipeline.py.)"""
    dagster_home = tmp_path / "dagster"
    config_path = tmp_path / "vidmine.yaml"
    config_path.write_text("default_profile: standard_audio_visual\n")
    prepare_dagster_home(dagster_home, load_config(config_path, check_keys=False))
    with open_instance(dagster_home) as instance:
        assert isinstance(instance.run_coordinator, WarmingRunCoordinator)
        launcher = instance.run_launcher
        assert isinstance(launcher, WarmRunLauncher)
        reader = threading.Thread(target=instance.get_concurrency_config, name="ui-request")
        reader.start()
        reader.join()
        instance.get_concurrency_config()
        assert launcher._worker is None and launcher._warming is None
        assert threading.current_thread().name != QUEUE_DAEMON_THREAD


@pytest.mark.slow
def test_a_killed_run_worker_is_failed_and_retried_to_ready(
    tmp_path: Path, pg_url: str, migrated_template: str
) -> None:
    home = tmp_path / "home"
    (home / "uploads").mkdir(parents=True)
    config_path = tmp_path / "vidmine.yaml"
    config_path.write_text("default_profile: standard_audio_visual\n")
    video = make_sample_video(
        tmp_path / "talk.mp4",
        tuple(
            SampleScene(colour, f"SLIDE {i}", "The launcher checks that each run worker lives.")
            for i, colour in enumerate(("navy", "maroon", "darkgreen", "black"))
        ),
    )
    with fresh_database(pg_url, migrated_template) as url:
        env = {
            "VIDMINE_HOME": str(home),
            "VIDMINE_CONFIG": str(config_path),
            "DATABASE_URL": url,
            "HF_HUB_OFFLINE": "1",
            "VIDMINE_SENSOR_INTERVAL_S": "1",
        }
        dagster_home = tmp_path / "dagster"
        prepare_dagster_home(
            dagster_home,
            load_config(config_path, check_keys=False),
            overrides={"run_monitoring": {"poll_interval_seconds": 1}},
        )
        workspace = write_workspace(tmp_path / "workspace.yaml")
        daemons = ("SENSOR", "QUEUED_RUN_COORDINATOR", "MONITORING")
        with (
            running_daemon(dagster_home, workspace, env, daemon_types=daemons) as daemon,
            open_instance(dagster_home) as instance,
        ):
            (home / "uploads" / video.name).write_bytes(video.read_bytes())

            def started_run() -> dg.DagsterRun | None:
                runs = instance.get_runs(
                    filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
                )
                return runs[0] if runs and WORKER_PID_TAG in runs[0].tags else None

            run = wait_for(started_run, timeout_s=120, what="a started run", process=daemon)
            time.sleep(1.0)  # mid-run
            os.kill(int(run.tags[WORKER_PID_TAG]), signal.SIGKILL)
            killed_at = time.monotonic()

            def failed() -> bool:
                status = instance.get_run_by_id(run.run_id).status
                return status == dg.DagsterRunStatus.FAILURE

            wait_for(failed, timeout_s=30, what="the killed run marked failed", process=daemon)
            noticed_s = time.monotonic() - killed_at

            def retried_success() -> dg.DagsterRun | None:
                retries = instance.get_runs(
                    filters=dg.RunsFilter(tags={"dagster/parent_run_id": run.run_id})
                )
                return next((r for r in retries if r.status == dg.DagsterRunStatus.SUCCESS), None)

            wait_for(retried_success, timeout_s=180, what="a successful retry", process=daemon)
            store = Store(url)
            (only,) = store.list_videos()
            assert only.status == "ready"
            counts = row_counts(store, only.video_id)
            assert counts["scenes"] == 4 and counts["transcript_segments"] >= 1
            print(f"\nkilled run worker noticed after {noticed_s:.1f} s; retry reached ready")


def test_an_instance_naming_the_old_launcher_module_is_moved_on(
    tmp_path: Path, monkeypatch
) -> None:
    """The launcher left pipeline_defs for local_runtime (2026-12): an existing instance's
    dagster.yaml, generated or written by hand, names the new module after any command."""
    from local_runtime.instance import ensure_dagster_home

    config = load_config()
    generated, own = tmp_path / "generated", tmp_path / "own"
    for home in (generated, own):
        home.mkdir()
    (generated / "dagster.yaml").write_text(
        "# Generated by vidmine from vidmine.yaml\n"
        "run_launcher:\n  module: pipeline_defs.launcher\n  class: WarmRunLauncher\n"
    )
    (own / "dagster.yaml").write_text(
        "# my own\nrun_launcher:\n  module: pipeline_defs.launcher\n  class: WarmRunLauncher\n"
        "telemetry:\n  enabled: false\n"
    )
    for home in (generated, own):
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        ensure_dagster_home(config)
        text = (home / "dagster.yaml").read_text()
        assert "pipeline_defs" not in text
        assert "module: local_runtime.launcher" in text
    assert (own / "dagster.yaml").read_text().startswith("# my own")
