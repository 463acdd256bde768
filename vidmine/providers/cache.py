"""Caching of provider answers, so re-running a stage on the same input costs nothing.

A cache entry is keyed by :func:`cache_key` over the provider, the model, a hash of the
input content (image bytes, audio bytes or text) and the request parameters that
change the answer. The OpenAI-compatible providers look an entry up before asking and
store the answer after; a hit is recorded as a call with status ``"cached"``.

The database-backed cache is the Store (``Store.cache_get`` / ``Store.cache_put``), a
:class:`DatabaseCache` by its shape; :class:`MemoryCache` is the in-process one, for
tests and one-off runs. Callers use a cache from one thread at a time (the providers
consult it in the calling thread, not in their worker threads), so a Store holding one
connection is a valid cache.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


class ResponseCache(Protocol):
    def cache_get(self, key: str) -> dict[str, Any] | None: ...

    def cache_put(self, key: str, provider: str, model: str, response: dict[str, Any]) -> None: ...


@runtime_checkable
class DatabaseCache(ResponseCache, Protocol):
    """A cache kept in vidmine's database (the Store is one, structurally).

    Its ``url`` also locates the request slots that bound a provider across processes;
    naming the shape here keeps the provider layer from importing the database layer.
    """

    url: str


class MemoryCache:
    """A cache kept in a dict for the life of the process."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def cache_get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(key)
        # A copy, so a caller changing the answer cannot change the cache.
        return json.loads(json.dumps(entry[2])) if entry else None

    def cache_put(self, key: str, provider: str, model: str, response: dict[str, Any]) -> None:
        with self._lock:
            self._entries[key] = (provider, model, json.loads(json.dumps(response)))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def content_hash(*parts: bytes | str) -> str:
    """sha256 over the given pieces of input, each length-prefixed so boundaries count."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks (audio files can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(provider: str, model: str, input_hash: str, params: dict[str, Any]) -> str:
    """The cache key: sha256 of a canonical JSON of everything that decides the answer."""
    canonical = json.dumps(
        {"provider": provider, "model": model, "input": input_hash, "params": params},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
