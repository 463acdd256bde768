"""Adaptive provider limits (issue #24 item 2): the AIMD rule alone, the limit shared by
separate connections through PostgreSQL, and the real openai client against the fake
server's overload, where no call fails while the limit falls and then recovers."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from fake_openai import running_fake_openai

from vidmine.config import ProviderConfig
from vidmine.providers.adaptive import (
    MIN_RATE_FACTOR,
    AdaptiveLimit,
    Outcome,
    next_limit,
)
from vidmine.providers.base import MemoryRecorder
from vidmine.providers.limits import RetryPolicy
from vidmine.providers.openai import OpenAIEmbedder
from vidmine.providers.slots import RequestSlots, provider_loads

# --- the rule, a pure function ---------------------------------------------------------------


def test_a_good_answer_at_the_ceiling_changes_nothing() -> None:
    state = AdaptiveLimit.at_ceiling(8)
    assert next_limit(state, Outcome.OK, now=10.0) == state
    assert state.concurrency == 8 and state.rate_factor == 1.0


@pytest.mark.parametrize("outcome", [Outcome.THROTTLED, Outcome.SERVER_ERROR, Outcome.TIMEOUT])
def test_an_overload_halves_the_limit(outcome: Outcome) -> None:
    lowered = next_limit(AdaptiveLimit.at_ceiling(8), outcome, now=10.0, sent_at=9.9)
    assert lowered.limit == 4.0 and lowered.concurrency == 4 and lowered.decreased_at == 10.0
    assert lowered.rate_factor == 0.5


def test_one_overload_lowers_once_not_once_per_request_in_flight() -> None:
    state = next_limit(AdaptiveLimit.at_ceiling(8), Outcome.THROTTLED, now=10.0, sent_at=9.9)
    # Seven more 429s to requests sent before the decrease: the same overload.
    for _ in range(7):
        state = next_limit(state, Outcome.THROTTLED, now=10.1, sent_at=9.95)
    assert state.limit == 4.0
    # A request sent after the decrease and still refused: the limit was not low enough.
    state = next_limit(state, Outcome.THROTTLED, now=10.3, sent_at=10.2)
    assert state.limit == 2.0 and state.decreased_at == 10.3


def test_good_answers_add_one_per_round_up_to_the_ceiling_only() -> None:
    state = AdaptiveLimit(limit=4.0, ceiling=8)
    for _ in range(4):  # one round of four answers
        state = next_limit(state, Outcome.OK, now=1.0)
    assert 4.8 < state.limit < 5.0 and state.concurrency == 4
    state = next_limit(state, Outcome.OK, now=1.0)
    assert state.concurrency == 5
    for _ in range(100):
        state = next_limit(state, Outcome.OK, now=1.0)
    assert state.limit == 8.0


def test_retry_after_holds_every_request_back_until_then() -> None:
    state = next_limit(
        AdaptiveLimit.at_ceiling(4), Outcome.THROTTLED, now=100.0, sent_at=99.0, retry_after_s=2
    )
    assert state.resume_at == 102.0
    assert state.wait_s(101.0) == 1.0 and state.wait_s(103.0) == 0.0
    # A shorter wait asked later does not shorten the one already promised.
    state = next_limit(state, Outcome.THROTTLED, now=100.5, sent_at=99.5, retry_after_s=0.5)
    assert state.resume_at == 102.0


def test_the_limit_has_a_floor_and_one_request_at_a_time_slows_its_rate() -> None:
    state = AdaptiveLimit.at_ceiling(2)
    for step in range(20):
        state = next_limit(state, Outcome.THROTTLED, now=float(step), sent_at=float(step))
    assert state.limit == pytest.approx(2 * MIN_RATE_FACTOR)
    assert state.concurrency == 1 and state.rate_factor == pytest.approx(MIN_RATE_FACTOR)
    recovered = next_limit(state, Outcome.OK, now=30.0)
    assert state.limit < recovered.limit < 1.0  # below one at a time, the rate recovers


def test_answers_that_say_nothing_about_load_change_nothing() -> None:
    state = AdaptiveLimit(limit=3.0, ceiling=8, decreased_at=5.0)
    assert next_limit(state, Outcome.NEUTRAL, now=9.0, sent_at=8.0) == state


def test_a_process_configured_lower_keeps_its_own_ceiling() -> None:
    shared = AdaptiveLimit.at_ceiling(8)  # written by a process with max_concurrent 8
    mine = next_limit(shared, Outcome.OK, now=1.0, ceiling=3)
    assert mine.limit == 3.0 and mine.concurrency == 3


# --- shared through PostgreSQL ---------------------------------------------------------------


def _take_all(slots: RequestSlots) -> list:
    held = []
    while (one := slots.try_acquire()) is not None:
        held.append(one)
    return held


def test_two_connections_see_the_same_lowered_limit_and_its_recovery(store_url: str) -> None:
    provider = f"shared-{uuid.uuid4().hex[:6]}"
    first = RequestSlots(store_url, provider, 4)
    second = RequestSlots(store_url, provider, 4)
    held = _take_all(first)
    assert len(held) == 4 and first.adaptive is True
    # The first sees a 429 on a request it sent: the limit halves for both.
    limit, wait = first.report(held[0], Outcome.THROTTLED, retry_after_s=None)
    assert limit.limit == 2.0 and wait == 0.0
    for one in held:
        first.release(one)
    theirs = _take_all(second)
    assert len(theirs) == 2 and second.known_limit.limit == 2.0
    # The other 429s of that first wave were sent before the decrease: nothing more.
    first.report(held[1], Outcome.THROTTLED)
    assert second.report(theirs[0], Outcome.OK)[0].limit == 2.5
    for one in theirs:
        second.release(one)
    # Good answers through either connection bring it back to the ceiling, and no further.
    for _ in range(20):
        one = first.acquire()
        first.report(one, Outcome.OK)
        first.release(one)
    assert len(_take_all(second)) == 4
    with psycopg.connect(store_url) as conn:
        stored = conn.execute(
            "SELECT concurrency_limit FROM provider_limits WHERE provider = %s", (provider,)
        ).fetchone()
    assert stored == (4.0,)
    (load,) = provider_loads(store_url, {provider: 4})
    assert load.in_flight == 4 and load.too_many_requests == 2 and load.limit == 4.0
    first.close()
    second.close()


def test_retry_after_stops_the_other_connection_too(store_url: str) -> None:
    provider = f"pause-{uuid.uuid4().hex[:6]}"
    first = RequestSlots(store_url, provider, 3)
    second = RequestSlots(store_url, provider, 3)
    held = first.acquire()
    _, wait = first.report(held, Outcome.THROTTLED, retry_after_s=60)
    first.release(held)
    assert 55 < wait <= 60
    assert second.try_acquire() is None  # slots are free, but the provider asked to wait
    (load,) = provider_loads(store_url, {provider: 3})
    assert 55 < load.resume_in_s <= 60 and load.concurrency == 1
    first.close()
    second.close()


def test_a_database_without_the_table_keeps_the_fixed_cap(pg_url: str) -> None:
    slots = RequestSlots(pg_url, f"fixed-{uuid.uuid4().hex[:6]}", 2)
    held = _take_all(slots)
    assert len(held) == 2 and slots.adaptive is False
    assert slots.report(held[0], Outcome.THROTTLED) is None
    for one in held:
        slots.release(one)
    slots.close()


# --- the real client against an overloaded server -------------------------------------------


def test_an_overloaded_server_fails_no_call_while_the_limit_falls_then_recovers(
    store_url: str,
) -> None:
    provider = f"storm-{uuid.uuid4().hex[:6]}"
    texts = [f"text number {i}" for i in range(64)]
    recorder = MemoryRecorder()
    with running_fake_openai(latency_ms=30, throttle_above=4) as fake:
        config = ProviderConfig(
            base_url=fake.base_url, max_concurrent=8, requests_per_minute=60_000, max_retries=5
        )
        embedder = OpenAIEmbedder(
            provider=provider,
            model="text-embedding-3-small",
            dimensions=8,
            batch_size=1,  # one request per text
            config=config,
            recorder=recorder,
            retry_policy=RetryPolicy(max_retries=5, initial_backoff_s=0.05, max_backoff_s=0.2),
            slots_database_url=store_url,
        )
        assert len(embedder.embed(texts)) == 64  # every call succeeded: nothing raised
        storm = fake.stats()
        (during,) = provider_loads(store_url, {provider: 8})
        fake.configure(throttle_above=None)
        assert len(embedder.embed([f"later {i}" for i in range(80)])) == 80
        (after,) = provider_loads(store_url, {provider: 8})
    print(f"storm: {storm['served_429']} 429s for 64 answers; limit then {during.limit}")
    assert storm["served_429"] >= 1 and storm["completed"] == 64
    # The first wave (eight at once against room for four) drew four refusals; the lowered
    # limit kept the rest of the storm to the probes above four (AIMD's sawtooth): far
    # fewer than the one refusal per answer that a fixed cap of eight would keep drawing.
    assert storm["served_429"] < 64 // 2, storm
    # Lowered below the ceiling; how far back up its sawtooth it has climbed when the storm
    # ends depends on how the requests overlapped (5.6 to 6.04 seen on a loaded machine).
    assert during.decreased_at is not None and during.limit < 8
    assert during.too_many_requests == storm["served_429"]
    assert after.limit == 8.0 and after.concurrency == 8
    assert [call.error for call in recorder.calls if call.status != "ok"] == []
    assert sum(call.retries for call in recorder.calls) == storm["served_429"]


def test_without_a_database_the_limit_adapts_within_the_process() -> None:
    recorder = MemoryRecorder()
    with running_fake_openai(latency_ms=20, throttle_above=2) as fake:
        embedder = OpenAIEmbedder(
            provider=f"alone-{uuid.uuid4().hex[:6]}",
            model="text-embedding-3-small",
            dimensions=8,
            batch_size=1,
            config=ProviderConfig(
                base_url=fake.base_url, max_concurrent=6, requests_per_minute=60_000
            ),
            recorder=recorder,
            retry_policy=RetryPolicy(max_retries=5, initial_backoff_s=0.05, max_backoff_s=0.2),
        )
        assert len(embedder.embed([f"text {i}" for i in range(30)])) == 30
        during = embedder._limiter.limit
        fake.configure(throttle_above=None)
        assert len(embedder.embed([f"later {i}" for i in range(60)])) == 60
        served = fake.stats()
    assert served["served_429"] >= 1 and served["max_in_flight"] <= 6, served
    # Lowered, and still below the ceiling when the storm ends (where in its sawtooth
    # depends on how the requests happened to overlap).
    assert during.decreased_at is not None and during.limit < 6, during
    assert embedder._limiter.limit.limit == 6.0
    assert [call.error for call in recorder.calls if call.status != "ok"] == []


def test_a_request_that_must_not_wait_is_told_busy_by_the_lowered_limit_and_the_pause() -> None:
    from vidmine.providers.limits import ProviderLimiter, SlotsBusyError, without_waiting

    limiter = ProviderLimiter(
        f"no-wait-{uuid.uuid4().hex[:6]}", max_concurrent=2, requests_per_minute=60_000
    )
    with limiter.request_slot() as ticket:
        assert limiter.report(ticket, Outcome.THROTTLED).concurrency == 1
    busy = pytest.raises(SlotsBusyError, match="1 request slots its limit allows now")
    with limiter.request_slot(), without_waiting(), busy, limiter.request_slot():
        pass
    with limiter.request_slot() as ticket:
        limiter.report(ticket, Outcome.THROTTLED, retry_after_s=60)
    paused = pytest.raises(SlotsBusyError, match="asked to wait")
    with without_waiting(), paused, limiter.request_slot():
        pass
