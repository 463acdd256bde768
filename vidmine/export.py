"""A video's rows written out as CSV or Parquet files, and a small Markdown table of
scenes for asset metadata and reports. The queries are ``vidmine.db.export_tables``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pandas as pd

from vidmine.db.export_tables import video_tables
from vidmine.db.store import Store
from vidmine.models import Scene

ExportFormat = Literal["csv", "parquet"]


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
