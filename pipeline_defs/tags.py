"""Run tags that name the providers a run calls, so the run queue can cap runs per
provider (``tag_concurrency_limits`` on ``vidmine/provider/<name>``)."""

from __future__ import annotations

from vidmine.config import STAGES, VidmineConfig, load_config

PROVIDER_TAG_PREFIX = "vidmine/provider/"
PROFILE_TAG = "vidmine/profile"
PARTITION_TAG = "dagster/partition"


def provider_tag(provider: str) -> str:
    return f"{PROVIDER_TAG_PREFIX}{provider}"


def providers_for(config: VidmineConfig, profile: str | None, stages=STAGES) -> set[str]:
    return {config.stage(stage, profile).provider for stage in stages}


def provider_run_tags(
    config: VidmineConfig, profile: str | None = None, stages=STAGES
) -> dict[str, str]:
    """``{"vidmine/provider/<name>": "true"}`` for every provider the stages call."""
    return {provider_tag(p): "true" for p in sorted(providers_for(config, profile, stages))}


def video_run_tags(config: VidmineConfig, profile: str) -> dict[str, str]:
    return {**provider_run_tags(config, profile), PROFILE_TAG: profile}


def provider_pool(provider: str) -> str:
    """The Dagster pool that caps concurrent steps calling ``provider``."""
    return f"vidmine_{provider}"


def stage_pool(stage: str) -> str:
    """The pool of the provider the config assigns to ``stage`` (default profile)."""
    return provider_pool(load_config().stage(stage).provider)
