"""`make demo`: make a sample video, process it through every stage on the local
providers and the embedded PostgreSQL, and print what vidmine found plus one search."""

from __future__ import annotations

import sys
import time

import dagster as dg

from local_runtime.ingest import ingest_file
from local_runtime.instance import ensure_dagster_home
from resources.database import open_store
from vidmine.config import load_config
from vidmine.providers.base import MemoryRecorder
from vidmine.providers.registry import embedder_for
from vidmine.samples import make_sample_video
from vidmine.search import search_text
from vidmine.settings import VidmineHome
from vidmine.transcript import clock

DEMO_QUERY = "how much did revenue grow"


def main() -> int:
    home = VidmineHome.from_env().ensure()
    config = load_config()
    ensure_dagster_home(config)
    sample = home.root / "samples" / "vidmine_demo.mp4"
    print(f"making the sample video {sample} ...")
    make_sample_video(sample)
    print("processing it through every stage (local providers, embedded PostgreSQL) ...")
    started = time.monotonic()
    outcome = ingest_file(sample, config.default_profile, config, dg.DagsterInstance.get())
    print(f"\n{outcome.video_id}: {outcome.status} in {time.monotonic() - started:.1f} s")
    for stage in outcome.stages:
        secs = f"{stage.seconds:6.2f} s" if stage.seconds is not None else "-"
        print(f"  {stage.stage:<15} {'cached' if stage.cached else stage.status:<10} {secs}")
    if outcome.status != "ready" or outcome.video_id is None:
        print(f"the demo video did not reach ready: {outcome.error}", file=sys.stderr)
        return 1
    store = open_store()
    video_id = outcome.video_id
    print("\nScenes:")
    for scene in store.load_scenes(video_id):
        print(f"  {scene.index}: {clock(scene.start_s)} - {clock(scene.end_s)}")
    print("\nTranscript:")
    for seg in store.load_transcript(video_id):
        print(f"  [{clock(seg.start_s)} - {clock(seg.end_s)}] {seg.text}")
    print("\nOn-screen text (OCR):")
    for text in store.load_ocr_texts(video_id):
        print(f"  [{clock(text.start_s)} - {clock(text.end_s)}] {text.text}")
    embedder = embedder_for(config, None, MemoryRecorder(), store)
    hits = search_text(store, embedder, DEMO_QUERY, limit=3)
    print(f"\nSearch: {DEMO_QUERY!r}")
    for rank, hit in enumerate(hits, start=1):
        print(
            f"  {rank}. {hit.video_id} {clock(hit.start_s)}-{clock(hit.end_s)} "
            f"[{hit.kind}] {hit.snippet}  (score {hit.score:.3f})"
        )
    print(
        f"\nTry: .venv/bin/vidmine search 'ocean tides'   |   .venv/bin/vidmine content {video_id}"
    )
    print(
        "\nSearch it in a browser and watch each hit from its moment:\n"
        "  .venv/bin/vidmine serve\n"
        "  then open http://127.0.0.1:8080"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
