"""Kinds that say which provider runs an AI stage's assets, from the configuration the
code location loaded.

The decorators in this package name only what an asset is stored in (``postgres``,
``pgvector``): which provider serves a stage is vidmine.yaml's choice, per profile, so
``with_provider_kinds`` adds it when the definitions load. An asset whose stage runs on
the built-in ``local`` provider carries ``local`` and the engine that runs there
(``whisper``, ...), one on OpenAI carries ``openai``, one on a provider named ``groq`` in
vidmine.yaml carries ``groq``. When profiles differ, the asset carries every provider
some profile uses for it, as the jobs' run tags do (``assets.tags.job_run_tags``). A
changed vidmine.yaml shows once the code location reloads, like the jobs' tags.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from vidmine.config import LOCAL_PROVIDER, VidmineConfig
from vidmine.stages import ai_stage_of_asset

# The AI stage (vidmine.config.STAGES) whose provider makes each asset.
AI_STAGE_OF_ASSET: dict[str, str] = ai_stage_of_asset()
# What runs a stage on the local provider (vidmine.providers.local).
LOCAL_ENGINE: dict[str, str] = {
    "transcribe": "whisper",  # faster-whisper
    "vision": "opencv",  # descriptors: OCR text, colours, faces
    "embed": "minilm",  # all-MiniLM-L6-v2 on CTranslate2
    "generate": "extractive",  # no language model: sentences picked from the video
}
MAX_KINDS = 10  # Dagster refuses an asset with more


def stage_providers(config: VidmineConfig, stage: str) -> set[str]:
    """Every provider that the default stages or some profile assign to ``stage``."""
    return {config.stage(stage).provider} | {
        config.stage(stage, profile).provider for profile in config.profiles
    }


def provider_kinds(config: VidmineConfig, stage: str) -> set[str]:
    kinds = stage_providers(config, stage)
    if LOCAL_PROVIDER in kinds:
        kinds.add(LOCAL_ENGINE[stage])
    return kinds


def with_provider_kinds(
    assets_defs: Sequence[dg.AssetsDefinition], config: VidmineConfig
) -> list[dg.AssetsDefinition]:
    """``assets_defs`` with each AI stage asset's kinds extended by its providers."""

    def add_providers(spec: dg.AssetSpec) -> dg.AssetSpec:
        stage = AI_STAGE_OF_ASSET.get(spec.key.to_user_string())
        if stage is None:
            return spec
        stored = set(spec.kinds)
        providers = sorted(provider_kinds(config, stage))
        # Past Dagster's limit (many providers across profiles), the storage kinds and the
        # first providers by name; the run tags still name every one.
        kinds = stored | set(providers[: max(MAX_KINDS - len(stored), 0)])
        return spec.replace_attributes(kinds=kinds)

    return [
        assets_def.map_asset_specs(add_providers)
        if isinstance(assets_def, dg.AssetsDefinition)
        else assets_def
        for assets_def in assets_defs
    ]
