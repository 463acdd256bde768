"""What every stage asset does around its work: find the video, hand the asset the
video's profile, folder and a recorder for provider calls, save the provider calls, and
observe the stage's duration and CPU time. The stage rows and the video's status are not
written here but projected from Dagster's event log (``assets.stage_record``).

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

from assets.stage_record import TIMINGS, plain_metadata, project_video
from assets.tags import FORCE_TAG, PROFILE_TAG
from resources.database import VidmineDatabase
from resources.media import MediaLibrary
from resources.providers import AIProviders
from vidmine.config import ProfileConfig, VidmineConfig
from vidmine.db.models import VideoRecord
from vidmine.db.store import Store
from vidmine.providers.base import MemoryRecorder
from vidmine.providers.pricing import estimate_cost
from vidmine.stages import Stage
from vidmine.stages import stage as stage_named

GROUP_PIPELINE = "video_pipeline"
GROUP_CONTENT = "video_content"
OWNERS = ["team:vidmine"]
# Dagster stores each materialization's data version under this tag.
DATA_VERSION_TAG = "dagster/data_version"


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
    record = instance.get_latest_data_version_record(key, is_source=False, partition_key=partition)
    materialization = record.asset_materialization if record is not None else None
    return (materialization.tags or {}).get(DATA_VERSION_TAG) if materialization else None


def latest_materialization(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> dg.AssetMaterialization | None:
    """The latest materialization of ``key`` for ``partition``, with its metadata and tags."""
    record = instance.get_latest_data_version_record(key, is_source=False, partition_key=partition)
    return record.asset_materialization if record is not None else None


def summary_of(materialization: dg.AssetMaterialization) -> dict[str, Any]:
    """What a reused stage reports again: the plain values of its latest metadata."""
    return {k: v for k, v in plain_metadata(materialization.metadata).items() if k not in TIMINGS}


@dataclass
class StageWork:
    """What a stage asset works with, and what it reports back."""

    stage: Stage
    context: dg.AssetExecutionContext
    asset_keys: tuple[dg.AssetKey, ...]  # what this stage materializes in this step
    video: VideoRecord
    store: Store
    config: VidmineConfig
    profile_name: str
    profile: ProfileConfig
    video_dir: Path
    recorder: MemoryRecorder = field(default_factory=MemoryRecorder)
    summary: dict[str, Any] = field(default_factory=dict)  # for the stage row, in brief
    skipped: bool = False
    cached: bool = False
    force: bool = False
    data_versions: dict[dg.AssetKey, str] = field(default_factory=dict)  # set for this step

    @property
    def video_id(self) -> str:
        return self.video.video_id

    def skip(self, reason: str) -> dg.MaterializeResult:
        """The profile does not need this stage: report it as skipped, not failed."""
        self.skipped = True
        self.summary = {"status": "skipped", "reason": reason}
        return dg.MaterializeResult(metadata={"status": "skipped", "reason": reason})

    def set_data_versions(self, params: dict[str, Any]) -> None:
        """Set each of the stage's assets' data version for this materialization: a hash of
        the asset's code version, ``params`` (the settings that shape its output) and the
        data versions of its declared deps, so changing a video's profile re-does only the
        stages that setting reaches."""
        assets_def = self.context.assets_def
        instance = self.context.instance
        deps = sorted(
            {dep for key in self.asset_keys for dep in assets_def.asset_deps.get(key, ())},
            key=lambda key: key.to_user_string(),
        )
        inputs = {
            dep.to_user_string(): latest_data_version(instance, dep, self.video_id) for dep in deps
        }
        for key in self.asset_keys:
            payload = {
                "code_version": assets_def.code_versions_by_key.get(key),
                "params": params,
                "inputs": inputs,
            }
            blob = json.dumps(payload, sort_keys=True, default=str).encode()
            version = hashlib.sha256(blob).hexdigest()[:20]
            self.context.set_data_version(key, dg.DataVersion(version))
            self.data_versions[key] = version

    def reusable(self, files: Sequence[Path] = ()) -> bool:
        """Whether the stage's latest materializations (Dagster's record of what it made)
        have the data versions set for this step: nothing forces a redo, and ``files``
        still exist. Asks only; ``mark_reused`` acts on the answer."""
        assert self.data_versions, "set_data_versions first"
        if self.force or not all(path.exists() for path in files):
            return False
        instance = self.context.instance
        return all(
            latest_data_version(instance, key, self.video_id) == version
            for key, version in self.data_versions.items()
        )

    def mark_reused(self) -> None:
        """Report the latest materialization's output again instead of redoing it."""
        latest = latest_materialization(self.context.instance, self.asset_keys[0], self.video_id)
        before = summary_of(latest) if latest is not None else {}
        self.cached = True
        self.skipped = before.get("status") == "skipped" or bool(before.get("skipped"))
        self.summary = {**before, "reused": True}

    def reuse_if_unchanged(self, params: dict[str, Any], files: Sequence[Path] = ()) -> bool:
        """Set the data versions and, when the output can be reused, mark it reused;
        returns whether it did."""
        self.set_data_versions(params)
        if not self.reusable(files):
            return False
        self.mark_reused()
        return True

    def cached_result(self) -> dg.MaterializeResult:
        """Report the earlier output, unchanged, without doing the work again."""
        shown = {
            k: v
            for k, v in self.summary.items()
            if isinstance(v, (int, float, str, bool)) and k != "reused" and k not in TIMINGS
        }
        # A skipped stage stays skipped when reused: the status says cached, this says why.
        skipped = {"skipped": True} if self.skipped else {}
        return dg.MaterializeResult(metadata={**shown, **skipped, "status": "cached"})

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
    stage_name: str,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> Iterator[StageWork]:
    """The work of the stage ``stage_name`` (``vidmine.stages``) on the step's video: the
    stage's assets that the step materializes."""
    stage = stage_named(stage_name)
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
    keys = tuple(
        dg.AssetKey(key) for key in stage.assets if dg.AssetKey(key) in context.selected_asset_keys
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
    )
    # The rows show this step running (its start is in the event log by now).
    project_video(context.instance, store, video_id)
    started = time.monotonic()
    cpu_started = cpu_seconds()
    try:
        yield work
    finally:
        work.save_provider_calls()
    seconds = time.monotonic() - started
    if not work.cached and keys:
        # What the stage made in brief and what its work took, for its row
        # (assets.stage_record): an observation, since a generator step's materializations
        # are logged before this line runs.
        cpu = cpu_seconds() - cpu_started
        report = {
            **{k: v for k, v in work.summary.items() if v is not None},
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
        }
        context.log_event(
            dg.AssetObservation(asset_key=keys[0], partition=video_id, metadata=report)
        )
    status = "skipped" if work.skipped else "cached" if work.cached else "succeeded"
    context.log.info(f"{stage.name} {status} for {video_id} in {seconds:.2f} s")
