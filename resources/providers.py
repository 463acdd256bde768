"""The AI-providers resource: reads ``vidmine.yaml`` once per run (or sensor tick) and
builds, per stage and profile, the transcriber, captioner, embedder or text generator
the config names. Every step of a run sees the same config, even if the file changes
meanwhile."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from vidmine.config import VidmineConfig, load_config
from vidmine.providers import registry
from vidmine.providers.base import (
    CallRecorder,
    Captioner,
    Embedder,
    TextGenerator,
    Transcriber,
)
from vidmine.providers.cache import ResponseCache


class AIProviders(dg.ConfigurableResource):
    """Which provider and model serve each AI stage (see ``stages`` in vidmine.yaml)."""

    config_path: str | None = None
    _config: VidmineConfig | None = PrivateAttr(default=None)

    def config(self) -> VidmineConfig:
        if self._config is None:
            self._config = load_config(Path(self.config_path) if self.config_path else None)
        return self._config

    def transcriber(
        self, profile: str | None, recorder: CallRecorder, cache: ResponseCache | None
    ) -> Transcriber:
        return registry.transcriber_for(self.config(), profile, recorder, cache)

    def captioner(
        self, profile: str | None, recorder: CallRecorder, cache: ResponseCache | None
    ) -> Captioner:
        return registry.captioner_for(self.config(), profile, recorder, cache)

    def embedder(
        self, profile: str | None, recorder: CallRecorder, cache: ResponseCache | None
    ) -> Embedder:
        return registry.embedder_for(self.config(), profile, recorder, cache)

    def generator(
        self, profile: str | None, recorder: CallRecorder, cache: ResponseCache | None
    ) -> TextGenerator | None:
        """None under the ``local`` provider: content is written extractively."""
        return registry.generator_for(self.config(), profile, recorder, cache)
