"""The export queries: a video's derived rows as tables a person reads in a spreadsheet
(one query per table, speakers by the names people gave them), as pandas DataFrames.

``vidmine.export`` writes them out as CSV or Parquet files.
"""

from __future__ import annotations

import pandas as pd

from vidmine.db.models import VideoNotFoundError
from vidmine.db.store import Store

# One query per exported table, in the order files are written. Search items leave out
# the embedding: it is model-specific, large, and useless in a spreadsheet.
_TABLE_QUERIES: dict[str, str] = {
    "segments": (
        "SELECT t.segment_id, t.video_id, t.idx, t.start_s, t.end_s, t.text, t.language,"
        # who said it: the name a person gave the speaker, else "Speaker N" (empty: unknown)
        " CASE WHEN t.speaker IS NULL THEN NULL"
        " ELSE coalesce(n.name, 'Speaker ' || t.speaker) END AS speaker"
        " FROM transcript_segments t"
        " LEFT JOIN speaker_names n ON n.video_id = t.video_id AND n.speaker = t.speaker"
        " WHERE t.video_id = %s ORDER BY t.idx"
    ),
    # One row per spoken word with its own times.
    "words": (
        "SELECT t.segment_id, t.video_id, t.idx AS segment_idx, w.n - 1 AS word_idx,"
        " w.value ->> 'word' AS word, (w.value ->> 'start_s')::float8 AS start_s,"
        " (w.value ->> 'end_s')::float8 AS end_s, t.language,"
        " CASE WHEN w.value ->> 'speaker' IS NULL THEN NULL"
        " ELSE coalesce(n.name, 'Speaker ' || (w.value ->> 'speaker')) END AS speaker"
        " FROM transcript_segments t"
        " CROSS JOIN LATERAL jsonb_array_elements(t.words) WITH ORDINALITY AS w(value, n)"
        " LEFT JOIN speaker_names n"
        " ON n.video_id = t.video_id AND n.speaker = w.value ->> 'speaker'"
        " WHERE t.video_id = %s ORDER BY t.idx, w.n"
    ),
    "scenes": (
        "SELECT scene_id, video_id, idx, start_s, end_s, end_s - start_s AS duration_s,"
        " start_frame, end_frame FROM scenes WHERE video_id = %s ORDER BY idx"
    ),
    "keyframes": (
        "SELECT frame_id, video_id, idx, scene_id, timestamp_s, path, phash, width, height"
        " FROM keyframes WHERE video_id = %s ORDER BY idx"
    ),
    "ocr": (
        "SELECT ocr_id, video_id, idx, start_s, end_s, text, confidence, frame_path, language"
        " FROM ocr_texts WHERE video_id = %s ORDER BY idx"
    ),
    "captions": (
        "SELECT c.frame_id, c.video_id, c.frame_index, k.timestamp_s, c.caption, c.entities,"
        " c.on_screen_text, c.provider, c.model, c.descriptor_only, c.note"
        " FROM frame_captions c LEFT JOIN keyframes k ON k.frame_id = c.frame_id"
        " WHERE c.video_id = %s ORDER BY c.frame_index"
    ),
    "search_items": (
        "SELECT item_id, video_id, kind, source_id, start_s, end_s, text, language, ts_config,"
        " model, dim FROM search_items WHERE video_id = %s ORDER BY start_s, item_id"
    ),
}
TABLE_NAMES = tuple(_TABLE_QUERIES)


def video_tables(store: Store, video_id: str) -> dict[str, pd.DataFrame]:
    """The video's derived rows, one DataFrame per table (empty ones keep their columns)."""
    tables: dict[str, pd.DataFrame] = {}
    with store.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM videos WHERE video_id = %s", (video_id,))
        if cur.fetchone() is None:
            raise VideoNotFoundError(f"video {video_id!r} is not registered; nothing to export")
        for name, query in _TABLE_QUERIES.items():
            cur.execute(query, (video_id,))
            columns = [column.name for column in cur.description or ()]
            tables[name] = pd.DataFrame(cur.fetchall(), columns=columns)
    return tables
