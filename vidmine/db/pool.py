"""A ``Store`` whose connections come from a pool: the database resource's for a run or
a sensor tick, `vidmine serve`'s for the server's life.

``Store`` alone opens a connection per call (5-10 ms with pgvector's type lookups, more
than most of its statements); a run makes hundreds of calls and a server answers many
searches. The pool keeps a few connections, closes idle ones, and gives each call the
same commit-or-rollback block as ``Store``. A pool must not cross a fork: open it in the
process that uses it.
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

    def __init__(
        self, url: str, *, max_size: int = 8, max_idle_s: float = 300, name: str = "vidmine"
    ) -> None:
        super().__init__(url)
        connect(self.url).close()  # creates the vector extension if missing, once
        self._pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=max_size,
            max_idle=max_idle_s,
            configure=_configure,
            name=name,
            open=True,
        )

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self._pool.connection() as conn:
            yield conn

    def close(self) -> None:
        self._pool.close()
