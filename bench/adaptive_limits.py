"""The adaptive provider limit through a storm of 429s and a phase of slow answers, second
by second.

    .venv/bin/python bench/adaptive_limits.py [--concurrency 8] [--latency-ms 200]
        [--capacity 3] [--retry-after 1] [--phase-s 10] [--database-url URL]

Two worker processes embed texts without pause, one request per text, through the real
provider stack (:class:`OpenAIEmbedder`, the openai client, the shared request slots and
the adaptive limit in PostgreSQL) against the fake OpenAI server, under one provider name,
so the ceiling ``max_concurrent`` = c and the limit are shared by both. The server goes
through four phases, each ``--phase-s`` long:

1. *before*: answers after L ms: the ceiling's throughput is c / L;
2. *storm*: a 429 (with ``Retry-After: --retry-after``) to every request arriving while
   more than ``--capacity`` are in flight, as an overloaded server answers;
3. *slow*: no 429s, answers after 3 L: fewer answers, and nothing to lower;
4. *after*: as before.

Each second it prints the requests in flight at the server (the most seen), the shared
limit (last seen), the 429s served and the answers completed; then per phase the
throughput against the ceiling's, the calls that failed (the goal: none) and the most
requests the server ever saw in flight (the goal: at most c). ``requests_per_minute`` is
set far above what the run needs so the per-minute bucket does not bind. The database is
``--database-url``, else ``DATABASE_URL``, else an embedded PostgreSQL in a temporary
folder; it is migrated (the limit lives in ``provider_limits``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from provider_concurrency import database, spawn_worker, worker_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/fake_openai

from fake_openai import FakeOpenAI, running_fake_openai

SAMPLE_S = 0.05

# A worker process: embeds texts one request each, batch after batch, from "go" until its
# stdin says "stop"; prints how many calls succeeded and failed.
WORKER = """
import json, sys, threading
from vidmine.config import ProviderConfig
from vidmine.providers.base import ProviderError
from vidmine.providers.openai import OpenAIEmbedder

spec = json.loads(sys.argv[1])
config = ProviderConfig(
    base_url=spec["base_url"], max_concurrent=spec["c"], requests_per_minute=spec["rpm"]
)
def embedder(provider):
    return OpenAIEmbedder(
        provider=provider, model="text-embedding-3-small", dimensions=8, batch_size=1,
        config=config, slots_database_url=spec["slots_url"],
    )
mine = embedder(spec["provider"])
embedder("warm-up-" + spec["provider"]).embed(["warm up"])  # imports, the slots' connection
print("ready", flush=True)
sys.stdin.readline()
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
ok = failed = batch = 0
errors = []
while not stop.is_set():
    batch += 1
    texts = [f"{spec['name']} batch {batch} text {i}" for i in range(8 * spec["c"])]
    try:
        ok += len(mine.embed(texts))
    except ProviderError as err:
        failed += 1
        errors.append(str(err))
print(json.dumps({"ok": ok, "failed_batches": failed, "errors": errors[:3]}), flush=True)
"""


@dataclass
class Second:
    phase: str
    max_in_flight: int = 0
    limit: float | None = None
    min_limit: float | None = None
    too_many: int = 0
    completed: int = 0


@dataclass
class Sampler:
    """Reads the fake server's counters and the shared limit every SAMPLE_S seconds."""

    fake: FakeOpenAI
    database_url: str
    provider: str
    seconds: list[Second] = field(default_factory=list)
    phase: str = "before"
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        started = time.monotonic()
        last = self.fake.stats()
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self._stop.is_set():
                time.sleep(SAMPLE_S)
                index = int((time.monotonic() - started) // 1)
                while len(self.seconds) <= index:
                    self.seconds.append(Second(self.phase))
                now = self.fake.stats()
                row = conn.execute(
                    "SELECT concurrency_limit FROM provider_limits WHERE provider = %s",
                    (self.provider,),
                ).fetchone()
                second = self.seconds[index]
                second.max_in_flight = max(second.max_in_flight, now["in_flight"])
                if row is not None:
                    second.limit = float(row[0])
                    second.min_limit = min(second.min_limit or second.limit, second.limit)
                second.too_many += now["served_429"] - last["served_429"]
                second.completed += now["completed"] - last["completed"]
                last = now

    def stop(self) -> None:
        self._stop.set()


def start_workers(
    fake: FakeOpenAI, slots_url: str, provider: str, concurrency: int, count: int
) -> list[subprocess.Popen[str]]:
    workers = []
    for number in range(count):
        spec = worker_spec(fake, concurrency, provider, slots_url, name=f"worker{number}")
        workers.append(spawn_worker(WORKER, spec))
    for worker in workers:
        if worker.stdout is None or worker.stdout.readline().strip() != "ready":
            raise RuntimeError("a benchmark worker failed to start")
    return workers


def tell(workers: list[subprocess.Popen[str]], line: str) -> None:
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(line + "\n")
        worker.stdin.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--capacity", type=int, default=3)
    parser.add_argument("--retry-after", default="1")
    parser.add_argument("--phase-s", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    c, latency_s = args.concurrency, args.latency_ms / 1000
    provider = f"bench-adaptive-{uuid.uuid4().hex[:8]}"
    phases = [
        ("before", {"latency_ms": args.latency_ms, "throttle_above": None}),
        (
            "storm",
            {"throttle_above": args.capacity, "retry_after": args.retry_after},
        ),
        ("slow", {"throttle_above": None, "latency_ms": 3 * args.latency_ms}),
        ("after", {"latency_ms": args.latency_ms}),
    ]
    slots_url, cleanup = database(args)
    results = []
    try:
        with running_fake_openai(latency_ms=args.latency_ms) as fake:
            workers = start_workers(fake, slots_url, provider, c, args.processes)
            fake.reset()
            sampler = Sampler(fake, slots_url, provider)
            thread = threading.Thread(target=sampler.run, daemon=True)
            try:
                thread.start()
                tell(workers, "go")
                for name, behaviour in phases:
                    sampler.phase = name
                    fake.configure(**behaviour)
                    time.sleep(args.phase_s)
                tell(workers, "stop")
                for worker in workers:
                    assert worker.stdout is not None
                    results.append(json.loads(worker.stdout.readline()))
            finally:
                sampler.stop()
                thread.join(timeout=5)
                for worker in workers:
                    if worker.stdin is not None:
                        worker.stdin.close()
                    worker.wait(timeout=60)
            server = fake.stats()
    finally:
        cleanup()

    ceiling_rate = c / latency_s
    print(
        f"ceiling max_concurrent={c}, {args.processes} processes sharing it; answers after "
        f"{args.latency_ms:g} ms ({3 * args.latency_ms:g} ms when slow): the ceiling's "
        f"throughput {ceiling_rate:.1f}/s; storm: 429 above {args.capacity} in flight, "
        f"Retry-After {args.retry_after}; each phase {args.phase_s:g} s"
    )
    print(f"{'s':>3} {'phase':<7} {'in flight':>9} {'limit':>6} {'min':>6} {'429s':>5} {'done':>5}")
    for t, s in enumerate(sampler.seconds):
        limit = f"{s.limit:6.2f}" if s.limit is not None else f"{c:6.2f}"
        low = f"{s.min_limit:6.2f}" if s.min_limit is not None else f"{c:6.2f}"
        print(
            f"{t:3d} {s.phase:<7} {s.max_in_flight:9d} {limit} {low} {s.too_many:5d} "
            f"{s.completed:5d}"
        )
    print(
        f"{'phase':<7} {'answers/s':>9} {'vs ceiling':>10} {'settled/s':>9} {'vs ceiling':>10} "
        f"{'429s':>5} {'1st half':>8} {'2nd half':>8}"
    )
    rates = {}
    for name, _ in phases:
        # Whole seconds only: the last, partial second of the run is left out. "Settled"
        # leaves out each phase's first second too, whose answers are partly to requests
        # sent in the phase before (the slow ones finish there).
        seconds = [s for s in sampler.seconds[:-1] if s.phase == name]
        if len(seconds) < 2:
            continue
        rate = sum(s.completed for s in seconds) / len(seconds)
        settled = sum(s.completed for s in seconds[1:]) / len(seconds[1:])
        rates[name] = settled
        half = len(seconds) // 2
        print(
            f"{name:<7} {rate:9.1f} {rate / ceiling_rate:10.2f} {settled:9.1f} "
            f"{settled / ceiling_rate:10.2f} {sum(s.too_many for s in seconds):5d} "
            f"{sum(s.too_many for s in seconds[:half]):8d} "
            f"{sum(s.too_many for s in seconds[half:]):8d}"
        )
    if "before" in rates and "after" in rates:
        print(
            f"after the storm (settled): {rates['after']:.1f}/s = "
            f"{rates['after'] / rates['before']:.2f} of before (the ceiling's limit in practice), "
            f"{rates['after'] / ceiling_rate:.2f} of c/L"
        )
    failed = sum(r["failed_batches"] for r in results)
    print(
        f"calls answered {sum(r['ok'] for r in results)}, failed batches {failed}"
        + (f" ({results[0]['errors'] or results[-1]['errors']})" if failed else "")
    )
    print(
        f"max in flight at the server {server['max_in_flight']} (cap {c}); "
        f"429s served {server['served_429']}"
    )


if __name__ == "__main__":
    main()
