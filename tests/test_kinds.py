"""The definitions load under each provider configuration, and the AI stages' assets carry
the kinds of the provider that runs them (the Dagster UI shows kinds as the asset's tags):
``local`` and its engine by default, ``openai`` where vidmine.yaml says so, and every
provider some profile uses."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from assets.kinds import AI_STAGE_OF_ASSET
from vidmine.content.kinds import CONTENT_TYPES
from vidmine.stages import code_version

OPENAI_STAGES = {
    "transcribe": {"provider": "openai", "model": "whisper-1"},
    "vision": {"provider": "openai", "model": "gpt-4o"},
    "embed": {"provider": "openai", "model": "text-embedding-3-small"},
    "generate": {"provider": "openai", "model": "gpt-4o-mini"},
}
OPENAI_PROVIDER = {"openai": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "VM_TEST_KEY"}}


def load_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: dict) -> dict:
    """Every asset's kinds, from the definitions loaded under ``config``."""
    path = tmp_path / "vidmine.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("VIDMINE_CONFIG", str(path))
    monkeypatch.setenv("VIDMINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VM_TEST_KEY", "not-a-real-key")
    from pipeline_defs.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    return {key.to_user_string(): graph.get(key).kinds for key in graph.get_all_asset_keys()}


def test_local_assets_say_local_and_their_engine(tmp_path, monkeypatch) -> None:
    kinds = load_kinds(tmp_path, monkeypatch, {})
    assert kinds["transcript"] == {"local", "whisper", "postgres"}
    assert kinds["frame_captions"] == {"local", "opencv", "postgres"}
    assert kinds["embeddings"] == {"local", "minilm", "pgvector", "postgres"}
    for content_type in CONTENT_TYPES:
        assert kinds[content_type] == {"local", "extractive", "postgres"}, content_type
    assert not any("openai" in each for each in kinds.values()), kinds
    # Assets that call no provider keep what their decorator says.
    assert kinds["source_video"] == {"ffmpeg", "postgres"}
    assert kinds["ocr_text"] == {"tesseract", "postgres"}


def test_openai_assets_say_openai(tmp_path, monkeypatch) -> None:
    kinds = load_kinds(
        tmp_path, monkeypatch, {"providers": OPENAI_PROVIDER, "stages": OPENAI_STAGES}
    )
    for asset in AI_STAGE_OF_ASSET:
        assert "openai" in kinds[asset] and "local" not in kinds[asset], (asset, kinds[asset])
    assert kinds["transcript"] == {"openai", "postgres"}
    assert kinds["embeddings"] == {"openai", "pgvector", "postgres"}
    assert kinds["chapters"] == {"openai", "postgres"}


def test_a_profile_on_another_provider_adds_it(tmp_path, monkeypatch) -> None:
    """Content runs locally by default and on a provider of the user's naming in one
    profile: the content assets carry both, the other stages only local."""
    config = {
        "providers": {"groq": {"base_url": "http://127.0.0.1:9/v1"}},
        "profiles": {
            "standard_audio_visual": {},
            "written_by_groq": {"stages": {"generate": {"provider": "groq", "model": "m"}}},
        },
    }
    kinds = load_kinds(tmp_path, monkeypatch, config)
    assert kinds["chapters"] == {"groq", "local", "extractive", "postgres"}
    assert kinds["transcript"] == {"local", "whisper", "postgres"}


def test_the_definitions_still_run_with_the_kinds_added(tmp_path, monkeypatch) -> None:
    """The mapped assets keep their code versions, pools and subsetting."""
    load_kinds(tmp_path, monkeypatch, {})
    from pipeline_defs.definitions import build_definitions

    defs = build_definitions()
    content = defs.get_assets_def(dg.AssetKey("chapters"))
    assert content.can_subset
    assert content.code_versions_by_key[dg.AssetKey("chapters")]
    transcript = defs.get_assets_def("transcript")
    # Derived from the stage registry (it was a hand-bumped "2").
    assert transcript.code_versions_by_key[dg.AssetKey("transcript")] == code_version("transcript")
    assert transcript.op.pool == "vidmine_transcribe"
    assert defs.resolve_job_def("process_video")  # the job still resolves over them
