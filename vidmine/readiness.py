"""When is a video ready: every stage its profile needs has succeeded."""

from __future__ import annotations

from collections.abc import Mapping

from vidmine.config import ProfileConfig

# The 720p playback copy ("normalize") is made after the video is ready: not required.
AUDIO_STAGES = ("source_video", "decode", "transcript", "embeddings")
VISUAL_STAGES = ("scenes", "keyframes", "ocr_text", "frame_captions")
PIPELINE_STAGES = (
    "source_video",
    "decode",
    "transcript",
    "scenes",
    "keyframes",
    "ocr_text",
    "frame_captions",
    "embeddings",
)


def required_stages(profile: ProfileConfig) -> tuple[str, ...]:
    if profile.visual:
        return PIPELINE_STAGES
    return AUDIO_STAGES


def stages_not_done(stage_status: Mapping[str, str], profile: ProfileConfig) -> dict[str, str]:
    """The stages the profile needs that have not succeeded, with their state."""
    done = {"succeeded", "skipped"}
    return {
        stage: stage_status.get(stage, "not run")
        for stage in required_stages(profile)
        if stage_status.get(stage) not in done
    }
