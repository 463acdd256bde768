"""The Dagster run queue as `vidmine serve` sees it: a small protocol the CLI implements.

vidmine's core does not import Dagster, so ``/stats`` asks an ``ActiveRuns`` callable
for the runs queued and in progress; without one it reports runs as unavailable.
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


class ActiveRuns(Protocol):
    def __call__(self) -> Sequence[ActiveRun]: ...
