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

The cap is adaptive (:mod:`vidmine.providers.adaptive`): the provider's current limit
lives in the table ``provider_limits`` of the same database (migration 0007), so every
process sees the same lowered limit. Taking a slot reads it in the same statement: only
slots below the current limit are tried (a lowered limit drains as held slots are given
back), and none while the provider asked to wait (``Retry-After``). :meth:`RequestSlots.report`
applies an answer to it under a row lock, and counts throttled answers per minute in
``provider_throttles``. A database without that table (not migrated) keeps the fixed cap.

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
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from vidmine.providers.adaptive import AdaptiveLimit, Outcome, next_limit

log = logging.getLogger(__name__)

APPLICATION_NAME = "vidmine-request-slots"
# How often a request still waiting for a slot says so in the log.
WAITING_LOG_INTERVAL_S = 30.0
# Throttle counts older than this are deleted as new ones are written.
THROTTLES_KEPT = "1 day"


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
    """One slot taken by this process; ``session`` tells which connection holds it,
    ``taken_at`` when (the database's clock, epoch seconds; None without adaptive state),
    ``limit`` the provider's adaptive limit then."""

    index: int
    session: int
    taken_at: float | None = None
    limit: AdaptiveLimit | None = None


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
        adaptive: bool = True,
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
        self._pause_s = 0.0  # how long the provider asked everyone to wait, at last look
        # None until the first connection tells whether provider_limits exists.
        self._adaptive: bool | None = None if adaptive else False
        self.known_limit = AdaptiveLimit.at_ceiling(max_concurrent)
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
            # Asked to wait (Retry-After): sleep that long rather than poll through it.
            pause = self._pause_s
            time.sleep(pause if pause > 0 else delay * random.uniform(0.5, 1.5))
            held = self.try_acquire()
            if held is not None:
                return held
            delay = min(delay * 2, self.poll_max_s)
            if time.monotonic() >= next_log:
                next_log += WAITING_LOG_INTERVAL_S
                log.info(
                    "%s: waited %.0f s for a request slot; all %d of its current limit "
                    "(ceiling %d) are held by other processes",
                    self.provider,
                    time.monotonic() - started,
                    self.known_limit.concurrency,
                    self.max_concurrent,
                )

    def try_acquire(self) -> HeldSlot | None:
        """Take a free slot below the current limit if there is one now, else None."""
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

    # -- the statements that take a slot ----------------------------------------------

    def _try_locked(self) -> HeldSlot | None:
        free = [i for i in range(self.max_concurrent) if i not in self._held]
        if not free:
            return None
        conn = self._connection()
        if not self._adaptive:
            return self._take_fixed(conn, free)
        # One round trip: the provider's limit row (none: at the ceiling), and the first
        # free slot below that limit. CASE evaluates its conditions in order and stops at
        # the first true one; the inner CASE keeps a slot above the limit from being tried.
        chain = sql.SQL(" ").join(
            sql.SQL(
                "WHEN (CASE WHEN {slot} < st.slots THEN pg_try_advisory_lock({key}, {slot}) "
                "ELSE false END) THEN {slot}"
            ).format(key=sql.Literal(self.lock_key), slot=sql.Literal(i))
            for i in self._rotated(free)
        )
        query = sql.SQL(
            """
            SELECT CASE WHEN st.resume_at > st.now THEN -2 {chain} ELSE -1 END,
                   st.concurrency_limit, st.resume_at, st.decreased_at, st.now
            FROM (
                SELECT coalesce(l.concurrency_limit, {ceiling}) AS concurrency_limit,
                       greatest(1, floor(least(coalesce(l.concurrency_limit, {ceiling}),
                                               {ceiling}) + 1e-9))::int AS slots,
                       extract(epoch FROM l.resume_at)::float8 AS resume_at,
                       extract(epoch FROM l.decreased_at)::float8 AS decreased_at,
                       extract(epoch FROM clock_timestamp())::float8 AS now
                FROM (SELECT 1) AS one
                LEFT JOIN provider_limits AS l ON l.provider = {provider}
            ) AS st
            """
        ).format(
            chain=chain,
            ceiling=sql.Literal(self.max_concurrent),
            provider=sql.Literal(self.provider),
        )
        row = conn.execute(query).fetchone()
        assert row is not None
        index, limit, resume_at, decreased_at, now = row
        self.known_limit = AdaptiveLimit(
            limit=min(float(limit), float(self.max_concurrent)),
            ceiling=self.max_concurrent,
            resume_at=resume_at,
            decreased_at=decreased_at,
        )
        self._pause_s = self.known_limit.wait_s(now)
        if index < 0:
            return None
        self._held.add(index)
        return HeldSlot(index, self._session, taken_at=now, limit=self.known_limit)

    def _take_fixed(self, conn: psycopg.Connection, free: list[int]) -> HeldSlot | None:
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

    # -- the adaptive limit ---------------------------------------------------------------

    @property
    def adaptive(self) -> bool | None:
        """Whether the limit adapts (None: not connected yet, so not known)."""
        return self._adaptive

    def report(
        self, held: HeldSlot, outcome: Outcome, retry_after_s: float | None = None
    ) -> tuple[AdaptiveLimit, float] | None:
        """Apply one answer to the provider's shared limit; the new limit and how long to
        wait before the next request. None when the limit is fixed (no provider_limits)."""
        if not self._adaptive or outcome is Outcome.NEUTRAL:
            return None
        known = self.known_limit
        if outcome is Outcome.OK and known.limit >= self.max_concurrent:
            return known, 0.0  # at the ceiling: a good answer moves nothing, costs no write
        with self._mutex:
            try:
                return self._report_locked(held, outcome, retry_after_s)
            except psycopg.OperationalError as err:
                # The answer's lesson is lost, not the request: the next one reconnects.
                log.warning(
                    "%s: recording an answer in the adaptive limit failed (%s)", self.provider, err
                )
                self._drop_connection()
                return None

    def _report_locked(
        self, held: HeldSlot, outcome: Outcome, retry_after_s: float | None
    ) -> tuple[AdaptiveLimit, float]:
        conn = self._connection()
        with conn.transaction():
            if outcome.overload:
                conn.execute(
                    "INSERT INTO provider_limits (provider, concurrency_limit, ceiling) "
                    "VALUES (%s, %s, %s) ON CONFLICT (provider) DO NOTHING",
                    (self.provider, float(self.max_concurrent), self.max_concurrent),
                )
                throttled = outcome is Outcome.THROTTLED
                conn.execute(
                    "INSERT INTO provider_throttles AS t "
                    "(provider, minute, too_many_requests, server_errors) "
                    "VALUES (%s, date_trunc('minute', now()), %s, %s) "
                    "ON CONFLICT (provider, minute) DO UPDATE SET "
                    "too_many_requests = t.too_many_requests + excluded.too_many_requests, "
                    "server_errors = t.server_errors + excluded.server_errors",
                    (self.provider, int(throttled), int(not throttled)),
                )
                conn.execute(
                    "DELETE FROM provider_throttles WHERE provider = %s "
                    f"AND minute < now() - interval '{THROTTLES_KEPT}'",
                    (self.provider,),
                )
            row = conn.execute(
                "SELECT concurrency_limit, ceiling, extract(epoch FROM resume_at)::float8, "
                "extract(epoch FROM decreased_at)::float8, "
                "extract(epoch FROM clock_timestamp())::float8 "
                "FROM provider_limits WHERE provider = %s FOR UPDATE",
                (self.provider,),
            ).fetchone()
            if row is None:  # a good answer and no row: at the ceiling already
                self.known_limit = AdaptiveLimit.at_ceiling(self.max_concurrent)
                return self.known_limit, 0.0
            limit, ceiling, resume_at, decreased_at, now = row
            before = AdaptiveLimit(float(limit), int(ceiling), resume_at, decreased_at)
            after = next_limit(
                before,
                outcome,
                now=now,
                sent_at=held.taken_at,
                retry_after_s=retry_after_s,
                ceiling=self.max_concurrent,
            )
            if after != before:
                conn.execute(
                    "UPDATE provider_limits SET concurrency_limit = %s, ceiling = %s, "
                    "resume_at = to_timestamp(%s), decreased_at = to_timestamp(%s), "
                    "updated_at = clock_timestamp() WHERE provider = %s",
                    (
                        after.limit,
                        after.ceiling,
                        after.resume_at,
                        after.decreased_at,
                        self.provider,
                    ),
                )
        self.known_limit = after
        self._pause_s = after.wait_s(now)
        return after, self._pause_s

    # -- internals ----------------------------------------------------------------------

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
            if self._adaptive is None:
                row = self._conn.execute(
                    "SELECT to_regclass('provider_limits') IS NOT NULL"
                ).fetchone()
                self._adaptive = bool(row and row[0])
                if not self._adaptive:
                    log.warning(
                        "%s: %s has no provider_limits table (run `vidmine db migrate`); "
                        "the request cap stays fixed at max_concurrent=%d",
                        self.provider,
                        describe_database(self.database_url),
                        self.max_concurrent,
                    )
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


@dataclass(frozen=True)
class ProviderLoad:
    """What /stats and the library show of one provider: its requests in flight (every
    process), its adaptive limit against its ceiling, and its recent overload answers."""

    provider: str
    ceiling: int
    limit: float
    concurrency: int
    in_flight: int
    too_many_requests: int  # 429s within the window
    server_errors: int  # 5xx within the window
    window_s: int
    resume_in_s: float
    decreased_at: datetime | None
    adaptive: bool  # False: the database lacks provider_limits (not migrated)


def provider_loads(
    database_url: str, ceilings: dict[str, int], *, window_s: int = 600
) -> list[ProviderLoad]:
    """The load of each provider named in ``ceilings`` (name -> max_concurrent), read in one
    connection; a provider with no limit row is at its ceiling."""
    loads = []
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute("SELECT to_regclass('provider_limits') IS NOT NULL").fetchone()
            adaptive = bool(row and row[0])
            for provider, ceiling in sorted(ceilings.items()):
                in_flight_row = conn.execute(
                    """
                    SELECT count(*) FROM pg_locks
                    WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = %s
                      AND database = (SELECT oid FROM pg_database
                                      WHERE datname = current_database())
                    """,
                    (provider_lock_key(provider),),
                ).fetchone()
                in_flight = int(in_flight_row[0]) if in_flight_row else 0
                state = AdaptiveLimit.at_ceiling(ceiling)
                decreased, resume_in, throttled, errors = None, 0.0, 0, 0
                if adaptive:
                    limit_row = conn.execute(
                        "SELECT concurrency_limit, decreased_at, "
                        "greatest(0, extract(epoch FROM resume_at - clock_timestamp()))::float8 "
                        "FROM provider_limits WHERE provider = %s",
                        (provider,),
                    ).fetchone()
                    if limit_row is not None:
                        state = AdaptiveLimit(min(float(limit_row[0]), ceiling), ceiling)
                        decreased, resume_in = limit_row[1], float(limit_row[2] or 0.0)
                    counts = conn.execute(
                        "SELECT coalesce(sum(too_many_requests), 0), "
                        "coalesce(sum(server_errors), 0) FROM provider_throttles "
                        "WHERE provider = %s "
                        "AND minute >= date_trunc('minute', now() - make_interval(secs => %s))",
                        (provider, window_s),
                    ).fetchone()
                    if counts is not None:
                        throttled, errors = int(counts[0]), int(counts[1])
                loads.append(
                    ProviderLoad(
                        provider=provider,
                        ceiling=ceiling,
                        limit=round(state.limit, 2),
                        concurrency=state.concurrency,
                        in_flight=in_flight,
                        too_many_requests=throttled,
                        server_errors=errors,
                        window_s=window_s,
                        resume_in_s=round(resume_in, 1),
                        decreased_at=decreased,
                        adaptive=adaptive,
                    )
                )
    except psycopg.OperationalError as err:
        raise SlotsUnavailableError(
            f"cannot read provider limits in {describe_database(database_url)}: {err}"
        ) from None
    return loads


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
