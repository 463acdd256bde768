"""``vidmine ingest``: register files and materialize the same assets in-process, the way
the sensor's runs would, and report each video's stage outcomes."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from assets.partitions import VIDEO_PARTITIONS_NAME
from assets.source import REFUSED_REASON
from assets.tags import FORCE_TAG, video_run_tags
from resources.database import open_store
from vidmine.config import VidmineConfig
from vidmine.registration import register_upload
from vidmine.uploads import UploadFile, unsupported_reason


@dataclass
class StageOutcome:
    stage: str
    status: str
    seconds: float | None
    error: str | None = None
    metadata: dict = field(default_factory=dict)
    cached: bool = False  # the stage's inputs had not changed: its earlier output stands


@dataclass
class IngestOutcome:
    path: str
    video_id: str | None
    status: str  # ready | failed | rejected
    error: str | None
    seconds: float
    stages: list[StageOutcome]


def _rejected(path: Path, reason: str, started: float) -> IngestOutcome:
    return IngestOutcome(str(path), None, "rejected", reason, time.monotonic() - started, [])


def _refusal(result: dg.ExecuteInProcessResult) -> str | None:
    """The reason the run's ``source_video`` refused the file, or None when it did not."""
    for event in result.all_events:
        failure = event.step_failure_data if event.is_step_failure else None
        user = failure.user_failure_data if failure is not None else None
        if user is not None and REFUSED_REASON in (user.metadata or {}):
            return user.description
    return None


def ingest_file(
    path: Path,
    profile: str,
    config: VidmineConfig,
    instance: dg.DagsterInstance,
    *,
    force: bool = False,
    log_level: str = "WARNING",
) -> IngestOutcome:
    from pipeline_defs.definitions import defs  # heavy; only when ingesting

    started = time.monotonic()
    if not path.is_file():
        return _rejected(path, f"{path} does not exist or is not a file", started)
    # The sensor's path: refuse what is plainly no video, register the rest, and let the
    # run's first asset (source_video) read the file and refuse what is unreadable.
    stat = path.stat()
    store = open_store()
    reason = unsupported_reason(UploadFile(path, stat.st_size, stat.st_mtime, None), set())
    if reason:
        store.record_rejection(str(path), stat.st_size, stat.st_mtime, reason)
        return _rejected(path, f"{path.name}: {reason}", started)
    registration = register_upload(store, path, profile)
    video_id = registration.video_id
    if not registration.new:
        store.set_video_profile(video_id, profile)
    instance.add_dynamic_partitions(VIDEO_PARTITIONS_NAME, [video_id])
    job = defs.resolve_job_def("process_video")
    result = job.execute_in_process(
        instance=instance,
        partition_key=video_id,
        tags={**video_run_tags(config, profile), **({FORCE_TAG: "true"} if force else {})},
        raise_on_error=False,
        # Dagster's console logger prints every event at DEBUG; the stage summary is ours.
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
    video = store.get_video(video_id)
    stages = [
        StageOutcome(
            name,
            st.status,
            st.seconds,
            st.error,
            dict(st.metadata or {}),
            cached=bool((st.metadata or {}).get("reused")),
        )
        for name, st in store.stage_states(video_id).items()
    ]
    error = video.error if video else None
    status = video.status if video else "failed"
    refusal = None if result.success else _refusal(result)
    if refusal is not None:
        # Read in full, the file is no video vidmine takes (unreadable, cut short, a
        # duplicate): rejected, with the id it was registered as, as the sensor's run says.
        status, error = "rejected", refusal
    elif not result.success and status == "ready":
        # Content is optional for readiness; say what failed anyway.
        failed = [s.stage for s in stages if s.status == "failed"]
        error = f"stages failed: {', '.join(failed)}" if failed else "run failed"
    return IngestOutcome(str(path), video_id, status, error, time.monotonic() - started, stages)


def ingest_paths(
    paths: Sequence[Path], profile: str, config: VidmineConfig, *, force: bool = False
) -> Iterator[IngestOutcome]:
    """``vidmine ingest``: each file in turn on this machine's instance, its outcome as soon
    as it is known."""
    from local_runtime.instance import local_instance

    instance = local_instance(config)
    for path in paths:
        yield ingest_file(path.expanduser().resolve(), profile, config, instance, force=force)
