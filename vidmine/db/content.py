"""The ``content_assets`` table: what the content stages wrote for a video (summary,
chapters ...), one row per video and content type, as JSON and as Markdown.
"""

from __future__ import annotations

from typing import Any

from vidmine.db.base import Tables, json_value
from vidmine.db.models import ContentRecord


class ContentTables(Tables):
    """Generated content, by video and content type."""

    def replace_content(
        self,
        video_id: str,
        content_type: str,
        body: dict[str, Any],
        markdown: str,
        provider: str,
        model: str,
        extractive: bool,
    ) -> None:
        with self._writing(video_id) as conn:
            conn.execute(
                "INSERT INTO content_assets"
                " (video_id, content_type, body, markdown, provider, model, extractive)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (video_id, content_type) DO UPDATE SET body = excluded.body,"
                " markdown = excluded.markdown, provider = excluded.provider,"
                " model = excluded.model, extractive = excluded.extractive, created_at = now()",
                (video_id, content_type, json_value(body), markdown, provider, model, extractive),
            )

    def load_content(self, video_id: str, content_type: str | None = None) -> list[ContentRecord]:
        rows = self._fetch(
            "SELECT video_id, content_type, body, markdown, provider, model, extractive,"
            " created_at FROM content_assets WHERE video_id = %s"
            " AND (%s::text IS NULL OR content_type = %s) ORDER BY content_type",
            (video_id, content_type, content_type),
        )
        return [ContentRecord(**row) for row in rows]
