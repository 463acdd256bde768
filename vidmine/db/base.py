"""What every table group of the store shares: the database URL, a connection per call
(one transaction), reads as dicts, and replacing a video's rows of one table at once.

Every method opens a short-lived connection and does its work in one transaction, so a
``Store`` may be shared between threads and processes hold no connection while idle.
The ``replace_*`` methods delete a video's rows for one stage and insert the new ones in
the same transaction: re-running a stage never duplicates rows, and a failure half-way
leaves the previous rows in place.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vidmine.db.connection import connect, normalize_url
from vidmine.db.models import VideoNotFoundError


def json_value(value: Any) -> Jsonb:
    # Metadata from stages may hold paths or timestamps: store their text rather than fail.
    return Jsonb(value, dumps=lambda obj: json.dumps(obj, default=str))


class Tables:
    """vidmine's database, by URL (see ``vidmine.db.connection.database_url``); each table
    group (``videos.py``, ``stage_rows.py`` ...) subclasses it with its reads and writes,
    and ``store.Store`` joins them."""

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
