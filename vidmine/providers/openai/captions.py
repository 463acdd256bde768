"""Keyframe captions from an OpenAI-compatible vision chat model, as structured JSON."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from PIL import Image

from vidmine.models import FrameCaption
from vidmine.providers.base import FrameInput, ProviderError
from vidmine.providers.cache import content_hash
from vidmine.providers.openai.client import OpenAIProvider, first_failure
from vidmine.providers.openai.structured import chat_json

JPEG_QUALITY = 85

CAPTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "caption": {"type": "string"},
        "entities": {"type": "array", "items": {"type": "string"}},
        "on_screen_text": {"type": "string"},
    },
    "required": ["caption", "entities", "on_screen_text"],
    "additionalProperties": False,
}
CAPTION_SYSTEM_PROMPT = (
    "You describe one keyframe of a video so that people can find the moment by searching. "
    "Answer with JSON: 'caption' is one or two plain sentences on what is visible (people, "
    "objects, setting, actions, charts or slides); 'entities' lists the named things and key "
    "objects visible; 'on_screen_text' is the legible text in the image, verbatim, or an "
    "empty string. Describe only what the image shows."
)


def jpeg_for_upload(image_path: Path, max_image_px: int) -> bytes:
    """The image as JPEG with its long side at most ``max_image_px`` (fewer image tokens)."""
    try:
        with Image.open(image_path) as image:
            image = image.convert("RGB")
            image.thumbnail((max_image_px, max_image_px), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
            return buffer.getvalue()
    except (OSError, ValueError) as err:
        raise ProviderError(f"cannot read keyframe image {image_path}: {err}") from None


def _caption_prompt(frame: FrameInput) -> str:
    prompt = f"Keyframe at {frame.timestamp_s:.1f} s into the video."
    ocr = " ".join(frame.ocr_text.split())
    if ocr:
        prompt += (
            f" OCR read this text on screen around then (it may contain errors): {ocr[:1000]!r}"
        )
    return prompt


class OpenAICaptioner(OpenAIProvider):
    """Keyframe captions from a vision chat model, as structured JSON (caption, entities, text)."""

    stage = "vision"

    def __init__(self, *, detail: str = "low", max_image_px: int = 768, **common: Any) -> None:
        super().__init__(**common)
        self.detail = detail
        self.max_image_px = max_image_px

    def caption(self, frames: list[FrameInput]) -> list[FrameCaption]:
        prepared = [
            (frame, jpeg_for_upload(frame.image_path, self.max_image_px)) for frame in frames
        ]
        params = {
            "detail": self.detail,
            "max_image_px": self.max_image_px,
            "schema": "frame_caption/1",
        }
        keys = [
            self.cache_key(
                content_hash(jpeg, CAPTION_SYSTEM_PROMPT, _caption_prompt(frame)), params
            )
            for frame, jpeg in prepared
        ]
        answers = first_failure(
            self.answers(keys, lambda batch: [self._caption_one(*prepared[i]) for i in batch])
        )
        return [
            FrameCaption(
                frame_index=frame.frame_index,
                caption=str(answer["caption"]).strip(),
                entities=[str(e).strip() for e in answer["entities"] if str(e).strip()],
                on_screen_text=str(answer["on_screen_text"]).strip(),
                provider=self.provider,
                model=self.model,
                descriptor_only=False,
            )
            for (frame, _), answer in zip(prepared, answers, strict=True)
        ]

    def _caption_one(self, frame: FrameInput, jpeg: bytes) -> dict[str, Any]:
        data_url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
        messages = [
            {"role": "system", "content": CAPTION_SYSTEM_PROMPT},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": _caption_prompt(frame)},
                    {"type": "image_url", "image_url": {"url": data_url, "detail": self.detail}},
                ],
            },
        ]
        tokens = (len(CAPTION_SYSTEM_PROMPT) + len(frame.ocr_text)) // 4 + 85
        return self.request(
            f"caption of frame {frame.frame_index}",
            lambda usage: chat_json(
                self._client,
                self.model,
                usage,
                messages=messages,
                schema_name="frame_caption",
                schema=CAPTION_SCHEMA,
            ),
            tokens=tokens,
        )
