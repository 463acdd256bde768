"""The crash drill of bench/fault_drill.py as a test: eight clips dropped into a running
`make dev` stack (scripts/dev.sh), two run workers killed with SIGKILL mid-run, then every
process of the stack, PostgreSQL included, killed with SIGKILL and the stack started
again. Every clip must end ready, with no run left STARTED or QUEUED, no stage row left
running, no row duplicated, no stage completed twice, and the runs per provider tag
within their limit. The 50-file drill (`bench/fault_drill.py drop50`) is a benchmark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_stack_survives_killed_workers_and_a_power_cut() -> None:
    drill = subprocess.run(
        [sys.executable, str(REPO / "bench" / "fault_drill.py"), "crash", "--clips", "8"],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    print(drill.stdout)
    assert drill.returncode == 0, drill.stdout[-4000:] + drill.stderr[-4000:]
    assert "every invariant held" in drill.stdout
