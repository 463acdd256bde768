"""The video brief: the analysis the content writers read, gathered once per video.

``VideoContext`` (transcript, scenes, OCR text, captions placed in time) as a JSON file
beside the video's other outputs, written by the ``video_brief`` asset and read by the
ten content writers, so they depend on one asset instead of four. Its hash is the
brief's data version: a re-run of the analysis that changes nothing the writers read
leaves the written content reusable.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from vidmine.content.context import TimedCaption, VideoContext
from vidmine.models import OcrText, Scene, TranscriptSegment

BRIEF_NAME = "brief.json"


def brief_json(ctx: VideoContext) -> str:
    """The brief as canonical JSON (sorted keys), the same text for the same facts."""
    plain: dict[str, Any] = asdict(ctx)
    for ocr in plain["ocr_texts"]:
        ocr["frame_path"] = str(ocr["frame_path"]) if ocr["frame_path"] else None
    return json.dumps(plain, sort_keys=True, ensure_ascii=False, indent=1)


def brief_version(text: str) -> str:
    """A short hash of the brief's text: its data version."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def load_brief(path: Path) -> VideoContext:
    """The brief ``video_brief`` wrote at ``path``."""
    try:
        plain = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no video brief at {path}: materialize video_brief for this video first "
            "(the write_content job does)"
        ) from None
    return VideoContext(
        video_id=plain["video_id"],
        file_name=plain["file_name"],
        duration_s=plain["duration_s"],
        segments=tuple(
            TranscriptSegment(s["index"], s["start_s"], s["end_s"], s["text"])
            for s in plain["segments"]
        ),
        scenes=tuple(Scene(**s) for s in plain["scenes"]),
        ocr_texts=tuple(
            OcrText(
                o["index"],
                o["start_s"],
                o["end_s"],
                o["text"],
                o["confidence"],
                Path(o["frame_path"]) if o["frame_path"] else None,
                o["language"],
            )
            for o in plain["ocr_texts"]
        ),
        captions=tuple(
            TimedCaption(**{**c, "entities": tuple(c["entities"])}) for c in plain["captions"]
        ),
    )
