"""The production topology without containers (issue 5): Dagster's storage in its own
PostgreSQL database through dagster-postgres (deploy/dagster.postgres-local.yaml), the
user code served over gRPC by the user-code service's own command from
deploy/docker-compose.yml (``vidmine limits apply`` first, then ``dagster code-server
start``), a gRPC workspace, and ``dagster-daemon run``; runs are subprocesses of the code
server (DefaultRunLauncher) instead of containers.

What holds, and is checked here:

- pool limits are in Postgres before the daemon starts;
- a file dropped into ``uploads/`` and a run launched with ``dagster job launch`` both
  end ``ready``, with their runs and events in Dagster's Postgres tables;
- a run keeps going and succeeds while the daemon and the code server's proxy process
  (`dagster code-server start`) are dead;
- a run worker killed mid-run is marked failed by its code server, retried by the
  daemon (run_retries), and the retry completes the video with exactly the rows of an
  uninterrupted run; the killed step's pool slot is given back;
- a run killed together with its code server is invisible to run monitoring (the
  default launcher has no worker health check): it stays STARTED until
  ``dagster/max_runtime_seconds`` fails it, and then the retry completes it the same way.

Every video here has the same picture stream under a faint tone of its own, so all of
them must end with the same row counts, while each one's transcription still reaches the
fake OpenAI server (whose latency holds a run in the middle of a stage for the kills).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import typer
import yaml
from dagster._grpc.client import DagsterGrpcClient
from dagster_daemon import (
    BIN,
    REPO,
    CodeServerProcess,
    DaemonProcess,
    free_port,
    open_instance,
    process_env,
    running_daemon,
    stop_process_tree,
    wait_for,
    write_workspace,
)
from db_helpers import row_counts
from fake_openai import FakeOpenAI, running_fake_openai
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from local_runtime.cli import app
from vidmine.db.connection import with_database
from vidmine.db.store import Store
from vidmine.registration import register_upload
from vidmine.samples import SampleScene, make_sample_video
from vidmine.settings import VidmineHome

DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
POSTGRES_LOCAL_YAML = DEPLOY / "dagster.postgres-local.yaml"
INSTANCE_YAMLS = (DEPLOY / "dagster.yaml", POSTGRES_LOCAL_YAML, DEPLOY / "dagster.local.yaml")

FAKE_MAX_CONCURRENT = 2
# Stage pools: the fake server serves transcribe, vision and embed; generate stays local.
EXPECTED_POOLS = {
    "vidmine_transcribe": FAKE_MAX_CONCURRENT,
    "vidmine_vision": FAKE_MAX_CONCURRENT,
    "vidmine_embed": FAKE_MAX_CONCURRENT,
    "vidmine_generate": 2,
}
# Long enough that a kill always lands while the transcription request is in flight;
# the provider timeout is longer still, so the request itself never fails.
SLOW_LATENCY_MS = 20_000
PROVIDER_TIMEOUT_S = 60
MONITOR_POLL_S = 2
MAX_RUNTIME_S = 30
DAEMONS = ("SENSOR", "QUEUED_RUN_COORDINATOR", "MONITORING")
PARENT_RUN_TAG = "dagster/parent_run_id"


# --- the user-code service's command ----------------------------------------------------------


def user_code_command() -> list[str]:
    return yaml.safe_load(COMPOSE.read_text())["services"]["user-code"]["command"]


def image_cmd() -> list[str]:
    """The CMD of Dockerfile.user-code (JSON form, possibly continued over lines)."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile.user-code").read_text())
    lines = [line for line in text.splitlines() if line.startswith("CMD ")]
    assert len(lines) == 1, "Dockerfile.user-code: expected one CMD"
    return json.loads(lines[0][len("CMD ") :])


def local_user_code_script(port: int) -> str:
    """The compose command's shell script, listening on ``localhost:port`` instead of
    ``0.0.0.0:4000`` inside the container."""
    script = user_code_command()[2]
    for container, local in (("-h 0.0.0.0", "-h localhost"), ("-p 4000", f"-p {port}")):
        assert script.count(container) == 1, (
            f"{COMPOSE.name}: user-code command lacks {container!r}"
        )
        script = script.replace(container, local)
    return script


def test_user_code_service_applies_pool_limits_then_serves_the_image_cmd() -> None:
    command = user_code_command()
    assert command[:2] == ["sh", "-c"] and len(command) == 3, command
    first, _, rest = command[2].partition("&&")
    # `&&`: a failing `limits apply` (bad vidmine.yaml, no database) stops the service
    # with its message instead of serving code whose pools have no limits.
    assert shlex.split(first) == ["vidmine", "limits", "apply"]
    argv = shlex.split(rest)
    assert argv[0] == "exec", "exec the code server so tini signals it directly"
    assert argv[1:] == image_cmd(), "the code server must start exactly as the image's CMD"
    group = typer.main.get_command(app)
    with group.make_context("vidmine", ["limits", "apply"]) as ctx:
        limits = group.get_command(ctx, "limits")
        assert limits is not None and limits.get_command(ctx, "apply") is not None


@pytest.mark.parametrize("path", INSTANCE_YAMLS, ids=lambda p: p.name)
def test_instance_configs_release_pool_slots_of_crashed_runs(path: Path) -> None:
    # Without it a step killed with its run keeps its pool slot for good (seen below).
    monitoring = yaml.safe_load(path.read_text())["run_monitoring"]
    assert monitoring["enabled"] and monitoring["free_slots_after_run_end_seconds"] > 0


def test_postgres_local_instance_bounds_runs_that_died_with_their_code_server() -> None:
    # The default launcher has no worker health check: the maximum runtime is the only
    # thing that ends such a run (see the last test).
    monitoring = yaml.safe_load(POSTGRES_LOCAL_YAML.read_text())["run_monitoring"]
    assert monitoring["max_runtime_seconds"] > 0


# --- the topology ------------------------------------------------------------------------------


def _create_database(pg_url: str, name: str, template: str | None = None) -> None:
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(statement)


def _drop_database(pg_url: str, name: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def postgres_env(pg_url: str, dbname: str) -> tuple[dict[str, str], dict[str, str]]:
    """DAGSTER_POSTGRES_* for ``dbname`` on the server of ``pg_url``, and the
    ``postgres_db.params`` a unix-socket server needs (dagster-postgres puts the host into
    a URL, where a socket path cannot go)."""
    info = conninfo_to_dict(pg_url)
    host = str(info.get("host") or "")
    params = {"host": host} if host.startswith("/") else {}
    env = {
        "DAGSTER_POSTGRES_USER": str(info.get("user") or "postgres"),
        "DAGSTER_POSTGRES_PASSWORD": str(info.get("password") or ""),
        "DAGSTER_POSTGRES_HOST": "" if params else host,
        "DAGSTER_POSTGRES_PORT": str(info.get("port") or 5432),
        "DAGSTER_POSTGRES_DB": dbname,
    }
    return env, params


def write_instance_yaml(dagster_home: Path, socket_params: dict[str, str]) -> None:
    """deploy/dagster.postgres-local.yaml with run monitoring sped up for the test."""
    config = yaml.safe_load(POSTGRES_LOCAL_YAML.read_text())
    if socket_params:
        config["storage"]["postgres"]["postgres_db"]["params"] = socket_params
    config["run_monitoring"].update(
        poll_interval_seconds=MONITOR_POLL_S,
        start_timeout_seconds=90,
        cancel_timeout_seconds=20,
        free_slots_after_run_end_seconds=1,
    )
    config["run_coordinator"]["config"]["dequeue_interval_seconds"] = 1
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def write_vidmine_config(path: Path, fake: FakeOpenAI) -> None:
    """Transcription, captions and embeddings from the fake server (fast, and each video's
    transcription is a request whose latency the test controls); content stays local."""
    fake_stage = {"provider": "fake"}
    path.write_text(
        yaml.safe_dump(
            {
                "providers": {
                    "fake": {
                        "base_url": fake.base_url,
                        "max_concurrent": FAKE_MAX_CONCURRENT,
                        "timeout_s": PROVIDER_TIMEOUT_S,
                        "max_retries": 0,
                    }
                },
                "stages": {
                    "transcribe": {**fake_stage, "model": "whisper-1"},
                    "vision": {**fake_stage, "model": "gpt-4o"},
                    "embed": {**fake_stage, "model": "text-embedding-3-small"},
                },
            }
        )
    )


def make_variant(base: Path, out: Path, tone_hz: int) -> Path:
    """``base``'s picture stream, copied unchanged (same scenes, keyframes and text on
    screen), under a faint tone of its own: a new file, and new audio for the provider."""
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    tone = f"aevalsrc=0.01*sin(2*PI*{tone_hz}*t):s=44100:c=mono"
    command = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-i", str(base), "-f", "lavfi", "-i", tone,
        "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest",
        str(tmp),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return tmp.replace(out)


@contextmanager
def running_user_code_service(
    port: int, dagster_home: Path, env: dict[str, str], log_path: Path
) -> Iterator[CodeServerProcess]:
    """The user-code service's command from docker-compose.yml, on ``localhost:port``;
    yields once the code server answers (so the pool limits were applied before)."""
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            ["sh", "-c", local_user_code_script(port)],
            cwd=REPO,
            env=process_env(dagster_home, env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: proxy, code server and its runs
        )
    server = CodeServerProcess(
        name=f"user-code service :{port}", popen=popen, log_path=log_path, port=port
    )

    def serving() -> bool:
        try:
            # A plain connect first: gRPC prints every refused attempt.
            with socket.create_connection(("localhost", port), timeout=1):
                pass
            return DagsterGrpcClient(port=port, host="localhost").health_check_query() == "SERVING"
        except Exception:  # not listening yet, or still loading the code
            return False

    try:
        wait_for(serving, timeout_s=120, what=f"code server on :{port}", process=server)
        yield server
    finally:
        stop_process_tree(popen, grace_s=10)


@dataclass
class Topology:
    dagster_home: Path
    workspace: Path
    env: dict[str, str]
    port: int
    dagster_url: str
    store: Store
    home: VidmineHome
    fake: FakeOpenAI
    base_video: Path
    logs: Path
    stack: ExitStack
    pools_before_daemon: dict[str, int] = field(default_factory=dict)
    daemon: DaemonProcess | None = None
    code_server: CodeServerProcess | None = None
    starts: int = 0

    # processes

    def start_code_server(self) -> CodeServerProcess:
        self.starts += 1
        log = self.logs / f"user-code-{self.starts}.log"
        self.code_server = self.stack.enter_context(
            running_user_code_service(self.port, self.dagster_home, self.env, log)
        )
        return self.code_server

    def start_daemon(self) -> DaemonProcess:
        self.starts += 1
        self.daemon = self.stack.enter_context(
            running_daemon(
                self.dagster_home,
                self.workspace,
                self.env,
                log_path=self.logs / f"daemon-{self.starts}.log",
                daemon_types=DAEMONS,
            )
        )
        return self.daemon

    @staticmethod
    def kill_group(process: CodeServerProcess | DaemonProcess) -> None:
        """SIGKILL to the whole process group: a crash, nothing gets to clean up."""
        os.killpg(process.pid, signal.SIGKILL)
        process.popen.wait(timeout=10)

    def logs_text(self) -> str:
        parts = [self.daemon, self.code_server]
        return "\n".join(f"--- {p.name}:\n{p.tail(3000)}" for p in parts if p is not None)

    # Dagster's tables

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.dagster_url) as conn:
            return conn.execute(statement, params).fetchall()

    def run_status(self, run_id: str) -> str | None:
        rows = self.query("SELECT status FROM runs WHERE run_id = %s", (run_id,))
        return rows[0][0] if rows else None

    def runs_of(self, video_id: str) -> list[tuple[str, str]]:
        return self.query(
            "SELECT r.run_id, r.status FROM runs r JOIN run_tags t ON t.run_id = r.run_id"
            " WHERE t.key = 'dagster/partition' AND t.value = %s ORDER BY r.id",
            (video_id,),
        )

    def retries_of(self, run_id: str) -> list[tuple[str, str]]:
        return self.query(
            "SELECT r.run_id, r.status FROM runs r JOIN run_tags t ON t.run_id = r.run_id"
            " WHERE t.key = %s AND t.value = %s ORDER BY r.id",
            (PARENT_RUN_TAG, run_id),
        )

    def event_counts(self, run_id: str) -> dict[str, int]:
        rows = self.query(
            "SELECT dagster_event_type, count(*) FROM event_logs"
            " WHERE run_id = %s AND dagster_event_type IS NOT NULL GROUP BY 1",
            (run_id,),
        )
        return {kind: count for kind, count in rows}

    def events_text(self, run_id: str, kinds: tuple[str, ...]) -> str:
        rows = self.query(
            "SELECT event FROM event_logs WHERE run_id = %s AND dagster_event_type = ANY(%s)",
            (run_id, list(kinds)),
        )
        return "\n".join(row[0] for row in rows)

    def slots_held_by(self, run_id: str) -> int:
        return self.query("SELECT count(*) FROM concurrency_slots WHERE run_id = %s", (run_id,))[0][
            0
        ]

    def sensor_ticks(self) -> int:
        return self.query("SELECT count(*) FROM job_ticks")[0][0]

    def pool_limits(self) -> dict[str, int]:
        return dict(self.query('SELECT concurrency_key, "limit" FROM concurrency_limits'))

    # videos and runs

    def variant(self, name: str, tone_hz: int, folder: Path) -> Path:
        return make_variant(self.base_video, folder / f"{name}.mp4", tone_hz)

    def register(self, name: str, tone_hz: int) -> str:
        """A new video registered the way `vidmine ingest` does, with its partition."""
        path = self.variant(name, tone_hz, self.home.root / "incoming")
        video_id = register_upload(self.store, path, "standard_audio_visual").video_id
        assert video_id is not None, f"{path} was rejected"
        with open_instance(self.dagster_home) as instance:
            instance.add_dynamic_partitions("videos", [video_id])
        return video_id

    def launch(self, video_id: str, tags: dict[str, str] | None = None) -> str:
        """`dagster job launch` through the workspace, in process; returns the run id."""
        run_id = str(uuid.uuid4())
        command = [
            str(BIN / "dagster"), "job", "launch",
            "-w", str(self.workspace),
            "-j", "process_video",
            "--run-id", run_id,
            "--tags", json.dumps({"dagster/partition": video_id, **(tags or {})}),
        ]  # fmt: skip
        done = subprocess.run(
            command,
            env=process_env(self.dagster_home, self.env),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"dagster job launch failed:\n{done.stdout}\n{done.stderr}"
        return run_id

    def wait(self, check: Callable[[], Any], timeout_s: float, what: str) -> Any:
        return wait_for(check, timeout_s=timeout_s, what=what, poll_s=0.25, describe=self.logs_text)

    def wait_run(self, run_id: str, status: str, timeout_s: float) -> None:
        self.wait(
            lambda: self.run_status(run_id) == status,
            timeout_s,
            f"run {run_id} in {status} (it is {self.run_status(run_id)})",
        )

    def wait_stage_running(self, video_id: str, stage: str, timeout_s: float = 60) -> None:
        def running() -> bool:
            state = self.store.stage_states(video_id).get(stage)
            return state is not None and state.status == "running"

        self.wait(running, timeout_s, f"{stage} running for {video_id}")

    def wait_ready(self, video_id: str, timeout_s: float) -> None:
        def status() -> str | None:
            video = self.store.get_video(video_id)
            return video.status if video else None

        self.wait(lambda: status() == "ready", timeout_s, f"{video_id} ready (is {status()})")

    def wait_retry_success(self, run_id: str, timeout_s: float) -> str:
        def succeeded() -> str | None:
            done = [rid for rid, status in self.retries_of(run_id) if status == "SUCCESS"]
            return done[0] if done else None

        return self.wait(succeeded, timeout_s, f"a successful retry of {run_id}")

    def search_items_unique(self, video_id: str) -> bool:
        with self.store.connection() as conn:
            total, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT (kind, source_id, start_s, end_s, text))"
                " FROM search_items WHERE video_id = %s",
                (video_id,),
            ).fetchone()
        return total == distinct and total > 0

    def monitoring_checks(self, run_id: str, since_chars: int) -> int:
        assert self.daemon is not None
        return self.daemon.output()[since_chars:].count(f"Checking run {run_id}")


def run_worker_of(code_server: CodeServerProcess) -> psutil.Process:
    """The one run worker the code server runs now: the multiprocessing child of the
    gRPC server the `code-server start` proxy spawned."""
    workers = []
    for proc in psutil.Process(code_server.pid).children(recursive=True):
        try:
            parent = proc.parent()
            spawned = "spawn_main" in " ".join(proc.cmdline())
            if spawned and parent is not None and "grpc" in " ".join(parent.cmdline()):
                workers.append(proc)
        except psutil.Error:  # ended meanwhile (e.g. an ffmpeg the run started)
            continue
    assert len(workers) == 1, f"expected one run worker, found {workers}"
    return workers[0]


def kill_tree(proc: psutil.Process) -> None:
    """SIGKILL to a run worker and everything it started, as a run container dies."""
    victims = [proc, *proc.children(recursive=True)]
    for victim in victims:
        with suppress(psutil.NoSuchProcess):
            victim.kill()
    psutil.wait_procs(victims, timeout=10)


@pytest.fixture(scope="module")
def topology(pg_url: str, migrated_template: str, tmp_path_factory) -> Iterator[Topology]:
    root = tmp_path_factory.mktemp("topology")
    suffix = uuid.uuid4().hex[:10]
    dagster_db, vidmine_db = f"dagster_{suffix}", f"vidmine_topology_{suffix}"
    _create_database(pg_url, dagster_db)
    _create_database(pg_url, vidmine_db, migrated_template)
    pg_env, socket_params = postgres_env(pg_url, dagster_db)
    home = VidmineHome(root / "vidmine").ensure()
    (home.root / "incoming").mkdir()
    dagster_home = root / "dagster_home"
    write_instance_yaml(dagster_home, socket_params)
    port = free_port()
    workspace = write_workspace(root / "workspace.yaml", grpc_port=port)
    base_video = make_sample_video(
        root / "base.mp4",
        (SampleScene("navy", "HELLO", "", 1.0), SampleScene("maroon", "WORLD", "", 1.0)),
        size="320x240",
    )
    try:
        with (
            pytest.MonkeyPatch.context() as mp,
            running_fake_openai() as fake,
            ExitStack() as stack,
        ):
            for name, value in pg_env.items():  # for the instance opened in this process
                mp.setenv(name, value)
            write_vidmine_config(home.root / "vidmine.yaml", fake)
            env = {
                **pg_env,
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                "DATABASE_URL": with_database(pg_url, vidmine_db),
                "VIDMINE_HOME": str(home.root),
                "VIDMINE_CONFIG": str(home.root / "vidmine.yaml"),
                "PYTHONUNBUFFERED": "1",
            }
            topology = Topology(
                dagster_home=dagster_home,
                workspace=workspace,
                env=env,
                port=port,
                dagster_url=with_database(pg_url, dagster_db),
                store=Store(env["DATABASE_URL"]),
                home=home,
                fake=fake,
                base_video=base_video,
                logs=root / "logs",
                stack=stack,
            )
            topology.logs.mkdir()
            topology.start_code_server()
            topology.pools_before_daemon = topology.pool_limits()
            topology.start_daemon()
            yield topology
    finally:
        _drop_database(pg_url, vidmine_db)
        _drop_database(pg_url, dagster_db)


@dataclass(frozen=True)
class CleanVideo:
    video_id: str
    run_id: str
    seconds_to_ready: float
    counts: dict[str, int]


@pytest.fixture(scope="module")
def clean_video(topology: Topology) -> CleanVideo:
    """A file dropped into uploads/ and processed by the sensor's run, untouched: the
    production path (multiprocess executor), and the row counts every other video must
    end with."""
    source = topology.variant("dropped", 440, topology.home.root / "incoming")
    started = time.monotonic()
    target = topology.home.uploads / source.name
    source.replace(target)

    def registered() -> str | None:
        videos = [v for v in topology.store.list_videos() if v.file_name == target.name]
        return videos[0].video_id if videos else None

    video_id = topology.wait(registered, 60, "the sensor registering the dropped file")
    topology.wait_ready(video_id, 150)
    seconds = time.monotonic() - started
    runs = topology.runs_of(video_id)
    assert len(runs) == 1, runs
    topology.wait_run(runs[0][0], "SUCCESS", 30)
    return CleanVideo(video_id, runs[0][0], seconds, row_counts(topology.store, video_id))


def assert_complete_without_duplicates(topology: Topology, video_id: str, clean: CleanVideo):
    topology.wait_ready(video_id, 30)
    assert row_counts(topology.store, video_id) == clean.counts
    assert topology.search_items_unique(video_id)


# --- the tests -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_pool_limits_are_in_postgres_before_the_daemon_starts(topology: Topology) -> None:
    assert topology.pools_before_daemon == EXPECTED_POOLS
    with open_instance(topology.dagster_home) as instance:
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        for pool, limit in EXPECTED_POOLS.items():
            info = instance.event_log_storage.get_concurrency_info(pool)
            assert info.slot_count == limit, pool
    assert "vidmine_transcribe: 2" in topology.code_server.output()


@pytest.mark.slow
def test_dropped_file_is_processed_and_recorded_in_postgres(
    topology: Topology, clean_video: CleanVideo
) -> None:
    run_id = clean_video.run_id
    tags = dict(topology.query("SELECT key, value FROM run_tags WHERE run_id = %s", (run_id,)))
    assert tags["dagster/sensor_name"] == "upload_folder_sensor"
    assert tags["dagster/partition"] == clean_video.video_id
    assert tags[".dagster/grpc_info"] == json.dumps({"host": "localhost", "port": topology.port})
    events = topology.event_counts(run_id)
    assert events["PIPELINE_SUCCESS"] == 1 and "STEP_FAILURE" not in events
    # The jobs' in-process executor: every step in the run worker, none in a process of
    # its own (the run worker is the whole run, as a run container is in production).
    assert events["STEP_SUCCESS"] == events["STEP_START"] >= 9
    assert "STEP_WORKER_STARTED" not in events
    assert events["ASSET_MATERIALIZATION"] >= events["STEP_SUCCESS"]
    assert clean_video.counts["scenes"] == 2 and clean_video.counts["search_items"] > 0
    assert topology.search_items_unique(clean_video.video_id)
    total_events = topology.query("SELECT count(*) FROM event_logs WHERE run_id = %s", (run_id,))
    print(  # the figures for the report (pytest -s)
        f"\nsensor video ready {clean_video.seconds_to_ready:.1f} s after the drop;"
        f" run events in Postgres: {total_events[0][0]} ({events})"
    )


@pytest.mark.slow
def test_run_finishes_while_the_daemon_and_the_code_server_proxy_are_dead(
    topology: Topology, clean_video: CleanVideo
) -> None:
    video_id = topology.register("daemon-killed", 523)
    topology.fake.configure(latency_ms=3000)
    try:
        run_id = topology.launch(video_id)
        topology.wait_stage_running(video_id, "transcript")
        assert topology.run_status(run_id) == "STARTED"
        topology.kill_group(topology.daemon)
        # Only `dagster code-server start` itself: its gRPC server, which runs the run
        # worker, lives on until its runs end (then its heartbeat times out).
        proxy = topology.code_server
        assert "code-server" in " ".join(psutil.Process(proxy.pid).cmdline())
        proxy.popen.send_signal(signal.SIGKILL)
        proxy.popen.wait(timeout=10)
    finally:
        topology.fake.configure(latency_ms=0)
    # The run worker writes its events to Postgres itself; it needs neither process.
    topology.wait_run(run_id, "SUCCESS", 60)
    assert_complete_without_duplicates(topology, video_id, clean_video)

    ticks_before = topology.sensor_ticks()
    topology.start_code_server()
    topology.start_daemon()
    topology.wait(lambda: topology.sensor_ticks() > ticks_before, 30, "a sensor tick")
    # The restarted daemon resumes from the cursor in Postgres: nothing is launched again.
    assert topology.runs_of(video_id) == [(run_id, "SUCCESS")]
    assert topology.runs_of(clean_video.video_id) == [(clean_video.run_id, "SUCCESS")]


@pytest.mark.slow
def test_killed_run_worker_is_failed_and_its_retry_adds_no_duplicates(
    topology: Topology, clean_video: CleanVideo
) -> None:
    video_id = topology.register("worker-killed", 587)
    topology.fake.configure(latency_ms=SLOW_LATENCY_MS)
    try:
        run_id = topology.launch(video_id)
        topology.wait_stage_running(video_id, "transcript")
        done_before_kill = {
            s for s, st in topology.store.stage_states(video_id).items() if st.status == "succeeded"
        }
        worker = run_worker_of(topology.code_server)
        killed_at = time.monotonic()
        kill_tree(worker)
    finally:
        topology.fake.configure(latency_ms=0)

    # The code server watches the processes it started and fails the run at once.
    topology.wait_run(run_id, "FAILURE", 30)
    failed_after = time.monotonic() - killed_at
    assert "terminated by signal 9 (SIGKILL)" in topology.events_text(run_id, ("ENGINE_EVENT",))
    # run_retries re-executes from the failure: the finished stages are not run again.
    retry_id = topology.wait_retry_success(run_id, 90)
    assert {"source_video", "audio_wav", "scenes"} <= done_before_kill
    retried = topology.query(
        "SELECT DISTINCT step_key FROM event_logs WHERE run_id = %s AND dagster_event_type = 'STEP_START'",
        (retry_id,),
    )
    assert {"source_video", "decode_source"}.isdisjoint({row[0] for row in retried})
    assert_complete_without_duplicates(topology, video_id, clean_video)
    # The transcript step died holding a vidmine_transcribe slot; free_slots_after_run_end_seconds
    # gives it back (without it the pool would be one slot short for good).
    topology.wait(lambda: topology.slots_held_by(run_id) == 0, 30, "the killed run's slot freed")
    print(
        f"\nrun worker killed: run failed after {failed_after:.1f} s, video ready"
        f" {time.monotonic() - killed_at:.1f} s after the kill"
    )


@pytest.mark.slow
def test_run_killed_with_its_code_server_stays_started_until_max_runtime_then_retries(
    topology: Topology, clean_video: CleanVideo
) -> None:
    video_id = topology.register("code-server-killed", 659)
    topology.fake.configure(latency_ms=SLOW_LATENCY_MS)
    try:
        run_id = topology.launch(video_id, {"dagster/max_runtime_seconds": str(MAX_RUNTIME_S)})
        topology.wait_stage_running(video_id, "transcript")
        log_mark = len(topology.daemon.output())
        killed_at = time.monotonic()
        topology.kill_group(topology.code_server)  # proxy, gRPC server and run worker
    finally:
        topology.fake.configure(latency_ms=0)
    started_at = topology.query("SELECT start_time FROM runs WHERE run_id = %s", (run_id,))[0][0]
    topology.start_code_server()  # as compose restarts the service: limits, then code

    # Run monitoring looks at the run but the default launcher cannot say that its worker
    # is gone: until the maximum runtime the run stays STARTED.
    topology.wait(lambda: topology.monitoring_checks(run_id, log_mark) >= 2, 30, "monitoring")
    if time.time() - started_at < MAX_RUNTIME_S - 1:
        assert topology.run_status(run_id) == "STARTED"
    topology.wait_run(run_id, "FAILURE", MAX_RUNTIME_S + 30)
    failed_after = time.monotonic() - killed_at
    checks = topology.monitoring_checks(run_id, log_mark)
    ending = topology.events_text(run_id, ("PIPELINE_CANCELING", "PIPELINE_FAILURE"))
    assert "maximum runtime" in ending
    topology.wait_retry_success(run_id, 90)
    assert_complete_without_duplicates(topology, video_id, clean_video)
    topology.wait(lambda: topology.slots_held_by(run_id) == 0, 30, "the killed run's slot freed")
    statuses = topology.query("SELECT status, count(*) FROM runs GROUP BY 1 ORDER BY 1")
    events = topology.query("SELECT count(*) FROM event_logs")[0][0]
    print(
        f"\ncode server killed with its run: {checks} monitoring checks left it STARTED;"
        f" failed by max runtime {failed_after:.1f} s after the kill; video ready"
        f" {time.monotonic() - killed_at:.1f} s after the kill."
        f"\nDagster's Postgres now: runs {dict(statuses)}, {events} event_logs rows"
    )
