"""What every stage asset does around its work: find the video, record the stage's
start, outcome, duration and CPU time, mark the video failed when a stage fails, and hand
the asset the video's profile, folder and a recorder for provider calls.

Whether a stage's output can be reused is Dagster's record, not ours: each asset has a
``code_version``, and each materialization's ``DataVersion`` is a hash of that code
version, the settings that shape the output (provider, model, profile values) and the
data versions of the asset's declared deps. A stage whose version would not change
keeps its output and reports the same data version, so nothing downstream goes stale,
and the UI's "stale" marks and vidmine's reuse agree.
"""

import hashlib
import json
import resource
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from assets.tags import FORCE_TAG, PROFILE_TAG
from resources.database import VidmineDatabase
from resources.media import MediaLibrary
from resources.providers import AIProviders
from vidmine.config import ProfileConfig, VidmineConfig
from vidmine.db.models import StageState, VideoRecord
from vidmine.db.store import Store
from vidmine.providers.base import MemoryRecorder
from vidmine.providers.pricing import estimate_cost

GROUP_PIPELINE = "video_pipeline"
GROUP_CONTENT = "video_content"
OWNERS = ["team:vidmine"]
# Dagster stores each materialization's data version under this tag.
DATA_VERSION_TAG = "dagster/data_version"
RETRY_NUMBER_TAG = "dagster/retry_number"  # set on the runs that run_retries launches
TIMINGS = ("seconds", "cpu_seconds")  # what a stage's last attempt took, not what it made


def cpu_seconds() -> float:
    """CPU time of this process, all its threads, and the child processes it has waited
    for (ffmpeg, tesseract workers). A run's steps go one after another in the run's
    process, so the change across a step is that step's CPU time."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def latest_data_version(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> str | None:
    """The data version of the latest materialization of ``key`` for ``partition``."""
    record = instance.get_latest_data_version_record(key, partition_key=partition)
    materialization = record.asset_materialization if record is not None else None
    return (materialization.tags or {}).get(DATA_VERSION_TAG) if materialization else None


@dataclass
class StageWork:
    """What a stage asset works with, and what it reports back."""

    stage: str
    context: dg.AssetExecutionContext
    asset_keys: tuple[dg.AssetKey, ...]  # what this stage materializes in this step
    video: VideoRecord
    store: Store
    config: VidmineConfig
    profile_name: str
    profile: ProfileConfig
    video_dir: Path
    recorder: MemoryRecorder = field(default_factory=MemoryRecorder)
    summary: dict[str, Any] = field(default_factory=dict)  # stored with the stage row
    skipped: bool = False
    cached: bool = False
    force: bool = False
    previous: dict[str, StageState] = field(default_factory=dict)  # states before this run

    @property
    def video_id(self) -> str:
        return self.video.video_id

    def skip(self, reason: str) -> dg.MaterializeResult:
        """The profile does not need this stage: report it as skipped, not failed."""
        self.skipped = True
        self.summary = {"status": "skipped", "reason": reason}
        return dg.MaterializeResult(metadata={"status": "skipped", "reason": reason})

    def unchanged(self, params: dict[str, Any], files: Sequence[Path] = ()) -> bool:
        """Whether this stage already produced its output from the same inputs.

        Sets each of the stage's assets' data version for this materialization: a hash of
        the asset's code version, ``params`` (the settings that shape its output) and the
        data versions of its declared deps, so changing a video's profile re-does only the
        stages that setting reaches. The output is reused when the latest materialization
        has that same version, the stage's last attempt ended well, nothing forces a redo,
        and ``files`` still exist.
        """
        assets_def = self.context.assets_def
        partition = self.video_id
        instance = self.context.instance
        deps = sorted(
            {dep for key in self.asset_keys for dep in assets_def.asset_deps.get(key, ())},
            key=lambda key: key.to_user_string(),
        )
        inputs = {
            dep.to_user_string(): latest_data_version(instance, dep, partition) for dep in deps
        }
        before = self.previous.get(self.stage)
        reusable = (
            not self.force
            and before is not None
            and before.status in ("succeeded", "skipped")
            and all(path.exists() for path in files)
        )
        for key in self.asset_keys:
            payload = {
                "code_version": assets_def.code_versions_by_key.get(key),
                "params": params,
                "inputs": inputs,
            }
            blob = json.dumps(payload, sort_keys=True, default=str).encode()
            version = hashlib.sha256(blob).hexdigest()[:20]
            self.context.set_data_version(key, dg.DataVersion(version))
            reusable = reusable and latest_data_version(instance, key, partition) == version
        if reusable:
            assert before is not None
            self.cached = True
            self.skipped = before.status == "skipped"
            self.summary = {**(before.metadata or {}), "reused": True}
        return reusable

    def cached_result(self) -> dg.MaterializeResult:
        """Report the earlier output, unchanged, without doing the work again."""
        shown = {
            k: v
            for k, v in self.summary.items()
            if isinstance(v, (int, float, str, bool)) and k != "reused" and k not in TIMINGS
        }
        return dg.MaterializeResult(metadata={**shown, "status": "cached"})

    def visual_skip_reason(self) -> str | None:
        """Why the visual stages have nothing to do for this video, or None."""
        if not self.profile.visual:
            return f"profile {self.profile_name} has no visual stages"
        if not self.video.has_video:
            return "no video stream (audio-only file)"
        return None

    @property
    def normalized_video_path(self) -> Path:
        return self.video_dir / "normalized.mp4"

    @property
    def audio_wav_path(self) -> Path:
        return self.video_dir / "audio.wav"

    def save_provider_calls(self) -> None:
        self.store.record_provider_calls(
            self.video_id,
            self.recorder.calls,
            cost_fn=lambda call: estimate_cost(call, self.config.prices),
        )

    def provider_metadata(self) -> dict[str, Any]:
        """Calls, cache hits and estimated cost of this stage's provider calls."""
        calls = self.recorder.calls
        if not calls:
            return {}
        cost = sum(estimate_cost(c, self.config.prices) for c in calls)
        return {
            "provider": calls[0].provider,
            "model": calls[0].model,
            "provider_calls": sum(1 for c in calls if not c.cached),
            "cache_hits": sum(1 for c in calls if c.cached),
            "retries": sum(c.retries for c in calls),
            "estimated_cost_usd": round(cost, 6),
        }


def video_profile_name(video: VideoRecord, config: VidmineConfig) -> str:
    return video.profile or config.default_profile


@contextmanager
def stage_work(
    context: dg.AssetExecutionContext,
    stage: str,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
    *,
    asset_keys: Sequence[str] | None = None,
    fails_video: bool = True,
) -> Iterator[StageWork]:
    """``asset_keys``: the assets this stage materializes; by default the step's selection."""
    video_id = context.partition_key
    store = database.store()
    video = store.get_video(video_id)
    if video is None:
        raise dg.Failure(
            f"video {video_id!r} is not registered: drop the file into VIDMINE_HOME/uploads "
            "or run `vidmine ingest PATH`; a partition added by hand has no source file"
        )
    config = providers.config()
    tagged_profile = context.run.tags.get(PROFILE_TAG)
    if tagged_profile and tagged_profile != video.profile:
        if tagged_profile not in config.profiles:
            raise dg.Failure(
                f"run tag {PROFILE_TAG}={tagged_profile!r} names no profile; "
                f"use one of {sorted(config.profiles)}"
            )
        store.set_video_profile(video_id, tagged_profile)
        video = store.get_video(video_id) or video
    profile_name = video_profile_name(video, config)
    keys = (
        tuple(dg.AssetKey(key) for key in asset_keys)
        if asset_keys is not None
        else tuple(context.selected_asset_keys)
    )
    work = StageWork(
        stage=stage,
        context=context,
        asset_keys=keys,
        video=video,
        store=store,
        config=config,
        profile_name=profile_name,
        profile=config.profile(profile_name),
        video_dir=media.video_dir(video_id),
        force=context.run.tags.get(FORCE_TAG, "").lower() == "true",
        previous=store.stage_states(video_id),
    )
    store.start_stage(video_id, stage, context.run.run_id)
    # A run of the pipeline starts at source_video; an automatic retry of a run whose
    # worker died starts where that run stopped; a stage re-run alone (a per-stage job,
    # content) leaves a ready video ready unless it fails.
    retried = bool(context.run.tags.get(RETRY_NUMBER_TAG))
    if (stage == "source_video" or (retried and video.status == "failed")) and (
        video.status != "processing"
    ):
        store.set_video_status(video_id, "processing")
    started = time.monotonic()
    cpu_started = cpu_seconds()
    try:
        yield work
    except BaseException as err:
        seconds = time.monotonic() - started
        message = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        work.save_provider_calls()
        store.finish_stage(video_id, stage, "failed", seconds, work.summary, error=message)
        if fails_video:
            store.set_video_status(video_id, "failed", f"{stage} failed: {message}")
        raise
    seconds = time.monotonic() - started
    work.save_provider_calls()
    status = "skipped" if work.skipped else "succeeded"
    if not work.cached:
        work.summary["seconds"] = round(seconds, 3)
        work.summary["cpu_seconds"] = round(cpu_seconds() - cpu_started, 3)
    store.finish_stage(video_id, stage, status, seconds, work.summary)
    context.log.info(f"{stage} {status} for {video_id} in {seconds:.2f} s")
