"""The adaptive request limit of a provider: additive increase, multiplicative decrease.

A provider that answers 429 (too many requests), 5xx or not at all within the timeout is
overloaded, by us or by others; asking as fast as before only earns more refusals and
spends the retries of every call. So the cap on requests follows the answers, as TCP's
congestion window does:

- each overload answer halves the limit (:data:`DECREASE_FACTOR`), once per overload:
  an overload answer to a request sent *before* the last decrease is the same overload,
  already answered (otherwise the eight requests in flight when a storm begins would
  divide the limit by 256);
- ``Retry-After`` is honoured by everyone: no new request before ``resume_at``;
- each good answer adds ``1 / limit`` (one request more per round of ``limit``
  answers) up to the ceiling, ``providers.<name>.max_concurrent``, which is never
  exceeded.

The limit is fractional: requests in flight are ``floor(limit)`` (at least one), and
the request rate is ``limit / ceiling`` of ``requests_per_minute``, so a provider at one
request at a time can still be slowed down, to :data:`MIN_RATE_FACTOR` of its rate.

This module is pure (no clock, no database, no threads): :func:`next_limit` is the
whole rule, and :mod:`vidmine.providers.slots` (state in PostgreSQL, shared by every
process) and :mod:`vidmine.providers.limits` (state in memory, one process) apply it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum

DECREASE_FACTOR = 0.5
# The slowest a provider is driven: a sixteenth of its configured rate.
MIN_RATE_FACTOR = 1 / 16


class Outcome(Enum):
    """What one attempt's answer says about the provider's load."""

    OK = "ok"  # an answer (a malformed one too: the server had room to answer)
    THROTTLED = "throttled"  # 429
    SERVER_ERROR = "server_error"  # 5xx
    TIMEOUT = "timeout"  # no answer within timeout_s
    NEUTRAL = "neutral"  # says nothing about load (401, 404, a refused connection)

    @property
    def overload(self) -> bool:
        return self in (Outcome.THROTTLED, Outcome.SERVER_ERROR, Outcome.TIMEOUT)


@dataclass(frozen=True)
class AdaptiveLimit:
    """The limit of one provider; times are seconds on one clock (the database's, shared)."""

    limit: float
    ceiling: int
    resume_at: float | None = None  # no new request before this
    decreased_at: float | None = None  # the last multiplicative decrease

    @classmethod
    def at_ceiling(cls, ceiling: int) -> AdaptiveLimit:
        return cls(limit=float(ceiling), ceiling=ceiling)

    @property
    def concurrency(self) -> int:
        """Requests in flight allowed now: at least one, at most the ceiling."""
        return max(1, min(self.ceiling, math.floor(self.limit + 1e-9)))

    @property
    def rate_factor(self) -> float:
        """The share of ``requests_per_minute`` allowed now."""
        return max(MIN_RATE_FACTOR, min(1.0, self.limit / self.ceiling))

    def wait_s(self, now: float) -> float:
        """How long before a new request may go out."""
        return max(0.0, self.resume_at - now) if self.resume_at is not None else 0.0


def min_limit(ceiling: int) -> float:
    return ceiling * MIN_RATE_FACTOR


def next_limit(
    state: AdaptiveLimit,
    outcome: Outcome,
    *,
    now: float,
    sent_at: float | None = None,
    retry_after_s: float | None = None,
    ceiling: int | None = None,
) -> AdaptiveLimit:
    """The limit after one answer.

    ``sent_at`` is when the answered request went out (None: unknown, counts as new);
    ``ceiling`` is the caller's configured ``max_concurrent`` when it may differ from
    the stored one (processes configured differently share one row): the limit never
    goes above the caller's ceiling.
    """
    top = ceiling if ceiling is not None else state.ceiling
    limit = min(state.limit, float(top))
    resume_at = state.resume_at
    if retry_after_s is not None and retry_after_s > 0:
        resume_at = max(resume_at or now, now + retry_after_s)
    decreased_at = state.decreased_at
    if outcome is Outcome.OK:
        if limit < top:
            # +1 per round of `limit` answers; below one request at a time (where only
            # the rate moves) a round is one answer, and the step shrinks with the limit.
            step = min(1.0, limit) / max(1.0, limit)
            limit = min(float(top), limit + step)
    elif outcome.overload:
        already_answered = (
            decreased_at is not None and sent_at is not None and sent_at < decreased_at
        )
        if not already_answered:
            limit = max(min_limit(top), limit * DECREASE_FACTOR)
            decreased_at = now
    return replace(state, limit=limit, ceiling=top, resume_at=resume_at, decreased_at=decreased_at)
