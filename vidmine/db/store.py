"""Reads and writes of vidmine's tables: videos, stage runs, derived rows, search items,
provider calls and the response cache, generated content.

Every method opens a short-lived connection and does its work in one transaction, so a
``Store`` may be shared between threads and processes hold no connection while idle.
The ``replace_*`` methods delete a video's rows for one stage and insert the new ones in
the same transaction: re-running a stage never duplicates rows, and a failure half-way
leaves the previous rows in place.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector import Vector
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vidmine.db.connection import connect, normalize_url
from vidmine.languages import FALLBACK_TS_CONFIG, ts_config
from vidmine.languages import video_languages as spoken_languages
from vidmine.models import (
    CallRecord,
    FrameCaption,
    Keyframe,
    OcrText,
    ProbeResult,
    Scene,
    TranscriptSegment,
    Word,
    frame_id,
    ocr_id,
    scene_id,
    segment_id,
)

log = logging.getLogger(__name__)

VIDEO_STATUSES = ("registered", "processing", "ready", "failed")
STAGE_STATUSES = ("running", "succeeded", "failed", "skipped")
SEARCH_KINDS = ("segment", "ocr", "caption")
# pgvector's HNSW indexes `vector` columns of at most this many dimensions; wider
# embeddings are searched exactly (still correct, slower on big tables).
HNSW_MAX_DIMENSIONS = 2000

# Tables holding rows derived from a video, cleared by delete_video_rows.
_DERIVED_TABLES = (
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

# (url, dim) pairs whose vector index exists, so each process asks once.
_indexed_dims: set[tuple[str, int]] = set()
_indexed_dims_guard = threading.Lock()
# url -> the server's text search configuration names
_ts_configs: dict[str, frozenset[str]] = {}


class VideoNotFoundError(LookupError):
    """The video id is not in the videos table."""


@dataclass(frozen=True)
class VideoRecord:
    video_id: str
    file_name: str
    source_path: str
    sha256: str | None  # the whole file's, once source_video has read it
    size_bytes: int
    profile: str | None
    status: str  # one of VIDEO_STATUSES
    error: str | None
    created_at: datetime
    updated_at: datetime
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    rotation: int | None = None
    has_video: bool | None = None
    has_audio: bool | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    probe: dict[str, Any] | None = None
    fingerprint: str | None = None  # vidmine.media.probe.quick_fingerprint, from the upload
    languages: list[str] = dataclasses.field(default_factory=list)  # most spoken first


@dataclass(frozen=True)
class RejectionRecord:
    path: str
    size_bytes: int
    mtime: float
    reason: str
    rejected_at: datetime


@dataclass(frozen=True)
class StageState:
    stage: str
    status: str  # one of STAGE_STATUSES
    started_at: datetime | None
    finished_at: datetime | None
    seconds: float | None
    error: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class SearchItem:
    """One searchable text with its place in the video and its embedding."""

    item_id: str
    kind: str  # one of SEARCH_KINDS
    source_id: str  # the segment, OCR text or frame the text came from
    start_s: float
    end_s: float
    text: str
    embedding: Sequence[float] | None  # None: found by full-text search only
    language: str | None = None  # ISO 639-1; picks the text search configuration


@dataclass(frozen=True)
class ContentRecord:
    video_id: str
    content_type: str  # e.g. "summary", "chapters"
    body: dict[str, Any]
    markdown: str
    provider: str
    model: str
    extractive: bool  # True when written from the video's own text without an LLM
    created_at: datetime


def _json(value: Any) -> Jsonb:
    # Metadata from stages may hold paths or timestamps: store their text rather than fail.
    return Jsonb(value, dumps=lambda obj: json.dumps(obj, default=str))


def vector_expression(dim: int) -> sql.Composable:
    """``embedding::vector(dim)``: the indexed expression, which queries must repeat verbatim."""
    return sql.SQL("(embedding::vector({}))").format(sql.Literal(_checked_dim(dim)))


def vector_index_name(dim: int) -> str:
    return f"search_items_embedding_{_checked_dim(dim)}_hnsw"


def _checked_dim(dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
        raise ValueError(f"embedding dimension must be a positive integer, got {dim!r}")
    return dim


class Store:
    """vidmine's database, by URL (see ``vidmine.db.connection.database_url``)."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)

    def __repr__(self) -> str:
        return f"Store({self.url.split('@')[-1]!r})"

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection whose work commits on leaving the block, or rolls back on an error."""
        with connect(self.url) as conn:
            yield conn

    @contextmanager
    def _writing(self, video_id: str) -> Iterator[psycopg.Connection]:
        try:
            with self.connection() as conn:
                yield conn
        except psycopg.errors.ForeignKeyViolation as err:
            raise VideoNotFoundError(
                f"video {video_id!r} is not registered; call register_video first"
            ) from err

    def _fetch(
        self, query: sql.Composable | str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[dict[str, Any]]:
        with self.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return cur.fetchall()

    # --- videos ---------------------------------------------------------------------------

    def register_video(
        self,
        video_id: str,
        *,
        file_name: str,
        source_path: str | Path,
        sha256: str | None = None,
        size_bytes: int,
        profile: str | None = None,
        fingerprint: str | None = None,
    ) -> bool:
        """Add the video unless known; returns whether it was new (a known one is untouched)."""
        with self.connection() as conn:
            row = conn.execute(
                "INSERT INTO videos"
                " (video_id, file_name, source_path, sha256, size_bytes, profile, fingerprint)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (video_id) DO NOTHING RETURNING video_id",
                (video_id, file_name, str(source_path), sha256, size_bytes, profile, fingerprint),
            ).fetchone()
        return row is not None

    def set_video_sha256(self, video_id: str, sha256: str) -> None:
        self._update_video(video_id, sha256=sha256)

    def update_probe(self, video_id: str, probe: ProbeResult) -> None:
        details = {
            "path": str(probe.path),
            "format_name": probe.format_name,
            "size_bytes": probe.size_bytes,
            "audio_sample_rate": probe.audio_sample_rate,
            "audio_channels": probe.audio_channels,
            "sample_aspect_ratio": probe.sample_aspect_ratio,
            "raw": probe.raw,
        }
        self._update_video(
            video_id,
            duration_s=probe.duration_s,
            width=probe.width,
            height=probe.height,
            fps=probe.fps,
            rotation=probe.rotation,
            has_video=probe.has_video,
            has_audio=probe.has_audio,
            video_codec=probe.video_codec,
            audio_codec=probe.audio_codec,
            probe=_json(details),
        )

    def set_video_status(self, video_id: str, status: str, error: str | None = None) -> None:
        """Set the status; ``error`` replaces the stored error (None clears it)."""
        if status not in VIDEO_STATUSES:
            raise ValueError(f"video status must be one of {VIDEO_STATUSES}, got {status!r}")
        self._update_video(video_id, status=status, error=error)

    def set_video_profile(self, video_id: str, profile: str | None) -> None:
        self._update_video(video_id, profile=profile)

    def _update_video(self, video_id: str, **columns: Any) -> None:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(name)) for name in columns
        )
        query = sql.SQL("UPDATE videos SET {}, updated_at = now() WHERE video_id = %s").format(
            assignments
        )
        with self.connection() as conn:
            updated = conn.execute(query, (*columns.values(), video_id)).rowcount
        if updated == 0:
            raise VideoNotFoundError(f"video {video_id!r} is not registered")

    def get_video(self, video_id: str) -> VideoRecord | None:
        rows = self._fetch("SELECT * FROM videos WHERE video_id = %s", (video_id,))
        return VideoRecord(**rows[0]) if rows else None

    def list_videos(self, status: str | None = None) -> list[VideoRecord]:
        """All videos, oldest first; only those with ``status`` when given."""
        rows = self._fetch(
            "SELECT * FROM videos WHERE %s::text IS NULL OR status = %s"
            " ORDER BY created_at, video_id",
            (status, status),
        )
        return [VideoRecord(**row) for row in rows]

    def find_video_by_sha256(
        self, sha256: str, *, other_than: str | None = None
    ) -> VideoRecord | None:
        """The earliest registered video with this content hash (other than ``other_than``)."""
        rows = self._fetch(
            "SELECT * FROM videos WHERE sha256 = %s AND video_id IS DISTINCT FROM %s"
            " ORDER BY created_at, video_id LIMIT 1",
            (sha256, other_than),
        )
        return VideoRecord(**rows[0]) if rows else None

    def find_video_by_fingerprint(self, fingerprint: str) -> VideoRecord | None:
        """The earliest registered video with this upload fingerprint."""
        rows = self._fetch(
            "SELECT * FROM videos WHERE fingerprint = %s ORDER BY created_at, video_id LIMIT 1",
            (fingerprint,),
        )
        return VideoRecord(**rows[0]) if rows else None

    def delete_video(self, video_id: str) -> bool:
        """Remove the video and every row derived from it; returns whether it existed."""
        with self.connection() as conn:
            deleted = conn.execute("DELETE FROM videos WHERE video_id = %s", (video_id,)).rowcount
        return deleted > 0

    def delete_video_rows(self, video_id: str) -> None:
        """Remove everything derived from the video (keeps the video and its call history)."""
        with self.connection() as conn:
            for table in _DERIVED_TABLES:
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE video_id = %s").format(sql.Identifier(table)),
                    (video_id,),
                )

    def row_counts(self, video_id: str) -> dict[str, int]:
        """How many rows each derived table holds for the video."""
        parts = sql.SQL(", ").join(
            sql.SQL("(SELECT count(*) FROM {} WHERE video_id = %(v)s) AS {}").format(
                sql.Identifier(table), sql.Identifier(table)
            )
            for table in _DERIVED_TABLES
        )
        return self._fetch(sql.SQL("SELECT {}").format(parts), {"v": video_id})[0]

    # --- upload rejections ----------------------------------------------------------------

    def record_rejection(
        self, path: str | Path, size_bytes: int, mtime: float, reason: str
    ) -> None:
        with self.connection() as conn:
            conn.execute(
                "INSERT INTO upload_rejections (path, size_bytes, mtime, reason)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (path, size_bytes, mtime)"
                " DO UPDATE SET reason = excluded.reason, rejected_at = now()",
                (str(path), size_bytes, mtime, reason),
            )

    def is_rejected(self, path: str | Path, size_bytes: int, mtime: float) -> bool:
        """Whether this version of the file (same size and mtime) was already refused."""
        rows = self._fetch(
            "SELECT 1 FROM upload_rejections WHERE path = %s AND size_bytes = %s AND mtime = %s",
            (str(path), size_bytes, mtime),
        )
        return bool(rows)

    def list_rejections(self) -> list[RejectionRecord]:
        rows = self._fetch("SELECT * FROM upload_rejections ORDER BY rejected_at, path")
        return [RejectionRecord(**row) for row in rows]

    # --- stage runs -----------------------------------------------------------------------

    def start_stage(self, video_id: str, stage: str, run_id: str | None = None) -> None:
        with self._writing(video_id) as conn:
            conn.execute(
                "INSERT INTO stage_runs (video_id, stage, status, started_at, run_id)"
                " VALUES (%s, %s, 'running', now(), %s)"
                " ON CONFLICT (video_id, stage) DO UPDATE SET status = 'running',"
                " started_at = now(), finished_at = NULL, seconds = NULL, error = NULL,"
                " metadata = '{}'::jsonb, run_id = excluded.run_id",
                (video_id, stage, run_id),
            )

    def fail_unfinished_stages(self, run_id: str, error: str) -> dict[str, list[str]]:
        """Mark failed the stages that run ``run_id`` started and never finished (its
        process died); returns them by video. A stage since restarted by another run
        is left alone."""
        with self.connection() as conn:
            rows = conn.execute(
                "UPDATE stage_runs SET status = 'failed', finished_at = now(), error = %s"
                " WHERE run_id = %s AND status = 'running' RETURNING video_id, stage",
                (error, run_id),
            ).fetchall()
        stages: dict[str, list[str]] = {}
        for video_id, stage in rows:
            stages.setdefault(video_id, []).append(stage)
        return stages

    def finish_stage(
        self,
        video_id: str,
        stage: str,
        status: str,
        seconds: float,
        metadata: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        if status not in STAGE_STATUSES:
            raise ValueError(f"stage status must be one of {STAGE_STATUSES}, got {status!r}")
        with self._writing(video_id) as conn:
            conn.execute(
                "INSERT INTO stage_runs"
                " (video_id, stage, status, started_at, finished_at, seconds, error, metadata)"
                " VALUES (%(v)s, %(stage)s, %(status)s,"
                "  now() - make_interval(secs => %(seconds)s), now(),"
                "  %(seconds)s, %(error)s, %(metadata)s)"
                " ON CONFLICT (video_id, stage) DO UPDATE SET status = excluded.status,"
                " finished_at = excluded.finished_at, seconds = excluded.seconds,"
                " error = excluded.error, metadata = excluded.metadata",
                {
                    "v": video_id,
                    "stage": stage,
                    "status": status,
                    "seconds": seconds,
                    "error": error,
                    "metadata": _json(metadata or {}),
                },
            )

    def stage_states(self, video_id: str) -> dict[str, StageState]:
        rows = self._fetch(
            "SELECT stage, status, started_at, finished_at, seconds, error, metadata"
            " FROM stage_runs WHERE video_id = %s ORDER BY started_at NULLS LAST, stage",
            (video_id,),
        )
        return {row["stage"]: StageState(**row) for row in rows}

    def replace_stage_states(self, video_id: str, states: Sequence[StageState]) -> None:
        """Make ``states`` the video's stage rows, in one transaction: the projection of
        Dagster's record written whole (``assets.stage_record``)."""
        for state in states:
            if state.status not in STAGE_STATUSES:
                raise ValueError(f"stage status must be one of {STAGE_STATUSES}: {state}")
        with self._writing(video_id) as conn:
            conn.execute("DELETE FROM stage_runs WHERE video_id = %s", (video_id,))
            for s in states:
                conn.execute(
                    "INSERT INTO stage_runs (video_id, stage, status, started_at, finished_at,"
                    " seconds, error, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        video_id,
                        s.stage,
                        s.status,
                        s.started_at,
                        s.finished_at,
                        s.seconds,
                        s.error,
                        _json(s.metadata),
                    ),
                )

    # --- derived rows ---------------------------------------------------------------------

    def _replace(
        self,
        video_id: str,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        also: Callable[[psycopg.Cursor], None] | None = None,
    ) -> None:
        """Replace the video's rows of ``table``; ``also`` runs in the same transaction."""
        delete = sql.SQL("DELETE FROM {} WHERE video_id = %s").format(sql.Identifier(table))
        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        )
        with self._writing(video_id) as conn, conn.cursor() as cur:
            # Two writers replacing the same rows at once would otherwise both delete the
            # old rows and then collide on the new ids; this makes the second one wait.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{table}/{video_id}",))
            cur.execute(delete, (video_id,))
            if rows:
                cur.executemany(insert, rows)
            if also is not None:
                also(cur)

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

    # --- search items ---------------------------------------------------------------------

    def ensure_vector_index(self, dim: int) -> None:
        """Create the partial HNSW index for embeddings of ``dim`` dimensions if missing."""
        key = (self.url, _checked_dim(dim))
        with _indexed_dims_guard:
            if key in _indexed_dims:
                return
            if dim > HNSW_MAX_DIMENSIONS:
                log.info(
                    "no HNSW index for %d-dimensional embeddings (pgvector indexes at most %d); "
                    "searching them scans exactly",
                    dim,
                    HNSW_MAX_DIMENSIONS,
                )
            else:
                with self.connection() as conn:
                    # Two processes creating the same index at once would collide on its name.
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext('vidmine:vector-index'))")
                    conn.execute(
                        sql.SQL(
                            "CREATE INDEX IF NOT EXISTS {} ON search_items"
                            " USING hnsw ({} vector_cosine_ops) WHERE dim = {}"
                        ).format(
                            sql.Identifier(vector_index_name(dim)),
                            vector_expression(dim),
                            sql.Literal(dim),
                        )
                    )
            _indexed_dims.add(key)

    def replace_search_items(
        self, video_id: str, items: Sequence[SearchItem], model: str, dim: int
    ) -> None:
        """Replace all the video's search items with ``items``, embedded by ``model``."""
        _checked_dim(dim)
        configs = self.text_search_configs()
        rows = []
        for item in items:
            if item.kind not in SEARCH_KINDS:
                raise ValueError(
                    f"search item {item.item_id!r}: kind must be one of {SEARCH_KINDS}, "
                    f"got {item.kind!r}"
                )
            vector = None
            if item.embedding is not None:
                values = np.asarray(item.embedding, dtype=np.float32)
                if values.shape != (dim,):
                    raise ValueError(
                        f"search item {item.item_id!r}: embedding has shape {values.shape}, "
                        f"expected ({dim},) for model {model!r}"
                    )
                vector = Vector(values)
            rows.append(
                (
                    item.item_id,
                    video_id,
                    item.kind,
                    item.source_id,
                    item.start_s,
                    item.end_s,
                    item.text,
                    model,
                    dim,
                    vector,
                    item.language,
                    config
                    if (config := ts_config(item.language)) in configs
                    else FALLBACK_TS_CONFIG,
                )
            )
        self.ensure_vector_index(dim)
        self._replace(
            video_id,
            "search_items",
            (
                "item_id",
                "video_id",
                "kind",
                "source_id",
                "start_s",
                "end_s",
                "text",
                "model",
                "dim",
                "embedding",
                "language",
                "ts_config",
            ),
            rows,
        )

    def text_search_configs(self) -> frozenset[str]:
        """The text search configurations this server has (asked once per process)."""
        with _indexed_dims_guard:
            known = _ts_configs.get(self.url)
        if known is None:
            rows = self._fetch("SELECT cfgname FROM pg_ts_config")
            known = frozenset(row["cfgname"] for row in rows)
            with _indexed_dims_guard:
                _ts_configs[self.url] = known
        return known

    def load_search_items(
        self, video_id: str, *, with_embeddings: bool = False
    ) -> list[SearchItem]:
        rows = self._fetch(
            sql.SQL(
                "SELECT item_id, kind, source_id, start_s, end_s, text, {} AS embedding,"
                " language FROM search_items WHERE video_id = %s ORDER BY start_s, item_id"
            ).format(sql.SQL("embedding") if with_embeddings else sql.SQL("NULL")),
            (video_id,),
        )
        for row in rows:
            if row["embedding"] is not None:
                row["embedding"] = row["embedding"].to_list()
        return [SearchItem(**row) for row in rows]

    # --- provider calls and cache ---------------------------------------------------------

    def record_provider_calls(
        self,
        video_id: str | None,
        calls: Sequence[CallRecord],
        cost_fn: Callable[[CallRecord], float | None] | None = None,
    ) -> None:
        """Store the calls; ``cost_fn`` prices one (None or no cost_fn: price unknown)."""
        if not calls:
            return
        rows = [
            (
                video_id,
                call.stage,
                call.provider,
                call.model,
                call.status,
                call.latency_ms,
                call.retries,
                call.input_tokens,
                call.output_tokens,
                call.audio_seconds,
                cost_fn(call) if cost_fn is not None else None,
                call.cached,
                call.error,
            )
            for call in calls
        ]
        with self.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO provider_calls (video_id, stage, provider, model, status,"
                " latency_ms, retries, input_tokens, output_tokens, audio_seconds, cost_usd,"
                " cached, error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )

    def provider_call_summary(self, video_id: str | None = None) -> dict[str, Any]:
        """Calls, tokens, audio seconds, cost and cache hits per stage/provider/model.

        Returns ``{"by_stage": [{"stage", "provider", "model", ...totals}], "total": {...}}``;
        ``video_id=None`` summarises all videos. ``unpriced_calls`` counts calls whose
        cost is unknown (left out of ``cost_usd``).
        """
        rows = self._fetch(
            "SELECT stage, provider, model, count(*) AS calls,"
            " count(*) FILTER (WHERE status = 'error') AS errors,"
            " count(*) FILTER (WHERE cached) AS cached,"
            " coalesce(sum(retries), 0)::int AS retries,"
            " coalesce(sum(input_tokens), 0)::bigint AS input_tokens,"
            " coalesce(sum(output_tokens), 0)::bigint AS output_tokens,"
            " coalesce(sum(audio_seconds), 0)::float8 AS audio_seconds,"
            " coalesce(sum(cost_usd), 0)::float8 AS cost_usd,"
            " count(*) FILTER (WHERE cost_usd IS NULL AND NOT cached) AS unpriced_calls,"
            " coalesce(sum(latency_ms), 0)::float8 AS latency_ms"
            " FROM provider_calls WHERE %s::text IS NULL OR video_id = %s"
            " GROUP BY stage, provider, model ORDER BY stage, provider, model",
            (video_id, video_id),
        )
        numeric = (
            "calls",
            "errors",
            "cached",
            "retries",
            "input_tokens",
            "output_tokens",
            "audio_seconds",
            "cost_usd",
            "unpriced_calls",
            "latency_ms",
        )
        total = {key: sum(row[key] for row in rows) for key in numeric}
        return {"video_id": video_id, "by_stage": rows, "total": total}

    def cache_get(self, key: str) -> dict[str, Any] | None:
        rows = self._fetch("SELECT response FROM response_cache WHERE cache_key = %s", (key,))
        return rows[0]["response"] if rows else None

    def cache_put(self, key: str, provider: str, model: str, response: dict[str, Any]) -> None:
        with self.connection() as conn:
            conn.execute(
                "INSERT INTO response_cache (cache_key, provider, model, response)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (cache_key) DO UPDATE SET"
                " provider = excluded.provider, model = excluded.model,"
                " response = excluded.response, created_at = now()",
                (key, provider, model, _json(response)),
            )

    # --- generated content ----------------------------------------------------------------

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
                (video_id, content_type, _json(body), markdown, provider, model, extractive),
            )

    def load_content(self, video_id: str, content_type: str | None = None) -> list[ContentRecord]:
        rows = self._fetch(
            "SELECT video_id, content_type, body, markdown, provider, model, extractive,"
            " created_at FROM content_assets WHERE video_id = %s"
            " AND (%s::text IS NULL OR content_type = %s) ORDER BY content_type",
            (video_id, content_type, content_type),
        )
        return [ContentRecord(**row) for row in rows]


def _index_from_id(row_id: str) -> int:
    """The trailing number of a stable id such as ``vid_scene_003``."""
    return int(row_id.rsplit("_", 1)[-1])
