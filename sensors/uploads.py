"""The upload-folder sensor: each new, settled file in ``VIDMINE_HOME/uploads`` becomes
a partition of ``videos`` and one run of ``process_video``.

It never raises: a bad file is recorded as rejected with its reason (and not looked
at again until it changes), and a database outage only postpones the file.
"""

import json
import os
import time
from dataclasses import dataclass, field

import dagster as dg

from assets.partitions import VIDEO_PARTITIONS_NAME, video_partitions
from assets.tags import video_run_tags
from resources.database import open_store
from vidmine.config import ConfigError, load_config
from vidmine.registration import register_upload
from vidmine.settings import VidmineHome
from vidmine.uploads import UploadFile, is_settled, scan_uploads, unsupported_reason

SETTLE_SECONDS = 2.0
MAX_FILES_PER_TICK = 20  # hashing is the slow part; the rest waits for the next tick
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
    """What the sensor remembers between ticks, keyed by path: the last signature seen
    of files still settling, and the signature of files already taken or rejected."""

    seen: dict[str, str] = field(default_factory=dict)
    done: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> "UploadCursor":
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(dict(data.get("seen", {})), dict(data.get("done", {})))
        except (ValueError, AttributeError):
            return cls()

    def dump(self) -> str:
        return json.dumps({"seen": self.seen, "done": self.done}, sort_keys=True)


def _process_upload(
    context: dg.SensorEvaluationContext,
    upload: UploadFile,
    profile: str,
    run_job: str,
    keys_this_tick: set[str],
) -> tuple[dg.RunRequest | None, str | None, str]:
    """Returns (run request, new partition key, outcome sentence)."""
    store = open_store()
    registration = register_upload(store, upload.path, profile)
    if registration.rejected_reason:
        store.record_rejection(
            str(upload.path), upload.size_bytes, upload.mtime, registration.rejected_reason
        )
        return None, None, f"rejected {upload.path.name}: {registration.rejected_reason}"
    key = registration.video_id
    assert key is not None
    has_partition = key in keys_this_tick or context.instance.has_dynamic_partition(
        VIDEO_PARTITIONS_NAME, key
    )
    if key in keys_this_tick or (not registration.new and has_partition and not registration.rerun):
        return None, None, f"{upload.path.name} is the same content as video {key}; not re-run"
    config = load_config()
    request = dg.RunRequest(
        run_key=f"{key}:{upload.signature}",
        partition_key=key,
        job_name=run_job,
        tags=video_run_tags(config, profile),
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
        "partition and launches its run; rejects what is not a readable video.",
    )
    def upload_folder_sensor(context: dg.SensorEvaluationContext):
        try:
            return _evaluate_uploads(context, job_name)
        except Exception as err:  # the sensor never raises: say what happened, try next tick
            context.log.exception("upload sensor tick failed")
            return dg.SkipReason(f"upload sensor tick failed, will retry: {err}")

    return upload_folder_sensor


def _evaluate_uploads(
    context: dg.SensorEvaluationContext, job_name: str
) -> dg.SensorResult | dg.SkipReason:
    """One tick of the upload sensor (see the module docstring)."""
    cursor = UploadCursor.parse(context.cursor)
    try:
        config = load_config()
    except ConfigError as err:
        return dg.SkipReason(f"vidmine.yaml is invalid, nothing launched: {err}")
    home = VidmineHome.from_env().ensure()
    now = time.time()
    uploads = scan_uploads(home.uploads)
    present = {str(u.path) for u in uploads}
    cursor.seen = {p: s for p, s in cursor.seen.items() if p in present}
    cursor.done = {p: s for p, s in cursor.done.items() if p in present}

    requests: list[dg.RunRequest] = []
    new_keys: list[str] = []
    keys_this_tick: set[str] = set()
    outcomes: list[str] = []
    waiting = 0
    for upload in uploads:
        path = str(upload.path)
        if cursor.done.get(path) == upload.signature:
            continue
        if not is_settled(upload, cursor.seen.get(path), now, SETTLE_SECONDS):
            cursor.seen[path] = upload.signature
            waiting += 1
            continue
        if len(outcomes) >= MAX_FILES_PER_TICK:
            break
        profile = upload.profile or config.default_profile
        try:
            reason = unsupported_reason(upload, set(config.profiles))
            if reason:
                open_store().record_rejection(path, upload.size_bytes, upload.mtime, reason)
                request, key, outcome = None, None, f"rejected {upload.path.name}: {reason}"
            else:
                request, key, outcome = _process_upload(
                    context, upload, profile, job_name, keys_this_tick
                )
        except Exception as err:  # a DB outage or a file vanishing: try again next tick
            context.log.warning(f"could not take {path} now, will retry: {err}")
            continue
        cursor.done[path] = upload.signature
        cursor.seen.pop(path, None)
        outcomes.append(outcome)
        context.log.info(outcome)
        if request is not None:
            requests.append(request)
        if key is not None:
            new_keys.append(key)

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
