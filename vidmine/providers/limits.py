"""Request-level limits and retries for one AI provider within one process.

Every provider object of one provider (its captioner, embedder, ...) shares one
:class:`ProviderLimiter` (see :func:`limiter_for`), which holds:

- a gate of ``max_concurrent`` slots, fewer while the adaptive limit (below) is lower.
  A slot is held for exactly one HTTP attempt (the openai client runs with
  ``max_retries=0``; :func:`call_with_retries` does the retrying), so the number of requests in flight at the server never exceeds
  ``max_concurrent``, and a request sleeping between retries frees its slot for others.
  (The one exception is beyond any client's knowledge: an attempt that timed out frees
  its slot although the server may still be working on it);
- optionally, the provider's :class:`~vidmine.providers.slots.RequestSlots` in vidmine's
  database, taken after the process's own slot and held just as long, so the bound holds
  across every process (runs, multiprocess steps, hosts) that uses that database;
- a requests-per-minute token bucket (pyrate-limiter), taken after the slot so that the
  moment a permit is granted is the moment the request goes out;
- optionally a tokens-per-minute bucket, charged with the caller's estimate of a
  request's input tokens.

The cap adapts (:mod:`vidmine.providers.adaptive`): every attempt's answer is reported
(:meth:`ProviderLimiter.report`); a 429, 5xx or timeout halves the provider's limit and
a good answer raises it by 1/limit, never above ``max_concurrent``. With the shared slots
the limit lives in PostgreSQL beside them, so all processes slow down together; without
them it lives in this process. The limit bounds the requests in flight (``floor(limit)``)
and, below the ceiling, the request rate (``limit / max_concurrent`` of
``requests_per_minute``, a pace on top of the configured bucket, which still holds).

Retrying is done here, with tenacity, rather than by the openai client: the client
treats ``Retry-After: 0`` as absent and backs off at least 0.375 s anyway, it does not
report how many retries a failed call took, and its retries happen inside one slot
acquisition. Here 429, 408, 409, 5xx, timeouts and connection errors are retried with
exponential backoff plus jitter, a ``Retry-After``/``retry-after-ms`` header from the
server is honoured as given, and an answer that came back malformed
(:class:`RetryableAnswerError`) is asked again at once.
"""

from __future__ import annotations

import contextvars
import email.utils
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TypeVar

import openai
import tenacity
from pyrate_limiter import Limiter, Rate, SingleBucketFactory, StateBucket, TokenBucket

from vidmine.config import ProviderConfig
from vidmine.providers.adaptive import AdaptiveLimit, Outcome, next_limit
from vidmine.providers.slots import HeldSlot, RequestSlots, request_slots_for

log = logging.getLogger(__name__)

T = TypeVar("T")

_MINUTE_MS = 60_000
# Set by without_waiting(): requests in this context fail at once instead of queueing.
_NO_WAIT: contextvars.ContextVar[bool] = contextvars.ContextVar("vidmine_no_wait", default=False)


class SlotsBusyError(RuntimeError):
    """Every request slot of the provider is taken, and the caller asked not to wait."""


@contextmanager
def without_waiting() -> Iterator[None]:
    """Requests made in this block (in this thread) take a free request slot or raise
    :class:`SlotsBusyError` at once, never queue: work that can be skipped and asked for
    again (a question on a web page) must not pile up behind the pipeline's requests."""
    token = _NO_WAIT.set(True)
    try:
        yield
    finally:
        _NO_WAIT.reset(token)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed request is tried again."""

    max_retries: int = 5
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    # A server asking for a longer wait than this is not waited for: the call fails.
    max_retry_after_s: float = 120.0

    @classmethod
    def from_config(cls, config: ProviderConfig) -> RetryPolicy:
        return cls(max_retries=config.max_retries)


class RetryableAnswerError(Exception):
    """The server answered, but not with what was asked (e.g. malformed JSON); ask again."""


class RequestFailed(Exception):
    """A request failed for good: ``cause`` is the last error, ``retries`` how many retries ran."""

    def __init__(self, cause: BaseException, retries: int) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.retries = retries


def _token_bucket(per_minute: float, burst: int) -> Limiter:
    # pyrate-limiter rates are integers: scale the window so limit/interval == per_minute.
    limit = max(1, round(per_minute))
    interval_ms = max(1, round(_MINUTE_MS * limit / per_minute))
    bucket = StateBucket([Rate(limit, interval_ms, burst=burst)], algorithm=TokenBucket())
    # A token bucket's state is constant-size: no leaker thread is needed to trim it.
    return Limiter(SingleBucketFactory(bucket, schedule_leak=False), buffer_ms=5)


@dataclass
class AttemptTicket:
    """One attempt inside the limits: when it went out, and the shared slot it holds."""

    sent_at: float  # time.time(), or the database's clock with a shared slot
    shared: HeldSlot | None = None


class _Pace:
    """Spaces request starts to a rate that can change (the adaptive share of
    ``requests_per_minute``); inactive at the full rate, where the bucket paces alone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self, per_minute: float) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + 60.0 / per_minute
        if start > now:
            time.sleep(start - now)


class ProviderLimiter:
    """The in-flight, requests-per-minute and tokens-per-minute limits of one provider."""

    def __init__(
        self,
        name: str,
        *,
        max_concurrent: int,
        requests_per_minute: float,
        tokens_per_minute: float | None = None,
        shared_slots: RequestSlots | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError(f"providers.{name}.max_concurrent must be at least 1")
        self.name = name
        self.max_concurrent = max_concurrent
        self.requests_per_minute = requests_per_minute
        self.shared_slots = shared_slots
        # The process's own gate: at most the adaptive limit's requests in flight here,
        # and none while the provider asked to wait. Its view of the limit is its own
        # (no shared slots) or the last one read from the database.
        self._gate = threading.Condition()
        self._gate_in_flight = 0
        self._limit = AdaptiveLimit.at_ceiling(max_concurrent)
        self._resume_at = 0.0  # time.monotonic()
        self._pace = _Pace()
        # OpenAI enforces per-minute limits over shorter windows, so a whole minute's
        # requests sent at once can itself draw 429s: allow a burst of a tenth of it.
        self._rpm_burst = max(1, math.ceil(requests_per_minute / 10))
        self._requests = _token_bucket(requests_per_minute, self._rpm_burst)
        self._tpm_burst = max(1, round(tokens_per_minute)) if tokens_per_minute else 0
        self._tokens = (
            _token_bucket(tokens_per_minute, self._tpm_burst) if tokens_per_minute else None
        )
        self._count_lock = threading.Lock()
        self._in_flight = 0
        self._max_in_flight = 0

    @contextmanager
    def request_slot(self, tokens: int = 0) -> Iterator[AttemptTicket]:
        """Hold one in-flight slot for one HTTP attempt; blocks until all limits allow it
        (inside :func:`without_waiting`, raises :class:`SlotsBusyError` when no slot is free
        now, or the provider asked to wait).

        Report the attempt's answer with :meth:`report` before leaving the block, so a
        lowered limit holds before the slot is given back."""
        wait = not _NO_WAIT.get()
        self._enter_gate(wait)
        try:
            with self._shared_slot(wait) as shared:
                if shared is not None and shared.limit is not None:
                    self._learn(shared.limit, 0.0)
                with self._counted(tokens, shared) as ticket:
                    yield ticket
        finally:
            self._leave_gate()

    @contextmanager
    def _counted(self, tokens: int, shared: HeldSlot | None) -> Iterator[AttemptTicket]:
        """The per-minute buckets, the adaptive pace and the in-flight count, once a slot
        is held."""
        self._requests.try_acquire(self.name)
        if self._tokens is not None and tokens > 0:
            # A request bigger than a minute's budget waits for a full bucket.
            self._tokens.try_acquire(self.name, weight=min(tokens, self._tpm_burst))
        rate_factor = self.limit.rate_factor
        if rate_factor < 1.0:
            self._pace.wait(self.requests_per_minute * rate_factor)
        with self._count_lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        sent_at = shared.taken_at if shared is not None and shared.taken_at else time.time()
        try:
            yield AttemptTicket(sent_at=sent_at, shared=shared)
        finally:
            with self._count_lock:
                self._in_flight -= 1

    def report(
        self, ticket: AttemptTicket, outcome: Outcome, retry_after_s: float | None = None
    ) -> AdaptiveLimit:
        """Apply one attempt's answer to the provider's limit; returns the limit now."""
        if outcome is Outcome.NEUTRAL:
            return self.limit
        shared = self.shared_slots
        if shared is not None and ticket.shared is not None:
            answer = shared.report(ticket.shared, outcome, retry_after_s)
            if answer is not None:
                self._learn(*answer)
                return answer[0]
        # No shared state (no database, or one without provider_limits): this process's.
        with self._gate:
            now = time.time()
            self._limit = next_limit(
                self._limit, outcome, now=now, sent_at=ticket.sent_at, retry_after_s=retry_after_s
            )
            wait = self._limit.wait_s(now)
            self._resume_at = max(self._resume_at, time.monotonic() + wait)
            self._gate.notify_all()
            return self._limit

    @property
    def limit(self) -> AdaptiveLimit:
        """The provider's adaptive limit as this process knows it."""
        with self._gate:
            return self._limit

    def _learn(self, limit: AdaptiveLimit, wait_s: float) -> None:
        with self._gate:
            self._limit = limit
            if wait_s > 0:
                self._resume_at = max(self._resume_at, time.monotonic() + wait_s)
            self._gate.notify_all()

    def _enter_gate(self, wait: bool = True) -> None:
        with self._gate:
            while True:
                pause = self._resume_at - time.monotonic()
                if pause <= 0 and self._gate_in_flight < self._limit.concurrency:
                    self._gate_in_flight += 1
                    return
                if not wait:
                    raise SlotsBusyError(
                        f"{self.name}: the provider asked to wait {pause:.1f} s"
                        if pause > 0
                        else f"{self.name}: all {self._limit.concurrency} request slots "
                        f"its limit allows now (of {self.max_concurrent}) are taken"
                    )
                # Woken by a finished attempt or a new limit; a pause ends by itself.
                self._gate.wait(timeout=pause if pause > 0 else None)

    def _leave_gate(self) -> None:
        with self._gate:
            self._gate_in_flight -= 1
            self._gate.notify_all()

    def _shared_slot(self, wait: bool = True) -> AbstractContextManager[HeldSlot | None]:
        # Taken after the process's own gate: a process never has more threads waiting
        # on (and polling for) the shared slots than it could use.
        if self.shared_slots is None:
            return nullcontext()
        return self.shared_slots.slot() if wait else self._shared_slot_now(self.shared_slots)

    @contextmanager
    def _shared_slot_now(self, slots: RequestSlots) -> Iterator[HeldSlot]:
        held = slots.try_acquire()
        if held is None:
            raise SlotsBusyError(
                f"{self.name}: all {slots.known_limit.concurrency} request slots its limit "
                f"allows now (of {self.max_concurrent}) are taken (by other processes)"
            )
        try:
            yield held
        finally:
            slots.release(held)

    @property
    def in_flight(self) -> int:
        with self._count_lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        with self._count_lock:
            return self._max_in_flight


_limiters: dict[tuple[str, int, float, float | None, str | None], ProviderLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(
    name: str, config: ProviderConfig, *, slots_database_url: str | None = None
) -> ProviderLimiter:
    """The process-wide limiter of provider ``name``.

    Keyed by the name, the limit settings and the database: one config per process
    gives one limiter per provider; a test that reconfigures a provider gets a fresh
    one. With ``slots_database_url`` (vidmine's database) the limiter also takes the
    provider's request slots shared by every process using that database.
    """
    key = (
        name,
        config.max_concurrent,
        config.requests_per_minute,
        config.tokens_per_minute,
        slots_database_url,
    )
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = ProviderLimiter(
                name,
                max_concurrent=config.max_concurrent,
                requests_per_minute=config.requests_per_minute,
                tokens_per_minute=config.tokens_per_minute,
                shared_slots=(
                    request_slots_for(slots_database_url, name, config.max_concurrent)
                    if slots_database_url
                    else None
                ),
            )
            _limiters[key] = limiter
        return limiter


def retry_after_s(error: BaseException) -> float | None:
    """The wait a server asked for with ``retry-after-ms`` or ``Retry-After``, if any."""
    if not isinstance(error, openai.APIStatusError):
        return None
    headers = error.response.headers
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is None:
                continue
            seconds = email.utils.mktime_tz(parsed) - time.time()
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def outcome_of(error: BaseException) -> Outcome:
    """What a failed attempt says about the provider's load."""
    if isinstance(error, RetryableAnswerError):
        return Outcome.OK  # it answered, just not usably: it had room to answer
    if isinstance(error, openai.APITimeoutError):
        return Outcome.TIMEOUT
    if isinstance(error, openai.APIStatusError):
        if error.status_code == 429:
            return Outcome.THROTTLED
        if error.status_code >= 500:
            return Outcome.SERVER_ERROR
    return Outcome.NEUTRAL


def is_transient(error: BaseException, policy: RetryPolicy) -> bool:
    """Whether asking again may help: overload, server faults, timeouts, malformed answers."""
    if isinstance(error, RetryableAnswerError | openai.APIConnectionError):
        # APITimeoutError is an APIConnectionError.
        return True
    if isinstance(error, openai.APIStatusError):
        should_retry = error.response.headers.get("x-should-retry")
        if should_retry in ("true", "false"):
            return should_retry == "true"
        wait = retry_after_s(error)
        if wait is not None and wait > policy.max_retry_after_s:
            return False
        return error.status_code in (408, 409, 429) or error.status_code >= 500
    return False


class _BackoffOrServerWait(tenacity.wait.wait_base):
    """The wait before the next attempt: what the server asked for, else backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = tenacity.wait_exponential_jitter(
            initial=policy.initial_backoff_s,
            max=policy.max_backoff_s,
            jitter=policy.initial_backoff_s,
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, RetryableAnswerError):
            return 0.0
        if error is not None:
            wait = retry_after_s(error)
            if wait is not None:
                return wait
        return self._backoff(retry_state)


def call_with_retries(
    attempt: Callable[[], T],
    *,
    limiter: ProviderLimiter,
    policy: RetryPolicy,
    tokens: int = 0,
    describe: Callable[[BaseException], str] = repr,
) -> tuple[T, int]:
    """Run ``attempt`` (one HTTP request) under the limiter, retrying transient failures.

    Returns the value and the number of retries taken; raises :class:`RequestFailed`
    when the retries are spent or the failure is not transient. ``describe`` turns an
    error into the text logged on a retry (callers pass one that redacts keys).
    """
    attempts = 0

    def one_attempt() -> T:
        nonlocal attempts
        attempts += 1
        with limiter.request_slot(tokens) as ticket:
            try:
                value = attempt()
            except Exception as error:
                limiter.report(ticket, outcome_of(error), retry_after_s(error))
                raise
            limiter.report(ticket, Outcome.OK)
            return value

    def log_retry(retry_state: tenacity.RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        log.info(
            "%s: retrying after attempt %d of %d failed (%s)",
            limiter.name,
            retry_state.attempt_number,
            policy.max_retries + 1,
            describe(error) if error else "no error",
        )

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_retries + 1),
        retry=tenacity.retry_if_exception(lambda error: is_transient(error, policy)),
        wait=_BackoffOrServerWait(policy),
        before_sleep=log_retry,
        reraise=True,
    )
    try:
        value = retrying(one_attempt)
    except SlotsBusyError:
        raise  # not a failure of the provider: the caller chose not to wait
    except Exception as error:
        raise RequestFailed(error, retries=max(0, attempts - 1)) from error
    return value, attempts - 1
