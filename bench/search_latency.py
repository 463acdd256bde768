"""Latency of ``GET /api/search`` through the real app with 100 videos indexed.

    .venv/bin/python bench/search_latency.py [--videos 100] [--items 30] [--queries 300]

Starts a throwaway embedded PostgreSQL in a temporary folder (or uses
``VIDMINE_BENCH_DATABASE_URL``, which must be an empty, migratable database), indexes
``videos x items`` search items whose texts are varied sentences embedded by the real
all-MiniLM-L6-v2, serves the app with uvicorn on 127.0.0.1 and times distinct queries
over HTTP (keep-alive, after a warm-up): each figure includes embedding the query,
the hybrid SQL and the JSON response.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import uvicorn

from vidmine.db.connection import ensure_embedded, stop_embedded
from vidmine.db.migrate import migrate
from vidmine.db.models import SearchItem
from vidmine.db.pool import PooledStore
from vidmine.db.store import Store
from vidmine.models import frame_id, ocr_id, segment_id
from vidmine.providers.local import LocalEmbedder
from vidmine.search import search
from vidmine.settings import VidmineHome
from vidmine.web import WebSettings, create_app
from vidmine.web.app import tune_for_serving

SUBJECTS = [
    "the engineer",
    "our sales team",
    "the lighthouse keeper",
    "a marine biologist",
    "the chef",
    "the quarterly report",
    "the city council",
    "a young violinist",
    "the research lab",
    "the support desk",
    "the football coach",
    "the climate model",
    "the startup founder",
    "the museum curator",
    "a delivery drone",
    "the night nurse",
]
VERBS = [
    "explains",
    "questions",
    "celebrates",
    "measures",
    "rebuilds",
    "compares",
    "forecasts",
    "repairs",
    "presents",
    "criticises",
    "tests",
    "describes",
]
OBJECTS = [
    "revenue growth in Europe",
    "the ocean tides and the moon",
    "a sourdough starter",
    "the cluster autoscaling architecture",
    "battery life on cold mornings",
    "the migration of grey whales",
    "customer churn after the price change",
    "a broken hydraulic pump",
    "the new onboarding flow",
    "rainfall over the valley",
    "the budget for next year",
    "a violin concerto by Sibelius",
    "the security audit",
    "traffic on the northern bridge",
    "the vaccine trial results",
    "solar panel output",
    "the hiring plan for engineers",
    "a red bicycle by a brick wall",
]
ENDINGS = [
    "before the deadline",
    "with a bar chart",
    "in plain words",
    "for the second time",
    "during the live demo",
    "after the storm",
    "without any notes",
    "in the final minute",
]
KINDS = (("segment", segment_id), ("ocr", ocr_id), ("caption", frame_id))


def sentence(rng: random.Random) -> str:
    return (
        " ".join(
            (rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(ENDINGS))
        ).capitalize()
        + "."
    )


def query_text(rng: random.Random) -> str:
    words = rng.choice(OBJECTS).split()
    start = rng.randrange(max(1, len(words) - 2))
    return " ".join([*words[start : start + rng.randint(2, 4)], rng.choice(VERBS)])


def index_library(store: Store, embedder: LocalEmbedder, videos: int, items: int) -> None:
    rng = random.Random(7)
    for v in range(videos):
        video_id = f"bench-video-{v:03d}-0123456789"
        store.register_video(
            video_id,
            file_name=f"bench video {v:03d}.mp4",
            source_path=f"/bench/{v:03d}.mp4",
            sha256=f"{v:064d}",
            size_bytes=1,
        )
        store.set_video_status(video_id, "ready")
        texts = [sentence(rng) for _ in range(items)]
        vectors = embedder.embed(texts)
        rows = []
        for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
            kind, source = KINDS[i % len(KINDS)]
            start = i * 7.5
            rows.append(
                SearchItem(
                    f"{video_id}_item_{i:03d}",
                    kind,
                    source(video_id, i),
                    start,
                    start + 7.0,
                    text,
                    vector,
                )
            )
        store.replace_search_items(video_id, rows, embedder.model, embedder.dimensions)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="vmbench"))
    home = VidmineHome(tmp).ensure()
    external = os.environ.get("VIDMINE_BENCH_DATABASE_URL")
    url = external or ensure_embedded(home)
    try:
        migrate(url)
        store = Store(url)
        embedder = LocalEmbedder()
        started = time.perf_counter()
        index_library(store, embedder, args.videos, args.items)
        print(
            f"indexed {args.videos} videos x {args.items} items "
            f"in {time.perf_counter() - started:.1f} s"
        )
        # As `vidmine serve` runs it: pooled connections, one thread per query embedding.
        served_store = PooledStore(url)
        tune_for_serving()
        app = create_app(served_store, embedder, WebSettings(home=home))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)

        rng = random.Random(11)
        queries = list(dict.fromkeys(query_text(rng) for _ in range(args.queries * 4)))
        queries = queries[: args.queries]
        connection = http.client.HTTPConnection("127.0.0.1", port)

        def ask(q: str) -> tuple[float, int]:
            begin = time.perf_counter()
            connection.request("GET", "/api/search?" + urlencode({"q": q, "limit": 10}))
            response = connection.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - begin) * 1000
            assert response.status == 200, body[:300]
            return elapsed, len(json.loads(body)["hits"])

        for q in [query_text(random.Random(i)) + " warm" for i in range(20)]:
            ask(q)  # warm-up: model caches, connections, PostgreSQL's buffers
        timings, hit_counts = [], []
        for q in queries:
            elapsed, hits = ask(q)
            timings.append(elapsed)
            hit_counts.append(hits)
        server.should_exit = True
        served_store.close()

        embed_ms, sql_ms = [], []
        for q in queries[:50]:
            begin = time.perf_counter()
            vector = embedder.embed([q])[0]
            middle = time.perf_counter()
            search(store, q, vector, model=embedder.model, dim=embedder.dimensions, limit=10)
            end = time.perf_counter()
            embed_ms.append((middle - begin) * 1000)
            sql_ms.append((end - middle) * 1000)

        print(
            f"GET /api/search, {len(timings)} distinct queries, "
            f"{args.videos * args.items} items in {args.videos} videos "
            f"(median {statistics.median(hit_counts):.0f} hits each):"
        )
        print(
            f"  p50 {percentile(timings, 0.50):.1f} ms   p95 {percentile(timings, 0.95):.1f} ms"
            f"   p99 {percentile(timings, 0.99):.1f} ms   max {max(timings):.1f} ms"
        )
        print(
            f"  of which (medians, 50 queries, in-process): embedding the query "
            f"{statistics.median(embed_ms):.1f} ms, hybrid SQL on a new connection "
            f"{statistics.median(sql_ms):.1f} ms"
        )
    finally:
        if not external:
            stop_embedded(home)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
