"""The smoke run's drill (deploy/smoke.py --drill): kill a run container mid-run, restart
the daemon container, then judge from Dagster's run records whether the killed run failed,
a retry succeeded and no step's work was done twice.
"""

from __future__ import annotations

import time

from smoke_compose import Compose
from smoke_engine import RUN_LABEL, Engine, SmokeError, log


def run_drill(compose: Compose, run_engine: Engine) -> dict:
    """Kills one run container mid-run (a step started, the run not finished) and restarts
    the daemon container."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        running = run_engine.run_containers(running_only=True)
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
