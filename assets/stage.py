"""What every stage asset does around its work: find the video, record the stage's
start, outcome and duration, mark the video failed when a stage fails, and hand the
asset the video's profile, folder and a recorder for provider calls."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from resources.database import VidmineDatabase
from resources.media import MediaLibrary
from resources.providers import AIProviders
from vidmine.config import ProfileConfig, VidmineConfig
from vidmine.db.store import Store, VideoRecord
from vidmine.providers.base import MemoryRecorder
from vidmine.providers.pricing import estimate_cost

GROUP_PIPELINE = "video_pipeline"
GROUP_CONTENT = "video_content"
OWNERS = ["team:vidmine"]


@dataclass
class StageWork:
    """What a stage asset works with, and what it reports back."""

    stage: str
    video: VideoRecord
    store: Store
    config: VidmineConfig
    profile_name: str
    profile: ProfileConfig
    video_dir: Path
    recorder: MemoryRecorder = field(default_factory=MemoryRecorder)
    summary: dict[str, Any] = field(default_factory=dict)  # stored with the stage row
    skipped: bool = False

    @property
    def video_id(self) -> str:
        return self.video.video_id

    def skip(self, reason: str) -> dg.MaterializeResult:
        """The profile does not need this stage: report it as skipped, not failed."""
        self.skipped = True
        self.summary = {"status": "skipped", "reason": reason}
        return dg.MaterializeResult(metadata={"status": "skipped", "reason": reason})

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
    fails_video: bool = True,
) -> Iterator[StageWork]:
    video_id = context.partition_key
    store = database.store()
    video = store.get_video(video_id)
    if video is None:
        raise dg.Failure(
            f"video {video_id!r} is not registered: drop the file into VIDMINE_HOME/uploads "
            "or run `vidmine ingest PATH`; a partition added by hand has no source file"
        )
    config = providers.config()
    profile_name = video_profile_name(video, config)
    work = StageWork(
        stage=stage,
        video=video,
        store=store,
        config=config,
        profile_name=profile_name,
        profile=config.profile(profile_name),
        video_dir=media.video_dir(video_id),
    )
    store.start_stage(video_id, stage)
    if video.status != "processing":
        store.set_video_status(video_id, "processing")
    started = time.monotonic()
    try:
        yield work
    except BaseException as err:
        seconds = time.monotonic() - started
        message = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        store.record_provider_calls(video_id, work.recorder.calls)
        store.finish_stage(video_id, stage, "failed", seconds, work.summary, error=message)
        if fails_video:
            store.set_video_status(video_id, "failed", f"{stage} failed: {message}")
        raise
    seconds = time.monotonic() - started
    store.record_provider_calls(video_id, work.recorder.calls)
    status = "skipped" if work.skipped else "succeeded"
    work.summary.setdefault("seconds", round(seconds, 3))
    store.finish_stage(video_id, stage, status, seconds, work.summary)
    context.log.info(f"{stage} {status} for {video_id} in {seconds:.2f} s")
