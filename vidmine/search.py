"""Hybrid search over the search items of all videos (or one).

Three candidate lists are drawn from ``search_items``:

- by meaning: of the 50 nearest embeddings by cosine distance (only items embedded by the
  query's model, through that dimension's HNSW index), those that are near enough to be
  a match (``VECTOR_SIMILARITY_FLOORS``, calibrated on labelled queries) and nearer than
  the item is to questions in general (its hub baseline, see ``hub_centroid``);
- by words: the 50 best full-text matches (PostgreSQL text search over every item,
  whatever its model, each item in the configuration of its language: ``english``,
  ``german`` ..., ``simple`` for a language PostgreSQL cannot stem; the query is stemmed
  the same way for each);
- by compound words: items whose words, joined or split, are the query's split or joined
  ("Marktplatz" finds "Markt Platz", "lighthouse keeper" finds "light housekeeper"; see
  migration 0005).

Every item in a list matches the query, so a query nothing matches gets no hits. Reciprocal
rank fusion merges the lists: an item high in any list ranks high and one in several ranks
higher, so a paraphrase is found by its meaning and a rare name or number by its exact
words. A hit's score is its fused score, sum(1 / (60 + rank)) over the lists it is in:
higher is better, at most 3/61. A speech hit whose words matched spans those words (their
own times), not its whole segment.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

import numpy as np
from pgvector import Vector
from psycopg import sql
from psycopg.rows import dict_row

from vidmine.db.store import SEARCH_KINDS, Store, vector_expression
from vidmine.models import SearchHit
from vidmine.providers.base import Embedder
from vidmine.search_probes import HUB_PROBE_QUERIES

SearchMode = Literal["hybrid", "vector", "text"]

CANDIDATES_PER_LIST = 50
# How much nearer than the query is to questions in general (its mean similarity to
# HUB_PROBE_QUERIES) an item must be to count as meaning what the query asks, per
# embedding model. Measured above the query's own baseline because some queries are near
# everything: to English all-MiniLM-L6-v2, a German word or a made-up one is about as near
# to anything as a real paraphrase is to its answer.
#
# Calibrated, not guessed: `bench/search_quality.py --calibrate` sweeps the floor over the
# benchmark's 42 labelled queries on real media (11 of them about nothing in the library)
# and prints, at each floor, the share of must-find-nothing queries answered with nothing,
# precision@1 and MRR@10 of the whole search. For all-MiniLM-L6-v2 (2026-12): every
# must-find-nothing query comes back empty from 0.26 up (the nearest of them reached
# 0.24); precision@1 is 0.90 from 0.12 to 0.40 (0.94 with no floor at all, which answers
# every must-find-nothing query) and falls beyond, where answers found only by meaning
# drop out. The floor is the lowest that empties every
# must-find-nothing query, 0.26, plus two steps of the sweep (0.04) for queries about
# nothing nearer than any the benchmark asks, still far inside the plateau.
# A model not listed has no floor until it is calibrated the same way; its vector hits
# need only beat their item's hub baseline.
VECTOR_SIMILARITY_FLOORS: dict[str, float] = {"all-MiniLM-L6-v2": 0.30}
# The usual RRF constant: damps the difference between the very first ranks.
RRF_K = 60
# HNSW returns at most ef_search rows; it must exceed the candidates wanted.
_HNSW_EF_SEARCH = 100
_HEADLINE_OPTIONS = "StartSel=**, StopSel=**, MaxWords=30, MinWords=12, MaxFragments=2"
# Quotes, " or " and a leading minus are web-search syntax: honour them as written.
_WEB_SYNTAX = re.compile(r'"|\bor\b|(^|\s)-\w', re.IGNORECASE)


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
    ``min_similarity`` overrides the model's calibrated floor (``VECTOR_SIMILARITY_FLOORS``).
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
    query_sql, params = statement
    with store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        if mode != "text":
            cur.execute(
                sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(_HNSW_EF_SEARCH))
            )
        # psycopg prepares a statement run often on one connection (as a pooled server
        # does), and PostgreSQL then switches to a generic plan, made without the
        # parameters' values: the compound keys are no longer computed once from the query
        # and the candidate lists' estimates go wrong (p50 60 ms instead of 8 on 3,000
        # items). Planning for the values costs about 2 ms.
        cur.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        cur.execute(query_sql, params)
        rows = cur.fetchall()
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


def search_statement(
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
) -> tuple[sql.Composable, dict[str, Any]] | None:
    """The SQL and parameters ``search`` runs (None: nothing to search for); for EXPLAIN."""
    if mode not in ("hybrid", "vector", "text"):
        raise ValueError(f"search mode must be hybrid, vector or text, got {mode!r}")
    if kind is not None and kind not in SEARCH_KINDS:
        raise ValueError(f"search kind must be one of {', '.join(SEARCH_KINDS)}, got {kind!r}")
    if speaker is not None:
        speaker = " ".join(speaker.split()) or None
    if speaker is not None:
        kind = "segment"  # only speech has a speaker
    use_vectors = mode in ("hybrid", "vector")
    use_text = mode in ("hybrid", "text") and bool(query.strip())
    lists = []
    if use_vectors:
        lists.append(_vector_candidates(dim, by_video=video_id is not None))
    if use_text:
        lists += [_TEXT_CANDIDATES, _COMPOUND_CANDIDATES]
    if not lists:
        return None
    floor = VECTOR_SIMILARITY_FLOORS.get(model) if min_similarity is None else min_similarity
    params = {
        "query": query,
        "web_syntax": bool(_WEB_SYNTAX.search(query)),
        "model": model,
        "video_id": video_id,
        "kind": kind,
        "vector": _query_vector(query_embedding, dim, model) if use_vectors else None,
        "hub_centroid": (
            _query_vector(hub_centroid, dim, model)
            if use_vectors and hub_centroid is not None
            else None
        ),
        "floor": floor,
        "query_baseline": _query_baseline(query_embedding, hub_centroid) if use_vectors else 0.0,
        "n": CANDIDATES_PER_LIST,
        "k": RRF_K,
        "limit": limit,
        "headline": _HEADLINE_OPTIONS,
        "speaker": speaker,
    }
    statement = sql.SQL(
        """
        WITH q AS (
            -- The query under every language's text search configuration: each item is
            -- matched with its own language's (a German query stemmed as German finds
            -- German speech).
            SELECT c.cfgname::text AS cfg,
                   CASE WHEN %(web_syntax)s
                   THEN websearch_to_tsquery(c.oid::regconfig, %(query)s)
                   -- any of the words rather than all: ranking rewards matching more
                   ELSE replace(plainto_tsquery(c.oid::regconfig, %(query)s)::text,
                                ' & ', ' | ')::tsquery
                   END AS tsq
            FROM pg_ts_config c
            WHERE c.cfgnamespace = 'pg_catalog'::regnamespace
        ),
        ranked AS ({candidates}),
        fused AS (
            SELECT item_id, sum(1.0 / (%(k)s + rnk)) AS score
            FROM ranked GROUP BY item_id
        )
        SELECT s.item_id, s.video_id, v.file_name, s.kind, f.score,
               coalesce(matched.start_s, s.start_s) AS start_s,
               coalesce(matched.end_s, s.end_s) AS end_s,
               CASE WHEN s.tsv @@ q.tsq
                    THEN ts_headline(s.ts_config::regconfig, s.text, q.tsq, %(headline)s)
                    ELSE s.text END AS snippet,
               CASE WHEN sp.speaker IS NULL THEN NULL
                    ELSE coalesce(sn.name, 'Speaker ' || sp.speaker) END AS speaker
        FROM fused f
        JOIN search_items s USING (item_id)
        JOIN videos v ON v.video_id = s.video_id
        LEFT JOIN q ON q.cfg = s.ts_config
        -- A speech hit found by its words covers the words that matched, not the segment.
        LEFT JOIN LATERAL (
            SELECT min((w ->> 'start_s')::float8) AS start_s,
                   max((w ->> 'end_s')::float8) AS end_s
            FROM transcript_segments t, jsonb_array_elements(t.words) AS w
            WHERE s.kind = 'segment' AND t.segment_id = s.source_id
              AND vidmine_tsvector(s.ts_config, w ->> 'word') @@ q.tsq
        ) AS matched ON true
        -- Who said it (the speakers stage), by the name a person gave, else "Speaker N".
        LEFT JOIN transcript_segments sp ON s.kind = 'segment' AND sp.segment_id = s.source_id
        LEFT JOIN speaker_names sn ON sn.video_id = sp.video_id AND sn.speaker = sp.speaker
        WHERE %(speaker)s::text IS NULL OR sp.speaker = %(speaker)s
              OR lower(coalesce(sn.name, 'Speaker ' || sp.speaker)) = lower(%(speaker)s)
        ORDER BY f.score DESC, s.video_id, s.start_s
        LIMIT %(limit)s
        """
    ).format(candidates=sql.SQL(" UNION ALL ").join(lists))
    return statement, params


_TEXT_CANDIDATES = sql.SQL(
    """
    (SELECT item_id, row_number() OVER (ORDER BY rank DESC, item_id) AS rnk
     FROM (SELECT s.item_id, ts_rank_cd(s.tsv, q.tsq) AS rank
           FROM search_items s JOIN q ON q.cfg = s.ts_config
           WHERE s.tsv @@ q.tsq AND (%(video_id)s::text IS NULL OR s.video_id = %(video_id)s)
             AND (%(kind)s::text IS NULL OR s.kind = %(kind)s)
           ORDER BY rank DESC, s.item_id
           LIMIT %(n)s) AS by_text)
    """
)


_COMPOUND_CANDIDATES = sql.SQL(
    """
    (SELECT item_id, row_number() OVER (ORDER BY shared_keys DESC, item_id) AS rnk
     FROM (SELECT s.item_id, count(*) AS shared_keys
           -- one index lookup per query key: asked as one && of all the keys, the planner
           -- prices the GIN scan of 60 keys above a sequential scan, which then compares
           -- every item's keys with all of them (20 ms for 3,000 items; this takes 0.5 ms)
           FROM unnest(vidmine_compound_query_keys(%(query)s)) AS k(key)
           JOIN search_items s ON s.compound_keys @> ARRAY[k.key]
           WHERE (%(video_id)s::text IS NULL OR s.video_id = %(video_id)s)
             AND (%(kind)s::text IS NULL OR s.kind = %(kind)s)
           GROUP BY s.item_id
           ORDER BY shared_keys DESC, s.item_id
           LIMIT %(n)s) AS by_compound)
    """
)


def _vector_candidates(dim: int, *, by_video: bool) -> sql.Composable:
    """Nearest items by cosine distance that match: at or above the model's floor and
    above their hub baseline, ranked by how far they beat it.

    The nearest are found through the expression the HNSW index holds, and only then
    filtered: the floor and the baseline are not what the index orders by. Within one
    video the candidates are ranked exactly: an approximate index scan would drop the
    video's items that are not among the nearest of all videos.
    """
    distance = sql.SQL("{} <=> %(vector)s::vector({})").format(
        vector_expression(dim), sql.Literal(dim)
    )
    # <#> is the negative inner product: for a unit item, minus its mean similarity to
    # the probe questions.
    hub_baseline = sql.SQL("coalesce(-({} <#> %(hub_centroid)s::vector({})), 0)").format(
        vector_expression(dim), sql.Literal(dim)
    )
    if by_video:
        source = sql.SQL(
            "(SELECT * FROM search_items WHERE video_id = %(video_id)s OFFSET 0) AS s"
        )  # OFFSET 0 keeps the planner from reaching the index through the subquery
    else:
        source = sql.SQL("search_items AS s")
    return sql.SQL(
        """
        (SELECT item_id,
                row_number() OVER (ORDER BY similarity - hub_baseline DESC, item_id) AS rnk
         FROM (SELECT s.item_id, 1 - ({distance}) AS similarity, {hub_baseline} AS hub_baseline
               FROM {source}
               WHERE s.dim = {dim} AND s.model = %(model)s AND s.embedding IS NOT NULL
                 AND (%(kind)s::text IS NULL OR s.kind = %(kind)s)
               ORDER BY {distance}
               LIMIT %(n)s) AS by_vector
         WHERE (%(floor)s::float8 IS NULL
                OR similarity - %(query_baseline)s::float8 >= %(floor)s::float8)
           AND similarity > hub_baseline)
        """
    ).format(distance=distance, hub_baseline=hub_baseline, source=source, dim=sql.Literal(dim))


def _query_baseline(
    embedding: Sequence[float] | None, hub_centroid: Sequence[float] | None
) -> float:
    """The query's mean similarity to the probe questions: how near it is to anything."""
    if embedding is None or hub_centroid is None:
        return 0.0
    return float(np.dot(np.asarray(embedding, np.float64), np.asarray(hub_centroid, np.float64)))


def _query_vector(embedding: Sequence[float] | None, dim: int, model: str) -> Vector:
    if embedding is None:
        raise ValueError("a query embedding is needed unless mode='text'")
    values = np.asarray(embedding, dtype=np.float32)
    if values.shape != (dim,):
        raise ValueError(
            f"query embedding has shape {values.shape}, expected ({dim},) for model {model!r}"
        )
    return Vector(values)


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
