"""Export of a video's rows to CSV/Parquet, and the Markdown helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from vidmine.db.export_tables import TABLE_NAMES, video_tables
from vidmine.db.models import SearchItem, VideoNotFoundError
from vidmine.db.store import Store
from vidmine.export import export_video, format_timestamp, scenes_markdown_table
from vidmine.models import FrameCaption, Keyframe, OcrText, Scene, TranscriptSegment

SEGMENTS = [
    TranscriptSegment(0, 0.0, 4.2, "Hello, and welcome."),
    TranscriptSegment(1, 4.2, 9.0, 'Commas, "quotes" and\nnew lines survive CSV.'),
]
SCENES = [Scene(0, 0.0, 65.5, 0, 1965), Scene(1, 65.5, 3725.0, 1965, 111750)]


@pytest.fixture
def filled(store: Store) -> Store:
    store.register_video(
        "talk", file_name="talk.mp4", source_path="/up/talk.mp4", sha256="s", size_bytes=1
    )
    store.replace_transcript("talk", SEGMENTS)
    store.replace_scenes("talk", SCENES)
    store.replace_keyframes(
        "talk", [Keyframe(0, 0, 1.0, Path("/m/talk/frame_000.jpg"), "8f3c00ff00ff00ff", 640, 360)]
    )
    store.replace_ocr_texts("talk", [OcrText(0, 2.0, 6.0, "AGENDA", 93.0)])
    store.replace_captions(
        "talk",
        [
            FrameCaption(
                0, "A speaker at a podium", ["speaker", "podium"], "AGENDA", "local", "d", True
            )
        ],
    )
    store.replace_search_items(
        "talk",
        [SearchItem("talk_item_000", "segment", "talk_segment_000", 0.0, 4.2, "Hello", [0.5] * 8)],
        "m",
        8,
    )
    return store


def test_video_tables(filled: Store) -> None:
    tables = video_tables(filled, "talk")
    assert tuple(tables) == TABLE_NAMES
    assert tables["segments"]["text"].tolist() == [s.text for s in SEGMENTS]
    assert tables["scenes"]["duration_s"].tolist() == [65.5, 3659.5]
    assert tables["captions"].loc[0, "entities"] == ["speaker", "podium"]
    assert tables["captions"].loc[0, "timestamp_s"] == 1.0
    assert "embedding" not in tables["search_items"].columns
    with pytest.raises(VideoNotFoundError, match="ghost"):
        video_tables(filled, "ghost")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_files_read_back(filled: Store, fmt: str, tmp_path: Path) -> None:
    filled.register_video(
        "empty", file_name="e.mp4", source_path="/up/e.mp4", sha256="e", size_bytes=1
    )
    written = export_video(filled, "talk", fmt, tmp_path / "out")
    written += export_video(filled, "empty", fmt, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in written)
    assert len(written) == 2 * len(TABLE_NAMES)  # no temporary files left behind
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    segments = read(tmp_path / "out" / f"talk_segments.{fmt}")
    assert segments["text"].tolist() == [s.text for s in SEGMENTS]
    assert segments["start_s"].tolist() == [0.0, 4.2]
    captions = read(tmp_path / "out" / f"talk_captions.{fmt}")
    entities = captions.loc[0, "entities"]
    assert (json.loads(entities) if fmt == "csv" else list(entities)) == ["speaker", "podium"]
    items = read(tmp_path / "out" / f"talk_search_items.{fmt}")
    assert items[["item_id", "model", "dim"]].values.tolist() == [["talk_item_000", "m", 8]]
    empty_scenes = read(tmp_path / "out" / f"empty_scenes.{fmt}")
    assert empty_scenes.empty and "start_s" in empty_scenes.columns


def test_export_rejects_unknown_format(filled: Store, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="xlsx"):
        export_video(filled, "talk", "xlsx", tmp_path)  # type: ignore[arg-type]


def test_markdown_helpers() -> None:
    assert format_timestamp(65.9) == "1:05"
    assert format_timestamp(3725) == "1:02:05"
    table = scenes_markdown_table(SCENES)
    lines = table.splitlines()
    assert "Scene" in lines[0] and "Start" in lines[0]
    assert "1:02:05" in lines[3] and "3659.5" in lines[3]
    assert scenes_markdown_table([]) == "_No scenes._"
