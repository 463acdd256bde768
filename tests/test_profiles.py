"""Profiles: a video's profile decides its visual work, and changing it re-does only the
stages that the change reaches (the others report ``cached``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_runtime.ingest import ingest_file
from vidmine.config import load_config
from vidmine.media.probe import sha256_file
from vidmine.samples import SampleScene, make_sample_video

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return make_sample_video(
        tmp_path_factory.mktemp("profiles") / "profile sample.mp4",
        (
            SampleScene("navy", "FIRST SLIDE", "Profiles decide how much visual work is done."),
            SampleScene("maroon", "SECOND SLIDE", ""),
        ),
        size="640x360",
    )


def run(env: dict, path: Path, profile: str) -> dict[str, dict]:
    outcome = ingest_file(path, profile, load_config(), env["instance"])
    assert outcome.status == "ready", outcome.error
    return {s.stage: {"status": s.status, **s.metadata} for s in outcome.stages}


def reused(stages: dict[str, dict]) -> set[str]:
    return {name for name, meta in stages.items() if meta.get("reused")}


def test_profile_change_redoes_only_what_it_reaches(pipeline_env: dict, sample: Path) -> None:
    store = pipeline_env["store"]
    audio_only = run(pipeline_env, sample, "fast_audio_only")
    video_id = store.find_video_by_sha256(sha256_file(sample)).video_id
    for stage in ("scenes", "keyframes", "ocr_text", "frame_captions"):
        assert audio_only[stage]["status"] == "skipped"
    assert store.load_scenes(video_id) == [] and store.load_ocr_texts(video_id) == []
    assert store.get_video(video_id).profile == "fast_audio_only"

    standard = run(pipeline_env, sample, "standard_audio_visual")
    # The wav and speech do not depend on the profile.
    assert reused(standard) == {"audio_wav", "transcript", "speakers"}
    assert standard["scenes"]["status"] == "succeeded" and store.load_scenes(video_id)

    again = run(pipeline_env, sample, "standard_audio_visual")
    assert reused(again) >= {
        "audio_wav",
        "normalized_video",
        "transcript",
        "scenes",
        "keyframes",
        "ocr_text",
        "frame_captions",
        "embeddings",
        "content",
    }

    premium = run(pipeline_env, sample, "premium_multimodal")
    # More keyframes, OCR at 1 fps, higher image detail: those and what reads them.
    assert reused(premium) == {"audio_wav", "normalized_video", "transcript", "speakers", "scenes"}
    assert store.get_video(video_id).profile == "premium_multimodal"
