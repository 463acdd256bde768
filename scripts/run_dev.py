"""Runs a command (`dagster dev`, for `make dev`) so that SIGTERM stops it as quickly as
Ctrl-C does.

Ctrl-C sends SIGINT to every process of the terminal's process group at once, and Dagster's
processes (the UI, the daemon, the code servers) all stop on it within seconds. On SIGTERM
the code servers took 20 s to a minute (tests/test_dev_stack.py). So a SIGTERM to this
process, or to the group, is answered with the same SIGINT to the whole group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def main() -> int:
    child = subprocess.Popen(sys.argv[1:])

    def stop_like_ctrl_c(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.killpg(os.getpgrp(), signal.SIGINT)

    # Set after the child started, so that it keeps Python's default Ctrl-C handling.
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the child itself
    signal.signal(signal.SIGTERM, stop_like_ctrl_c)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
