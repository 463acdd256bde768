"""Shared by the `vidmine serve` tests: one sample video processed by the real pipeline,
and the app built on it the way the CLI builds it."""

from __future__ import annotations

from pathlib import Path

from pipeline_helpers import ingest_ready

from vidmine.db.pool import PooledStore
from vidmine.providers.local import LocalEmbedder
from vidmine.samples import SampleScene, make_sample_video
from vidmine.settings import VidmineHome
from vidmine.web import WebSettings, create_app

WEB_SCENES = (
    SampleScene("navy", "HARBOUR MAP", "The lighthouse keeper counts the ships at night."),
    SampleScene("darkgreen", "OCEAN TIDES", "The ocean tides are pulled by the moon."),
    SampleScene("maroon", "QUARTERLY RESULTS", "Revenue grew by twelve percent this quarter."),
)
PROFILES = frozenset({"fast_audio_only", "standard_audio_visual", "premium_multimodal"})


def ingest_web_sample(env: dict, folder: Path, name: str = "harbour talk.mp4") -> str:
    """Make and process the sample video; returns its video id."""
    video = make_sample_video(folder / name, WEB_SCENES, size="320x240")
    return ingest_ready(env, video).video_id


def web_app(env: dict, **settings):
    """The app as `vidmine serve` builds it, pooled connections included."""
    settings.setdefault("known_profiles", PROFILES)
    return create_app(
        PooledStore(env["url"]),
        LocalEmbedder(),
        WebSettings(home=VidmineHome(Path(env["home"])), **settings),
    )
