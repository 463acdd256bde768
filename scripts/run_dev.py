"""Runs a command (`dagster dev`, for `make dev`) so that Ctrl-C and SIGTERM stop all of it
within seconds.

Ctrl-C sends SIGINT to every process of the terminal's process group at once, and Dagster's
processes (the UI, the daemon, the code servers) all stop on it within seconds. On SIGTERM
the code servers took 20 s to a minute (tests/test_dev_stack.py), so a SIGTERM to this
process, or to the group, is answered with the same SIGINT to the whole group. And a code
server still starting up when the signal came can outlive `dagster dev` until its
heartbeat times out (under load, in CI): once `dagster dev` has ended, what it left of its
process group gets a few seconds to finish, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil

LEFTOVER_GRACE_S = 5.0


def _leftovers() -> list[psutil.Process]:
    """The other processes of this process group, less this one and its ancestors (in a
    terminal, `make` and the shell share the group)."""
    me = psutil.Process()
    spared = {me.pid, *(parent.pid for parent in me.parents())}
    group = os.getpgrp()
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.pid not in spared and os.getpgid(process.pid) == group:
                found.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def main() -> int:
    child = subprocess.Popen(sys.argv[1:])

    def stop_like_ctrl_c(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.killpg(os.getpgrp(), signal.SIGINT)

    # Set after the child started, so that it keeps Python's default Ctrl-C handling.
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the child itself
    signal.signal(signal.SIGTERM, stop_like_ctrl_c)
    code = child.wait()
    _, alive = psutil.wait_procs(_leftovers(), timeout=LEFTOVER_GRACE_S)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            continue
    return code


if __name__ == "__main__":
    sys.exit(main())
