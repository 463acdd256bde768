"""Proves deploy/ on a real Docker engine: builds the images, starts PostgreSQL, the user
code server, the Dagster daemon and webserver with docker-compose (docker-compose.yml plus
docker-compose.host-network.yml), migrates Dagster's schema once, drops video files into
the upload folder the sensor watches, waits until each is ready, failed or rejected, prints
one JSON summary and tears everything down (containers, network, volumes; images stay).

Run it as ``deploy/smoke.sh [FILE...]`` (the wrapper installs what is missing when root).
With no engine reachable it starts its own dockerd (root only) and stops it by its pid.
``--drill`` kills a run container mid-run and restarts the daemon container;
``--second-engine`` starts the run containers on a second dockerd in its own network
namespace, reached over TCP. Exit 0 only when every readable video is ready, every bad
file is rejected with a reason, and the drill's checks hold.

This script only orchestrates: it reads Dagster's records through the user code
container, and must not change anything a run does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
COMPOSE_FILES = [DEPLOY / "docker-compose.yml", DEPLOY / "docker-compose.host-network.yml"]
PROJECT = "vidmine-smoke"
LOCAL_BASE_IMAGE = "vidmine-python:3.11-bookworm"
REGISTRY_BASE_IMAGE = "python:3.11-slim-bookworm"
USER_CODE_IMAGE = "vidmine-user-code:latest"
VIDMINE_UID = 10001
RUN_LABEL = "dagster/run_id"
PORTS = {"postgres": 5432, "code server": 4000, "webserver": 3000}
# A private /30 for the second engine's veth pair: host side .1, namespace side .2.
SECOND_ENGINE_NET = os.environ.get("VIDMINE_SMOKE_SECOND_NET", "10.213.57")


def log(message: str) -> None:
    print(f"[smoke {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, check: bool = True, capture: bool = False, env=None, **kw):
    done = subprocess.run(cmd, check=False, text=True, capture_output=capture, env=env, **kw)
    if check and done.returncode != 0:
        detail = (done.stderr or "")[-3000:] if capture else ""
        raise SmokeError(f"{' '.join(map(str, cmd[:6]))} ... exited {done.returncode}\n{detail}")
    return done


class SmokeError(RuntimeError):
    """A step of the smoke run failed; the message says which and why."""


# --- Docker engines ----------------------------------------------------------------------


@dataclass
class Engine:
    """A Docker engine: one we found, or one we started (then ``proc`` is its dockerd)."""

    host: str  # DOCKER_HOST value
    proc: subprocess.Popen | None = None
    pidfile: Path | None = None
    netns: str | None = None
    run_dir: Path | None = None

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}

    def docker(self, *args: str, check: bool = True, capture: bool = True):
        return run(["docker", *args], check=check, capture=capture, env=self.env())

    def alive(self) -> bool:
        return (
            self.docker("version", "--format", "{{.Server.Version}}", check=False).returncode == 0
        )

    def stop(self) -> None:
        """Stops a dockerd we started, by its pid, and waits for it; then removes its
        exec root (sockets, the netns mount it leaves behind)."""
        if self.proc is None:
            return
        pid = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # its own process group: dockerd + containerd
            self.proc.wait(timeout=30)
        log(f"stopped dockerd pid {pid}")
        if self.run_dir is not None:
            netns_mount = self.run_dir / "exec" / "netns" / "default"
            if netns_mount.exists():
                run(["umount", str(netns_mount)], check=False, capture=True)
            shutil.rmtree(self.run_dir, ignore_errors=True)


def start_dockerd(
    state: Path, name: str, *, netns: str | None = None, tcp: str | None = None
) -> Engine:
    """dockerd with its own data root, exec root, socket and pidfile, in its own process
    group (and network namespace), without iptables or a default bridge."""
    root = state / name
    # exec-root holds unix sockets: keep its path short.
    run_dir = Path(
        tempfile.mkdtemp(prefix=f"vm-{name}-", dir="/run" if os.access("/run", os.W_OK) else None)
    )
    (root / "data").mkdir(parents=True, exist_ok=True)
    sock = run_dir / "docker.sock"
    pidfile = run_dir / "docker.pid"
    cmd = [
        "dockerd",
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        f"--data-root={root / 'data'}",
        f"--exec-root={run_dir / 'exec'}",
        f"--pidfile={pidfile}",
        "-H",
        f"unix://{sock}",
    ]
    if tcp:
        # Plain TCP on a private veth inside this machine; a real remote engine uses TLS.
        cmd += ["-H", f"tcp://{tcp}"]
    if netns:
        # nsenter enters the network namespace only: `ip netns exec` also remounts /sys,
        # which hides the cgroup mounts dockerd needs ("Devices cgroup isn't mounted").
        cmd = ["nsenter", f"--net=/run/netns/{netns}", *cmd]
    logfile = (root / "dockerd.log").open("w")
    proc = subprocess.Popen(
        cmd,
        stdout=logfile,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    engine = Engine(host=f"unix://{sock}", proc=proc, pidfile=pidfile, netns=netns, run_dir=run_dir)
    deadline = time.monotonic() + 60
    while not engine.alive():
        if proc.poll() is not None or time.monotonic() > deadline:
            engine.stop()
            raise SmokeError(f"dockerd {name} did not start; see {root / 'dockerd.log'}")
        time.sleep(0.2)
    log(f"started dockerd {name} (pid {proc.pid}) at {engine.host}")
    return engine


def find_or_start_engine(state: Path) -> Engine:
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    found = Engine(host=host)
    if found.alive():
        log(f"using the engine at {host}")
        return found
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        raise SmokeError(
            f"no Docker engine at {host}, and starting one needs root and dockerd "
            "(apt-get install docker.io); set DOCKER_HOST to an engine"
        )
    return start_dockerd(state, "engine1")


def socket_path(engine: Engine) -> str:
    assert engine.host.startswith("unix://"), "the compose engine must be a local socket"
    return engine.host.removeprefix("unix://")


# --- images ------------------------------------------------------------------------------


def has_image(engine: Engine, image: str) -> bool:
    return engine.docker("image", "inspect", image, check=False).returncode == 0


def build_images(engine: Engine, compose: Compose, base_image: str | None) -> tuple[str, dict]:
    """Base image (a registry's, or one made with mmdebstrap), wheelhouse, then the stack's
    images with the legacy builder (BuildKit would fetch its frontend from a registry)."""
    timings: dict[str, float] = {}
    if base_image is None:
        base_image = (
            REGISTRY_BASE_IMAGE if has_image(engine, REGISTRY_BASE_IMAGE) else LOCAL_BASE_IMAGE
        )
    if base_image == LOCAL_BASE_IMAGE and not has_image(engine, LOCAL_BASE_IMAGE):
        started = time.monotonic()
        # Their output goes to stderr: stdout carries only the JSON summary.
        run(
            ["bash", str(DEPLOY / "images" / "base-image.sh"), LOCAL_BASE_IMAGE],
            env=engine.env(),
            stdout=sys.stderr,
        )
        timings["base_image_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    run(["bash", str(DEPLOY / "images" / "wheelhouse.sh"), "--local-models"], stdout=sys.stderr)
    timings["wheelhouse_s"] = round(time.monotonic() - started, 1)
    compose.env["VIDMINE_PYTHON_IMAGE"] = base_image
    started = time.monotonic()
    compose("build", "-q")
    timings["images_s"] = round(time.monotonic() - started, 1)
    return base_image, timings


# --- compose -----------------------------------------------------------------------------


@dataclass
class Compose:
    engine: Engine
    env_file: Path
    env: dict[str, str] = field(default_factory=dict)

    merged: Path | None = None

    def flatten(self, dest: Path) -> None:
        """One compose file from docker-compose.yml and the host-network override, minus
        the webserver's published port: docker-compose 1.29 refuses `ports` together with
        `network_mode: host` (Compose v2 only warns), and an override cannot remove a key."""
        text = self("config").stdout
        config = yaml.safe_load(text)
        for service in config["services"].values():
            if service.get("network_mode") == "host":
                service.pop("ports", None)
        dest.write_text(yaml.safe_dump(config, sort_keys=False))
        dest.chmod(0o600)  # it holds the generated database password
        self.merged = dest

    def __call__(self, *args: str, check: bool = True, capture: bool = True):
        sources = [self.merged] if self.merged else COMPOSE_FILES
        files = [a for f in sources for a in ("-f", str(f))]
        env = {
            **self.engine.env(),
            **self.env,
            # The legacy builder: BuildKit's dockerfile frontend comes from a registry.
            "DOCKER_BUILDKIT": "0",
            "COMPOSE_DOCKER_CLI_BUILD": "0",
        }
        return run(
            ["docker-compose", "-p", PROJECT, "--env-file", str(self.env_file), *files, *args],
            check=check,
            capture=capture,
            env=env,
        )

    def container(self, service: str) -> str:
        out = self("ps", "-q", service).stdout.strip()
        if not out:
            raise SmokeError(f"service {service} has no container")
        return out.splitlines()[0]

    def exec_python(self, service: str, code: str) -> str:
        return self.engine.docker(
            "exec", "-i", self.container(service), "python", "-c", code
        ).stdout


# Runs inside the user code container: Dagster's run records as JSON.
RUNS_QUERY = r"""
import json
from dagster import DagsterInstance
from dagster._core.storage.dagster_run import RunsFilter
instance = DagsterInstance.get()
out = []
for record in instance.get_run_records(RunsFilter()):
    run = record.dagster_run
    steps = {}
    for event in instance.all_logs(run.run_id):
        kind = event.dagster_event.event_type_value if event.dagster_event else None
        if kind == "STEP_SUCCESS":
            steps[event.step_key] = steps.get(event.step_key, 0) + 1
    out.append({
        "run_id": run.run_id, "status": run.status.value, "job": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "parent": run.parent_run_id, "root": run.root_run_id,
        "providers": sorted(k.split("/")[-1] for k, v in run.tags.items()
                            if k.startswith("vidmine/provider/") and v == "true"),
        "start": record.start_time, "end": record.end_time, "steps_succeeded": steps,
    })
print(json.dumps(out))
"""


# Runs inside the user code container: search rows written twice for the same source.
DUPLICATES_QUERY = r"""
import json, os, psycopg
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    rows = conn.execute(
        "SELECT video_id, kind, source_id, count(*) FROM search_items"
        " GROUP BY 1, 2, 3 HAVING count(*) > 1"
    ).fetchall()
print(json.dumps([list(map(str, row)) for row in rows]))
"""


def vidmine_status(compose: Compose) -> dict:
    out = compose.engine.docker(
        "exec", compose.container("user-code"), "vidmine", "status", "--json"
    ).stdout
    return json.loads(out)


def dagster_runs(compose: Compose) -> list[dict]:
    return json.loads(compose.exec_python("user-code", RUNS_QUERY))


# --- the smoke run -------------------------------------------------------------------------


def default_files(work: Path) -> list[Path]:
    """The sample video `make demo` makes."""
    sys.path.insert(0, str(REPO))
    from vidmine.samples import make_sample_video

    path = work / "vidmine_demo.mp4"
    make_sample_video(path)
    return [path]


def free_ports_or_fail() -> None:
    busy = []
    for what, port in PORTS.items():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"{port} ({what})")
    if busy:
        raise SmokeError(
            f"ports in use on this host: {', '.join(busy)}; the host-network stack needs them"
        )


def drop(files: list[Path], uploads: Path) -> float:
    """Copies each file in under a hidden name (the sensor skips those), then renames it
    into place, so the sensor sees only whole files."""
    uploads.mkdir(parents=True, exist_ok=True)
    staged = []
    for i, src in enumerate(files):
        name = src.name if src.name not in {p.name for _, p in staged} else f"{i}-{src.name}"
        tmp = uploads / f".{name}"
        shutil.copyfile(src, tmp)
        os.chown(tmp, VIDMINE_UID, VIDMINE_UID)
        staged.append((tmp, uploads / name))
    dropped_at = time.time()
    for tmp, final in staged:
        os.rename(tmp, final)
    return dropped_at


def peak_concurrency(runs: list[dict]) -> dict[str, int]:
    """Most runs in progress at once per provider tag, from their start and end times."""
    peaks: dict[str, int] = {}
    for provider in sorted({p for r in runs for p in r["providers"]}):
        edges = []
        for r in runs:
            if provider in r["providers"] and r["start"] is not None:
                edges.append((r["start"], 1))
                edges.append((r["end"] if r["end"] is not None else float("inf"), -1))
        now = peak = 0
        for _, delta in sorted(edges, key=lambda e: (e[0], e[1])):
            now += delta
            peak = max(peak, now)
        peaks[provider] = peak
    return peaks


def settled(status: dict, names: list[str], runs: list[dict]) -> bool:
    videos = {v["file_name"]: v for v in status["videos"]}
    rejected = {Path(r["path"]).name for r in status["rejected"]}
    done = all(
        n in rejected or (n in videos and videos[n]["status"] in ("ready", "failed")) for n in names
    )
    busy = [
        r
        for r in runs
        if r["status"] in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
    ]
    return done and not busy


def run_drill(compose: Compose, run_engine: Engine) -> dict:
    """Kills one run container mid-run (a step started, the run not finished) and restarts
    the daemon container."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        running = run_engine.docker("ps", "-q", "--filter", f"label={RUN_LABEL}").stdout.split()
        if running:
            time.sleep(6)  # let it get into its steps
            victim = running[0]
            run_id = run_engine.docker(
                "inspect", "-f", f'{{{{index .Config.Labels "{RUN_LABEL}"}}}}', victim
            ).stdout.strip()
            if (
                run_engine.docker("inspect", "-f", "{{.State.Running}}", victim).stdout.strip()
                != "true"
            ):
                continue
            run_engine.docker("kill", victim)
            log(f"drill: killed run container {victim[:12]} (run {run_id[:8]})")
            compose.engine.docker("restart", compose.container("daemon"))
            log("drill: restarted the daemon container")
            return {"killed_run": run_id, "killed_container": victim[:12], "daemon_restarted": True}
        time.sleep(0.5)
    raise SmokeError("drill: no run container ran within 300 s")


def drill_verdict(drill: dict, runs: list[dict]) -> dict:
    killed = next((r for r in runs if r["run_id"] == drill["killed_run"]), None)
    retries = [r for r in runs if r["parent"] == drill["killed_run"]]
    # A step's work is done once per partition: across the killed run and its retries
    # no step succeeded twice.
    twice: dict[str, list[str]] = {}
    by_partition: dict[str, dict[str, int]] = {}
    for r in runs:
        if r["job"] != "process_video":
            continue
        counts = by_partition.setdefault(r["partition"] or "", {})
        for step, n in r["steps_succeeded"].items():
            counts[step] = counts.get(step, 0) + n
    for partition, counts in by_partition.items():
        dup = sorted(step for step, n in counts.items() if n > 1)
        if dup:
            twice[partition] = dup
    return {
        **drill,
        "killed_run_status": killed["status"] if killed else None,
        "retry_runs": [{"run_id": r["run_id"][:8], "status": r["status"]} for r in retries],
        "steps_done_twice": twice,
        "ok": bool(
            killed
            and killed["status"] == "FAILURE"
            and retries
            and any(r["status"] == "SUCCESS" for r in retries)
            and not twice
        ),
    }


@contextlib.contextmanager
def second_engine(state: Path, data_dir: Path) -> Iterator[tuple[Engine, str]]:
    """A dockerd in its own network namespace, joined to this host by a veth pair on a
    private /30; its containers reach PostgreSQL at the host side's address, and see
    VIDMINE_HOME through a `vidmine-data` volume binding the same path (NFS stand-in)."""
    ns = f"vidmine-e2-{secrets.token_hex(2)}"
    host_if, ns_if = f"vmh{ns[-4:]}", f"vmn{ns[-4:]}"
    host_ip, ns_ip = f"{SECOND_ENGINE_NET}.1", f"{SECOND_ENGINE_NET}.2"
    engine = None
    try:
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if])
        run(["ip", "link", "set", ns_if, "netns", ns])
        run(["ip", "addr", "add", f"{host_ip}/30", "dev", host_if])
        run(["ip", "link", "set", host_if, "up"])
        run(["ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if])
        run(["ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up"])
        run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"])
        tcp_engine = start_dockerd(state, "engine2", netns=ns, tcp=f"{ns_ip}:2375")
        engine = tcp_engine
        remote = Engine(host=f"tcp://{ns_ip}:2375")
        if not remote.alive():
            raise SmokeError(f"the second engine does not answer at {remote.host}")
        remote.docker(
            "volume",
            "create",
            "--driver",
            "local",
            "--opt",
            "type=none",
            "--opt",
            "o=bind",
            "--opt",
            f"device={data_dir}",
            "vidmine-data",
        )
        yield remote, host_ip
    finally:
        if engine is not None:
            ids = engine.docker("ps", "-aq", check=False).stdout.split()
            if ids:
                engine.docker("rm", "-f", *ids, check=False)
            engine.docker("volume", "rm", "-f", "vidmine-data", check=False)
            engine.stop()
        run(["ip", "link", "del", host_if], check=False, capture=True)
        run(["ip", "netns", "del", ns], check=False, capture=True)
        log(f"removed network namespace {ns} and its veth pair")


def copy_image(src: Engine, dst: Engine, image: str) -> float:
    """docker save | docker load (no registry between the engines); skipped when the
    second engine already has the same image id."""
    started = time.monotonic()
    want = src.docker("image", "inspect", "-f", "{{.Id}}", image).stdout.strip()
    have = dst.docker("image", "inspect", "-f", "{{.Id}}", image, check=False).stdout.strip()
    if want != have:
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, env=src.env())
        run(["docker", "load", "-q"], stdin=save.stdout, env=dst.env(), capture=True)
        if save.wait() != 0:
            raise SmokeError(f"docker save {image} failed")
    return round(time.monotonic() - started, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        help="videos (or bad files) to drop; default: the demo sample",
    )
    parser.add_argument(
        "--drill", action="store_true", help="kill a run container mid-run and restart the daemon"
    )
    parser.add_argument(
        "--second-engine", action="store_true", help="start the runs on a second engine in a netns"
    )
    parser.add_argument(
        "--base-image",
        help=f"PYTHON_IMAGE for the builds (default {REGISTRY_BASE_IMAGE} if the engine has it, else a local one)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the files")
    args = parser.parse_args(argv)

    state = Path(
        os.environ.get(
            "VIDMINE_SMOKE_STATE",
            "/var/lib/vidmine-smoke"
            if os.geteuid() == 0
            else Path.home() / ".cache" / "vidmine-smoke",
        )
    )
    state.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=state))
    data_dir = work / "data"
    data_dir.mkdir()
    os.chown(data_dir, VIDMINE_UID, VIDMINE_UID)
    summary: dict = {"ok": False}
    started_all = time.monotonic()
    engine = compose = None
    stack = contextlib.ExitStack()
    try:
        free_ports_or_fail()
        files = [f.resolve() for f in args.files] or default_files(work)
        for f in files:
            if not f.is_file():
                raise SmokeError(f"{f}: no such file")
        engine = find_or_start_engine(state)
        sock = socket_path(engine)
        env_file = work / "smoke.env"
        env_file.write_text("")  # everything comes from the environment below
        compose = Compose(
            engine,
            env_file,
            {
                "POSTGRES_PASSWORD": secrets.token_hex(16),
                "WITH_LOCAL_MODELS": "true",
                "VIDMINE_DATA_DIR": str(data_dir),
                "VIDMINE_DOCKER_SOCKET": sock,
                "DOCKER_GID": str(os.stat(sock).st_gid),
            },
        )
        started = time.monotonic()
        base_image, timings = build_images(engine, compose, args.base_image)
        summary["base_image"] = base_image
        summary["build_seconds"] = {**timings, "total_s": round(time.monotonic() - started, 1)}

        run_engine = engine
        if args.second_engine:
            run_engine, host_ip = stack.enter_context(second_engine(state, data_dir))
            summary["second_engine"] = {
                "docker_host": run_engine.host,
                "image_copy_s": copy_image(engine, run_engine, USER_CODE_IMAGE),
            }
            compose.env["VIDMINE_RUN_DOCKER_HOST"] = run_engine.host
            compose.env["VIDMINE_POSTGRES_HOST"] = host_ip

        compose.flatten(work / "compose.yml")
        started = time.monotonic()
        # postgres, then the one-shot migrate, then the code server, daemon and webserver
        # (depends_on in docker-compose.yml).
        compose("up", "-d")
        summary["stack_up_s"] = round(time.monotonic() - started, 1)
        log(f"stack up in {summary['stack_up_s']} s")

        dropped_at = drop(files, data_dir / "uploads")
        names = sorted(
            p.name for p in (data_dir / "uploads").iterdir() if not p.name.startswith(".")
        )
        log(f"dropped {len(names)} file(s)")
        drill = run_drill(compose, run_engine) if args.drill else None

        deadline = time.monotonic() + args.timeout
        looks_settled = 0
        while True:
            status, runs = vidmine_status(compose), dagster_runs(compose)
            # A failed run's retry is queued by the daemon's next tick: a failure counts
            # only when a second look 5 s later finds the same.
            any_failed = any(v["status"] == "failed" for v in status["videos"])
            looks_settled = looks_settled + 1 if settled(status, names, runs) else 0
            if looks_settled >= (2 if any_failed else 1):
                break
            if time.monotonic() > deadline:
                raise SmokeError(
                    f"files not settled after {args.timeout:.0f} s: {json.dumps(status)[:2000]}"
                )
            time.sleep(5 if looks_settled else 3)

        videos = {v["file_name"]: v for v in status["videos"]}
        rejected = {Path(r["path"]).name: r["reason"] for r in status["rejected"]}
        ready = [n for n in names if videos.get(n, {}).get("status") == "ready"]
        # A file vidmine refused (unreadable, cut short, a duplicate) fails its run and is
        # recorded as rejected with the reason: it counts as rejected, not failed.
        failed = {
            n: videos[n]["error"]
            for n in names
            if videos.get(n, {}).get("status") == "failed" and n not in rejected
        }
        ends = [r["end"] for r in runs if r["end"] is not None and r["status"] == "SUCCESS"]
        containers = run_engine.docker("ps", "-aq", "--filter", f"label={RUN_LABEL}").stdout.split()
        summary.update(
            {
                "files": len(names),
                "ready": len(ready),
                "failed": len(failed),
                "rejected": len([n for n in names if n in rejected]),
                "runs": len(runs),
                "run_statuses": {
                    s: sum(r["status"] == s for r in runs)
                    for s in sorted({r["status"] for r in runs})
                },
                "run_containers_launched": len(containers),
                "run_engine": run_engine.host if args.second_engine else "the compose engine",
                # With --second-engine none may start beside the daemon.
                "run_containers_on_compose_engine": len(
                    engine.docker("ps", "-aq", "--filter", f"label={RUN_LABEL}").stdout.split()
                ),
                "peak_concurrent_runs_by_provider": peak_concurrency(runs),
                "drop_to_first_run_done_s": round(
                    min((r["end"] for r in runs if r["end"]), default=dropped_at) - dropped_at, 1
                ),
                "drop_to_all_ready_s": round(max(ends) - dropped_at, 1) if ends and ready else None,
                "failed_files": failed,
                "rejected_files": {n: rejected[n] for n in names if n in rejected},
                "runs_left_started": [
                    r["run_id"][:8] for r in runs if r["status"] in ("STARTED", "STARTING")
                ],
            }
        )
        limits = {"local": 2, "openai": 4}
        over = {
            p: n
            for p, n in summary["peak_concurrent_runs_by_provider"].items()
            if n > limits.get(p, 99)
        }
        summary["provider_limits_held"] = not over
        if drill:
            summary["drill"] = drill_verdict(drill, runs)
            dupes = json.loads(compose.exec_python("user-code", DUPLICATES_QUERY))
            summary["drill"]["duplicated_search_items"] = dupes[:5]
            summary["drill"]["ok"] = summary["drill"]["ok"] and not dupes
        # A file is "bad" when vidmine rejected it; every other one must be ready.
        summary["ok"] = (
            not failed
            and all(n in ready or rejected.get(n) for n in names)
            and not summary["runs_left_started"]
            and not over
            and (drill is None or summary["drill"]["ok"])
            and not (args.second_engine and summary["run_containers_on_compose_engine"])
        )
    except SmokeError as err:
        summary["error"] = str(err)
        log(f"FAILED: {err}")
    finally:
        if compose is not None and not summary["ok"]:
            with contextlib.suppress(Exception):
                log(
                    "daemon log tail:\n"
                    + compose("logs", "--tail", "40", "daemon", check=False).stdout
                )
        stack.close()  # the second engine, if any (its run containers go with it)
        if compose is not None:
            ids = compose.engine.docker(
                "ps", "-aq", "--filter", f"label={RUN_LABEL}", check=False
            ).stdout.split()
            if ids:
                compose.engine.docker("rm", "-f", *ids, check=False)
            compose("down", "-v", "--remove-orphans", "-t", "20", check=False)
            left = compose.engine.docker(
                "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}", check=False
            ).stdout.split()
            summary["left_behind"] = {
                "containers": len(left),
                "volumes": [
                    v
                    for v in compose.engine.docker("volume", "ls", "-q", check=False).stdout.split()
                    if v.startswith(("vidmine", PROJECT))
                ],
            }
            if summary["left_behind"]["containers"] or summary["left_behind"]["volumes"]:
                summary["ok"] = False
        if engine is not None:
            engine.stop()
        # Files written by uid 10001 inside the containers: this process is root (or owns them).
        shutil.rmtree(work, ignore_errors=True)
        summary["total_s"] = round(time.monotonic() - started_all, 1)
        print(json.dumps(summary, indent=2, sort_keys=True))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
