"""The registry of a video's stages: the one vocabulary the assets, readiness, the jobs,
the checks and the status rows share.

A stage is a step of a video's pipeline as a person names it in `vidmine status`, the
web app and the ``stage_runs`` rows; its name is its asset's key (the content stage,
which writes ten assets in one step, is the one stage with several). Each stage says
which AI stage (``vidmine.config.STAGES``) serves it, whether a video is ``ready``
without it, which per-stage job re-runs it, and its code version.

Code versions are derived here, one way for all: a short hash of what names the stage's
code (its name and ``revision``), as content kinds hash their prompt and schema
(``ContentKind.version``). Bump ``revision`` when a stage's code changes what it makes.

Dagster-free on purpose (``tests/test_layers.py``): the Dagster layer reads this; this
reads nothing of it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import Enum

from vidmine.config import STAGES, ProfileConfig
from vidmine.content.kinds import CONTENT_KINDS, CONTENT_TYPES


class Needed(Enum):
    """Whether a video needs a stage to be ``ready``."""

    ALWAYS = "always"  # every profile: the audio path to a searchable video
    VISUAL = "visual"  # profiles with visual stages (an audio-only profile skips them)
    NO = "no"  # made after or beside readiness: a failure leaves the video searchable


@dataclass(frozen=True)
class Stage:
    name: str
    revision: int = 1  # bump when the stage's code changes what it makes
    ai_stage: str | None = None  # the vidmine.config.STAGES entry whose provider it calls
    needed: Needed = Needed.NO
    job: str | None = None  # the per-stage job that re-runs it for one video
    assets: tuple[str, ...] = ()  # its asset keys; by default the one named like the stage

    def __post_init__(self) -> None:
        if self.ai_stage is not None and self.ai_stage not in STAGES:
            raise ValueError(f"stage {self.name}: unknown AI stage {self.ai_stage!r}")
        if not self.assets:
            object.__setattr__(self, "assets", (self.name,))

    @property
    def fails_video(self) -> bool:
        """A failure of this stage fails the video: one the video needs, or the readiness
        check itself."""
        return self.needed is not Needed.NO or self.name == READY_STAGE

    def code_version(self, asset_key: str) -> str:
        """The ``code_version`` of one of this stage's assets."""
        if asset_key not in self.assets:
            raise ValueError(f"stage {self.name} makes no asset {asset_key!r}")
        if asset_key in CONTENT_KINDS:
            return CONTENT_KINDS[asset_key].version  # its prompt, schema and revision
        canonical = json.dumps({"stage": self.name, "asset": asset_key, "revision": self.revision})
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


CONTENT_STAGE = "content"
READY_STAGE = "video_ready"

# In the order a video goes through them.
STAGE_LIST: tuple[Stage, ...] = (
    Stage("source_video", needed=Needed.ALWAYS),
    Stage("audio_wav", needed=Needed.ALWAYS),
    # 2: languages, word times, WebVTT; 3: speech after a window's early end decoded again;
    # 4: a window whose decode looped decoded again in 10 s pieces
    Stage("transcript", 4, "transcribe", Needed.ALWAYS, job="transcribe_video"),
    # offline, or the speakers the transcript holds; 2: padded turns, centred count
    Stage("speakers", 2, job="label_speakers"),
    Stage("scenes", needed=Needed.VISUAL),
    Stage("keyframes", needed=Needed.VISUAL),
    Stage("ocr_text", 2, needed=Needed.VISUAL),  # 2: the video's language packs
    Stage("frame_captions", 1, "vision", Needed.VISUAL, job="caption_video"),
    Stage("embeddings", 2, "embed", Needed.ALWAYS, job="embed_video"),  # 2: per language
    Stage(READY_STAGE),
    # The playback copy is made after the video is ready. 2: the copy has sound.
    Stage("normalized_video", 2),
    Stage("video_brief", job="write_content"),  # what the ten writers read, gathered once
    Stage(CONTENT_STAGE, ai_stage="generate", job="write_content", assets=CONTENT_TYPES),
)
STAGE_BY_NAME: dict[str, Stage] = {stage.name: stage for stage in STAGE_LIST}
STAGE_OF_ASSET: dict[str, Stage] = {key: stage for stage in STAGE_LIST for key in stage.assets}


def stage(name: str) -> Stage:
    """One stage by name; a clear error for an unknown one."""
    try:
        return STAGE_BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"unknown stage {name!r}; expected one of {', '.join(STAGE_BY_NAME)}"
        ) from None


def code_version(asset_key: str) -> str:
    """The ``code_version`` of the asset ``asset_key``."""
    return STAGE_OF_ASSET[asset_key].code_version(asset_key)


def required_stages(profile: ProfileConfig) -> tuple[str, ...]:
    """The stages a video of ``profile`` needs before it is ``ready``."""
    needed = {Needed.ALWAYS, Needed.VISUAL} if profile.visual else {Needed.ALWAYS}
    return tuple(s.name for s in STAGE_LIST if s.needed in needed)


def stage_jobs() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Per-stage jobs: name -> (the asset keys it selects, the AI stages they call)."""
    jobs: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for s in STAGE_LIST:
        if s.job is None:
            continue
        assets, ai_stages = jobs.get(s.job, ((), ()))
        more_ai = (s.ai_stage,) if s.ai_stage and s.ai_stage not in ai_stages else ()
        jobs[s.job] = (assets + s.assets, ai_stages + more_ai)
    return jobs


def ai_stage_of_asset() -> dict[str, str]:
    """The AI stage whose provider makes each asset, for the assets that have one."""
    return {key: s.ai_stage for s in STAGE_LIST if s.ai_stage for key in s.assets}
