"""What the fake server does to the next requests (``Behaviour``), what it has served
(``Counters``), and the injected failures: deciding each request's fate as it arrives, and
the OpenAI-shaped error answers."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

CHAT_ENDPOINT = "/v1/chat/completions"


@dataclasses.dataclass
class Behaviour:
    """What the server does to the next requests; counts are used up as requests arrive."""

    latency_ms: float = 0.0
    fail_429: int = 0  # upcoming requests answered 429
    retry_after: str | None = "0"  # Retry-After header of those 429s (None: no header)
    throttle_above: int | None = None  # 429 to a request arriving with more in flight
    fail_5xx: int = 0  # upcoming requests answered with status_5xx
    status_5xx: int = 500
    hang: int = 0  # upcoming requests that sleep hang_s before answering
    hang_s: float = 30.0
    malformed: int = 0  # upcoming chat completions answered with broken JSON
    malformed_marker: str | None = None  # chat prompts holding this always get broken JSON
    transcript_text: str | None = None  # spread over the transcription segments
    transcript_language: str = "english"  # the verbose_json "language", named as whisper-1 does
    segment_s: float = 5.0
    require_api_key: str | None = None  # other keys get 401

    def update(self, options: dict[str, Any]) -> None:
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise ValueError(f"unknown fake server options {unknown}; known: {sorted(names)}")
        for name, value in options.items():
            setattr(self, name, value)


@dataclasses.dataclass
class Counters:
    requests: int = 0
    by_endpoint: dict[str, int] = dataclasses.field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    served_429: int = 0
    served_5xx: int = 0
    served_hangs: int = 0
    served_malformed: int = 0
    served_401: int = 0
    completed: int = 0  # answered 200


def plan_request(behaviour: Behaviour, counters: Counters, endpoint: str) -> Behaviour:
    """Count a request to ``endpoint`` in and decide what happens to it: a copy of
    ``behaviour`` with at most one injected failure set, used up from ``behaviour``. The
    caller holds the server's lock."""
    c = counters
    c.requests += 1
    c.by_endpoint[endpoint] = c.by_endpoint.get(endpoint, 0) + 1
    c.in_flight += 1
    c.max_in_flight = max(c.max_in_flight, c.in_flight)
    plan = dataclasses.replace(behaviour, fail_429=0, fail_5xx=0, hang=0, malformed=0)
    b = behaviour
    if b.fail_429 > 0:
        b.fail_429 -= 1
        plan.fail_429 = 1
        c.served_429 += 1
    elif b.throttle_above is not None and c.in_flight > b.throttle_above:
        plan.fail_429 = 1
        c.served_429 += 1
    elif b.fail_5xx > 0:
        b.fail_5xx -= 1
        plan.fail_5xx = 1
        c.served_5xx += 1
    elif b.hang > 0:
        b.hang -= 1
        plan.hang = 1
        c.served_hangs += 1
    elif b.malformed > 0 and endpoint == CHAT_ENDPOINT:
        b.malformed -= 1
        plan.malformed = 1
    return plan


def error_body(message: str, kind: str) -> bytes:
    """An error answer's body, shaped as OpenAI's."""
    return json.dumps(
        {"error": {"message": message, "type": kind, "param": None, "code": None}}
    ).encode()


def wrong_api_key(plan: Behaviour, authorization: str) -> tuple[int, bytes] | None:
    """The 401 for a request whose key is not the required one, else None."""
    if plan.require_api_key is None:
        return None
    sent = authorization.removeprefix("Bearer ").strip()
    if sent == plan.require_api_key:
        return None
    # Echoes the key it got, as some real servers partly do: a leak trap.
    return 401, error_body(f"Incorrect API key provided: {sent}", "invalid_request_error")


def injected_failure(plan: Behaviour) -> tuple[int, bytes, dict[str, str]] | None:
    """The 429 or 5xx ``plan`` holds (status, body, headers), else None."""
    if plan.fail_429:
        headers = {} if plan.retry_after is None else {"Retry-After": str(plan.retry_after)}
        return 429, error_body("Rate limit reached (injected)", "rate_limit_exceeded"), headers
    if plan.fail_5xx:
        return plan.status_5xx, error_body("Server error (injected)", "server_error"), {}
    return None
