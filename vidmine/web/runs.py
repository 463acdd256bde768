"""The Dagster run queue and daemon as `vidmine serve` sees them: small protocols the
CLI implements.

vidmine's core does not import Dagster, so ``/stats`` asks an ``ActiveRuns`` callable
for the runs queued and in progress, and the library asks a ``PipelineHealth`` callable
whether the daemon that picks up uploads is alive; without them both say "unknown".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


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
