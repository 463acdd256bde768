"""The Dagster run queue and daemon as `vidmine serve` sees them: small protocols the
CLI implements.

vidmine's core does not import Dagster, so ``/stats`` asks an ``ActiveRuns`` callable
for the runs queued and in progress, and the library asks a ``PipelineHealth`` callable
whether the daemon that picks up uploads is alive; without them both say "unknown".
``run_queue`` and ``pipeline_state`` ask them, and a failing instance becomes a reason to
show instead of a failed page.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from vidmine.uploads import priority_label

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActiveRun:
    run_id: str
    job_name: str
    status: str  # QUEUED, STARTING or STARTED (Dagster's names)
    partition: str | None
    created_at: datetime
    priority: int | None = None  # Dagster's dagster/priority tag: higher starts first
    providers: tuple[str, ...] = ()  # from its vidmine/provider/<name> tags: the pools it waits on


class ActiveRuns(Protocol):
    def __call__(self) -> Sequence[ActiveRun]: ...


@dataclass(frozen=True)
class PipelineState:
    """Whether uploads will be picked up: the Dagster daemon's sensor thread is alive."""

    running: bool | None  # None: this server cannot tell (no Dagster instance given)
    detail: str


class PipelineHealth(Protocol):
    def __call__(self) -> PipelineState: ...


# What a person runs to start the pipeline on this machine (README "The UI, the daemon and
# the upload folder"); production deployments run the daemon as a service.
START_PIPELINE_HINT = "start it with `make dev` (the Dagster UI and daemon) in the project folder"


def run_queue(active_runs: ActiveRuns | None) -> dict[str, Any]:
    """Dagster's runs queued and in progress, oldest first, with their age and priority."""
    runs: dict[str, Any] = {"available": False, "queued": [], "in_progress": []}
    if active_runs is None:
        runs["reason"] = "no Dagster instance given to this server"
        return runs
    try:
        now = datetime.now(UTC)
        for run in active_runs():
            created = run.created_at
            if created.tzinfo is None:
                created = created.replace(tzinfo=UTC)
            item = {
                "run_id": run.run_id,
                "job_name": run.job_name,
                "status": run.status,
                "partition": run.partition,
                "created_at": created,
                "age_s": round((now - created).total_seconds(), 1),
                "priority": run.priority,
                "priority_label": priority_label(run.priority),
                "providers": list(run.providers),
            }
            runs["queued" if run.status == "QUEUED" else "in_progress"].append(item)
        runs["available"] = True
    except Exception as err:
        log.exception("listing Dagster runs failed")
        runs["reason"] = f"the Dagster instance did not answer: {err}"
    return runs


def pipeline_state(pipeline_health: PipelineHealth | None) -> PipelineState:
    """Whether the daemon takes uploads, or why this server cannot tell."""
    if pipeline_health is None:
        return PipelineState(None, "no Dagster instance given to this server")
    try:
        return pipeline_health()
    except Exception as err:  # the page still shows the library
        log.exception("asking the Dagster instance for the daemon's heartbeat failed")
        return PipelineState(None, f"the Dagster instance did not answer: {err}")
