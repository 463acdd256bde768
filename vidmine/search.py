"""Search as a person asks it: a query embedded by the serving model, hits with marked
snippets, and the answer the CLI and the web app give (grouped by video, or "nothing
found" in words).

The hybrid search itself (three candidate lists fused by reciprocal rank) is SQL over the
search index: see ``vidmine.db.search_index``.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from vidmine.db.search_index import SearchMode, search_statement
from vidmine.db.store import Store
from vidmine.models import SearchHit
from vidmine.providers.base import Embedder
from vidmine.search_probes import HUB_PROBE_QUERIES


def search(
    store_or_url: Store | str,
    query: str,
    query_embedding: Sequence[float] | None,
    *,
    model: str,
    dim: int,
    video_id: str | None = None,
    limit: int = 10,
    mode: SearchMode = "hybrid",
    kind: str | None = None,
    hub_centroid: Sequence[float] | None = None,
    min_similarity: float | None = None,
    speaker: str | None = None,
) -> list[SearchHit]:
    """The best ``limit`` matches for ``query``, best first; none when nothing matches.

    ``query_embedding`` is the query embedded by ``model`` (``dim`` values); it may be
    None in ``mode="text"``. ``video_id`` restricts the search to one video and ``kind``
    (segment, ocr or caption) to one kind of item. ``hub_centroid`` (see
    :func:`hub_centroid`) gives each item its hub baseline; without it the baseline is 0.
    ``min_similarity`` overrides the model's calibrated floor
    (``vidmine.db.search_index.VECTOR_SIMILARITY_FLOORS``).
    ``speaker`` (a name given to a speaker, "Speaker 2", or the key "2") keeps what that
    speaker said.
    """
    store = store_or_url if isinstance(store_or_url, Store) else Store(store_or_url)
    if limit <= 0:
        return []
    statement = search_statement(
        query,
        query_embedding,
        model=model,
        dim=dim,
        video_id=video_id,
        limit=limit,
        mode=mode,
        kind=kind,
        hub_centroid=hub_centroid,
        min_similarity=min_similarity,
        speaker=speaker,
    )
    if statement is None:
        return []
    rows = store.search_rows(statement, vectors=mode != "text")
    return [
        SearchHit(
            video_id=row["video_id"],
            file_name=row["file_name"],
            start_s=row["start_s"],
            end_s=row["end_s"],
            kind=row["kind"],
            snippet=_mark_compounds(_trim(row["snippet"]), query),
            score=float(row["score"]),
            item_id=row["item_id"],
            speaker=row["speaker"],
        )
        for row in rows
    ]


def search_text(
    store: Store,
    embedder: Embedder,
    query: str,
    *,
    video_id: str | None = None,
    kind: str | None = None,
    limit: int = 10,
    embed_lock: AbstractContextManager[object] | None = None,
    speaker: str | None = None,
) -> list[SearchHit]:
    """:func:`search` for a query embedded by ``embedder`` (the model its items were).

    ``embed_lock`` is held while the query is embedded, not while the database searches
    (a server gives one, so queries share the model in turn but search side by side).
    """
    vector = centroid = None
    if query.strip():
        with embed_lock or nullcontext():
            centroid = hub_centroid(embedder)
            vector = embedder.embed([query])[0]
    return search(
        store,
        query,
        vector,
        model=embedder.model,
        dim=embedder.dimensions,
        video_id=video_id,
        kind=kind,
        limit=limit,
        mode="hybrid" if vector is not None else "text",
        hub_centroid=centroid,
        speaker=speaker,
    )


_hub_centroids: dict[tuple[str, int], list[float]] = {}
_hub_centroids_lock = threading.Lock()


def hub_centroid(embedder: Embedder) -> list[float]:
    """The mean of the embeddings of ``HUB_PROBE_QUERIES`` (made once per model).

    For unit vectors, an item's dot product with this mean is its mean cosine similarity
    to the probe questions: how near it is to any question at all. That is its hub
    baseline, which a vector hit must beat and which is taken off its similarity when
    ranking, so an item near everything (a copyright line, a caption that says little)
    does not float to the top of queries it has nothing to do with.
    """
    key = (embedder.model, embedder.dimensions)
    with _hub_centroids_lock:
        if key not in _hub_centroids:
            probes = np.asarray(embedder.embed(list(HUB_PROBE_QUERIES)), dtype=np.float64)
            _hub_centroids[key] = probes.mean(axis=0).tolist()
        return _hub_centroids[key]


@dataclasses.dataclass(frozen=True)
class VideoMoments:
    """The hits of one video, best first: "3 moments in talk.mp4"."""

    video_id: str
    file_name: str
    hits: list[SearchHit]

    @property
    def score(self) -> float:
        return self.hits[0].score


def moments_label(count: int, file_name: str) -> str:
    return f"{count} moment{'' if count == 1 else 's'} in {file_name}"


def nothing_found_message(query: str) -> str:
    """What a person is told when ``query`` matched nothing (the CLI and the web page)."""
    return (
        f"Nothing found for \u201c{query.strip()}\u201d: "
        "no speech, on-screen text or caption in the library matches it."
    )


def search_answer(
    query: str,
    hits: Sequence[SearchHit],
    *,
    group: bool = False,
    hit_payload: Callable[[SearchHit], dict[str, Any]] = dataclasses.asdict,
) -> dict[str, Any]:
    """The JSON answer of `vidmine search --json` and ``GET /api/search``.

    ``{"query", "hits", "nothing_found", "message"}``: ``nothing_found`` is true when a
    query was asked and nothing matched, and ``message`` then says so in words a page can
    show (None otherwise). With ``group``, also ``"groups"``: one per video, the video of
    the best hit first, ``{"video_id", "file_name", "moments", "label", "hits"}`` with
    ``label`` like "3 moments in talk.mp4".
    """
    nothing_found = bool(query.strip()) and not hits
    answer: dict[str, Any] = {
        "query": query,
        "hits": [hit_payload(hit) for hit in hits],
        "nothing_found": nothing_found,
        "message": nothing_found_message(query) if nothing_found else None,
    }
    if group:
        answer["groups"] = [
            {
                "video_id": moments.video_id,
                "file_name": moments.file_name,
                "moments": len(moments.hits),
                "label": moments_label(len(moments.hits), moments.file_name),
                "hits": [hit_payload(hit) for hit in moments.hits],
            }
            for moments in group_by_video(hits)
        ]
    return answer


def group_by_video(hits: Sequence[SearchHit]) -> list[VideoMoments]:
    """``hits`` (best first) as one group per video, the video of the best hit first."""
    groups: dict[str, VideoMoments] = {}
    for hit in hits:
        group = groups.get(hit.video_id)
        if group is None:
            groups[hit.video_id] = VideoMoments(hit.video_id, hit.file_name, [hit])
        else:
            group.hits.append(hit)
    return list(groups.values())


_WORD = re.compile(r"[^\W_]+")


def _mark_compounds(snippet: str, query: str) -> str:
    """``snippet`` with the words a compound match found marked (``**light
    housekeeper**`` for "lighthouse keeper"), when full-text search marked none.

    The same wholes as migration 0005's keys: a query word of 6 letters or more, two
    adjacent query words of 3 or more written as one.
    """
    if "**" in snippet:
        return snippet
    asked = [word.lower() for word in _WORD.findall(query)]
    wholes = {word for word in asked if len(word) >= 6} | {
        first + second
        for first, second in itertools.pairwise(asked)
        if len(first) >= 3 and len(second) >= 3
    }
    words = list(_WORD.finditer(snippet))
    spans = []
    index = 0
    while index < len(words):
        word = words[index]
        after = words[index + 1] if index + 1 < len(words) else None
        joined = word.group().lower() + after.group().lower() if after else ""
        if after and len(word.group()) >= 3 and len(after.group()) >= 3 and joined in wholes:
            spans.append((word.start(), after.end()))
            index += 2
            continue
        if word.group().lower() in wholes:
            spans.append((word.start(), word.end()))
        index += 1
    for start, end in reversed(spans):
        snippet = f"{snippet[:start]}**{snippet[start:end]}**{snippet[end:]}"
    return snippet


def _trim(text: str, max_chars: int = 240) -> str:
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 1].rsplit(" ", 1)[0] + "…"
