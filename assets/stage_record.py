"""vidmine's stage rows and video status: a projection of Dagster's event log, with one
writer, ``project_video``.

Dagster decides: a stage succeeded when its step materialized its assets, failed when
its step failed (or its run ended before the step did), and runs while its step has
started in a run still going. A video is ``processing`` while the latest run that
planned ``video_ready`` is queued or going, with no step failed in it, and has not made
it yet (a retry after a crash included), else ``failed`` when a stage it needs failed, else ``ready`` when
``video_ready`` materialized in that run. ``stage_runs`` and ``videos.status`` only show
this to `vidmine status` and the web app; nothing reads them to decide.

``project_video`` computes all of it from the runs tagged with the video's partition
and writes it whole, so every call is a rebuild: at a step's start (the step shows
running), after each step (the jobs' hooks), after a run fails (the run-failure sensor:
a run whose worker died never runs its hooks), and by hand (``rebuild_all``). A process
killed between a step's end and its row write loses nothing: the next call writes what
the event log holds.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import DagsterEventType

from assets.tags import PARTITION_TAG
from vidmine.db.models import StageState, VideoNotFoundError
from vidmine.db.store import Store
from vidmine.stages import READY_STAGE, STAGE_LIST, Stage

FINISHED = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}
EVENT_TYPES = {
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_OBSERVATION,
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.RUN_FAILURE,
}
TIMINGS = ("seconds", "cpu_seconds")  # what a stage's last attempt took, not what it made
PLAIN_METADATA = (
    dg.TextMetadataValue,
    dg.IntMetadataValue,
    dg.FloatMetadataValue,
    dg.BoolMetadataValue,
)
# Tests only: the step whose end a test holds the run at (before its hook writes rows),
# and the file that says the run got there. See tests/test_stage_record.py.
HOLD_AFTER_STEP_ENV = "VIDMINE_TEST_HOLD_AFTER_STEP"
HOLD_MARKER_ENV = "VIDMINE_TEST_HOLD_MARKER"


def plain_metadata(
    metadata: dict[str, dg.MetadataValue] | None, *, with_json: bool = False
) -> dict[str, Any]:
    """The plain values (counts, names) of a metadata dict; previews, paths and tables
    stay with the event."""
    kinds = (*PLAIN_METADATA, dg.JsonMetadataValue) if with_json else PLAIN_METADATA
    return {k: v.value for k, v in (metadata or {}).items() if isinstance(v, kinds)}


@dataclass
class RunEvents:
    """What one run did for one video: the events a stage row is made of."""

    run_id: str
    status: dg.DagsterRunStatus
    failure: str = "the run failed"
    job_name: str = ""
    # What the run was created to do, stored with the run itself: the steps of a retry
    # from failure, and the assets a run of a few chosen assets makes (None: all of them).
    step_keys: frozenset[str] | None = None
    asset_selection: frozenset[str] | None = None
    planned: dict[str, str] = field(default_factory=dict)  # asset key -> step key
    materialized: dict[str, dg.EventLogEntry] = field(default_factory=dict)
    # asset key -> what its stage reported at its end (assets.stage): summary, timings
    observed: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)  # step key -> timestamp
    succeeded: dict[str, float] = field(default_factory=dict)
    failed: dict[str, dg.EventLogEntry] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def read_runs(instance: dg.DagsterInstance, video_id: str) -> list[RunEvents]:
    """The runs of the video's partition, oldest first, with their events for it."""
    records = instance.get_run_records(dg.RunsFilter(tags={PARTITION_TAG: video_id}))
    runs = []
    for record in sorted(records, key=lambda r: r.create_timestamp):
        dagster_run = record.dagster_run
        run = RunEvents(
            dagster_run.run_id,
            dagster_run.status,
            job_name=dagster_run.job_name,
            step_keys=_frozen(dagster_run.step_keys_to_execute),
            asset_selection=_frozen(
                None
                if dagster_run.asset_selection is None
                else [key.to_user_string() for key in dagster_run.asset_selection]
            ),
        )
        for entry in instance.all_logs(run.run_id, of_type=EVENT_TYPES):
            _add_event(run, entry, video_id)
        runs.append(run)
    fill_planned(runs)
    return runs


def _frozen(values) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


def fill_planned(runs: list[RunEvents]) -> None:
    """Complete the runs whose planned-materialization events are missing.

    Dagster writes a run, then one planned event per asset: a daemon stopped in between
    (a power cut while it made a retry) leaves a run with some of them (a crash drill's
    retry had 3 of 21), which would read as a run that does not make the video ready.
    What the run was created to do is stored with the run: its job, its steps to execute
    (a retry from failure) and its asset selection. A run is completed with the assets
    that other runs of its job planned, kept to its steps and selection."""
    of_job: dict[str, dict[str, str]] = {}
    for run in runs:
        of_job.setdefault(run.job_name, {}).update(run.planned)
    for run in runs:
        for key, step in of_job.get(run.job_name, {}).items():
            if key in run.planned:
                continue
            if run.step_keys is not None and step not in run.step_keys:
                continue
            if run.asset_selection is not None and key not in run.asset_selection:
                continue
            run.planned[key] = step


def _add_event(run: RunEvents, entry: dg.EventLogEntry, video_id: str) -> None:
    event = entry.dagster_event
    if event is None:
        return
    kind, step = event.event_type, entry.step_key or ""
    if kind is DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
        data = event.asset_materialization_planned_data
        if data.partition in (None, video_id):
            run.planned[data.asset_key.to_user_string()] = step
    elif kind is DagsterEventType.ASSET_MATERIALIZATION:
        materialization = event.step_materialization_data.materialization
        if materialization.partition in (None, video_id):
            run.materialized[materialization.asset_key.to_user_string()] = entry
    elif kind is DagsterEventType.ASSET_OBSERVATION:
        observation = event.asset_observation_data.asset_observation
        if observation.partition in (None, video_id):
            key = observation.asset_key.to_user_string()
            run.observed[key] = plain_metadata(observation.metadata, with_json=True)
    elif kind is DagsterEventType.STEP_START:
        run.started[step] = entry.timestamp
    elif kind is DagsterEventType.STEP_SUCCESS:
        run.succeeded[step] = entry.timestamp
    elif kind is DagsterEventType.STEP_FAILURE:
        run.failed[step] = entry
    elif kind is DagsterEventType.RUN_FAILURE:
        run.failure = (event.message or run.failure).strip()


def failure_message(entry: dg.EventLogEntry) -> str:
    """A step failure as ``Type: message``, the exception the step's code raised."""
    data = entry.dagster_event.step_failure_data  # type: ignore[union-attr]
    if data.user_failure_data is not None and data.user_failure_data.description:
        return f"Failure: {data.user_failure_data.description}"
    error = data.error
    while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause  # Dagster's wrapper around what the asset raised
    return _short(error.message) if error is not None else "the step failed"


def _short(message: str) -> str:
    """``pkg.module.Error: text`` as ``Error: text``."""
    head, sep, rest = message.strip().partition(": ")
    return f"{head.rsplit('.', 1)[-1]}{sep}{rest}"


def _when(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp is not None else None


def _seconds(start: float | None, end: float | None) -> float | None:
    return round(end - start, 3) if start is not None and end is not None else None


def stage_state(stage: Stage, runs: list[RunEvents]) -> StageState | None:
    """The stage's state by Dagster's record: its attempt in the latest run that planned
    it and got to it (a run that never reached its step leaves the earlier state)."""
    # The step each asset runs in, as any run planned it (a single asset's step is named
    # after it). A run's own planned events can be incomplete (a daemon stopped while it
    # wrote them: a crash drill's retry had 3 of 21), so a stage also counts as in a run
    # whose record shows its step started.
    step_of = {key: step for run in runs for key, step in run.planned.items()}
    for run in reversed(runs):
        planned = [
            key
            for key in stage.assets
            if key in run.planned or step_of.get(key, key) in run.started
        ]
        if not planned:
            continue
        steps = {run.planned.get(key) or step_of.get(key, key) for key in planned}
        started = min((run.started[s] for s in steps if s in run.started), default=None)
        failure = next((run.failed[s] for s in steps if s in run.failed), None)
        if failure is not None:
            data = failure.dagster_event.step_failure_data  # type: ignore[union-attr]
            user = data.user_failure_data
            return StageState(
                stage.name,
                "failed",
                _when(started),
                _when(failure.timestamp),
                _seconds(started, failure.timestamp),
                failure_message(failure),
                plain_metadata(user.metadata if user else None, with_json=True),
            )
        made = [run.materialized[key] for key in planned if key in run.materialized]
        if made and (len(made) == len(planned) or steps <= set(run.succeeded)):
            return _done(stage, run, planned, steps, made, started)
        if started is None:
            continue
        if not run.finished:
            return StageState(stage.name, "running", _when(started), None, None, None, {})
        error = f"run {run.run_id[:8]} ended before this stage finished: {run.failure}"
        return StageState(stage.name, "failed", _when(started), None, None, error, {})
    return None


def _done(
    stage: Stage,
    run: RunEvents,
    planned: list[str],
    steps: set[str],
    made: list[dg.EventLogEntry],
    started: float | None,
) -> StageState:
    summary: dict[str, Any] = {}
    for entry in made:
        materialization = entry.dagster_event.step_materialization_data.materialization  # type: ignore[union-attr]
        summary.update(plain_metadata(materialization.metadata))
    cached = summary.get("status") == "cached"
    skipped = summary.get("status") == "skipped" or bool(summary.pop("skipped", False))
    if cached:
        summary["reused"] = True
    for key in planned:
        summary.update(run.observed.get(key, {}))
    finished = max(
        [run.succeeded[s] for s in steps if s in run.succeeded] + [e.timestamp for e in made]
    )
    return StageState(
        stage.name,
        "skipped" if skipped else "succeeded",
        _when(started),
        _when(finished),
        _seconds(started, finished),
        None,
        summary,
    )


def stage_states(runs: list[RunEvents]) -> dict[str, StageState]:
    """Every stage Dagster has a record of for the video, in the registry's order."""
    states = (stage_state(stage, runs) for stage in STAGE_LIST)
    return {state.stage: state for state in states if state is not None}


def video_status(
    states: dict[str, StageState], runs: list[RunEvents]
) -> tuple[str, str | None] | None:
    """The video's status and error by the stage states and the runs; None when no run
    has planned the pipeline yet and no stage failed (the stored status stands). A run of
    the pipeline still queued or going (a retry) makes it ``processing`` whatever the
    runs before it left, until a step fails in it."""
    pipeline = [
        run for run in runs if READY_STAGE in run.planned or READY_STAGE in run.materialized
    ]
    latest = pipeline[-1] if pipeline else None
    if (
        latest is not None
        and not latest.finished
        and not latest.failed  # a stage that failed in it fails the video at once
        and READY_STAGE not in latest.materialized
    ):
        return "processing", None
    for stage in STAGE_LIST:
        state = states.get(stage.name)
        if stage.fails_video and state is not None and state.status == "failed":
            return "failed", f"{stage.name} failed: {state.error}"
    if latest is None:
        return None
    if READY_STAGE in latest.materialized:
        return "ready", None
    return "failed", f"run {latest.run_id[:8]} ended before the video was ready: {latest.failure}"


def project_video(instance: dg.DagsterInstance, store: Store, video_id: str) -> None:
    """Write the video's stage rows and status as Dagster's event log has them: the one
    writer of both."""
    runs = read_runs(instance, video_id)
    states = stage_states(runs)
    status = video_status(states, runs)
    try:
        store.replace_stage_states(video_id, list(states.values()))
        if status is not None:
            store.set_video_status(video_id, *status)
    except VideoNotFoundError:
        pass  # a partition with no video row (added by hand): nothing of vidmine's to show


def rebuild_all(instance: dg.DagsterInstance, store: Store) -> list[str]:
    """Rebuild every video's stage rows and status from the event log; returns their ids."""
    video_ids = [video.video_id for video in store.list_videos()]
    for video_id in video_ids:
        project_video(instance, store, video_id)
    return video_ids


def hold_for_test(step_key: str) -> None:
    """In a test that kills a run between a step's end and its row write: stop here."""
    if step_key and os.environ.get(HOLD_AFTER_STEP_ENV) == step_key:
        Path(os.environ[HOLD_MARKER_ENV]).write_text(step_key)
        time.sleep(600)


def _partition_of(context: dg.HookContext) -> str | None:
    run = context.instance.get_run_by_id(context.run_id)
    return run.tags.get(PARTITION_TAG) if run is not None else None


def _after_step(context: dg.HookContext) -> None:
    video_id = _partition_of(context)
    if video_id is None:
        return
    hold_for_test(context.step_key or "")
    project_video(context.instance, context.resources.database.store(), video_id)


@dg.success_hook(required_resource_keys={"database"})
def stage_rows_after_success(context: dg.HookContext) -> None:
    """After each step that succeeded: the rows and status, from the event log."""
    _after_step(context)


@dg.failure_hook(required_resource_keys={"database"})
def stage_rows_after_failure(context: dg.HookContext) -> None:
    """After each step that failed: the rows and status, from the event log."""
    _after_step(context)


STAGE_ROW_HOOKS = {stage_rows_after_success, stage_rows_after_failure}
