"""Helpers for tests that run the whole pipeline in-process (see ``pipeline_env``)."""

from __future__ import annotations

from pathlib import Path

from pipeline_defs.ingest import IngestOutcome, ingest_file
from vidmine.config import load_config


def ingest_ready(
    env: dict, path: Path, profile: str = "standard_audio_visual", *, force: bool = False
) -> IngestOutcome:
    """Process ``path`` the way `vidmine ingest` does and insist it reaches ready."""
    outcome = ingest_file(path, profile, load_config(), env["instance"], force=force)
    assert outcome.status == "ready", (
        outcome.error,
        [(s.stage, s.status, s.error) for s in outcome.stages],
    )
    return outcome
