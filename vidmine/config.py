"""vidmine's configuration file (``VIDMINE_CONFIG``, default ``VIDMINE_HOME/vidmine.yaml``).

The file names providers (``local`` is built in), which provider and model each AI
stage uses (per profile where they differ), the processing profiles and a price
table. It is validated when loaded: a bad file fails before any run starts, with a
message naming the offending key. API keys never live here, only the *name* of the
environment variable holding one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vidmine.languages import normalize_language
from vidmine.settings import VidmineHome

STAGES = ("transcribe", "vision", "embed", "generate")
LOCAL_PROVIDER = "local"
# The local stages that run a model CTranslate2 can place on a CUDA GPU.
DEVICE_STAGES = ("transcribe", "embed")


class ConfigError(ValueError):
    """The configuration file is invalid; the message names the key and the file."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderConfig(_Strict):
    base_url: str | None = None
    api_key_env: str | None = None
    max_concurrent: int = Field(default=4, ge=1)
    requests_per_minute: float = Field(default=500, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=5, ge=0)


class StageConfig(_Strict):
    provider: str = LOCAL_PROVIDER
    model: str | None = None
    dimensions: int | None = Field(default=None, ge=1)
    # transcribe only: the spoken language as an ISO 639-1 code ("de"); unset, each
    # stretch of speech is transcribed in the language Whisper hears there.
    language: str | None = None
    # local transcribe and embed only: where the model runs. auto: a CUDA GPU when
    # CTranslate2 finds one, else the CPU; cuda: fail when there is none.
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @model_validator(mode="after")
    def _check_language(self) -> StageConfig:
        if self.language is not None:
            code = normalize_language(self.language)
            if code is None:
                raise ValueError(
                    f"language: {self.language!r} is not a language code or name Whisper "
                    "knows; use an ISO 639-1 code such as en, de, fr or es"
                )
            self.language = code
        return self


class ProfileConfig(_Strict):
    description: str = ""
    visual: bool = True  # False: no scenes/keyframes/ocr/captions
    ocr_fps: float = Field(default=0.5, ge=0)
    # True: a text detector picks the frames and regions tesseract reads (vidmine/media/ocr.py;
    # its model comes with the local extra). Off by default until its readings are accepted:
    # they differ from whole-frame readings (docs/performance.md, bench/quality.py).
    ocr_text_detector: bool = False
    keyframes_per_scene: int = Field(default=1, ge=1)
    long_scene_s: float = Field(default=10.0, gt=0)  # a scene longer than this gets more keyframes
    image_detail: Literal["low", "high", "auto"] = "low"
    max_image_px: int = Field(default=768, ge=64)
    stages: dict[str, StageConfig] = Field(default_factory=dict)


class Price(_Strict):
    input_per_1m_tokens: float = 0.0
    output_per_1m_tokens: float = 0.0
    per_audio_minute: float = 0.0


DEFAULT_STAGE_MODELS: dict[str, dict[str, str]] = {
    LOCAL_PROVIDER: {
        "transcribe": "base",  # multilingual; "tiny.en" is faster, English only
        "vision": "descriptor",
        "embed": "all-MiniLM-L6-v2",
        "generate": "extractive",
    },
    "openai": {
        "transcribe": "whisper-1",
        "vision": "gpt-4o",
        "embed": "text-embedding-3-small",
        "generate": "gpt-4o-mini",
    },
}
# The local model a profile uses for a stage when vidmine.yaml names none, where it differs
# from DEFAULT_STAGE_MODELS, e.g. {"fast_audio_only": {"transcribe": "tiny.en"}}.
DEFAULT_PROFILE_LOCAL_MODELS: dict[str, dict[str, str]] = {}
DEFAULT_DIMENSIONS = {"all-MiniLM-L6-v2": 384, "text-embedding-3-small": 1536}


class MediaLimits(_Strict):
    """What vidmine takes at all, checked on the file's probe (web uploads and dropped
    files alike); None: no limit. The defaults keep a file that would hold the pipeline for
    hours or exhaust memory out: a 4-hour recording, or a picture beyond 8K."""

    max_duration_s: float | None = Field(default=4 * 3600, gt=0)
    max_width: int | None = Field(default=7680, gt=0)
    max_height: int | None = Field(default=4320, gt=0)


class QueueConfig(_Strict):
    """How the upload sensor sorts runs in Dagster's queue: files dropped into
    ``uploads/backfill/``, or more than ``bulk_files`` settling in one look at the folder,
    are bulk work and start after interactive work (a web upload, a few files dropped)."""

    bulk_files: int = Field(default=5, ge=1)


class PlaybackConfig(_Strict):
    """The playback copy (``normalized.mp4``) the web player streams. A source every browser
    plays as it is (H.264 yuv420p at most ``remux_max_height`` lines and 30 fps, in MP4, MOV
    or M4V) is only remuxed (about a second); anything else is re-encoded at most
    ``encode_max_height`` lines, after the video is ready and at low CPU priority. Set
    ``remux_max_height`` to 720 to give slow networks a smaller copy of 1080p sources."""

    remux_max_height: int = Field(default=1080, ge=144)
    encode_max_height: int = Field(default=720, ge=144)


def _default_profiles() -> dict[str, ProfileConfig]:
    return {
        "fast_audio_only": ProfileConfig(
            description="Audio only: transcript, embeddings and content; no visual stages.",
            visual=False,
            ocr_fps=0,
        ),
        "standard_audio_visual": ProfileConfig(
            description="Transcript, scenes, keyframe captions and OCR at 0.5 fps.",
            ocr_fps=0.5,
        ),
        "premium_multimodal": ProfileConfig(
            description="OCR at 1 fps, more keyframes per long scene, higher image detail.",
            ocr_fps=1.0,
            keyframes_per_scene=3,
            image_detail="high",
            max_image_px=1024,
        ),
    }


class SpeakersConfig(_Strict):
    """``speakers:`` in vidmine.yaml: who speaks when (the ``speakers`` stage)."""

    enabled: bool = True
    num_speakers: int | None = Field(default=None, ge=1)  # None: estimated per video
    max_speakers: int = Field(default=8, ge=1)


def _check_stage(where: str, stage: str, cfg: StageConfig, known: set[str]) -> None:
    """What a stage's settings may say, wherever they are given (``where``: their path)."""
    if cfg.language is not None and stage != "transcribe":
        raise ValueError(f"{where}.language: only stages.transcribe has a language")
    if cfg.provider not in known:
        raise ValueError(
            f"{where}.provider: unknown provider {cfg.provider!r}; "
            f"define it under providers or use one of {sorted(known)}"
        )
    if cfg.device != "auto" and (cfg.provider != LOCAL_PROVIDER or stage not in DEVICE_STAGES):
        raise ValueError(
            f"{where}.device: only the local provider's {' and '.join(DEVICE_STAGES)} models "
            f"run on a device of this machine; remove the setting"
        )


class VidmineConfig(_Strict):
    default_profile: str = "standard_audio_visual"
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    stages: dict[str, StageConfig] = Field(default_factory=dict)
    profiles: dict[str, ProfileConfig] = Field(default_factory=_default_profiles)
    prices: dict[str, dict[str, Price]] = Field(default_factory=dict)
    limits: MediaLimits = Field(default_factory=MediaLimits)
    playback: PlaybackConfig = Field(default_factory=PlaybackConfig)
    speakers: SpeakersConfig = Field(default_factory=SpeakersConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)

    @model_validator(mode="after")
    def _check_references(self) -> VidmineConfig:
        known = set(self.providers) | {LOCAL_PROVIDER}
        for stage in self.stages:
            if stage not in STAGES:
                raise ValueError(f"stages.{stage}: unknown stage; expected one of {STAGES}")
        for stage, cfg in self.stages.items():
            _check_stage(f"stages.{stage}", stage, cfg, known)
        for name, profile in self.profiles.items():
            for stage, cfg in profile.stages.items():
                if stage not in STAGES:
                    raise ValueError(f"profiles.{name}.stages.{stage}: unknown stage")
                _check_stage(f"profiles.{name}.stages.{stage}", stage, cfg, known)
        if self.default_profile not in self.profiles:
            raise ValueError(
                f"default_profile: {self.default_profile!r} is not one of {sorted(self.profiles)}"
            )
        return self

    def profile(self, name: str | None) -> ProfileConfig:
        name = name or self.default_profile
        if name not in self.profiles:
            raise ConfigError(f"unknown profile {name!r}; known profiles: {sorted(self.profiles)}")
        return self.profiles[name]

    def stage(self, stage: str, profile: str | None = None) -> StageConfig:
        """The provider and model a stage uses under a profile, with defaults filled in."""
        if stage not in STAGES:
            raise ConfigError(f"unknown stage {stage!r}; expected one of {STAGES}")
        chosen = self.profile(profile).stages.get(stage) or self.stages.get(stage) or StageConfig()
        model = chosen.model
        if model is None and chosen.provider == LOCAL_PROVIDER:
            model = DEFAULT_PROFILE_LOCAL_MODELS.get(profile or self.default_profile, {}).get(stage)
        model = model or DEFAULT_STAGE_MODELS.get(chosen.provider, {}).get(stage)
        if model is None:
            model = DEFAULT_STAGE_MODELS["openai"][stage]
        dims = chosen.dimensions
        if stage == "embed" and dims is None:
            dims = DEFAULT_DIMENSIONS.get(model)
        return StageConfig(
            provider=chosen.provider,
            model=model,
            dimensions=dims,
            language=chosen.language,
            device=chosen.device,
        )

    def provider(self, name: str) -> ProviderConfig:
        if name == LOCAL_PROVIDER:
            return self.providers.get(LOCAL_PROVIDER, ProviderConfig(max_concurrent=2))
        if name not in self.providers:
            raise ConfigError(f"unknown provider {name!r}; define it under providers")
        return self.providers[name]

    def providers_in_use(self) -> set[str]:
        used = {self.stage(s).provider for s in STAGES}
        for profile in self.profiles:
            used |= {self.stage(s, profile).provider for s in STAGES}
        return used


DEFAULT_CONFIG_YAML = """\
# vidmine configuration. Every AI stage runs on the built-in `local` provider by
# default (no key, no network). To use OpenAI or any OpenAI-compatible endpoint,
# define a provider and point stages at it, e.g.:
#
# providers:
#   openai:
#     base_url: https://api.openai.com/v1
#     api_key_env: OPENAI_API_KEY     # the variable's NAME; keys never go in this file
#     max_concurrent: 4               # runs, steps and in-flight requests per provider
#     requests_per_minute: 500
#     timeout_s: 60
#     max_retries: 5
# stages:
#   transcribe: {provider: openai, model: whisper-1}   # local: base (default) or tiny.en;
#                                                      # language: de forces one language
#                                                      # device: auto|cpu|cuda (local only)
#   vision: {provider: openai, model: gpt-4o}
#   embed: {provider: openai, model: text-embedding-3-small, dimensions: 1536}
#   generate: {provider: openai, model: gpt-4o-mini}
default_profile: standard_audio_visual
providers: {}
stages: {}
"""


def _format_validation_error(err: ValidationError, path: Path) -> str:
    lines = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"  {loc}: {item['msg']}")
    return f"invalid vidmine config {path}:\n" + "\n".join(lines)


def parse_config(data: Any, path: Path, *, check_keys: bool = True) -> VidmineConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"invalid vidmine config {path}: the top level must be a mapping")
    try:
        config = VidmineConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, path)) from None
    if check_keys:
        for name in sorted(config.providers_in_use() - {LOCAL_PROVIDER}):
            env = config.providers[name].api_key_env
            if env and not os.environ.get(env):
                raise ConfigError(
                    f"invalid vidmine config {path}: providers.{name}.api_key_env names "
                    f"{env}, which is not set; export {env}=... or point the stages elsewhere"
                )
    return config


def load_config(path: Path | None = None, *, check_keys: bool = True) -> VidmineConfig:
    """Read and validate the config file, creating it with defaults on first use."""
    path = path or VidmineHome.from_env().config_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(DEFAULT_CONFIG_YAML)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"invalid vidmine config {path}: not valid YAML: {err}") from None
    return parse_config(data, path, check_keys=check_keys)
