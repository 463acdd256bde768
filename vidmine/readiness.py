"""When is a video ready: every stage its profile needs has succeeded (or was skipped
because the profile or the file has nothing for it). Which stages those are is the
stage registry's (``vidmine.stages``)."""

from __future__ import annotations

from collections.abc import Mapping

from vidmine.config import ProfileConfig
from vidmine.stages import STAGE_LIST, Needed, required_stages

AUDIO_STAGES = tuple(s.name for s in STAGE_LIST if s.needed is Needed.ALWAYS)
VISUAL_STAGES = tuple(s.name for s in STAGE_LIST if s.needed is Needed.VISUAL)
PIPELINE_STAGES = tuple(s.name for s in STAGE_LIST if s.needed is not Needed.NO)
DONE = ("succeeded", "skipped")

__all__ = ["AUDIO_STAGES", "PIPELINE_STAGES", "VISUAL_STAGES", "required_stages"]


def stages_not_done(stage_status: Mapping[str, str], profile: ProfileConfig) -> dict[str, str]:
    """The stages the profile needs that have not succeeded, with their state."""
    return {
        stage: stage_status.get(stage, "not run")
        for stage in required_stages(profile)
        if stage_status.get(stage) not in DONE
    }
