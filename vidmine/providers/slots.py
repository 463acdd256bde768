"""Request slots of a provider shared by every process that uses vidmine's database.

:class:`~vidmine.providers.limits.ProviderLimiter` bounds the requests of one process,
but runs, and the steps of Dagster's multiprocess executor, are separate processes,
possibly on several hosts. ``providers.<name>.max_concurrent`` bounds the requests in
flight at the provider's server, so it has to hold across all of them:
:class:`RequestSlots` is a semaphore of ``max_concurrent`` slots kept in PostgreSQL,
on vidmine's own database, as session advisory locks.

Why advisory locks: every vidmine process reaches that database already; the server
drops a session's locks when the session ends, so a process that dies (killed, OOM,
host lost) frees its slots at once, with no lease to expire; and taking a free slot is
one round trip.

How:

- slot ``i`` of provider ``p`` is the advisory lock ``(provider_lock_key(p), i)`` (the
  two-int4 form, a namespace apart from the one-bigint locks vidmine takes elsewhere);
  locks are per database, so two vidmine databases on one server do not share slots;
- each process holds one dedicated autocommit connection per provider, shared by its
  threads under a mutex (taking or giving back a slot is a short query). A session may
  take the same advisory lock twice, so the process remembers which slots its threads
  hold and only tries the others;
- taking a slot tries the free ones in one statement (a ``CASE`` chain stops at the
  first lock it gets); when all are held, it polls again after a short sleep that grows
  from ``poll_min_s`` to ``poll_max_s``, with jitter so waiting processes do not poll in
  step. Waiting is for slots held by *other* processes: within a process the limiter's
  own semaphore already queues the threads;
- if the connection breaks, the server has dropped this process's locks: the slots its
  threads believed they held are forgotten (their release is a no-op) and the next
  request reconnects.

Session advisory locks need a real session: point ``DATABASE_URL`` at PostgreSQL itself
or at a session-pooling PgBouncer, not a transaction-pooling one.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

log = logging.getLogger(__name__)

APPLICATION_NAME = "vidmine-request-slots"
# How often a request still waiting for a slot says so in the log.
WAITING_LOG_INTERVAL_S = 30.0


class SlotsUnavailableError(RuntimeError):
    """vidmine's database could not be reached to take or check a request slot."""


def provider_lock_key(provider: str) -> int:
    """The first advisory-lock key of a provider's slots: a stable, positive int4."""
    return zlib.crc32(f"vidmine.provider_slots:{provider}".encode()) & 0x7FFFFFFF


def describe_database(url: str) -> str:
    """Where the database is, for messages: host, port and name, never the password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "vidmine's database (DATABASE_URL)"
    host = str(parts.get("host") or "localhost")
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"vidmine's database {parts.get('dbname', '')!s} at {host}{port} (DATABASE_URL)"


@dataclass(frozen=True)
class HeldSlot:
    """One slot taken by this process; ``session`` tells which connection holds it."""

    index: int
    session: int


class RequestSlots:
    """The ``max_concurrent`` request slots of one provider, shared through PostgreSQL."""

    def __init__(
        self,
        database_url: str,
        provider: str,
        max_concurrent: int,
        *,
        poll_min_s: float = 0.002,
        poll_max_s: float = 0.02,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError(f"providers.{provider}.max_concurrent must be at least 1")
        self.database_url = database_url
        self.provider = provider
        self.max_concurrent = max_concurrent
        self.lock_key = provider_lock_key(provider)
        self.poll_min_s = poll_min_s
        self.poll_max_s = poll_max_s
        self._mutex = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._session = 0  # bumped on every (re)connect
        self._held: set[int] = set()
        _every_instance.add(self)

    # -- taking and giving back -------------------------------------------------------

    @contextmanager
    def slot(self) -> Iterator[HeldSlot]:
        """Hold one slot for the duration of the block (one HTTP attempt)."""
        held = self.acquire()
        try:
            yield held
        finally:
            self.release(held)

    def acquire(self) -> HeldSlot:
        """Take a free slot, waiting while all are held (by other processes)."""
        held = self.try_acquire()
        if held is not None:
            return held
        started = time.monotonic()
        next_log = started + WAITING_LOG_INTERVAL_S
        delay = self.poll_min_s
        while True:
            time.sleep(delay * random.uniform(0.5, 1.5))
            held = self.try_acquire()
            if held is not None:
                return held
            delay = min(delay * 2, self.poll_max_s)
            if time.monotonic() >= next_log:
                next_log += WAITING_LOG_INTERVAL_S
                log.info(
                    "%s: waited %.0f s for a request slot; all %d are held by other processes",
                    self.provider,
                    time.monotonic() - started,
                    self.max_concurrent,
                )

    def try_acquire(self) -> HeldSlot | None:
        """Take a free slot if there is one now, else None."""
        with self._mutex:
            for attempt in (1, 2):
                try:
                    return self._try_locked()
                except psycopg.OperationalError as err:
                    # The server dropped this session's locks with it: start over once.
                    self._drop_connection()
                    if attempt == 2:
                        raise SlotsUnavailableError(
                            f"cannot take a request slot of provider {self.provider!r} in "
                            f"{describe_database(self.database_url)}: {err}".rstrip()
                        ) from None
        return None  # unreachable; for the type checker

    def release(self, held: HeldSlot) -> None:
        """Give a slot back. A slot lost with a broken connection is already free."""
        with self._mutex:
            if held.session != self._session or self._conn is None:
                return
            self._held.discard(held.index)
            try:
                self._conn.execute(
                    "SELECT pg_advisory_unlock(%s, %s)", (self.lock_key, held.index)
                ).fetchone()
            except psycopg.Error as err:
                log.warning(
                    "%s: giving back request slot %d failed (%s); reconnecting",
                    self.provider,
                    held.index,
                    err,
                )
                self._drop_connection()

    @property
    def held_here(self) -> int:
        """How many slots this process holds now."""
        with self._mutex:
            return len(self._held)

    def close(self) -> None:
        """Close the connection, freeing any slots this process still holds."""
        with self._mutex:
            self._drop_connection()

    # -- internals ----------------------------------------------------------------------

    def _try_locked(self) -> HeldSlot | None:
        free = [i for i in range(self.max_concurrent) if i not in self._held]
        if not free:
            return None
        conn = self._connection()
        # CASE evaluates its conditions in order and stops at the first true one, so
        # this takes at most one lock in a single round trip.
        chain = sql.SQL(" ").join(
            sql.SQL("WHEN pg_try_advisory_lock({key}, {slot}) THEN {slot}").format(
                key=sql.Literal(self.lock_key), slot=sql.Literal(i)
            )
            for i in self._rotated(free)
        )
        row = conn.execute(sql.SQL("SELECT CASE {} ELSE -1 END").format(chain)).fetchone()
        index = int(row[0]) if row else -1
        if index < 0:
            return None
        self._held.add(index)
        return HeldSlot(index, self._session)

    def _rotated(self, free: list[int]) -> list[int]:
        # Start at a different slot in each process so pollers do not all knock on slot 0.
        shift = os.getpid() % len(free)
        return free[shift:] + free[:shift]

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.database_url, autocommit=True, application_name=APPLICATION_NAME
            )
            self._session += 1
            self._held.clear()
        return self._conn

    def _forget_inherited_session(self) -> None:
        # In a forked child: the locks belong to the parent's session, and the mutex may
        # have been held by a parent thread that does not exist here.
        self._mutex = threading.Lock()
        if self._conn is not None:
            _inherited.append(self._conn)
        self._conn = None
        self._held.clear()
        self._session += 1

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        self._held.clear()
        self._session += 1
        if conn is not None:
            with suppress(psycopg.Error):
                conn.close()


def slots_in_use(database_url: str, provider: str) -> int:
    """How many of the provider's slots are held now, by any process (from ``pg_locks``)."""
    query = """
        SELECT count(*) FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = %s
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    """
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(query, (provider_lock_key(provider),)).fetchone()
    except psycopg.OperationalError as err:
        raise SlotsUnavailableError(
            f"cannot read request slots in {describe_database(database_url)}: {err}"
        ) from None
    return int(row[0]) if row else 0


_registry: dict[tuple[str, str, int], RequestSlots] = {}
_registry_lock = threading.Lock()
_every_instance: weakref.WeakSet[RequestSlots] = weakref.WeakSet()
# Connections inherited through fork(): kept, never closed, in the child, since closing
# a copied connection would end the parent's session and free the parent's slots.
_inherited: list[psycopg.Connection] = []


def request_slots_for(database_url: str, provider: str, max_concurrent: int) -> RequestSlots:
    """The process-wide :class:`RequestSlots` of a provider on a database."""
    key = (database_url, provider, max_concurrent)
    with _registry_lock:
        slots = _registry.get(key)
        if slots is None:
            slots = RequestSlots(database_url, provider, max_concurrent)
            _registry[key] = slots
        return slots


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for slots in list(_every_instance):
        slots._forget_inherited_session()


os.register_at_fork(after_in_child=_after_fork_in_child)
