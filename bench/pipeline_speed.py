"""`vidmine ingest` of one long video against a bare ffmpeg decode of the same file.

    .venv/bin/python bench/pipeline_speed.py [--heights 1080 720] [--repeat 1]
        [--baseline-repo ../vidmine-before] [--transcribe-models base tiny.en]

The video is the benchmark's own (``bench/media.py``: about 8.4 minutes of real footage
from ../shared/media with speech under it). Every figure is measured in this one run:
the bare decode (``ffmpeg -i FILE -f null -``), then ``vidmine ingest --json`` in a fresh
VIDMINE_HOME whose embedded PostgreSQL is started (and migrated) before the clock
starts, so nothing is cached. It reports the time until the video is ``ready``
(searchable) and until ``vidmine ingest`` returns (the 720p playback copy is made after
ready), and the CPU time each stage and the whole ingest used: divided by the cores, that
is the floor no scheduling of the same work can beat, printed against the bare decode.
``--baseline-repo`` also times another checkout of vidmine (for example the commit before
a speed change) the same way, with this virtual environment, so before and after come
from the same run; ``--transcribe-models`` times this checkout once per local Whisper
model instead. Peak memory is the largest sum of the resident memory of ``vidmine ingest``
and every process it started. CPU time counts ``vidmine ingest`` and the processes it
waited for (ffmpeg, tesseract), not the embedded PostgreSQL server.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from media import VARIANTS, long_speech_video

from vidmine.db.connection import database_url
from vidmine.settings import VidmineHome

REPO = Path(__file__).resolve().parents[1]
VIDMINE = Path(sys.executable).parent / "vidmine"
CORES = len(os.sched_getaffinity(0))


@dataclass
class IngestRun:
    wall_s: float
    cpu_s: float  # of vidmine ingest and the processes it waited for
    ready_s: float  # until the video's status turned ready (searchable)
    peak_rss_mb: float
    report: dict
    counts: dict = field(default_factory=dict)


def children_cpu_s() -> float:
    """CPU time of the child processes this process has waited for, and theirs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bare_decode(video: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``ffmpeg -i FILE -f null -``."""
    started, cpu = time.perf_counter(), children_cpu_s()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(video), "-f", "null", "-"], check=True
    )
    return time.perf_counter() - started, children_cpu_s() - cpu


def _peak_rss(proc: psutil.Process, stop: threading.Event, peak: list[float]) -> None:
    while not stop.is_set():
        try:
            tree = [proc, *proc.children(recursive=True)]
            total = 0
            for member in tree:
                try:
                    total += member.memory_info().rss
                except psutil.Error:
                    continue
            peak[0] = max(peak[0], total / 2**20)
        except psutil.Error:
            pass
        stop.wait(0.25)


def _ready_at(url: str, started: float, stop: threading.Event, seen: list[float]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            row = conn.execute("SELECT count(*) FROM videos WHERE status = 'ready'").fetchone()
            if row and row[0]:
                seen.append(time.perf_counter() - started)
                return
            stop.wait(0.2)


def ingest_once(video: Path, repo: Path, config_yaml: str | None = None) -> IngestRun:
    home = Path(tempfile.mkdtemp(prefix="vidmine-speed-"))
    if config_yaml is not None:
        (home / "vidmine.yaml").write_text(config_yaml)
    env = {
        **os.environ,
        "VIDMINE_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(repo),
    }
    env.pop("DATABASE_URL", None)
    env.pop("VIDMINE_CONFIG", None)
    try:
        # Starts and migrates the embedded PostgreSQL outside the timed run.
        subprocess.run([str(VIDMINE), "status"], env=env, check=True, capture_output=True)
        url = database_url(VidmineHome(home))
        started, cpu = time.perf_counter(), children_cpu_s()
        stop, peak, ready = threading.Event(), [0.0], []
        watcher = threading.Thread(target=_ready_at, args=(url, started, stop, ready), daemon=True)
        watcher.start()
        proc = subprocess.Popen(
            [str(VIDMINE), "ingest", "--json", str(video)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        sampler = threading.Thread(
            target=_peak_rss, args=(psutil.Process(proc.pid), stop, peak), daemon=True
        )
        sampler.start()
        out, err = proc.communicate()
        wall, cpu = time.perf_counter() - started, children_cpu_s() - cpu
        stop.set()
        sampler.join()
        watcher.join()
        if proc.returncode != 0:
            raise SystemExit(f"vidmine ingest failed ({repo}):\n{err[-3000:]}\n{out[-2000:]}")
        report = json.loads(out)["videos"][0]
        counts = _row_counts(env, report["video_id"])
        return IngestRun(wall, cpu, ready[0] if ready else wall, peak[0], report, counts)
    finally:
        subprocess.run(
            [sys.executable, "-c", _STOP_DB, str(home)], env=env, capture_output=True, check=False
        )
        shutil.rmtree(home, ignore_errors=True)


_STOP_DB = (
    "import sys; from pathlib import Path; from vidmine.settings import VidmineHome;"
    "from vidmine.db.connection import stop_embedded; stop_embedded(VidmineHome(Path(sys.argv[1])))"
)

_COUNTS = """
import json, sys
from resources.database import open_store
store = open_store()
video = sys.argv[1]
print(json.dumps({
    "scenes": len(store.load_scenes(video)),
    "keyframes": len(store.load_keyframes(video)),
    "ocr_texts": len(store.load_ocr_texts(video)),
    "segments": len(store.load_transcript(video)),
    "words": sum(len(s.text.split()) for s in store.load_transcript(video)),
    "languages": ",".join(getattr(store.get_video(video), "languages", None) or []) or "-",
}))
"""


def _row_counts(env: dict, video_id: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _COUNTS, video_id], env=env, capture_output=True, text=True
    )
    return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-300:]}


def _median_run(runs: list[IngestRun]) -> IngestRun:
    return sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2]


def _stage_times(run: IngestRun) -> dict[str, tuple[float, float]]:
    """Wall and CPU seconds by stage (the CPU time is 0 for a checkout that did not
    record it)."""
    return {
        s["stage"]: (s["seconds"] or 0.0, s["metadata"].get("cpu_seconds", 0.0))
        for s in run.report["stages"]
    }


def _stream_summary(video: Path) -> str:
    """``h264 29.97 fps``: the video stream's codec and frame rate."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,avg_frame_rate",
            "-of",
            "json",
            str(video),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    stream = json.loads(out.stdout)["streams"][0]
    num, _, den = stream["avg_frame_rate"].partition("/")
    return f"{stream['codec_name']} {float(num) / float(den or 1):.2f} fps"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heights", type=int, nargs="+", default=[1080, 720])
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=["h264"],
        help="h264 (29.97 fps, remuxed for playback), hevc or 60fps (re-encoded after ready)",
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--baseline-repo", type=Path, help="another vidmine checkout to time")
    parser.add_argument(
        "--transcribe-models",
        nargs="+",
        metavar="MODEL",
        help="time this checkout once per local Whisper model (e.g. base tiny.en)",
    )
    args = parser.parse_args()

    versions: dict[str, tuple[Path, str | None]] = {"this": (REPO, None)}
    if args.transcribe_models:
        versions = {
            model: (REPO, f"stages:\n  transcribe: {{provider: local, model: {model}}}\n")
            for model in args.transcribe_models
        }
    if args.baseline_repo:
        versions = {"baseline": (args.baseline_repo.resolve(), None), **versions}
    for height, variant in [(h, v) for h in args.heights for v in args.variants]:
        video = long_speech_video(height, variant)
        duration = float(
            subprocess.run(
                [
                    "ffprobe",
                    "-v",
                    "error",
                    "-show_entries",
                    "format=duration",
                    "-of",
                    "csv=p=0",
                    str(video),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        decodes = [bare_decode(video) for _ in range(max(3, args.repeat))]
        decode = statistics.median(wall for wall, _ in decodes)
        decode_cpu = statistics.median(cpu for _, cpu in decodes)
        results = {}
        for name, (repo, config_yaml) in versions.items():
            results[name] = _median_run(
                [ingest_once(video, repo, config_yaml) for _ in range(args.repeat)]
            )
        print(f"\n{video.name}: {duration:.0f} s of {height}p {_stream_summary(video)} + AAC")
        print(
            f"bare ffmpeg decode (median of {max(3, args.repeat)}): {decode:.1f} s, "
            f"{decode_cpu:.1f} s of CPU; {CORES} cores"
        )
        stages = list(dict.fromkeys(s for r in results.values() for s in _stage_times(r)))
        print(f"{'stage: s / CPU s':<24}" + "".join(f"{name:>16}" for name in results))
        for stage in stages:
            row = f"{stage:<24}"
            for run in results.values():
                wall, cpu = _stage_times(run).get(stage, (0.0, 0.0))
                row += f"{wall:>10.1f}{cpu:>6.0f}"
            print(row)
        print(f"{'':<24}" + "".join(f"{name:>12}" for name in results))
        figures = {
            "until ready s": [f"{r.ready_s:.1f}" for r in results.values()],
            "  x bare decode  ": [f"{r.ready_s / decode:.2f}" for r in results.values()],
            "  x real time  ": [f"{r.ready_s / duration:.2f}" for r in results.values()],
            "ingest wall s": [f"{r.wall_s:.1f}" for r in results.values()],
            "  x bare decode": [f"{r.wall_s / decode:.2f}" for r in results.values()],
            "  x real time": [f"{r.wall_s / duration:.2f}" for r in results.values()],
            "in-process s": [f"{r.report['seconds']:.1f}" for r in results.values()],
            "  x bare decode ": [f"{r.report['seconds'] / decode:.2f}" for r in results.values()],
            "ingest CPU s": [f"{r.cpu_s:.0f}" for r in results.values()],
            f"  / {CORES} cores = floor s": [f"{r.cpu_s / CORES:.1f}" for r in results.values()],
            "  floor x bare decode": [f"{r.cpu_s / CORES / decode:.2f}" for r in results.values()],
            "peak memory MB": [f"{r.peak_rss_mb:.0f}" for r in results.values()],
        }
        for label, values in figures.items():
            print(f"{label:<24}" + "".join(f"{v:>12}" for v in values))
        for key in ("scenes", "keyframes", "ocr_texts", "segments", "words", "languages"):
            print(f"{key:<24}" + "".join(f"{r.counts.get(key, '-'):>12}" for r in results.values()))


if __name__ == "__main__":
    main()
