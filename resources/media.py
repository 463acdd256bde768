"""The media-library resource: where uploads and each video's derived files live."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from vidmine.settings import VidmineHome


class MediaLibrary(dg.ConfigurableResource):
    """``VIDMINE_HOME`` and the per-video folders under it."""

    home: str | None = None

    def paths(self) -> VidmineHome:
        home = VidmineHome(Path(self.home).resolve()) if self.home else VidmineHome.from_env()
        return home.ensure()

    def video_dir(self, video_id: str) -> Path:
        path = self.paths().video_dir(video_id)
        path.mkdir(parents=True, exist_ok=True)
        return path
