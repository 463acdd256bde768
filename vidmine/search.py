"""Hybrid search over the search items of all videos (or one).

Two candidate lists are drawn from ``search_items``: the 50 nearest embeddings by cosine
distance (only items embedded by the query's model, through that dimension's HNSW index)
and the 50 best full-text matches (PostgreSQL text search over every item, whatever its
model, each item in the configuration of its language: ``english``, ``german`` ...,
``simple`` for a language PostgreSQL cannot stem; the query is stemmed the same way for
each). Reciprocal rank fusion merges them: an item high in either list
ranks high and one in both ranks higher, so a paraphrase is found by its meaning and a
rare name or number by its exact words. A hit's score is its fused score,
sum(1 / (60 + rank)) over the lists it is in: higher is better, at most 2/61. A speech
hit whose words matched spans those words (their own times), not its whole segment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

import numpy as np
from pgvector import Vector
from psycopg import sql
from psycopg.rows import dict_row

from vidmine.db.store import SEARCH_KINDS, Store, vector_expression
from vidmine.models import SearchHit
from vidmine.providers.base import Embedder

SearchMode = Literal["hybrid", "vector", "text"]

CANDIDATES_PER_LIST = 50
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
    speaker: str | None = None,
) -> list[SearchHit]:
    """The best ``limit`` matches for ``query``, best first.

    ``query_embedding`` is the query embedded by ``model`` (``dim`` values); it may be
    None in ``mode="text"``. ``video_id`` restricts the search to one video and ``kind``
    (segment, ocr or caption) to one kind of item; ``speaker`` (a name given to a speaker,
    "Speaker 2", or the key "2") to what that speaker said.
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
        cur.execute(query_sql, params)
        rows = cur.fetchall()
    return [
        SearchHit(
            video_id=row["video_id"],
            file_name=row["file_name"],
            start_s=row["start_s"],
            end_s=row["end_s"],
            kind=row["kind"],
            snippet=_trim(row["snippet"]),
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
    vector = None
    if query.strip():
        with embed_lock or nullcontext():
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
        speaker=speaker,
    )


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
        lists.append(_TEXT_CANDIDATES)
    if not lists:
        return None
    params = {
        "query": query,
        "web_syntax": bool(_WEB_SYNTAX.search(query)),
        "model": model,
        "video_id": video_id,
        "kind": kind,
        "vector": _query_vector(query_embedding, dim, model) if use_vectors else None,
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


def _vector_candidates(dim: int, *, by_video: bool) -> sql.Composable:
    """Nearest items by cosine distance, ordered by the expression the HNSW index holds.

    Within one video the candidates are ranked exactly: an approximate index scan would
    drop the video's items that are not among the nearest of all videos.
    """
    distance = sql.SQL("{} <=> %(vector)s::vector({})").format(
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
        (SELECT item_id, row_number() OVER (ORDER BY distance, item_id) AS rnk
         FROM (SELECT s.item_id, {distance} AS distance
               FROM {source}
               WHERE s.dim = {dim} AND s.model = %(model)s AND s.embedding IS NOT NULL
                 AND (%(kind)s::text IS NULL OR s.kind = %(kind)s)
               ORDER BY {distance}
               LIMIT %(n)s) AS by_vector)
        """
    ).format(distance=distance, source=source, dim=sql.Literal(dim))


def _query_vector(embedding: Sequence[float] | None, dim: int, model: str) -> Vector:
    if embedding is None:
        raise ValueError("a query embedding is needed unless mode='text'")
    values = np.asarray(embedding, dtype=np.float32)
    if values.shape != (dim,):
        raise ValueError(
            f"query embedding has shape {values.shape}, expected ({dim},) for model {model!r}"
        )
    return Vector(values)


def _trim(text: str, max_chars: int = 240) -> str:
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 1].rsplit(" ", 1)[0] + "…"
