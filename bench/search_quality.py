"""Search quality on a labelled library of real media: does search find the right moment
first, and does it say "nothing" when nothing in the library matches?

    .venv/bin/python bench/search_quality.py [--baseline-rev REV | --baseline-repo DIR]
                                             [--calibrate] [--repeats 5]

The library (``bench/search_library.py``: JFK's speech, a real telephone call, tesseract's
test page, Popeye with its subtitles burned in, a short English and a short German clip)
is processed once by ``vidmine ingest`` and kept in ``bench/out/search_library/``. The
42 queries of ``bench/search_queries.py`` (exact phrases, paraphrases, on-screen words,
German, compounds, and 11 that must find nothing) are labelled with the moments that
answer them, taken from the media's own ground truth.

Printed per version: precision@1 and MRR@10 over the queries that have an answer, the
wrong hits returned per such query, the share of must-find-nothing queries answered with
nothing, the hubs (the items most often in the top 3 of queries they do not answer)
and the p50/p95 latency of a search in-process (embedding the query and the SQL).
``--baseline-rev`` (a git revision, checked out into a temporary folder with ``git
archive``) or ``--baseline-repo`` measures another version's ``vidmine.search`` on the
same database in the same run, so the figures before and after come from one run.
``--calibrate`` sweeps the vector similarity floor (see
``vidmine.db.search_index.VECTOR_SIMILARITY_FLOORS``) and prints the figures at each floor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from search_library import REPO, ensure_library
from search_queries import QUERIES, LabelledQuery

TOP_K = 10


def database_url(home: Path) -> str:
    from vidmine.db.connection import ensure_embedded
    from vidmine.settings import VidmineHome

    return ensure_embedded(VidmineHome(home))


def run_queries(url: str, repeats: int, min_similarity: float | None = None) -> list[dict]:
    """Each query's hits and ``repeats`` timings of it.

    Uses only what every version of vidmine.search has (``search_text``), unless
    ``min_similarity`` asks for a floor other than the calibrated one.
    """
    from vidmine import search as search_module
    from vidmine.db.store import Store
    from vidmine.providers.local import LocalEmbedder

    store = Store(url)
    embedder = LocalEmbedder()

    def ask(text: str) -> list:
        if min_similarity is None:
            return search_module.search_text(store, embedder, text, limit=TOP_K)
        return search_module.search(
            store,
            text,
            embedder.embed([text])[0],
            model=embedder.model,
            dim=embedder.dimensions,
            limit=TOP_K,
            hub_centroid=search_module.hub_centroid(embedder),
            min_similarity=min_similarity,
        )

    for warm_up in ("warm up the model", "and the database"):
        ask(warm_up)
    results = []
    for labelled in QUERIES:
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            hits = ask(labelled.text)
            timings.append((time.perf_counter() - started) * 1000)
        results.append(
            {
                "query": labelled.text,
                "ms": timings,
                "hits": [
                    {
                        "file_name": h.file_name,
                        "start_s": h.start_s,
                        "end_s": h.end_s,
                        "kind": h.kind,
                        "snippet": h.snippet,
                        "item_id": h.item_id,
                    }
                    for h in hits
                ],
            }
        )
    return results


def is_answer(labelled: LabelledQuery, hit: dict) -> bool:
    return any(
        hit["file_name"] == file_name and hit["start_s"] < end and hit["end_s"] > start
        for file_name, start, end in labelled.answers
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def figures(results: list[dict]) -> dict:
    by_query = {r["query"]: r for r in results}
    first_right, reciprocal_ranks, wrong_hits, nothing_empty = [], [], [], []
    per_category: dict[str, list[bool]] = {}
    top3_wrong: Counter[str] = Counter()
    snippets: dict[str, str] = {}
    for labelled in QUERIES:
        hits = by_query[labelled.text]["hits"]
        for hit in hits[:3]:
            if not is_answer(labelled, hit):
                top3_wrong[hit["item_id"]] += 1
                snippets[hit["item_id"]] = hit["snippet"]
        if not labelled.answers:
            nothing_empty.append(not hits)
            continue
        rights = [is_answer(labelled, hit) for hit in hits[:TOP_K]]
        first_right.append(bool(rights) and rights[0])
        per_category.setdefault(labelled.category, []).append(first_right[-1])
        rank = next((i for i, right in enumerate(rights, start=1) if right), None)
        reciprocal_ranks.append(1 / rank if rank else 0.0)
        wrong_hits.append(rights.count(False))
    timings = [ms for r in results for ms in r["ms"]]
    return {
        "precision_at_1": statistics.mean(first_right),
        "mrr_at_10": statistics.mean(reciprocal_ranks),
        "wrong_hits_per_query": statistics.mean(wrong_hits),
        "nothing_found_share": statistics.mean(nothing_empty),
        "nothing_queries": len(nothing_empty),
        "answered_queries": len(first_right),
        "per_category": {c: statistics.mean(v) for c, v in per_category.items()},
        # (queries, snippet) of the items most often in the top 3 of queries they do not answer
        "hubs": [(count, snippets[item]) for item, count in top3_wrong.most_common(3)],
        "p50_ms": percentile(timings, 0.50),
        "p95_ms": percentile(timings, 0.95),
    }


def report(name: str, f: dict) -> None:
    print(f"{name}:")
    print(
        f"  precision@1 {f['precision_at_1']:.2f}   MRR@10 {f['mrr_at_10']:.2f}   "
        f"wrong hits per answered query {f['wrong_hits_per_query']:.1f}   "
        f"nothing found for {f['nothing_found_share']:.0%} of the "
        f"{f['nothing_queries']} must-find-nothing queries"
    )
    categories = "   ".join(f"{c} {v:.2f}" for c, v in f["per_category"].items())
    print(f"  precision@1 by kind of query: {categories}")
    print(
        f"  hubs: items in the top 3 of the most of the {len(QUERIES)} queries they do not answer"
    )
    for count, snippet in f["hubs"]:
        print(f"    {count:2d} queries: {snippet[:75]!r}")
    print(
        f"  latency in-process (embedding + SQL): p50 {f['p50_ms']:.1f} ms   "
        f"p95 {f['p95_ms']:.1f} ms"
    )


def misses(results: list[dict]) -> None:
    by_query = {r["query"]: r for r in results}
    for labelled in QUERIES:
        hits = by_query[labelled.text]["hits"]
        if labelled.answers and hits and is_answer(labelled, hits[0]):
            continue
        if not labelled.answers and not hits:
            continue
        top = (
            f"{hits[0]['file_name']} {hits[0]['start_s']:.1f}s {hits[0]['snippet'][:50]!r}"
            if hits
            else "nothing"
        )
        print(f"    miss [{labelled.category}] {labelled.text!r}: first {top} ({len(hits)} hits)")


def baseline_results(repo: Path, url: str, repeats: int) -> list[dict]:
    """This script's measurement, run with ``repo``'s vidmine package on the same database."""
    env = {**os.environ, "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, __file__, "--measure-only", url, "--repeats", str(repeats)],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"the baseline's measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def checkout(rev: str, folder: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-rev", help="a git revision to measure as well")
    parser.add_argument("--baseline-repo", type=Path, help="another checkout to measure")
    parser.add_argument("--calibrate", action="store_true", help="sweep the similarity floor")
    parser.add_argument("--repeats", type=int, default=5, help="timings per query")
    parser.add_argument("--measure-only", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure_only:
        print(json.dumps(run_queries(args.measure_only, args.repeats)))
        return 0

    from vidmine.db.migrate import migrate

    home = ensure_library()
    url = database_url(home)
    migrate(url)  # this version's schema; the columns it adds do not disturb older ones
    print(f"library: {home} ({len(QUERIES)} labelled queries)")
    with tempfile.TemporaryDirectory(prefix="vidmine-search-baseline-") as tmp:
        baseline = args.baseline_repo
        if args.baseline_rev:
            baseline = checkout(args.baseline_rev, Path(tmp))
        if baseline is not None:
            before = baseline_results(baseline.resolve(), url, args.repeats)
            report(f"before ({args.baseline_rev or baseline})", figures(before))
            misses(before)
    after = run_queries(url, args.repeats)
    report("after (this checkout)", figures(after))
    misses(after)
    if args.calibrate:
        print("calibration: the vector floor (similarity above the query's own baseline)")
        print("  floor  nothing-found  precision@1  MRR@10  wrong hits/query")
        for step in range(0, 26):
            floor = step * 0.02
            f = figures(run_queries(url, 1, min_similarity=floor))
            print(
                f"  {floor:5.2f}  {f['nothing_found_share']:13.0%}  {f['precision_at_1']:11.2f}"
                f"  {f['mrr_at_10']:6.2f}  {f['wrong_hits_per_query']:16.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
