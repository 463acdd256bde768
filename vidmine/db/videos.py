"""The ``videos`` table (one row per registered upload: its file, probe, status and
languages) and ``upload_rejections`` (the files the sensor refused, by path, size and mtime).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from psycopg import sql

from vidmine.db.base import Tables, json_value
from vidmine.db.models import (
    VIDEO_STATUSES,
    RejectionRecord,
    VideoNotFoundError,
    VideoRecord,
)
from vidmine.models import ProbeResult


class VideoTables(Tables):
    """Videos and refused uploads."""

    def register_video(
        self,
        video_id: str,
        *,
        file_name: str,
        source_path: str | Path,
        sha256: str | None = None,
        size_bytes: int,
        profile: str | None = None,
        fingerprint: str | None = None,
    ) -> bool:
        """Add the video unless known; returns whether it was new (a known one is untouched)."""
        with self.connection() as conn:
            row = conn.execute(
                "INSERT INTO videos"
                " (video_id, file_name, source_path, sha256, size_bytes, profile, fingerprint)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (video_id) DO NOTHING RETURNING video_id",
                (video_id, file_name, str(source_path), sha256, size_bytes, profile, fingerprint),
            ).fetchone()
        return row is not None

    def set_video_sha256(self, video_id: str, sha256: str) -> None:
        self._update_video(video_id, sha256=sha256)

    def update_probe(self, video_id: str, probe: ProbeResult) -> None:
        details = {
            "path": str(probe.path),
            "format_name": probe.format_name,
            "size_bytes": probe.size_bytes,
            "audio_sample_rate": probe.audio_sample_rate,
            "audio_channels": probe.audio_channels,
            "sample_aspect_ratio": probe.sample_aspect_ratio,
            "raw": probe.raw,
        }
        self._update_video(
            video_id,
            duration_s=probe.duration_s,
            width=probe.width,
            height=probe.height,
            fps=probe.fps,
            rotation=probe.rotation,
            has_video=probe.has_video,
            has_audio=probe.has_audio,
            video_codec=probe.video_codec,
            audio_codec=probe.audio_codec,
            probe=json_value(details),
        )

    def set_video_status(self, video_id: str, status: str, error: str | None = None) -> None:
        """Set the status; ``error`` replaces the stored error (None clears it)."""
        if status not in VIDEO_STATUSES:
            raise ValueError(f"video status must be one of {VIDEO_STATUSES}, got {status!r}")
        self._update_video(video_id, status=status, error=error)

    def set_video_profile(self, video_id: str, profile: str | None) -> None:
        self._update_video(video_id, profile=profile)

    def _update_video(self, video_id: str, **columns: Any) -> None:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(name)) for name in columns
        )
        query = sql.SQL("UPDATE videos SET {}, updated_at = now() WHERE video_id = %s").format(
            assignments
        )
        with self.connection() as conn:
            updated = conn.execute(query, (*columns.values(), video_id)).rowcount
        if updated == 0:
            raise VideoNotFoundError(f"video {video_id!r} is not registered")

    def get_video(self, video_id: str) -> VideoRecord | None:
        rows = self._fetch("SELECT * FROM videos WHERE video_id = %s", (video_id,))
        return VideoRecord(**rows[0]) if rows else None

    def list_videos(self, status: str | None = None) -> list[VideoRecord]:
        """All videos, oldest first; only those with ``status`` when given."""
        rows = self._fetch(
            "SELECT * FROM videos WHERE %s::text IS NULL OR status = %s"
            " ORDER BY created_at, video_id",
            (status, status),
        )
        return [VideoRecord(**row) for row in rows]

    def find_video_by_sha256(
        self, sha256: str, *, other_than: str | None = None
    ) -> VideoRecord | None:
        """The earliest registered video with this content hash (other than ``other_than``)."""
        rows = self._fetch(
            "SELECT * FROM videos WHERE sha256 = %s AND video_id IS DISTINCT FROM %s"
            " ORDER BY created_at, video_id LIMIT 1",
            (sha256, other_than),
        )
        return VideoRecord(**rows[0]) if rows else None

    def find_video_by_fingerprint(self, fingerprint: str) -> VideoRecord | None:
        """The earliest registered video with this upload fingerprint."""
        rows = self._fetch(
            "SELECT * FROM videos WHERE fingerprint = %s ORDER BY created_at, video_id LIMIT 1",
            (fingerprint,),
        )
        return VideoRecord(**rows[0]) if rows else None

    # --- upload rejections ----------------------------------------------------------------

    def record_rejection(
        self, path: str | Path, size_bytes: int, mtime: float, reason: str
    ) -> None:
        with self.connection() as conn:
            conn.execute(
                "INSERT INTO upload_rejections (path, size_bytes, mtime, reason)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (path, size_bytes, mtime)"
                " DO UPDATE SET reason = excluded.reason, rejected_at = now()",
                (str(path), size_bytes, mtime, reason),
            )

    def list_rejections(self) -> list[RejectionRecord]:
        rows = self._fetch("SELECT * FROM upload_rejections ORDER BY rejected_at, path")
        return [RejectionRecord(**row) for row in rows]
