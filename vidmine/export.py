"""A video's rows as pandas tables, written out as CSV or Parquet, and small Markdown
renderings of scenes and transcript segments for asset metadata and reports.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pandas as pd

from vidmine.db.store import Store, VideoNotFoundError
from vidmine.models import Scene, TranscriptSegment

ExportFormat = Literal["csv", "parquet"]

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


def export_video(store: Store, video_id: str, fmt: ExportFormat, out_dir: Path) -> list[Path]:
    """Write one ``{video_id}_{table}.{csv|parquet}`` file per table; returns their paths.

    Each file appears whole or not at all (written beside its final name, then renamed).
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"export format must be 'csv' or 'parquet', got {fmt!r}")
    tables = video_tables(store, video_id)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        target = out_dir / f"{video_id}_{name}.{fmt}"
        _write_atomically(frame, target, fmt)
        written.append(target)
    return written


def _write_atomically(frame: pd.DataFrame, target: Path, fmt: ExportFormat) -> None:
    handle, temp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    os.close(handle)
    temp = Path(temp_name)
    try:
        if fmt == "csv":
            _csv_ready(frame).to_csv(temp, index=False)
        else:
            frame.to_parquet(temp, index=False)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists (caption entities) as JSON text, which spreadsheets and pandas read back."""
    if "entities" not in frame.columns:
        return frame
    return frame.assign(entities=frame["entities"].map(json.dumps))


# --- Markdown -------------------------------------------------------------------------------


def format_timestamp(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``, as video players show positions."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def scenes_markdown_table(scenes: Sequence[Scene]) -> str:
    """A Markdown table of the scenes: number, start, end and length."""
    if not scenes:
        return "_No scenes._"
    frame = pd.DataFrame(
        {
            "Scene": [scene.index + 1 for scene in scenes],
            "Start": [format_timestamp(scene.start_s) for scene in scenes],
            "End": [format_timestamp(scene.end_s) for scene in scenes],
            "Length (s)": [round(scene.end_s - scene.start_s, 1) for scene in scenes],
        }
    )
    return frame.to_markdown(index=False)


def segments_markdown(segments: Sequence[TranscriptSegment], limit: int = 20) -> str:
    """The first ``limit`` transcript segments as a Markdown list with their times."""
    if not segments:
        return "_No transcript._"
    lines = [
        f"- **[{format_timestamp(s.start_s)}–{format_timestamp(s.end_s)}]** {' '.join(s.text.split())}"
        for s in segments[:limit]
    ]
    if len(segments) > limit:
        rest = len(segments) - limit
        lines.append(f"- … and {rest} more segment{'s' if rest > 1 else ''}")
    return "\n".join(lines)
