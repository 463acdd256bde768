"""What every OpenAI-compatible provider shares: the client, the request and the batch loop.

:class:`OpenAIProvider` is the one constructor and the one request path of the stage
providers in this package:

- the client is built from the provider's config (``base_url``, the key read from the
  environment variable ``api_key_env`` names, or the placeholder ``"unused"`` for
  servers that need none, ``timeout_s``) with the client's own retries off: retries,
  the in-flight bound and the per-minute limits are :mod:`vidmine.providers.limits`';
- :meth:`OpenAIProvider.answers` is the one batch loop: look every item up in the
  response cache (a hit is recorded as a ``"cached"`` call and costs no request), ask
  for the rest in parallel threads, store each answer as it arrives. The cache is only
  touched from the calling thread;
- every request ends in one :class:`~vidmine.models.CallRecord` (tokens from ``usage``,
  latency, retries, status) in the recorder given to the constructor;
- the API key never appears in a record, a log line or an exception message: error
  texts are scrubbed of it (and of anything shaped like a key) before they leave.

It must not know what a stage asks for; that is the stage modules' business.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import openai

from vidmine.config import ProviderConfig
from vidmine.models import CallRecord
from vidmine.providers.base import CallRecorder, MemoryRecorder, ProviderError
from vidmine.providers.cache import ResponseCache, cache_key
from vidmine.providers.limits import RequestFailed, RetryPolicy, call_with_retries, limiter_for

log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")

NO_KEY_PLACEHOLDER = "unused"  # local OpenAI-compatible servers often need no key

_KEY_SHAPES = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}[A-Za-z0-9_\-*.]*"),
    re.compile(r"(?i)\bbearer\s+\S+"),
)

Answer = dict[str, Any]  # one cacheable answer, as JSON


def api_key_from_env(provider: str, config: ProviderConfig) -> str | None:
    """The provider's key from the environment; None when the provider needs none."""
    if not config.api_key_env:
        return None
    key = os.environ.get(config.api_key_env, "").strip()
    if not key:
        raise ProviderError(
            f"providers.{provider}.api_key_env names {config.api_key_env}, which is not set; "
            f"export {config.api_key_env}=... or point the stages at another provider"
        )
    return key


@dataclass
class Usage:
    """What the attempts of one call used, added up (a malformed answer still costs)."""

    input_tokens: int = 0
    output_tokens: int = 0
    audio_seconds: float = 0.0

    def add(self, usage: Any) -> None:
        if usage is None:
            return
        self.input_tokens += int(
            getattr(usage, "prompt_tokens", None) or getattr(usage, "input_tokens", None) or 0
        )
        self.output_tokens += int(
            getattr(usage, "completion_tokens", None) or getattr(usage, "output_tokens", None) or 0
        )


def first_failure(answers: Sequence[T | BaseException]) -> list[T]:
    """The answers, or the first failure among them raised."""
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    return list(answers)  # type: ignore[arg-type]


class OpenAIProvider:
    """The client, limiter, retry policy, recorder and cache behind one stage's provider.

    A stage subclass sets ``stage``; if it has settings of its own, its ``__init__``
    takes just those and hands the rest (``**common``) to this one.
    """

    stage: str

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        config: ProviderConfig,
        recorder: CallRecorder | None = None,
        cache: ResponseCache | None = None,
        retry_policy: RetryPolicy | None = None,
        slots_database_url: str | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self._config = config
        self._recorder: CallRecorder = recorder if recorder is not None else MemoryRecorder()
        # Records arrive from worker threads; the recorder need not be thread-safe.
        self._record_lock = threading.Lock()
        self._cache = cache
        self._key = api_key_from_env(provider, config)
        self._policy = retry_policy or RetryPolicy.from_config(config)
        self._limiter = limiter_for(provider, config, slots_database_url=slots_database_url)
        self._client = openai.OpenAI(
            base_url=config.base_url,
            api_key=self._key or NO_KEY_PLACEHOLDER,
            timeout=config.timeout_s,
            max_retries=0,
        )

    # -- key hygiene --

    def _redact(self, text: str) -> str:
        if self._key:
            text = text.replace(self._key, "[redacted]")
        for shape in _KEY_SHAPES:
            text = shape.sub("[redacted]", text)
        return text

    def describe(self, error: BaseException) -> str:
        """The error as one line for records, logs and messages, with no key in it."""
        if isinstance(error, openai.APITimeoutError):
            detail = f"no answer within timeout_s={self._config.timeout_s:g}"
        elif isinstance(error, openai.APIConnectionError):
            detail = f"cannot reach {self._client.base_url}"
        elif isinstance(error, openai.APIStatusError):
            body = error.body.get("message") if isinstance(error.body, dict) else None
            detail = f"HTTP {error.status_code}: {body or error.message}"
        else:
            detail = str(error) or type(error).__name__
        return self._redact(f"{type(error).__name__}: {detail}")

    def _hint(self, error: BaseException) -> str:
        """What the user can do about a failure, naming the setting."""
        setting = f"providers.{self.provider}"
        if isinstance(error, openai.APITimeoutError):
            return f"; if the server is just slow, raise {setting}.timeout_s"
        if isinstance(error, openai.APIConnectionError):
            return f"; is the server running, and is {setting}.base_url right?"
        if isinstance(error, openai.APIStatusError):
            if error.status_code in (401, 403):
                if self._config.api_key_env:
                    return f"; check the key in ${self._config.api_key_env} ({setting}.api_key_env)"
                return f"; the server wants a key: set {setting}.api_key_env"
            if error.status_code == 404:
                return f"; check {setting}.base_url and that the server has model {self.model!r}"
            if error.status_code == 429:
                return f"; lower {setting}.max_concurrent or requests_per_minute"
        return ""

    # -- the batch loop: cache, parallel requests, store --

    def cache_key(self, input_hash: str, params: dict[str, Any]) -> str:
        return cache_key(self.provider, self.model, input_hash, params)

    def answers(
        self,
        keys: Sequence[str],
        ask: Callable[[list[int]], list[Answer]],
        *,
        batch_size: int = 1,
    ) -> list[Answer | BaseException]:
        """The answer under each cache key, in order: from the cache, else from ``ask``.

        ``ask`` gets the positions of up to ``batch_size`` missing answers and returns
        their answers in that order; batches run in parallel threads within the
        provider's limits. Each answer is stored as its batch succeeds, so a rerun after
        a failure pays only for the rest. A failed batch leaves its exception at each of
        its positions; nothing is raised here.
        """
        found: list[Answer | BaseException | None] = [self._cached(key) for key in keys]
        missing = [i for i, answer in enumerate(found) if answer is None]
        batches = [missing[i : i + batch_size] for i in range(0, len(missing), batch_size)]
        for batch, result in zip(batches, self._parallel(ask, batches), strict=True):
            if isinstance(result, BaseException):
                for i in batch:
                    found[i] = result
                continue
            for i, answer in zip(batch, result, strict=True):
                found[i] = answer
                self._store(keys[i], answer)
        return [answer for answer in found if answer is not None]

    def _cached(self, key: str) -> Answer | None:
        if self._cache is None:
            return None
        started = time.monotonic()
        hit = self._cache.cache_get(key)
        if hit is not None:
            self._emit(
                CallRecord(
                    stage=self.stage,
                    provider=self.provider,
                    model=self.model,
                    status="cached",
                    latency_ms=(time.monotonic() - started) * 1000,
                    cached=True,
                )
            )
        return hit

    def _store(self, key: str, response: Answer) -> None:
        if self._cache is not None:
            self._cache.cache_put(key, self.provider, self.model, response)

    def _parallel(self, work: Callable[[U], T], items: Sequence[U]) -> list[T | BaseException]:
        """``work`` over ``items`` in threads, results in order; errors returned, not raised."""

        def guarded(item: U) -> T | BaseException:
            try:
                return work(item)
            except Exception as error:
                return error

        if len(items) <= 1:
            return [guarded(item) for item in items]
        workers = min(len(items), self._limiter.max_concurrent)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=self.provider) as pool:
            return list(pool.map(guarded, items))

    # -- one request --

    def request(
        self,
        what: str,
        attempt: Callable[[Usage], T],
        *,
        tokens: int = 0,
        audio_seconds: float = 0.0,
    ) -> T:
        """Run one logical request (with retries), record it, and return its value.

        ``attempt`` makes one HTTP request and adds the usage it reports to the tally
        before validating the answer (raising RetryableAnswerError if it is unusable).
        """
        usage = Usage(audio_seconds=audio_seconds)
        started = time.monotonic()
        try:
            value, retries = call_with_retries(
                lambda: attempt(usage),
                limiter=self._limiter,
                policy=self._policy,
                tokens=tokens,
                describe=self.describe,
            )
        except RequestFailed as failed:
            message = self.describe(failed.cause)
            self._record("error", started, failed.retries, usage, error=message)
            log.warning("%s %s %s failed: %s", self.provider, self.model, what, message)
            after = f" after {failed.retries} retries" if failed.retries else ""
            raise ProviderError(
                f"{self.provider} ({self.model}): {what} failed{after}: {message}"
                + self._hint(failed.cause)
            ) from None
        self._record("ok", started, retries, usage)
        return value

    def _emit(self, call: CallRecord) -> None:
        with self._record_lock:
            self._recorder.record(call)

    def _record(
        self, status: str, started: float, retries: int, usage: Usage, error: str = ""
    ) -> None:
        self._emit(
            CallRecord(
                stage=self.stage,
                provider=self.provider,
                model=self.model,
                status=status,
                latency_ms=(time.monotonic() - started) * 1000,
                retries=retries,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                audio_seconds=usage.audio_seconds,
                error=error,
            )
        )
