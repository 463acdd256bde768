"""Which object serves each AI stage, chosen from the config.

``config.stage(stage, profile)`` names the provider and model; the provider ``local``
is the built-in offline one (:mod:`vidmine.providers.local`), and any other name is an
OpenAI-compatible endpoint described under ``providers.<name>`` in vidmine.yaml.

An OpenAI-compatible provider's ``max_concurrent`` is held across processes through
request slots in vidmine's database (:mod:`vidmine.providers.slots`) whenever the
database is known: given as ``slots_database_url``, or taken from the cache when the
cache is vidmine's Store, a :class:`~vidmine.providers.cache.DatabaseCache` (as in
pipeline runs and the CLI). Without either, the bound holds within this process only.
"""

from __future__ import annotations

from typing import Any

from vidmine.config import LOCAL_PROVIDER, ConfigError, VidmineConfig
from vidmine.providers import local
from vidmine.providers.base import CallRecorder, Captioner, Embedder, TextGenerator, Transcriber
from vidmine.providers.cache import DatabaseCache, ResponseCache
from vidmine.providers.openai import (
    OpenAICaptioner,
    OpenAIEmbedder,
    OpenAITextGenerator,
    OpenAITranscriber,
)

_LOCAL_MODELS: dict[str, tuple[str, ...]] = {
    "transcribe": local.TRANSCRIBE_MODELS,
    "vision": (local.CAPTION_MODEL,),
    "embed": (local.EMBED_MODEL,),
    "generate": (local.GENERATE_MODEL,),
}


def _choice(config: VidmineConfig, stage: str, profile: str | None) -> tuple[str, str]:
    chosen = config.stage(stage, profile)
    model = chosen.model or ""
    if chosen.provider == LOCAL_PROVIDER and model not in _LOCAL_MODELS[stage]:
        known = " or ".join(repr(m) for m in _LOCAL_MODELS[stage])
        raise ConfigError(
            f"stages.{stage}.model: the local provider has only {known} for {stage}, not "
            f"{model!r}; remove the model or choose another provider"
        )
    return chosen.provider, model


def _slots_url(cache: ResponseCache | None, slots_database_url: str | None) -> str | None:
    if slots_database_url is not None:
        return slots_database_url
    return cache.url if isinstance(cache, DatabaseCache) else None


def _remote(
    config: VidmineConfig,
    provider: str,
    model: str,
    recorder: CallRecorder,
    cache: ResponseCache | None,
    slots_database_url: str | None,
) -> dict[str, Any]:
    """The settings every OpenAI-compatible provider object is built with."""
    return {
        "provider": provider,
        "model": model,
        "config": config.provider(provider),
        "recorder": recorder,
        "cache": cache,
        "slots_database_url": _slots_url(cache, slots_database_url),
    }


def transcriber_for(
    config: VidmineConfig,
    profile: str | None,
    recorder: CallRecorder,
    cache: ResponseCache | None = None,
    *,
    slots_database_url: str | None = None,
) -> Transcriber:
    provider, model = _choice(config, "transcribe", profile)
    settings = config.stage("transcribe", profile)
    language = settings.language
    if provider == LOCAL_PROVIDER:
        return local.LocalTranscriber(
            recorder, model=model, language=language, device=settings.device
        )
    return OpenAITranscriber(
        **_remote(config, provider, model, recorder, cache, slots_database_url),
        language=language,
    )


def captioner_for(
    config: VidmineConfig,
    profile: str | None,
    recorder: CallRecorder,
    cache: ResponseCache | None = None,
    *,
    slots_database_url: str | None = None,
) -> Captioner:
    provider, model = _choice(config, "vision", profile)
    if provider == LOCAL_PROVIDER:
        return local.LocalCaptioner(recorder)
    profile_config = config.profile(profile)
    return OpenAICaptioner(
        **_remote(config, provider, model, recorder, cache, slots_database_url),
        detail=profile_config.image_detail,
        max_image_px=profile_config.max_image_px,
    )


def embedder_for(
    config: VidmineConfig,
    profile: str | None,
    recorder: CallRecorder,
    cache: ResponseCache | None = None,
    *,
    slots_database_url: str | None = None,
) -> Embedder:
    provider, model = _choice(config, "embed", profile)
    settings = config.stage("embed", profile)
    dimensions = settings.dimensions
    if provider == LOCAL_PROVIDER:
        if dimensions not in (None, local.EMBED_DIMENSIONS):
            raise ConfigError(
                f"stages.embed.dimensions: {local.EMBED_MODEL} has {local.EMBED_DIMENSIONS} "
                f"dimensions, not {dimensions}; remove the setting"
            )
        return local.LocalEmbedder(recorder, device=settings.device)
    if dimensions is None:
        raise ConfigError(
            f"stages.embed.dimensions: vidmine does not know how many dimensions {model!r} "
            "returns; set stages.embed.dimensions in vidmine.yaml"
        )
    return OpenAIEmbedder(
        **_remote(config, provider, model, recorder, cache, slots_database_url),
        dimensions=dimensions,
    )


def generator_for(
    config: VidmineConfig,
    profile: str | None,
    recorder: CallRecorder,
    cache: ResponseCache | None = None,
    *,
    slots_database_url: str | None = None,
) -> TextGenerator | None:
    """The language model that writes content and answers; None under the ``local``
    provider, which has none: its callers write extractively from the video's text."""
    provider, model = _choice(config, "generate", profile)
    if provider == LOCAL_PROVIDER:
        return None
    return OpenAITextGenerator(
        **_remote(config, provider, model, recorder, cache, slots_database_url),
    )
