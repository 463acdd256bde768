"""What every stage asset does around its work: find the video, record the stage's
start, outcome and duration, mark the video failed when a stage fails, and hand the
asset the video's profile, folder and a recorder for provider calls."""

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from pipeline_defs.tags import PROFILE_TAG
from resources.database import VidmineDatabase
from resources.media import MediaLibrary
from resources.providers import AIProviders
from vidmine.config import ProfileConfig, VidmineConfig
from vidmine.db.store import StageState, Store, VideoRecord
from vidmine.providers.base import MemoryRecorder
from vidmine.providers.pricing import estimate_cost

GROUP_PIPELINE = "video_pipeline"
GROUP_CONTENT = "video_content"
OWNERS = ["team:vidmine"]
FORCE_TAG = "vidmine/force"  # "true": redo every stage even when its inputs did not change
# Bump when a stage's code changes what it produces, so earlier results are not reused.
STAGE_VERSIONS = {
    "normalize": 1,
    "transcript": 2,  # 2: languages, word times, WebVTT
    "scenes": 1,
    "keyframes": 1,
    "ocr_text": 2,  # 2: read with the video's language packs, rows carry a language
    "frame_captions": 1,
    "embeddings": 2,  # 2: items indexed in their language
    "content": 1,
}


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
    cached: bool = False
    force: bool = False
    previous: dict[str, StageState] = field(default_factory=dict)  # states before this run
    fingerprint: str | None = None

    @property
    def video_id(self) -> str:
        return self.video.video_id

    def skip(self, reason: str) -> dg.MaterializeResult:
        """The profile does not need this stage: report it as skipped, not failed."""
        self.skipped = True
        self.summary = {"status": "skipped", "reason": reason}
        if self.fingerprint:
            self.summary["fingerprint"] = self.fingerprint
        return dg.MaterializeResult(metadata={"status": "skipped", "reason": reason})

    def unchanged(
        self,
        params: dict[str, Any],
        upstream: Sequence[str] = (),
        files: Sequence[Path] = (),
    ) -> bool:
        """Whether this stage already produced its output from the same inputs.

        The fingerprint covers the stage's version, the settings that shape its output
        (profile values, provider, model) and the fingerprints of the stages it reads,
        so changing a video's profile re-does only the stages that setting reaches.
        """
        upstream_prints = {
            name: (self.previous[name].metadata or {}).get("fingerprint")
            if name in self.previous
            else None
            for name in upstream
        }
        payload = {
            "stage": self.stage,
            "version": STAGE_VERSIONS.get(self.stage, 1),
            "params": params,
            "upstream": upstream_prints,
        }
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        self.fingerprint = hashlib.sha256(blob).hexdigest()[:16]
        before = self.previous.get(self.stage)
        reusable = (
            not self.force
            and before is not None
            and before.status in ("succeeded", "skipped")
            and (before.metadata or {}).get("fingerprint") == self.fingerprint
            and all(path.exists() for path in files)
        )
        if reusable:
            self.cached = True
            self.skipped = before.status == "skipped"
            self.summary = {**(before.metadata or {}), "reused": True}
        return reusable

    def cached_result(self) -> dg.MaterializeResult:
        """Report the earlier output, unchanged, without doing the work again."""
        shown = {
            k: v
            for k, v in self.summary.items()
            if isinstance(v, (int, float, str, bool)) and k not in ("reused", "seconds")
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
    work = StageWork(
        stage=stage,
        video=video,
        store=store,
        config=config,
        profile_name=profile_name,
        profile=config.profile(profile_name),
        video_dir=media.video_dir(video_id),
        force=context.run.tags.get(FORCE_TAG, "").lower() == "true",
        previous=store.stage_states(video_id),
    )
    store.start_stage(video_id, stage)
    # A run of the pipeline starts at source_video; a stage re-run alone (a per-stage job,
    # content) leaves a ready video ready unless it fails.
    if stage == "source_video" and video.status != "processing":
        store.set_video_status(video_id, "processing")
    started = time.monotonic()
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
    if work.fingerprint:
        work.summary["fingerprint"] = work.fingerprint
    if not work.cached:
        work.summary["seconds"] = round(seconds, 3)
    store.finish_stage(video_id, stage, status, seconds, work.summary)
    context.log.info(f"{stage} {status} for {video_id} in {seconds:.2f} s")
