"""The run launcher of the local instance (``make dev``): runs forked from a warm process,
and a health check that fails runs whose worker is gone.

Dagster's DefaultRunLauncher starts every run in a fresh Python process that imports
Dagster, vidmine and the model runtimes again: seconds per run before any work, most of
the time of a short video. Here one warm process (:mod:`local_runtime.run_worker`)
has imported all of it once and forks a child per run.

The DefaultRunLauncher also cannot tell that a run's worker died (killed, or the machine
lost power): the run stays STARTED for good and holds its run-queue slot. This launcher
records each worker's pid and start time on the run, so run monitoring
(``run_monitoring`` in dagster.yaml) finds a run whose worker is gone, fails it, and run
retries start it again. Production uses the DockerRunLauncher, which has its own check.

The warm process is restarted when vidmine's code changes on disk, so a run never
executes code older than the code location the UI shows.

Starting the warm process takes about 10 s (Dagster, vidmine and the model runtimes
imported). So that no run waits for it, the local instance's run queue is
:class:`WarmingRunCoordinator`: the daemon's queue thread starts the warm process when
the daemon starts, and starts a fresh one in the background after a code change.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Mapping
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Self

import psutil
from dagster import DagsterRun

from local_runtime.dagster_private import (
    CheckRunHealthResult,
    ConfigurableClass,
    ConfigurableClassData,
    LaunchRunContext,
    QueuedRunCoordinator,
    RunLauncher,
    RunQueueConfig,
    WorkerStatus,
    serialize_value,
)
from local_runtime.run_worker import READY

WORKER_PID_TAG = "vidmine/worker_pid"
WORKER_STARTED_TAG = "vidmine/worker_started"  # the worker's start time: pids get reused
CODE_PACKAGES = ("local_runtime", "pipeline_defs", "assets", "resources", "sensors", "vidmine")
# The thread the daemon runs its run queue in (dagster._daemon.controller names each
# daemon's thread "dagster-daemon-<daemon type>").
QUEUE_DAEMON_THREAD = "dagster-daemon-QUEUED_RUN_COORDINATOR"

logger = logging.getLogger(__name__)


class RunLauncherError(RuntimeError):
    """The warm process could not be started or did not answer."""


def code_fingerprint() -> float:
    """The newest modification time of vidmine's Python files."""
    newest = 0.0
    for package in CODE_PACKAGES:
        spec = find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            for path in Path(folder).rglob("*.py"):
                try:
                    newest = max(newest, path.stat().st_mtime)
                except OSError:
                    continue
    return newest


class WarmRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run in a child forked from a warm process (see the module docstring)."""

    def __init__(self, inst_data: ConfigurableClassData | None = None) -> None:
        self._inst_data = inst_data
        self._lock = threading.Lock()
        self._worker: subprocess.Popen | None = None
        self._worker_code: float | None = None
        self._warming: threading.Thread | None = None
        self._failed_code: float | None = None  # the code the last warm-up failed on
        self._starting: subprocess.Popen | None = None  # a warm process not ready yet
        self._disposed = False
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        return cls(inst_data=inst_data)

    # -- launching -------------------------------------------------------------------------

    def _instance_ref(self) -> str:
        return serialize_value(self._instance.get_ref())

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        request = {"run_id": run.run_id, "instance_ref": self._instance_ref()}
        with self._lock:
            answer = self._ask_worker(request)
        pid = int(answer["pid"])
        try:
            started = psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:  # it already finished: nothing to watch
            started = 0.0
        self._instance.add_run_tags(
            run.run_id, {WORKER_PID_TAG: str(pid), WORKER_STARTED_TAG: f"{started:.3f}"}
        )
        self._instance.report_engine_event(
            f"Run forked from vidmine's warm run process (pid: {pid}).", run, cls=self.__class__
        )

    def _ask_worker(self, request: dict) -> dict:
        for attempt in (1, 2):
            worker = self._warm_worker()
            try:
                assert worker.stdin is not None and worker.stdout is not None
                worker.stdin.write(json.dumps(request) + "\n")
                worker.stdin.flush()
                line = worker.stdout.readline()
                if line:
                    return json.loads(line)
            except (BrokenPipeError, OSError, ValueError):
                pass
            self._stop_worker()
            if attempt == 2:
                raise RunLauncherError(
                    "vidmine's warm run process did not answer; see the daemon's output for "
                    "why (python -m local_runtime.run_worker)"
                )
        raise AssertionError("unreachable")

    def _warm_worker(self) -> subprocess.Popen:
        code = code_fingerprint()
        if self._worker is not None and (
            self._worker.poll() is not None or code != self._worker_code
        ):
            self._stop_worker()
        if self._worker is None:
            worker = subprocess.Popen(
                [sys.executable, "-m", "local_runtime.run_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            assert worker.stdin is not None and worker.stdout is not None
            self._starting = worker
            # The instance it opens once before forking (see local_runtime.run_worker).
            try:
                worker.stdin.write(json.dumps({"instance_ref": self._instance_ref()}) + "\n")
                worker.stdin.flush()
            except OSError:
                pass  # it died at start: the READY check below says so
            ready = worker.stdout.readline().strip() == READY
            self._starting = None
            if not ready:
                worker.kill()
                raise RunLauncherError(
                    "vidmine's warm run process (python -m local_runtime.run_worker) failed to "
                    "start; see the daemon's output for its error"
                )
            self._worker, self._worker_code = worker, code
        return self._worker

    def keep_warm(self) -> None:
        """Starts the warm process in the background when there is none, or when the one
        there runs older code; returns at once. A warm process that failed to start is
        not tried again until the code changes (the next launch still tries, and fails
        its run with the reason)."""
        if self._warming is not None and self._warming.is_alive():
            return
        worker, code = self._worker, code_fingerprint()
        if worker is not None and worker.poll() is None and self._worker_code == code:
            return
        if code == self._failed_code:
            return
        self._warming = threading.Thread(
            target=self._warm_up, args=(code,), name="vidmine-warm-up", daemon=True
        )
        self._warming.start()

    def _warm_up(self, code: float) -> None:
        try:
            with self._lock:
                self._warm_worker()
        except Exception:
            if self._disposed:
                return  # stopped on purpose by dispose
            self._failed_code = code
            logger.exception("vidmine's warm run process did not start")

    def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None and worker.poll() is None:
            # Closing stdin ends it; the runs it forked carry on.
            if worker.stdin is not None:
                worker.stdin.close()
            try:
                worker.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.kill()

    def dispose(self) -> None:
        self._disposed = True
        starting = self._starting
        if starting is not None and starting.poll() is None:
            # A warm process still importing (10 s and more on a loaded machine) has forked
            # nothing, and the warm-up holds the lock until it answers: a daemon stopping
            # (Ctrl-C on `make dev`) must not wait for it.
            starting.kill()
        with self._lock:
            self._stop_worker()

    # -- watching and stopping -------------------------------------------------------------

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        process = _worker_process(run)
        if process is None:
            pid = run.tags.get(WORKER_PID_TAG, "unknown")
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                f"the run's worker process (pid {pid}) is gone: it was killed or the machine "
                "restarted",
            )
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        # The worker watches for CANCELING and stops its steps itself.
        self._instance.report_run_canceling(run)
        return _worker_process(run) is not None


class WarmingRunCoordinator(QueuedRunCoordinator):
    """Dagster's run queue (QueuedRunCoordinator, same settings), whose daemon keeps the
    warm run process ready.

    The queue daemon reads the queue's limits on every pass, each
    ``dequeue_interval_seconds``. When that happens in the daemon's queue thread, and
    only there, the launcher is asked to keep its warm process ready (see
    :meth:`WarmRunLauncher.keep_warm`): the first run after the daemon starts, or after
    a code change, then launches at once instead of waiting for it. The UI and the CLI
    read the same limits and start nothing.
    """

    def get_run_queue_config(self) -> RunQueueConfig:
        if threading.current_thread().name == QUEUE_DAEMON_THREAD:
            launcher = self._instance.run_launcher
            if isinstance(launcher, WarmRunLauncher):
                launcher.keep_warm()
        return super().get_run_queue_config()


def _worker_process(run: DagsterRun) -> psutil.Process | None:
    """The run's worker process if it is still alive (the same process, not a reused pid)."""
    try:
        pid = int(run.tags[WORKER_PID_TAG])
        started = float(run.tags.get(WORKER_STARTED_TAG, "0"))
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        if started and abs(process.create_time() - started) > 1.0:
            return None
        return process
    except (KeyError, ValueError, psutil.Error):
        return None
