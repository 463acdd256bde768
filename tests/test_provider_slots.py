"""Request slots shared through PostgreSQL advisory locks: the bound holds across
processes at a real (fake OpenAI) server, a dead process frees its slots, a broken
connection recovers, and the pipeline's providers take them."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psycopg
import pytest
from fake_openai import running_fake_openai
from PIL import Image

from vidmine.config import parse_config
from vidmine.db.store import Store
from vidmine.providers import registry
from vidmine.providers.base import MemoryRecorder
from vidmine.providers.cache import MemoryCache
from vidmine.providers.slots import (
    APPLICATION_NAME,
    RequestSlots,
    SlotsUnavailableError,
    slots_in_use,
)

REPO = Path(__file__).resolve().parents[1]

# Captions N tiny frames through the real provider stack in a separate process.
CAPTION_WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from vidmine.config import ProviderConfig
    from vidmine.providers.base import FrameInput
    from vidmine.providers.openai import OpenAICaptioner

    base_url, slots_url, frames_dir, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    config = ProviderConfig(base_url=base_url, max_concurrent=2, requests_per_minute=60000)
    captioner = OpenAICaptioner(
        provider="slots-test", model="gpt-4o", config=config,
        slots_database_url=slots_url or None,
    )
    frames = [
        FrameInput(frame_index=i, image_path=Path(frames_dir) / f"f{i}.jpg", timestamp_s=float(i))
        for i in range(count)
    ]
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    assert len(captioner.caption(frames)) == count
    """
)


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    for i in range(8):
        Image.new("RGB", (32, 24), (i * 30, 80, 160)).save(folder / f"f{i}.jpg")
    return folder


def _run_workers(base_url: str, slots_url: str, frames_dir: Path, processes: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", CAPTION_WORKER, base_url, slots_url, str(frames_dir), "6"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            assert worker.wait(timeout=60) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()


def test_the_bound_holds_across_processes_only_with_shared_slots(
    store_url: str, frames_dir: Path
) -> None:
    with running_fake_openai(latency_ms=150) as fake:
        _run_workers(fake.base_url, store_url, frames_dir, processes=2)
        shared = fake.stats()
        fake.reset()
        _run_workers(fake.base_url, "", frames_dir, processes=2)
        alone = fake.stats()
    assert shared["requests"] == 12 and shared["max_in_flight"] == 2, shared
    # Without the shared slots each process keeps only its own bound of 2.
    assert alone["max_in_flight"] > 2, alone


def test_a_killed_process_frees_its_slots(store_url: str) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from vidmine.providers.slots import RequestSlots\n"
            "slots = RequestSlots(sys.argv[1], 'kill-test', 2)\n"
            "slots.acquire(); slots.acquire()\n"
            "print('holding', flush=True)\n"
            "time.sleep(120)\n",
            store_url,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        slots = RequestSlots(store_url, "kill-test", 2)
        assert slots_in_use(store_url, "kill-test") == 2
        assert slots.try_acquire() is None
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        started = time.monotonic()
        held = slots.acquire()  # the server ends the dead session and drops its locks
        waited = time.monotonic() - started
        assert waited < 5, waited
        slots.release(held)
        slots.close()
    finally:
        if holder.poll() is None:
            holder.kill()


def test_slots_are_per_provider_and_per_database(store_url: str, pg_url: str) -> None:
    a = RequestSlots(store_url, "provider-a", 1)
    b = RequestSlots(store_url, "provider-b", 1)
    elsewhere = RequestSlots(pg_url, "provider-a", 1)
    held = [a.acquire(), b.acquire(), elsewhere.acquire()]
    assert RequestSlots(store_url, "provider-a", 1).try_acquire() is None
    a.release(held[0])
    b.release(held[1])
    elsewhere.release(held[2])
    for slots in (a, b, elsewhere):
        slots.close()
    assert slots_in_use(store_url, "provider-a") == 0


def test_threads_of_one_process_share_the_connection_without_reentry(store_url: str) -> None:
    slots = RequestSlots(store_url, "threads-test", 3)
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        for _ in range(5):
            with slots.slot():
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.01)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # A session may take one advisory lock twice: the slots must not let that happen.
    assert most == 3
    assert slots.held_here == 0 and slots_in_use(store_url, "threads-test") == 0
    slots.close()


def test_a_broken_connection_reconnects_and_stale_releases_are_harmless(store_url: str) -> None:
    slots = RequestSlots(store_url, "reconnect-test", 2)
    held = slots.acquire()
    with psycopg.connect(store_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database()",
            (APPLICATION_NAME,),
        )
    time.sleep(0.2)
    again = slots.acquire()  # finds the session gone, reconnects; its lock went with it
    slots.release(held)  # from the old session: must not free the new one
    assert slots_in_use(store_url, "reconnect-test") == 1
    slots.release(again)
    assert slots_in_use(store_url, "reconnect-test") == 0
    slots.close()


def test_an_unreachable_database_is_named_without_its_password() -> None:
    url = "postgresql://vidmine:s3cret-pw@127.0.0.1:1/vidmine?connect_timeout=2"
    slots = RequestSlots(url, "down-test", 1)
    with pytest.raises(SlotsUnavailableError) as caught:
        slots.acquire()
    message = str(caught.value)
    assert "down-test" in message and "127.0.0.1:1" in message
    assert "s3cret-pw" not in message


def test_taking_and_giving_back_a_slot_is_cheap(store_url: str) -> None:
    slots = RequestSlots(store_url, "overhead-test", 4)
    slots.release(slots.acquire())  # connect
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        slots.release(slots.acquire())
        timings.append(time.perf_counter() - started)
    slots.close()
    median_ms = statistics.median(timings) * 1000
    print(f"slot acquire+release: median {median_ms:.3f} ms")
    assert median_ms < 5, median_ms


def test_pipeline_providers_take_shared_slots_from_the_store(store_url: str) -> None:
    config = parse_config(
        {
            "providers": {"remote": {"base_url": "http://127.0.0.1:9/v1", "max_concurrent": 3}},
            "stages": {"vision": {"provider": "remote", "model": "gpt-4o"}},
        },
        Path("vidmine.yaml"),
    )
    recorder = MemoryRecorder()
    with_store = registry.captioner_for(config, None, recorder, Store(store_url))
    shared = with_store._limiter.shared_slots
    assert shared is not None and shared.max_concurrent == 3 and shared.provider == "remote"
    in_memory = registry.captioner_for(config, None, recorder, MemoryCache())
    assert in_memory._limiter.shared_slots is None
    explicit = registry.captioner_for(config, None, recorder, None, slots_database_url=store_url)
    assert explicit._limiter.shared_slots is shared
