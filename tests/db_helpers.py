"""Reads and deletes of the database that only tests need (no code path of vidmine
counts a video's rows or deletes a video)."""

from __future__ import annotations

from psycopg import sql

from vidmine.db.store import Store

# Tables holding rows derived from a video.
DERIVED_TABLES = (
    "transcript_segments",
    "speaker_turns",
    "speakers",
    "scenes",
    "keyframes",
    "ocr_texts",
    "frame_captions",
    "search_items",
    "content_assets",
    "stage_runs",
)


def row_counts(store: Store, video_id: str) -> dict[str, int]:
    """How many rows each derived table holds for the video."""
    parts = sql.SQL(", ").join(
        sql.SQL("(SELECT count(*) FROM {} WHERE video_id = %(v)s) AS {}").format(
            sql.Identifier(table), sql.Identifier(table)
        )
        for table in DERIVED_TABLES
    )
    with store.connection() as conn:
        row = conn.execute(sql.SQL("SELECT {}").format(parts), {"v": video_id}).fetchone()
    return dict(zip(DERIVED_TABLES, row, strict=True))


def delete_video(store: Store, video_id: str) -> bool:
    """Remove the video and (by cascade) every row derived from it; whether it existed."""
    with store.connection() as conn:
        return conn.execute("DELETE FROM videos WHERE video_id = %s", (video_id,)).rowcount > 0
