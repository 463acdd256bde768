"""The upload-folder sensor: each new, settled file in ``VIDMINE_HOME/uploads`` becomes
a partition of ``videos`` and one run of ``process_video``.

A tick stays light (Dagster times a sensor out at 60 s): it lists the folder, waits for
each file to settle, and keys it by a fingerprint that reads at most 3 MiB. A file is
settled when it has not been modified for ``SETTLE_SECONDS`` and two looks saw the same
size and mtime: the second look is taken ``SECOND_LOOK_SECONDS`` later in the same tick,
so a file moved or copied in whole is taken by the first tick that sees it (Dagster
evaluates sensors at most every 5 s), and one still being written by a later tick. Probing
and hashing the whole file belong to the run's first asset, ``source_video``, where a
file that is not a readable video fails its own run with the reason and is recorded as
rejected. The tick never raises: an obviously wrong file (extension, empty, unknown
profile folder) is recorded as rejected at once (and not looked at again until it
changes), and a database outage only postpones the file.
"""

import json
import os
import time
from dataclasses import dataclass, field

import dagster as dg

from assets.partitions import VIDEO_PARTITIONS_NAME, video_partitions
from assets.tags import PARTITION_TAG, PRIORITY_TAG, video_run_tags
from resources import AIProviders, VidmineDatabase
from vidmine.config import ConfigError, VidmineConfig
from vidmine.db.store import Store
from vidmine.registration import register_upload
from vidmine.settings import VidmineHome
from vidmine.uploads import (
    UploadFile,
    is_settled,
    look_again,
    run_priority,
    scan_uploads,
    unsupported_reason,
)

SETTLE_SECONDS = 2.0
SECOND_LOOK_SECONDS = 1.0
MAX_FILES_PER_TICK = 50  # each reads at most 3 MiB; the rest waits for the next tick
DEFAULT_INTERVAL_SECONDS = 2


def sensor_interval_seconds() -> int:
    """The sensor's minimum interval: ``VIDMINE_SENSOR_INTERVAL_S``, else 2 s: a tick only
    lists the folder, and a dropped file should not wait."""
    raw = os.environ.get("VIDMINE_SENSOR_INTERVAL_S", "").strip()
    if not raw:
        return DEFAULT_INTERVAL_SECONDS
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(
            f"VIDMINE_SENSOR_INTERVAL_S must be a whole number of seconds, at least 1, not "
            f"{raw!r}; fix or unset it (default {DEFAULT_INTERVAL_SECONDS})"
        )
    return int(raw)


MIN_INTERVAL_SECONDS = sensor_interval_seconds()


@dataclass
class UploadCursor:
    """What the sensor remembers between ticks, bounded by the files in flight, not by
    the size of the folder.

    ``watermark``: every file whose ctime (nanoseconds) is at or below it was taken or
    rejected. A file arriving later (copied, moved or renamed in, or rewritten) gets a
    newer ctime, whatever mtime a copy tool preserved. ``taken``: files above the
    watermark already taken, by path and signature (the watermark only passes a file
    once every older one is settled and taken). ``seen``: the last signature of files
    still settling.
    """

    watermark: int = 0
    taken: dict[str, str] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> "UploadCursor":
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(
                int(data.get("watermark", 0)),
                dict(data.get("taken", {})),
                dict(data.get("seen", {})),
            )
        except (ValueError, AttributeError, TypeError):
            return cls()

    def dump(self) -> str:
        return json.dumps(
            {"watermark": self.watermark, "taken": self.taken, "seen": self.seen},
            sort_keys=True,
        )

    def advance(self, pending: list[UploadFile]) -> None:
        """Move the watermark up to just below the oldest file not yet taken (all files
        newer than the watermark, oldest first), and forget what it passed."""
        for upload in pending:
            if self.taken.get(str(upload.path)) != upload.signature:
                self.watermark = max(self.watermark, upload.ctime_ns - 1)
                break
        else:
            if pending:
                self.watermark = max(self.watermark, pending[-1].ctime_ns)
        ctimes = {str(u.path): u.ctime_ns for u in pending}
        self.taken = {
            path: sig for path, sig in self.taken.items() if ctimes.get(path, 0) > self.watermark
        }
        self.seen = {path: sig for path, sig in self.seen.items() if path in ctimes}


def _new_or_changed(cursor: UploadCursor, upload: UploadFile) -> bool:
    """Neither taken nor seen before as it is now: new, or changed since the last tick."""
    path = str(upload.path)
    return upload.signature not in (cursor.taken.get(path), cursor.seen.get(path))


def _last_run_failed(instance: dg.DagsterInstance, video_id: str) -> bool:
    """Whether the video's latest run failed, by Dagster's record: the same content dropped
    again then runs again."""
    latest = instance.get_runs(dg.RunsFilter(tags={PARTITION_TAG: video_id}), limit=1)
    return bool(latest) and latest[0].status == dg.DagsterRunStatus.FAILURE


def _take_upload(
    context: dg.SensorEvaluationContext,
    store: Store,
    config: VidmineConfig,
    upload: UploadFile,
    run_job: str,
    keys_this_tick: set[str],
    priority: int,
) -> tuple[dg.RunRequest | None, str | None, str]:
    """Returns (run request, new partition key, outcome sentence)."""
    profile = upload.profile or config.default_profile
    reason = unsupported_reason(upload, set(config.profiles))
    if reason:
        store.record_rejection(str(upload.path), upload.size_bytes, upload.mtime, reason)
        return None, None, f"rejected {upload.path.name}: {reason}"
    registration = register_upload(store, upload.path, profile)
    key = registration.video_id
    has_partition = key in keys_this_tick or context.instance.has_dynamic_partition(
        VIDEO_PARTITIONS_NAME, key
    )
    if key in keys_this_tick or (
        not registration.new and has_partition and not _last_run_failed(context.instance, key)
    ):
        reason = f"the same content as video {key}; not processed twice"
        store.record_rejection(str(upload.path), upload.size_bytes, upload.mtime, reason)
        return None, None, f"{upload.path.name} is {reason}"
    request = dg.RunRequest(
        run_key=f"{key}:{upload.signature}",
        partition_key=key,
        job_name=run_job,
        tags={**video_run_tags(config, profile), PRIORITY_TAG: str(priority)},
    )
    keys_this_tick.add(key)
    return request, (None if has_partition else key), f"{upload.path.name} -> video {key}"


def build_upload_sensor(job_name: str) -> dg.SensorDefinition:
    @dg.sensor(
        name="upload_folder_sensor",
        job_name=job_name,
        minimum_interval_seconds=MIN_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Registers each settled file in VIDMINE_HOME/uploads as a video "
        "partition and launches its run; the run's first asset reads the file and "
        "rejects what is not a readable video.",
    )
    def upload_folder_sensor(
        context: dg.SensorEvaluationContext, database: VidmineDatabase, providers: AIProviders
    ):
        try:
            return _evaluate_uploads(context, database, providers, job_name)
        except Exception as err:  # the sensor never raises: say what happened, try next tick
            context.log.exception("upload sensor tick failed")
            return dg.SkipReason(f"upload sensor tick failed, will retry: {err}")

    return upload_folder_sensor


def _evaluate_uploads(
    context: dg.SensorEvaluationContext,
    database: VidmineDatabase,
    providers: AIProviders,
    job_name: str,
) -> dg.SensorResult | dg.SkipReason:
    """One tick of the upload sensor (see the module docstring)."""
    cursor = UploadCursor.parse(context.cursor)
    try:
        config = providers.config()
    except ConfigError as err:
        return dg.SkipReason(f"vidmine.yaml is invalid, nothing launched: {err}")
    home = VidmineHome.from_env().ensure()
    now = time.time()
    pending = sorted(
        (u for u in scan_uploads(home.uploads) if u.ctime_ns > cursor.watermark),
        key=lambda u: (u.ctime_ns, str(u.path)),
    )

    new_or_changed = [u for u in pending if _new_or_changed(cursor, u)]
    cursor.seen.update(look_again(new_or_changed, now, SETTLE_SECONDS, SECOND_LOOK_SECONDS))

    requests: list[dg.RunRequest] = []
    new_keys: list[str] = []
    keys_this_tick: set[str] = set()
    outcomes: list[str] = []
    waiting = 0
    # How many files arrive in this look: more than queue.bulk_files is a bulk drop.
    arriving = sum(
        1
        for u in pending
        if cursor.taken.get(str(u.path)) != u.signature
        and is_settled(u, cursor.seen.get(str(u.path)), now, SETTLE_SECONDS)
    )
    for upload in pending:
        path = str(upload.path)
        if cursor.taken.get(path) == upload.signature:
            continue
        if not is_settled(upload, cursor.seen.get(path), now, SETTLE_SECONDS):
            cursor.seen[path] = upload.signature
            waiting += 1
            continue
        if len(outcomes) >= MAX_FILES_PER_TICK:
            break
        try:
            priority = run_priority(upload, arriving, config.queue.bulk_files)
            request, key, outcome = _take_upload(
                context, database.store(), config, upload, job_name, keys_this_tick, priority
            )
        except Exception as err:  # a DB outage or a file vanishing: try again next tick
            context.log.warning(f"could not take {path} now, will retry: {err}")
            continue
        cursor.taken[path] = upload.signature
        cursor.seen.pop(path, None)
        outcomes.append(outcome)
        context.log.info(outcome)
        if request is not None:
            requests.append(request)
        if key is not None:
            new_keys.append(key)
    cursor.advance(pending)

    if not requests and not new_keys:
        detail = f"; {waiting} file(s) still being written" if waiting else ""
        summary = "; ".join(outcomes) if outcomes else "no new files in uploads/"
        return dg.SensorResult(skip_reason=summary + detail, cursor=cursor.dump())
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=(
            [video_partitions.build_add_request(new_keys)] if new_keys else []
        ),
        cursor=cursor.dump(),
    )
