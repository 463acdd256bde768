"""Docker engines for the smoke run (deploy/smoke.py): one that answers at DOCKER_HOST or
/var/run/docker.sock, or a dockerd started here with its own data root, exec root, socket
and pidfile in its own process group and stopped by its pid; the second engine in a network
namespace reached over TCP; images copied between engines without a registry.

Also the process helpers every smoke module uses (``log``, ``run``, ``SmokeError``).
Nothing here knows the compose stack or what a run does.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The label DockerRunLauncher puts on each run container.
RUN_LABEL = "dagster/run_id"
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

    def run_containers(self, *, running_only: bool = False, check: bool = True) -> list[str]:
        """Ids of the run containers on this engine (all of them, or the running ones)."""
        flags = "-q" if running_only else "-aq"
        return self.docker(
            "ps", flags, "--filter", f"label={RUN_LABEL}", check=check
        ).stdout.split()

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


def has_image(engine: Engine, image: str) -> bool:
    return engine.docker("image", "inspect", image, check=False).returncode == 0


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
