"""The rows derived from a video by its analysis stages: ``transcript_segments`` (with the
video's languages), ``scenes``, ``keyframes``, ``ocr_texts`` and ``frame_captions``.

Each ``replace_*`` swaps all the video's rows of one table in one transaction; each
``load_*`` gives them back as the records of ``vidmine.models``, in order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from vidmine.db.base import Tables
from vidmine.languages import video_languages as spoken_languages
from vidmine.models import (
    FrameCaption,
    Keyframe,
    OcrText,
    Scene,
    TranscriptSegment,
    Word,
    frame_id,
    ocr_id,
    scene_id,
    segment_id,
)


class DerivedRows(Tables):
    """Transcript segments, scenes, keyframes, OCR texts and frame captions."""

    def replace_transcript(self, video_id: str, segments: Sequence[TranscriptSegment]) -> None:
        """Replace the segments (with their language and words) and the video's languages."""
        languages = spoken_languages(segments)

        def set_languages(cur: psycopg.Cursor) -> None:
            cur.execute(
                "UPDATE videos SET languages = %s, updated_at = now() WHERE video_id = %s",
                (languages, video_id),
            )
            # New segments have no speakers yet: the turns of the old ones go with them
            # (the speakers stage labels the new ones; names people gave are kept).
            cur.execute("DELETE FROM speaker_turns WHERE video_id = %s", (video_id,))
            cur.execute("DELETE FROM speakers WHERE video_id = %s", (video_id,))

        self._replace(
            video_id,
            "transcript_segments",
            ("segment_id", "video_id", "idx", "start_s", "end_s", "text", "language", "words"),
            [
                (
                    segment_id(video_id, s.index),
                    video_id,
                    s.index,
                    s.start_s,
                    s.end_s,
                    s.text,
                    s.language,
                    Jsonb([dataclasses.asdict(w) for w in s.words]),
                )
                for s in segments
            ],
            also=set_languages,
        )

    def load_transcript(self, video_id: str) -> list[TranscriptSegment]:
        rows = self._fetch(
            "SELECT idx AS index, start_s, end_s, text, language, words, speaker"
            " FROM transcript_segments"
            " WHERE video_id = %s ORDER BY idx",
            (video_id,),
        )
        return [
            TranscriptSegment(**{**row, "words": tuple(Word(**w) for w in row["words"])})
            for row in rows
        ]

    def video_languages(self, video_id: str) -> list[str]:
        """The languages spoken in the video, most spoken first (empty: none known)."""
        rows = self._fetch("SELECT languages FROM videos WHERE video_id = %s", (video_id,))
        return list(rows[0]["languages"]) if rows else []

    def replace_scenes(self, video_id: str, scenes: Sequence[Scene]) -> None:
        self._replace(
            video_id,
            "scenes",
            ("scene_id", "video_id", "idx", "start_s", "end_s", "start_frame", "end_frame"),
            [
                (
                    scene_id(video_id, s.index),
                    video_id,
                    s.index,
                    s.start_s,
                    s.end_s,
                    s.start_frame,
                    s.end_frame,
                )
                for s in scenes
            ],
        )

    def load_scenes(self, video_id: str) -> list[Scene]:
        rows = self._fetch(
            "SELECT idx AS index, start_s, end_s, start_frame, end_frame FROM scenes"
            " WHERE video_id = %s ORDER BY idx",
            (video_id,),
        )
        return [Scene(**row) for row in rows]

    def replace_keyframes(self, video_id: str, keyframes: Sequence[Keyframe]) -> None:
        self._replace(
            video_id,
            "keyframes",
            (
                "frame_id",
                "video_id",
                "idx",
                "scene_id",
                "timestamp_s",
                "path",
                "phash",
                "width",
                "height",
            ),
            [
                (
                    frame_id(video_id, k.index),
                    video_id,
                    k.index,
                    scene_id(video_id, k.scene_index),
                    k.timestamp_s,
                    str(k.path),
                    k.phash,
                    k.width,
                    k.height,
                )
                for k in keyframes
            ],
        )

    def load_keyframes(self, video_id: str) -> list[Keyframe]:
        rows = self._fetch(
            "SELECT idx, scene_id, timestamp_s, path, phash, width, height FROM keyframes"
            " WHERE video_id = %s ORDER BY idx",
            (video_id,),
        )
        return [
            Keyframe(
                index=row["idx"],
                scene_index=_index_from_id(row["scene_id"]),
                timestamp_s=row["timestamp_s"],
                path=Path(row["path"]),
                phash=row["phash"],
                width=row["width"],
                height=row["height"],
            )
            for row in rows
        ]

    def replace_ocr_texts(self, video_id: str, texts: Sequence[OcrText]) -> None:
        self._replace(
            video_id,
            "ocr_texts",
            (
                "ocr_id",
                "video_id",
                "idx",
                "start_s",
                "end_s",
                "text",
                "confidence",
                "frame_path",
                "language",
            ),
            [
                (
                    ocr_id(video_id, t.index),
                    video_id,
                    t.index,
                    t.start_s,
                    t.end_s,
                    t.text,
                    t.confidence,
                    str(t.frame_path) if t.frame_path is not None else None,
                    t.language,
                )
                for t in texts
            ],
        )

    def load_ocr_texts(self, video_id: str) -> list[OcrText]:
        rows = self._fetch(
            "SELECT idx, start_s, end_s, text, confidence, frame_path, language FROM ocr_texts"
            " WHERE video_id = %s ORDER BY idx",
            (video_id,),
        )
        return [
            OcrText(
                index=row["idx"],
                start_s=row["start_s"],
                end_s=row["end_s"],
                text=row["text"],
                confidence=row["confidence"],
                frame_path=Path(row["frame_path"]) if row["frame_path"] else None,
                language=row["language"],
            )
            for row in rows
        ]

    def replace_captions(self, video_id: str, captions: Sequence[FrameCaption]) -> None:
        self._replace(
            video_id,
            "frame_captions",
            (
                "frame_id",
                "video_id",
                "frame_index",
                "caption",
                "entities",
                "on_screen_text",
                "provider",
                "model",
                "descriptor_only",
                "note",
            ),
            [
                (
                    frame_id(video_id, c.frame_index),
                    video_id,
                    c.frame_index,
                    c.caption,
                    Jsonb(list(c.entities)),
                    c.on_screen_text,
                    c.provider,
                    c.model,
                    c.descriptor_only,
                    c.note,
                )
                for c in captions
            ],
        )

    def load_captions(self, video_id: str) -> list[FrameCaption]:
        rows = self._fetch(
            "SELECT frame_index, caption, entities, on_screen_text, provider, model,"
            " descriptor_only, note FROM frame_captions WHERE video_id = %s ORDER BY frame_index",
            (video_id,),
        )
        return [FrameCaption(**row) for row in rows]


def _index_from_id(row_id: str) -> int:
    """The trailing number of a stable id such as ``vid_scene_003``."""
    return int(row_id.rsplit("_", 1)[-1])
