"""A ``Store`` whose connections come from a pool, for the long-running `vidmine serve`.

``Store`` opens a connection per call, which suits short-lived pipeline steps; a server
answering searches would pay the connection setup (5-10 ms, more than the search SQL
itself on a small library) on every request. The pool keeps a few connections, closes
idle ones, and gives each call the same commit-or-rollback block as ``Store``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from vidmine.db.connection import connect
from vidmine.db.store import Store


def _configure(conn: psycopg.Connection) -> None:
    register_vector(conn)
    conn.commit()  # end the transaction register_vector's type lookups opened


class PooledStore(Store):
    """``Store`` over a connection pool; call ``close()`` when done."""

    def __init__(self, url: str, *, max_size: int = 8, max_idle_s: float = 300) -> None:
        super().__init__(url)
        connect(self.url).close()  # creates the vector extension if missing, once
        self._pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=max_size,
            max_idle=max_idle_s,
            configure=_configure,
            name="vidmine-serve",
            open=True,
        )

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self._pool.connection() as conn:
            yield conn

    def close(self) -> None:
        self._pool.close()
