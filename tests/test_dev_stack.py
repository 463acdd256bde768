"""`make dev` as a person runs it: in a terminal, stopped with Ctrl-C (SIGINT to its
process group) or by `kill` or a process manager (SIGTERM to its main process). Every
process it started (the Dagster UI,
daemon, code servers and vidmine's warm run process) is gone within seconds.

Then `vidmine db stop` stops the embedded PostgreSQL a command left running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from local_runtime.cli import app

REPO = Path(__file__).resolve().parents[1]
STOP_WITHIN_S = 20.0

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _group(pgid: int) -> list[str]:
    listing = subprocess.run(
        ["ps", "-o", "pid=,stat=,args=", "-g", str(pgid)], capture_output=True, text=True
    ).stdout
    # A zombie is a process that ended and waits for its parent to read its status.
    return [line for line in listing.splitlines() if line.split()[1:2] != ["Z"]]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_make_dev_stops_within_seconds(
    stop_signal: signal.Signals, store_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "VIDMINE_HOME": str(tmp_path / "home"),
        "DATABASE_URL": store_url,
        "PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    log = tmp_path / "dev.log"
    with log.open("w") as output:
        dev = subprocess.Popen(
            ["bash", "scripts/dev.sh"],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal gives it
            # A terminal delivers Ctrl-C: nothing above it ignores SIGINT.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert dev.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the UI did not answer: " + log.read_text()[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                time.sleep(1)
        # The daemon is up and has started vidmine's warm run process.
        deadline = time.monotonic() + 60
        while not any("local_runtime.run_worker" in line for line in _group(dev.pid)):
            assert time.monotonic() < deadline, "no warm run process: " + "\n".join(_group(dev.pid))
            time.sleep(0.5)
        started = time.monotonic()
        if stop_signal == signal.SIGINT:
            os.killpg(dev.pid, stop_signal)  # Ctrl-C: the terminal signals the whole group
        else:
            os.kill(dev.pid, stop_signal)  # `kill PID`, `docker stop`: the main process only
        while _group(dev.pid) and time.monotonic() - started < STOP_WITHIN_S:
            dev.poll()
            time.sleep(0.25)
        left = _group(dev.pid)
        assert not left, (
            f"still running {STOP_WITHIN_S:g} s after {stop_signal.name}:\n" + "\n".join(left)
        )
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    finally:
        if _group(dev.pid):
            os.killpg(dev.pid, signal.SIGKILL)
        dev.wait(timeout=10)


def test_db_stop_with_a_database_url_says_it_stops_nothing(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://vidmine@127.0.0.1:1/vidmine")
    result = CliRunner().invoke(app, ["db", "stop"])
    assert result.exit_code == 2 and "DATABASE_URL is set" in result.output


def test_db_stop_without_a_running_server(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("VIDMINE_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["db", "stop"])
    assert result.exit_code == 0 and "no embedded PostgreSQL" in result.output
