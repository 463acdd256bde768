"""The search index: the ``search_items`` table (one row per searchable text with its
embedding and text search configuration), its HNSW index per embedding dimension, and the
hybrid search SQL over it.

Three candidate lists are drawn from ``search_items``:

- by meaning: of the 50 nearest embeddings by cosine distance (only items embedded by the
  query's model, through that dimension's HNSW index), those that are near enough to be
  a match (``VECTOR_SIMILARITY_FLOORS``, calibrated on labelled queries) and nearer than
  the item is to questions in general (its hub baseline, see ``vidmine.search.hub_centroid``);
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
own times), not its whole segment. ``vidmine.search`` turns the rows into hits.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pgvector import Vector
from psycopg import sql
from psycopg.rows import dict_row

from vidmine.db.base import Tables
from vidmine.db.models import SEARCH_KINDS, SearchItem
from vidmine.languages import FALLBACK_TS_CONFIG, ts_config

log = logging.getLogger(__name__)

SearchMode = Literal["hybrid", "vector", "text"]

# pgvector's HNSW indexes `vector` columns of at most this many dimensions; wider
# embeddings are searched exactly (still correct, slower on big tables).
HNSW_MAX_DIMENSIONS = 2000

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

# (url, dim) pairs whose vector index exists, so each process asks once.
_indexed_dims: set[tuple[str, int]] = set()
_indexed_dims_guard = threading.Lock()
# url -> the server's text search configuration names
_ts_configs: dict[str, frozenset[str]] = {}


def vector_expression(dim: int) -> sql.Composable:
    """``embedding::vector(dim)``: the indexed expression, which queries must repeat verbatim."""
    return sql.SQL("(embedding::vector({}))").format(sql.Literal(_checked_dim(dim)))


def vector_index_name(dim: int) -> str:
    return f"search_items_embedding_{_checked_dim(dim)}_hnsw"


def _checked_dim(dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
        raise ValueError(f"embedding dimension must be a positive integer, got {dim!r}")
    return dim


class SearchIndex(Tables):
    """Search items: written per video, searched across all of them."""

    def ensure_vector_index(self, dim: int) -> None:
        """Create the partial HNSW index for embeddings of ``dim`` dimensions if missing."""
        key = (self.url, _checked_dim(dim))
        with _indexed_dims_guard:
            if key in _indexed_dims:
                return
            if dim > HNSW_MAX_DIMENSIONS:
                log.info(
                    "no HNSW index for %d-dimensional embeddings (pgvector indexes at most %d); "
                    "searching them scans exactly",
                    dim,
                    HNSW_MAX_DIMENSIONS,
                )
            else:
                with self.connection() as conn:
                    # Two processes creating the same index at once would collide on its name.
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext('vidmine:vector-index'))")
                    conn.execute(
                        sql.SQL(
                            "CREATE INDEX IF NOT EXISTS {} ON search_items"
                            " USING hnsw ({} vector_cosine_ops) WHERE dim = {}"
                        ).format(
                            sql.Identifier(vector_index_name(dim)),
                            vector_expression(dim),
                            sql.Literal(dim),
                        )
                    )
            _indexed_dims.add(key)

    def replace_search_items(
        self, video_id: str, items: Sequence[SearchItem], model: str, dim: int
    ) -> None:
        """Replace all the video's search items with ``items``, embedded by ``model``."""
        _checked_dim(dim)
        configs = self.text_search_configs()
        rows = []
        for item in items:
            if item.kind not in SEARCH_KINDS:
                raise ValueError(
                    f"search item {item.item_id!r}: kind must be one of {SEARCH_KINDS}, "
                    f"got {item.kind!r}"
                )
            vector = None
            if item.embedding is not None:
                values = np.asarray(item.embedding, dtype=np.float32)
                if values.shape != (dim,):
                    raise ValueError(
                        f"search item {item.item_id!r}: embedding has shape {values.shape}, "
                        f"expected ({dim},) for model {model!r}"
                    )
                vector = Vector(values)
            rows.append(
                (
                    item.item_id,
                    video_id,
                    item.kind,
                    item.source_id,
                    item.start_s,
                    item.end_s,
                    item.text,
                    model,
                    dim,
                    vector,
                    item.language,
                    config
                    if (config := ts_config(item.language)) in configs
                    else FALLBACK_TS_CONFIG,
                )
            )
        self.ensure_vector_index(dim)
        self._replace(
            video_id,
            "search_items",
            (
                "item_id",
                "video_id",
                "kind",
                "source_id",
                "start_s",
                "end_s",
                "text",
                "model",
                "dim",
                "embedding",
                "language",
                "ts_config",
            ),
            rows,
        )

    def text_search_configs(self) -> frozenset[str]:
        """The text search configurations this server has (asked once per process)."""
        with _indexed_dims_guard:
            known = _ts_configs.get(self.url)
        if known is None:
            rows = self._fetch("SELECT cfgname FROM pg_ts_config")
            known = frozenset(row["cfgname"] for row in rows)
            with _indexed_dims_guard:
                _ts_configs[self.url] = known
        return known

    def load_search_items(
        self, video_id: str, *, with_embeddings: bool = False
    ) -> list[SearchItem]:
        rows = self._fetch(
            sql.SQL(
                "SELECT item_id, kind, source_id, start_s, end_s, text, {} AS embedding,"
                " language FROM search_items WHERE video_id = %s ORDER BY start_s, item_id"
            ).format(sql.SQL("embedding") if with_embeddings else sql.SQL("NULL")),
            (video_id,),
        )
        for row in rows:
            if row["embedding"] is not None:
                row["embedding"] = row["embedding"].to_list()
        return [SearchItem(**row) for row in rows]

    def search_rows(
        self, statement: tuple[sql.Composable, dict[str, Any]], *, vectors: bool
    ) -> list[dict[str, Any]]:
        """The rows of a :func:`search_statement`, best first; ``vectors``: it searches by
        meaning (the HNSW index is asked for enough candidates)."""
        query_sql, params = statement
        with self.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            if vectors:
                cur.execute(
                    sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(_HNSW_EF_SEARCH))
                )
            # psycopg prepares a statement run often on one connection (as a pooled server
            # does), and PostgreSQL then switches to a generic plan, made without the
            # parameters' values: the compound keys are no longer computed once from the
            # query and the candidate lists' estimates go wrong (p50 60 ms instead of 8 on
            # 3,000 items). Planning for the values costs about 2 ms.
            cur.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            cur.execute(query_sql, params)
            return cur.fetchall()


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
