"""Wall time of writing one video's ten content types through an OpenAI-compatible
provider at ``max_concurrent`` N against N = 1 (one call after another).

    .venv/bin/python bench/content_concurrency.py [--latency-ms 300] [--concurrency 3]
        [--repeat 3]

Every call goes through the real ``openai`` client to the project's fake server, which
answers after a fixed latency L, so the ideal wall of C calls at N at a time is
ceil(C/N) * L. Both settings are measured in this one run, alternating, and each figure
is the median of --repeat runs, so the ratios compare like with like on a busy machine.
No response cache is used: every run makes every call.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

from vidmine.config import ProviderConfig
from vidmine.content import CONTENT_TYPES, VideoContext, build_video_context, generate_content
from vidmine.models import OcrText, Scene, TranscriptSegment
from vidmine.providers.openai import OpenAITextGenerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/fake_openai

from fake_openai import FakeOpenAI, running_fake_openai

MODEL = "gpt-4o-mini"
TOPICS = (
    "planting tomatoes in spring",
    "watering the beds in a dry summer",
    "harvesting beans and zucchini",
    "making compost from autumn leaves",
    "protecting the garden from the first frost",
    "planning next year's beds over winter",
)


def sample_context() -> VideoContext:
    """A ten-minute talk in six scenes: speech every 10 s, a slide title per scene."""
    duration = 600.0
    scene_s = duration / len(TOPICS)
    scenes = [
        Scene(i, i * scene_s, (i + 1) * scene_s, int(i * scene_s * 30), int((i + 1) * scene_s * 30))
        for i in range(len(TOPICS))
    ]
    segments = [
        TranscriptSegment(
            i,
            i * 10.0,
            i * 10.0 + 8.5,
            f"Part {i + 1} of this talk is about {TOPICS[int(i * 10.0 // scene_s)]}.",
        )
        for i in range(int(duration // 10))
    ]
    slides = [
        OcrText(i, s.start_s, s.start_s + 5.0, TOPICS[i].upper(), 90.0)
        for i, s in enumerate(scenes)
    ]
    return build_video_context(
        video_id="garden-year-bench",
        file_name="garden year.mp4",
        duration_s=duration,
        segments=segments,
        scenes=scenes,
        ocr_texts=slides,
    )


def generator(fake: FakeOpenAI, max_concurrent: int) -> OpenAITextGenerator:
    # A provider name per setting: each gets its own in-flight limiter.
    return OpenAITextGenerator(
        provider=f"bench-fake-{max_concurrent}",
        model=MODEL,
        config=ProviderConfig(
            base_url=fake.base_url, max_concurrent=max_concurrent, requests_per_minute=100_000
        ),
    )


def one_run(fake: FakeOpenAI, writer: OpenAITextGenerator, ctx: VideoContext) -> dict:
    fake.reset()
    started = time.perf_counter()
    generate_content(ctx, writer)
    wall = time.perf_counter() - started
    stats = fake.stats()
    return {
        "wall": wall,
        "calls": stats["by_endpoint"].get("/v1/chat/completions", 0),
        "max_in_flight": stats["max_in_flight"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    latency = args.latency_ms / 1000.0
    ctx = sample_context()
    calls = len(CONTENT_TYPES)
    settings = (args.concurrency, 1)
    runs: dict[int, list[dict]] = {n: [] for n in settings}
    with running_fake_openai(latency_ms=args.latency_ms) as fake:
        writers = {n: generator(fake, n) for n in settings}
        one_run(fake, writers[settings[0]], ctx)  # warm-up: connections, imports
        for _ in range(args.repeat):
            for n in settings:  # alternating, so both see the same machine load
                runs[n].append(one_run(fake, writers[n], ctx))

    print(
        f"{calls} content types, fake server latency L = {args.latency_ms:.0f} ms, "
        f"median of {args.repeat}"
    )
    print(
        f"{'max_concurrent':>14} {'wall s':>8} {'ideal s':>8} {'wall/ideal':>10} "
        f"{'in L':>6} {'calls':>6} {'max in flight':>13}"
    )
    walls = {}
    for n in settings:
        wall = statistics.median(r["wall"] for r in runs[n])
        walls[n] = wall
        ideal = math.ceil(calls / n) * latency
        print(
            f"{n:>14} {wall:8.3f} {ideal:8.3f} {wall / ideal:10.2f} {wall / latency:6.1f} "
            f"{max(r['calls'] for r in runs[n]):>6} {max(r['max_in_flight'] for r in runs[n]):>13}"
        )
    print(
        f"speed-up at max_concurrent {args.concurrency}: "
        f"{walls[1] / walls[args.concurrency]:.2f}x "
        f"(ideal {math.ceil(calls / 1) / math.ceil(calls / args.concurrency):.2f}x)"
    )


if __name__ == "__main__":
    main()
