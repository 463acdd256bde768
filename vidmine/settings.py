"""Where vidmine keeps its data: one folder, ``VIDMINE_HOME`` (default ``./.vidmine``).

Layout::

    VIDMINE_HOME/
      uploads/            drop videos here (optionally uploads/<profile>/file.mp4)
      media/<video_id>/   derived media: normalized video, wav, srt, keyframes, ocr frames
      pg/                 embedded PostgreSQL data (only when DATABASE_URL is unset)
      dagster/            the Dagster instance (DAGSTER_HOME) with SQLite storage
      vidmine.yaml        configuration (VIDMINE_CONFIG overrides the path)

This module only computes paths and reads environment variables; it starts nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv"}
)
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".m4a", ".flac", ".ogg", ".opus", ".aac"})
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | AUDIO_EXTENSIONS


@dataclass(frozen=True)
class VidmineHome:
    root: Path

    @classmethod
    def from_env(cls) -> VidmineHome:
        return cls(Path(os.environ.get("VIDMINE_HOME", ".vidmine")).expanduser().resolve())

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def media(self) -> Path:
        return self.root / "media"

    def video_dir(self, video_id: str) -> Path:
        return self.media / video_id

    @property
    def pg_data(self) -> Path:
        return self.root / "pg"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def config_path(self) -> Path:
        env = os.environ.get("VIDMINE_CONFIG")
        return Path(env).expanduser().resolve() if env else self.root / "vidmine.yaml"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def ensure(self) -> VidmineHome:
        for path in (self.root, self.uploads, self.media):
            path.mkdir(parents=True, exist_ok=True)
        return self
