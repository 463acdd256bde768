"""Names shared by the Dagster layer: run tags and pools. A leaf module (it imports
nothing of ours but the config), so assets, sensors and pipeline_defs all import
downward from here.

Two mechanisms cap work per provider, each truthful about what it counts:

- **Run tags** ``vidmine/provider/<name>``: every run carries a tag for each provider
  its video's profile calls (computed when the run is requested, from that profile),
  and the run queue's ``tag_concurrency_limits`` cap the runs per provider.
- **Pools** are per AI stage (``vidmine_transcribe``, ``vidmine_vision``, ...): a
  step's pool is fixed when the code loads, while the provider serving a stage depends
  on the video's profile, so a pool cannot honestly be a provider's. A stage pool caps
  the steps of that stage; its limit is the largest ``max_concurrent`` of the
  providers any profile uses for the stage. The exact per-provider cap across runs and
  processes is the request slots (``vidmine.providers.slots``).
"""

from __future__ import annotations

from vidmine.config import STAGES, VidmineConfig

PROVIDER_TAG_PREFIX = "vidmine/provider/"
PROFILE_TAG = "vidmine/profile"
PARTITION_TAG = "dagster/partition"
PRIORITY_TAG = "dagster/priority"  # Dagster's queue starts higher values first
FORCE_TAG = "vidmine/force"  # "true": redo every stage even when its inputs did not change


def provider_tag(provider: str) -> str:
    return f"{PROVIDER_TAG_PREFIX}{provider}"


def providers_for(config: VidmineConfig, profile: str | None, stages=STAGES) -> set[str]:
    return {config.stage(stage, profile).provider for stage in stages}


def provider_run_tags(
    config: VidmineConfig, profile: str | None = None, stages=STAGES
) -> dict[str, str]:
    """``{"vidmine/provider/<name>": "true"}`` for every provider the stages call."""
    return {provider_tag(p): "true" for p in sorted(providers_for(config, profile, stages))}


def job_run_tags(config: VidmineConfig, stages=STAGES) -> dict[str, str]:
    """The tags a job carries when launched without a video's own tags (the UI, `dagster
    job launch`): every provider that any profile assigns to the stages, since the run
    may be for a video of any profile. The sensor and `vidmine ingest` tag each run
    with its own profile's providers instead (``video_run_tags``)."""
    providers = set().union(*(providers_for(config, p, stages) for p in config.profiles))
    providers |= providers_for(config, None, stages)
    return {provider_tag(p): "true" for p in sorted(providers)}


def video_run_tags(config: VidmineConfig, profile: str) -> dict[str, str]:
    return {**provider_run_tags(config, profile), PROFILE_TAG: profile}


def stage_pool(stage: str) -> str:
    """The Dagster pool of the steps that run the AI stage ``stage`` (one of STAGES)."""
    if stage not in STAGES:
        raise ValueError(f"unknown AI stage {stage!r}; expected one of {STAGES}")
    return f"vidmine_{stage}"


def stage_pool_limits(config: VidmineConfig) -> dict[str, int]:
    """Each stage pool's limit: the largest ``max_concurrent`` among the providers that
    any profile (the default included) assigns to that stage."""
    limits = {}
    for stage in STAGES:
        providers = {config.stage(stage, name).provider for name in config.profiles}
        providers.add(config.stage(stage).provider)
        limits[stage_pool(stage)] = max(config.provider(p).max_concurrent for p in providers)
    return limits
