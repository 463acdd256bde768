"""A backlog: ten 1-minute videos dropped together with the daemon running, against the
floor two cores allow for the same work.

    .venv/bin/python bench/backlog.py [--videos 10] [--seconds 60] [--height 720]

The videos are cut (stream copy, no re-encode) from the benchmark's own long video
(``bench/media.py``: real footage with speech), each from another offset, so each is a
video of its own. First ``vidmine ingest --json`` takes all of them in one process in a
fresh VIDMINE_HOME: the CPU time it and the processes it waited for used (ffmpeg,
tesseract), divided by the cores, is the floor no scheduling of the same work can beat.
Then ``dagster-daemon run`` on the instance ``make dev`` generates (as
``bench/daemon_vs_ingest.py`` starts it) gets them all dropped into ``uploads/`` at once;
the figure is the time until every one is ``ready``, against that floor (the goal:
within 1.15x, both cores busy all the time).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from daemon_vs_ingest import BIN, REPO, _cleanup, _fresh_home, time_daemon
from media import LONG_VIDEO_SECONDS, long_speech_video

CORES = len(os.sched_getaffinity(0))


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cut_videos(folder: Path, count: int, seconds: float, height: int) -> list[Path]:
    """``count`` videos of ``seconds`` each, from evenly spread offsets of the long video."""
    source = long_speech_video(height)
    step = (LONG_VIDEO_SECONDS - seconds) / max(count - 1, 1)
    videos = []
    for i in range(count):
        target = folder / f"backlog {i:02d}.mp4"
        subprocess.run(
            [
                *("ffmpeg", "-v", "error", "-y", "-nostdin"),
                *("-ss", f"{i * step:.2f}", "-i", str(source), "-t", f"{seconds:g}"),
                *("-map", "0", "-c", "copy", "-movflags", "+faststart", str(target)),
            ],
            check=True,
        )
        videos.append(target)
    return videos


def ingest_cpu(videos: list[Path]) -> tuple[float, float]:
    """Wall and CPU seconds of ``vidmine ingest`` taking every video in one process."""
    home, env = _fresh_home(REPO)
    try:
        started, cpu = time.perf_counter(), children_cpu_s()
        out = subprocess.run(
            [str(BIN / "vidmine"), "ingest", "--json", *map(str, videos)],
            env=env,
            capture_output=True,
            text=True,
        )
        wall, cpu = time.perf_counter() - started, children_cpu_s() - cpu
        statuses = [v["status"] for v in json.loads(out.stdout or '{"videos": []}')["videos"]]
        if statuses.count("ready") != len(videos):
            raise SystemExit(f"ingest did not make every video ready: {statuses}\n{out.stderr}")
        return wall, cpu
    finally:
        _cleanup(home, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    videos = cut_videos(
        Path(tempfile.mkdtemp(prefix="vidmine-backlog-")), args.videos, args.seconds, args.height
    )
    print(
        f"{args.videos} videos of {args.seconds:g} s ({args.height}p H.264 + AAC, speech), "
        f"{CORES} cores",
        flush=True,
    )
    ingest_wall, cpu = ingest_cpu(videos)
    floor = cpu / CORES
    print(f"vidmine ingest, one process: {ingest_wall:.1f} s wall, {cpu:.0f} s of CPU", flush=True)
    print(f"floor (CPU / {CORES} cores): {floor:.1f} s", flush=True)
    daemon_s, overheads, ready, _steps, _peak = time_daemon(REPO, videos, args.timeout)
    if daemon_s is None:
        sys.exit(f"daemon: {ready} of {len(videos)} ready after {args.timeout:g} s")
    print(f"daemon, all dropped at once: all ready in {daemon_s:.1f} s")
    print(f"  x floor: {daemon_s / floor:.2f} (goal <= 1.15)")
    print(f"  x one-process ingest: {daemon_s / ingest_wall:.2f}")
    if overheads:
        print(f"orchestration overhead per run (median): {statistics.median(overheads):.1f} s")


if __name__ == "__main__":
    main()
