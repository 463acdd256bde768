"""How close parallel provider calls come to the concurrency floor, with and without the
request slots shared through PostgreSQL.

    .venv/bin/python bench/provider_concurrency.py [--frames 40] [--latency-ms 200]
        [--concurrency 4] [--repeat 3] [--database-url URL]

N keyframe captions go through :class:`OpenAICaptioner.caption` (tiny JPEGs, no cache)
to the fake OpenAI server at a fixed latency L. With ``max_concurrent`` c the best
possible wall time is ceil(N/c) * L; each scenario prints its wall time against that
floor and the most requests the server saw in flight. Scenarios, measured side by side
in this one run (repeats interleaved) so the ratios compare like with like:

- c=1, one process: the serial reference;
- c, one process, in-process limiter only;
- c, one process, with the shared request slots;
- c, the same N frames split over two processes, with the shared slots: the floor is the
  same, the handover of slots between processes costs what it costs;
- c, two processes without the shared slots: faster than the floor, because each
  process keeps only its own bound and the server sees up to 2c requests at once.

``requests_per_minute`` is set far above what the run needs so the per-minute bucket
does not bind (at the default 500 a minute the bucket, not the concurrency, would set
the pace). The database is ``--database-url``, else ``DATABASE_URL``, else an embedded
PostgreSQL in a temporary folder; it is migrated, so the slots read the adaptive limit as
they do in production (nothing lowers it here: the server answers every request).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from vidmine.config import ProviderConfig
from vidmine.providers.base import FrameInput
from vidmine.providers.openai import OpenAICaptioner
from vidmine.providers.slots import RequestSlots, request_slots_for
from vidmine.settings import VidmineHome

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/fake_openai

from fake_openai import FakeOpenAI, running_fake_openai

REPO = Path(__file__).resolve().parents[1]
BENCH_RPM = 1_000_000.0

# A worker process: builds its captioner and frames, warms up (lazy imports, the slots'
# connection), says "ready", and captions on "go".
WORKER = """
import json, sys
from pathlib import Path
from vidmine.config import ProviderConfig
from vidmine.providers.base import FrameInput
from vidmine.providers.openai import OpenAICaptioner
from vidmine.providers.slots import request_slots_for

spec = json.loads(sys.argv[1])
config = ProviderConfig(
    base_url=spec["base_url"], max_concurrent=spec["c"], requests_per_minute=spec["rpm"]
)
captioner = OpenAICaptioner(
    provider=spec["provider"], model="gpt-4o", config=config,
    slots_database_url=spec["slots_url"],
)
frames = [FrameInput(i, Path(p), float(i)) for i, p in enumerate(spec["frames"])]
OpenAICaptioner(provider="warm-up", model="gpt-4o", config=config).caption(frames[:1])
if spec["slots_url"]:
    slots = request_slots_for(spec["slots_url"], spec["provider"], spec["c"])
    slots.release(slots.acquire())
print("ready", flush=True)
sys.stdin.readline()
captioner.caption(frames)
print("done", flush=True)
"""


@dataclass
class Scenario:
    label: str
    concurrency: int
    slots: bool
    processes: int


@dataclass
class Measurement:
    wall_s: float
    max_in_flight: int


def make_frames(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"frame{i:03d}.jpg"
        Image.new("RGB", (64, 36), (i * 5 % 256, 90, 200)).save(path, quality=80)
        paths.append(path)
    return paths


def caption_here(
    fake: FakeOpenAI, frames: list[Path], concurrency: int, slots_url: str | None
) -> float:
    # A fresh provider name: a fresh limiter, so no repeat inherits another's state.
    config = ProviderConfig(
        base_url=fake.base_url, max_concurrent=concurrency, requests_per_minute=BENCH_RPM
    )
    captioner = OpenAICaptioner(
        provider=f"bench-{uuid.uuid4().hex[:8]}",
        model="gpt-4o",
        config=config,
        slots_database_url=slots_url,
    )
    if slots_url:
        # Connected before timing, as the workers are (connect_ms reports that cost).
        slots = request_slots_for(slots_url, captioner.provider, concurrency)
        slots.release(slots.acquire())
    inputs = [FrameInput(i, path, float(i)) for i, path in enumerate(frames)]
    fake.reset()
    started = time.perf_counter()
    captioner.caption(inputs)
    return time.perf_counter() - started


def worker_spec(
    fake: FakeOpenAI, concurrency: int, provider: str, slots_url: str | None, **extra: object
) -> dict[str, object]:
    """What a bench worker process needs to call the fake server as ``provider``."""
    return {
        "base_url": fake.base_url,
        "c": concurrency,
        "rpm": BENCH_RPM,
        "provider": provider,
        "slots_url": slots_url,
        **extra,
    }


def spawn_worker(script: str, spec: dict[str, object]) -> subprocess.Popen[str]:
    """A Python process running ``script`` on ``spec`` (as JSON in argv[1]); it talks in
    lines on its stdin and stdout."""
    return subprocess.Popen(
        [sys.executable, "-c", script, json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def caption_in_processes(
    fake: FakeOpenAI, frames: list[Path], concurrency: int, slots_url: str | None, processes: int
) -> float:
    provider = f"bench-{uuid.uuid4().hex[:8]}"  # one provider shared by the processes
    workers = []
    for share in (frames[i::processes] for i in range(processes)):
        spec = worker_spec(fake, concurrency, provider, slots_url, frames=[str(p) for p in share])
        workers.append(spawn_worker(WORKER, spec))
    try:
        for worker in workers:
            if worker.stdout is None or worker.stdout.readline().strip() != "ready":
                raise RuntimeError("a benchmark worker failed to start")
        fake.reset()  # not the warm-up requests
        started = time.perf_counter()
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "done":
                raise RuntimeError("a benchmark worker failed while captioning")
        return time.perf_counter() - started
    finally:
        for worker in workers:
            if worker.stdin is not None:
                worker.stdin.close()
            worker.wait(timeout=30)


def measure(
    fake: FakeOpenAI, frames: list[Path], scenario: Scenario, slots_url: str
) -> Measurement:
    url = slots_url if scenario.slots else None
    if scenario.processes == 1:
        wall = caption_here(fake, frames, scenario.concurrency, url)
    else:
        wall = caption_in_processes(fake, frames, scenario.concurrency, url, scenario.processes)
    stats = fake.stats()
    if stats["requests"] != len(frames):
        raise RuntimeError(f"expected {len(frames)} requests, the server saw {stats['requests']}")
    return Measurement(wall, stats["max_in_flight"])


def slot_overhead_ms(slots_url: str, samples: int = 500) -> tuple[float, float]:
    """Median ms of one acquire + release, and ms of the first one (which connects)."""
    slots = RequestSlots(slots_url, f"bench-overhead-{uuid.uuid4().hex[:8]}", 4)
    started = time.perf_counter()
    slots.release(slots.acquire())
    connect_ms = (time.perf_counter() - started) * 1000
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        slots.release(slots.acquire())
        timings.append(time.perf_counter() - started)
    slots.close()
    return statistics.median(timings) * 1000, connect_ms


def database(args: argparse.Namespace) -> tuple[str, Callable[[], None]]:
    """The database's URL, migrated (the adaptive limit lives in provider_limits, so the
    slots take the statement production takes), and what to call when done."""
    from vidmine.db.migrate import migrate

    url = args.database_url or os.environ.get("DATABASE_URL", "").strip()
    if url:
        migrate(url)
        return url, lambda: None
    from vidmine.db.connection import ensure_embedded, stop_embedded

    root = Path(tempfile.mkdtemp(prefix="vmbench"))
    home = VidmineHome(root)

    def cleanup() -> None:
        stop_embedded(home)
        shutil.rmtree(root, ignore_errors=True)

    url = ensure_embedded(home)
    migrate(url)
    return url, cleanup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    c, n, latency_s = args.concurrency, args.frames, args.latency_ms / 1000
    scenarios = [
        Scenario("c=1, one process (reference)", 1, False, 1),
        Scenario(f"c={c}, one process, in-process limit only", c, False, 1),
        Scenario(f"c={c}, one process, shared slots", c, True, 1),
        Scenario(f"c={c}, two processes, shared slots", c, True, 2),
        Scenario(f"c={c}, two processes, no shared slots", c, False, 2),
    ]
    slots_url, cleanup = database(args)
    work = Path(tempfile.mkdtemp(prefix="vidmine-bench-"))
    try:
        frames = make_frames(work, n)
        results: dict[str, list[Measurement]] = {s.label: [] for s in scenarios}
        with running_fake_openai(latency_ms=args.latency_ms) as fake:
            caption_here(fake, frames[:1], 1, None)  # lazy imports out of the way
            for _ in range(args.repeat):
                for scenario in scenarios:
                    results[scenario.label].append(measure(fake, frames, scenario, slots_url))
        overhead_ms, connect_ms = slot_overhead_ms(slots_url)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        cleanup()

    print(
        f"fake server latency {args.latency_ms:g} ms, {n} captions, median of {args.repeat}; "
        f"requests_per_minute {BENCH_RPM:g} (not binding)"
    )
    print(f"{'scenario':<44} {'wall s':>7} {'floor s':>7} {'wall/floor':>10} {'max in flight':>13}")
    walls = {}
    for scenario in scenarios:
        runs = results[scenario.label]
        wall = statistics.median(m.wall_s for m in runs)
        walls[scenario.label] = wall
        floor = math.ceil(n / scenario.concurrency) * latency_s
        most = max(m.max_in_flight for m in runs)
        print(f"{scenario.label:<44} {wall:7.2f} {floor:7.2f} {wall / floor:10.3f} {most:13d}")
    serial = walls[scenarios[0].label]
    for scenario in scenarios[1:4]:
        print(f"speed-up over c=1, {scenario.label}: {serial / walls[scenario.label]:.2f}x")
    print(
        f"shared slot acquire + release: median {overhead_ms:.3f} ms; the first in a process "
        f"(connects) {connect_ms:.1f} ms"
    )


if __name__ == "__main__":
    main()
