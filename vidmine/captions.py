"""Preparing keyframes for a captioner: one input per distinct-looking frame, with the
OCR text shown at that moment as a hint."""

from __future__ import annotations

from vidmine.models import Keyframe, OcrText
from vidmine.providers.base import FrameInput


def text_at(ocr_texts: list[OcrText], timestamp_s: float) -> str:
    """The OCR text on screen at ``timestamp_s`` (ranges are [start, end))."""
    return " ".join(t.text for t in ocr_texts if t.start_s <= timestamp_s < t.end_s)


def caption_inputs(frames: list[Keyframe], ocr_texts: list[OcrText]) -> list[FrameInput]:
    return [
        FrameInput(
            frame_index=f.index,
            image_path=f.path,
            timestamp_s=f.timestamp_s,
            ocr_text=text_at(ocr_texts, f.timestamp_s),
        )
        for f in frames
    ]
