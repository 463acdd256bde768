"""Real Dagster processes for tests that need the whole machinery: ``dagster-daemon run``
(sensors ticking, the run queue dequeuing, runs launched in their own processes) and
``dagster code-server start`` (a code location served over gRPC, as in deployment).

A helper module, not a test file. Typical use::

    config = load_config(config_path)
    prepare_dagster_home(dagster_home, config)           # vidmine's generated dagster.yaml + pools
    workspace = write_workspace(tmp_path / "workspace.yaml")
    env = {"VIDMINE_HOME": ..., "DATABASE_URL": ..., "VIDMINE_CONFIG": ...}
    with running_daemon(dagster_home, workspace, env) as daemon, open_instance(dagster_home) as instance:
        ...                                               # drop files, launch runs
        runs = wait_for_runs(instance, 2, timeout_s=120, daemon=daemon)

Every process runs in its own process group, with its output in a log file; leaving the
context ends the group (SIGTERM, then SIGKILL after a grace period), so the code
servers and run workers the daemon started end with it. ``env`` is laid over this
process's environment; ``DAGSTER_HOME`` comes from the argument, the repository is put
on ``PYTHONPATH`` and ``HF_HUB_OFFLINE=1`` is set unless ``env`` says otherwise.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import dagster as dg
import psutil
import yaml
from dagster._core.instance.ref import InstanceRef

from local_runtime.instance import apply_pool_limits, write_instance_yaml
from vidmine.config import VidmineConfig

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CODE_LOCATION = "vidmine"
DEFINITIONS_MODULE = "pipeline_defs.definitions"
DEFAULT_DAEMONS = ("SENSOR", "QUEUED_RUN_COORDINATOR")
TERMINAL_STATUSES = frozenset(
    {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
)
IN_PROGRESS_STATUSES = frozenset(
    {dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING}
)
LOG_TAIL_CHARS = 6000

T = TypeVar("T")


class DagsterProcessError(RuntimeError):
    """A daemon or code server did not start, or died; the message holds its output's tail."""


# --- instance and workspace files ----------------------------------------------------------


def _deep_merge(base: dict, extra: Mapping) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def prepare_dagster_home(
    dagster_home: Path,
    config: VidmineConfig,
    *,
    dequeue_interval_s: int | None = 1,
    overrides: Mapping | None = None,
) -> Path:
    """Write vidmine's generated dagster.yaml into ``dagster_home`` and apply the pool limits.

    ``dequeue_interval_s`` (Dagster's default is 5 s) makes the queue react faster in
    tests; ``overrides`` is merged into the generated settings. Returns the yaml's path.
    """
    dagster_home.mkdir(parents=True, exist_ok=True)
    path = write_instance_yaml(dagster_home, config)
    extra: dict = dict(overrides or {})
    if dequeue_interval_s is not None:
        extra = _deep_merge(
            {"run_coordinator": {"config": {"dequeue_interval_seconds": dequeue_interval_s}}},
            extra,
        )
    if extra:
        text = path.read_text()
        header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
        settings = _deep_merge(yaml.safe_load(text), extra)
        path.write_text(header + yaml.safe_dump(settings, sort_keys=False))
    with open_instance(dagster_home) as instance:
        apply_pool_limits(instance, config)
    return path


def write_workspace(
    path: Path,
    *,
    module: str = DEFINITIONS_MODULE,
    location_name: str = CODE_LOCATION,
    working_directory: Path = REPO,
    grpc_port: int | None = None,
    grpc_host: str = "localhost",
) -> Path:
    """A workspace.yaml: the module loaded by Dagster itself, or (``grpc_port``) a code
    server that is already running."""
    if grpc_port is not None:
        entry = {
            "grpc_server": {"host": grpc_host, "port": grpc_port, "location_name": location_name}
        }
    else:
        entry = {
            "python_module": {
                "module_name": module,
                "location_name": location_name,
                "working_directory": str(working_directory),
            }
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"load_from": [entry]}, sort_keys=False))
    return path


@contextlib.contextmanager
def open_instance(dagster_home: Path) -> Iterator[dg.DagsterInstance]:
    """The instance in ``dagster_home`` as seen from the test process."""
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home)))
    try:
        yield instance
    finally:
        instance.dispose()


def process_env(dagster_home: Path | None, env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with ``env`` laid over it, for a Dagster subprocess."""
    merged = {**os.environ, "HF_HUB_OFFLINE": "1"}
    merged.pop("DAGSTER_HOME", None)
    merged.update(env)
    if dagster_home is not None:
        merged["DAGSTER_HOME"] = str(dagster_home)
    python_path = [str(REPO), *filter(None, merged.get("PYTHONPATH", "").split(os.pathsep))]
    merged["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(python_path))
    return merged


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- processes --------------------------------------------------------------------------------


@dataclass
class ManagedProcess:
    """A Dagster process this harness started, in its own process group."""

    name: str
    popen: subprocess.Popen
    log_path: Path
    started_at: float = field(default_factory=time.time)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        """Everything the process (and its children) wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        return self.output()[-chars:]

    def check_alive(self) -> None:
        if not self.alive():
            raise DagsterProcessError(
                f"{self.name} exited with code {self.popen.returncode}; the end of its output "
                f"({self.log_path}):\n{self.tail()}"
            )


@dataclass
class DaemonProcess(ManagedProcess):
    dagster_home: Path = Path()
    workspace_yaml: Path = Path()


def warm_run_processes(daemon: ManagedProcess) -> list[psutil.Process]:
    """The daemon's warm run processes (``python -m local_runtime.run_worker``)."""
    found = []
    try:
        for child in psutil.Process(daemon.pid).children(recursive=True):
            try:
                if "local_runtime.run_worker" in child.cmdline():
                    found.append(child)
            except psutil.Error:
                continue
    except psutil.Error:
        pass
    return found


@dataclass
class CodeServerProcess(ManagedProcess):
    host: str = "localhost"
    port: int = 0


def _start(command: list[str], env: Mapping[str, str], log_path: Path, cwd: Path):
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        # A new session: the whole tree (code servers, run workers) is one process group.
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process_tree(popen: subprocess.Popen, *, grace_s: float = 15.0) -> None:
    """End a process started by :func:`_start` and everything it started: SIGTERM to its
    process group, SIGKILL to what is left after ``grace_s``."""
    try:
        descendants = psutil.Process(popen.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signal.SIGTERM)
    try:
        popen.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=10)
    # Children that left the group, or outlived the leader: only those this tree started.
    _, alive = psutil.wait_procs(descendants, timeout=min(grace_s, 5.0))
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signal.SIGKILL)  # anything still in the group


def wait_for(
    check: Callable[[], T | None],
    *,
    timeout_s: float,
    what: str,
    poll_s: float = 0.5,
    process: ManagedProcess | None = None,
    describe: Callable[[], str] | None = None,
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` (and the
    state ``describe`` gives, and the process's output) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if process is not None:
            process.check_alive()
        if time.monotonic() >= deadline:
            detail = f"\n{describe()}" if describe else ""
            output = f"\n{process.name} output:\n{process.tail()}" if process else ""
            raise TimeoutError(f"no {what} within {timeout_s:g} s{detail}{output}")
        time.sleep(poll_s)


def _heartbeats_fresh(
    dagster_home: Path, daemon_types: Iterable[str], since: float
) -> Callable[[], bool]:
    def check() -> bool:
        with open_instance(dagster_home) as instance:
            beats = instance.get_daemon_heartbeats()
        return all(kind in beats and beats[kind].timestamp >= since - 1.0 for kind in daemon_types)

    return check


@contextlib.contextmanager
def running_daemon(
    dagster_home: Path,
    workspace_yaml: Path,
    env: Mapping[str, str],
    *,
    log_path: Path | None = None,
    ready_timeout_s: float = 120.0,
    daemon_types: Iterable[str] = DEFAULT_DAEMONS,
    stop_grace_s: float = 15.0,
) -> Iterator[DaemonProcess]:
    """``dagster-daemon run`` on ``dagster_home`` and ``workspace_yaml``; yields once the
    ``daemon_types`` have sent a heartbeat (the sensor daemon has loaded the code)."""
    log_path = log_path or dagster_home / "daemon.log"
    command = [
        str(BIN / "dagster-daemon"),
        "run",
        "-w",
        str(workspace_yaml),
        "--code-server-log-level",
        "info",
    ]
    popen = _start(command, process_env(dagster_home, env), log_path, REPO)
    daemon = DaemonProcess(
        name="dagster-daemon",
        popen=popen,
        log_path=log_path,
        dagster_home=dagster_home,
        workspace_yaml=workspace_yaml,
    )
    try:
        kinds = tuple(daemon_types)
        wait_for(
            _heartbeats_fresh(dagster_home, kinds, daemon.started_at),
            timeout_s=ready_timeout_s,
            what=f"heartbeat from the daemons {', '.join(kinds)}",
            poll_s=1.0,
            process=daemon,
        )
        yield daemon
    finally:
        stop_process_tree(popen, grace_s=stop_grace_s)


def _code_server_serving(host: str, port: int) -> Callable[[], bool]:
    from dagster._grpc.client import DagsterGrpcClient

    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1):
                pass
            return DagsterGrpcClient(port=port, host=host).health_check_query() == "SERVING"
        except Exception:  # not listening yet, or still loading the code
            return False

    return check


@contextlib.contextmanager
def running_code_server(
    module: str,
    port: int,
    env: Mapping[str, str],
    *,
    host: str = "localhost",
    location_name: str = CODE_LOCATION,
    working_directory: Path = REPO,
    dagster_home: Path | None = None,
    log_path: Path | None = None,
    ready_timeout_s: float = 120.0,
    stop_grace_s: float = 15.0,
) -> Iterator[CodeServerProcess]:
    """``dagster code-server start`` serving ``module`` on ``host:port``; yields once it
    answers health checks. Runs it launches get ``env`` (and ``DAGSTER_HOME`` if given).
    Its output goes to ``log_path``, by default beside ``dagster_home`` or in the temp folder."""
    if log_path is None:
        folder = dagster_home if dagster_home is not None else Path(tempfile.gettempdir())
        log_path = folder / f"code-server-{port}-{os.getpid()}.log"
    command = [
        str(BIN / "dagster"),
        "code-server",
        "start",
        "-h",
        host,
        "-p",
        str(port),
        "-m",
        module,
        "-d",
        str(working_directory),
        "--location-name",
        location_name,
    ]
    popen = _start(command, process_env(dagster_home, env), log_path, working_directory)
    server = CodeServerProcess(
        name=f"dagster code-server :{port}", popen=popen, log_path=log_path, host=host, port=port
    )
    try:
        wait_for(
            _code_server_serving(host, port),
            timeout_s=ready_timeout_s,
            what=f"code server answering on {host}:{port}",
            poll_s=0.5,
            process=server,
        )
        yield server
    finally:
        stop_process_tree(popen, grace_s=stop_grace_s)


# --- runs ---------------------------------------------------------------------------------------


def failure_summary(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """The failure messages in a run's event log, one line each."""
    lines = []
    for record in instance.all_logs(run.run_id):
        event = record.dagster_event
        if event is None or not (event.is_step_failure or event.is_run_failure):
            continue
        error = getattr(event.event_specific_data, "error", None)
        detail = f": {error.message.strip()}" if error is not None else ""
        lines.append(f"  {event.step_key or 'run'}: {record.message}{detail}")
    return "\n".join(lines) or "  (no failure events)"


def describe_runs(instance: dg.DagsterInstance, runs: Iterable[dg.DagsterRun] | None = None) -> str:
    runs = list(runs if runs is not None else instance.get_runs())
    lines = [f"{len(runs)} run(s):"]
    for run in runs:
        partition = run.tags.get("dagster/partition", "-")
        lines.append(f"  {run.run_id[:8]} {run.job_name} {partition} {run.status.value}")
        if run.status == dg.DagsterRunStatus.FAILURE:
            lines.append(failure_summary(instance, run))
    return "\n".join(lines)


def wait_for_runs(
    instance: dg.DagsterInstance,
    n: int,
    statuses: Iterable[dg.DagsterRunStatus] = (dg.DagsterRunStatus.SUCCESS,),
    timeout_s: float = 180.0,
    *,
    filters: dg.RunsFilter | None = None,
    daemon: ManagedProcess | None = None,
    fail_fast: bool = True,
    poll_s: float = 0.5,
) -> list[dg.DagsterRun]:
    """Wait until at least ``n`` runs (matching ``filters``) have one of ``statuses``.

    With ``fail_fast``, a run that ended in a terminal status not asked for fails the
    wait at once, with its failure events; a dead daemon fails it too.
    """
    wanted = frozenset(statuses)

    def check() -> list[dg.DagsterRun] | None:
        runs = instance.get_runs(filters=filters)
        if fail_fast:
            wrong = [r for r in runs if r.status in TERMINAL_STATUSES - wanted]
            if wrong:
                raise AssertionError(
                    f"a run ended {wrong[0].status.value} while waiting for "
                    f"{sorted(s.value for s in wanted)}:\n{describe_runs(instance, runs)}"
                )
        done = [r for r in runs if r.status in wanted]
        return done if len(done) >= n else None

    return wait_for(
        check,
        timeout_s=timeout_s,
        what=f"{n} run(s) in {sorted(s.value for s in wanted)}",
        poll_s=poll_s,
        process=daemon,
        describe=lambda: describe_runs(instance, instance.get_runs(filters=filters)),
    )
