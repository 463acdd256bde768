"""Files dropped into ``uploads/`` with the daemon running, against ``vidmine ingest`` of the
same files in one process.

    .venv/bin/python bench/daemon_vs_ingest.py [--clips 10] [--baseline-repo ../before]

Both paths start from a fresh VIDMINE_HOME whose embedded PostgreSQL runs already. The
ingest path times ``vidmine ingest --json CLIP...`` (one process, one video after the
other). The daemon path starts ``dagster-daemon run`` on the instance ``vidmine limits
apply`` generates (as ``make dev`` does), waits for its sensor to tick, moves every clip
into ``uploads/`` at once and times until all are ``ready``. Per run it reports the
orchestration overhead: the run's wall time (launch to end, from Dagster) minus the
seconds inside its steps; per step, the median seconds on each path (a step slower only
through the daemon points at what a forked run pays that the warm process could have
paid once); and the peak memory of one run (the forked run process with the ffmpeg and
tesseract processes under it, resident set) against the ``vidmine ingest`` process's.
``--baseline-repo`` times another checkout the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

_CLIP_WORDS = (
    "The quarterly numbers came in above the plan this time.",
    "Our new warehouse opens in the north of the city next spring.",
    "Remember to water the tomatoes every morning before work.",
    "The penguins migrate across the ice in the middle of winter.",
    "Please send the signed contract back by Friday afternoon.",
    "The museum will show paintings from the early twentieth century.",
    "Traffic on the bridge is slow because of the repairs.",
    "The recipe needs two eggs, flour, sugar and a little salt.",
    "Our team won the regional tournament after extra time.",
    "The library extends its opening hours during the exams.",
)
_COLOURS = ("navy", "darkgreen", "maroon", "black", "teal", "purple", "olive", "gray")


def make_clips(folder: Path, count: int) -> list[Path]:
    """``count`` clips of about 8 seconds: two scenes, captions and spoken sentences."""
    from vidmine.samples import SampleScene, make_sample_video

    clips = []
    for i in range(count):
        first, second = _CLIP_WORDS[i % len(_CLIP_WORDS)], _CLIP_WORDS[(i + 3) % len(_CLIP_WORDS)]
        clips.append(
            make_sample_video(
                folder / f"clip {i:02d}.mp4",
                (
                    SampleScene(_COLOURS[i % len(_COLOURS)], f"PART {i} ONE", first, 4.0),
                    SampleScene(_COLOURS[(i + 1) % len(_COLOURS)], f"PART {i} TWO", second, 4.0),
                ),
            )
        )
    return clips


def _env(repo: Path, home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "VIDMINE_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(repo),
    }
    for name in ("DATABASE_URL", "VIDMINE_CONFIG", "VIDMINE_SENSOR_INTERVAL_S"):
        env.pop(name, None)
    return env


def _query(env: dict, code: str, *args: str) -> object:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


_VIDEO_STATES = """
import json
from resources.database import open_store
store = open_store()
print(json.dumps({v.video_id: v.status for v in store.list_videos()}))
"""

_RUN_TIMES = """
import json
import dagster as dg
from dagster._core.events import DagsterEventType as T
instance = dg.DagsterInstance.get()
runs = []
for record in instance.get_run_records():
    run = record.dagster_run
    begun, in_steps, launched, steps = {}, 0.0, record.start_time, {}
    for entry in instance.all_logs(
        run.run_id, of_type={T.RUN_STARTING, T.STEP_START, T.STEP_SUCCESS, T.STEP_FAILURE}
    ):
        key = entry.step_key
        if entry.dagster_event.event_type == T.RUN_STARTING:
            launched = entry.timestamp  # the worker process starts after this
        elif entry.dagster_event.event_type == T.STEP_START:
            begun[key] = entry.timestamp
        elif key in begun:
            steps[key] = entry.timestamp - begun.pop(key)
            in_steps += steps[key]
    runs.append({
        "steps": steps,
        "status": run.status.value,
        "start": launched,
        "end": record.end_time,
        "in_steps": in_steps,
    })
print(json.dumps(runs))
"""


def _fresh_home(repo: Path) -> tuple[Path, dict[str, str]]:
    home = Path(tempfile.mkdtemp(prefix="vidmine-daemon-bench-"))
    env = _env(repo, home)
    # As `make dev` does: the generated dagster.yaml and pool limits; then the database.
    subprocess.run(
        [str(BIN / "vidmine"), "limits", "apply"], env=env, check=True, capture_output=True
    )
    subprocess.run([str(BIN / "vidmine"), "status"], env=env, check=True, capture_output=True)
    return home, env


def _cleanup(home: Path, env: dict[str, str]) -> None:
    code = (
        "import sys; from pathlib import Path; from vidmine.settings import VidmineHome;"
        "from vidmine.db.connection import stop_embedded; "
        "stop_embedded(VidmineHome(Path(sys.argv[1])))"
    )
    subprocess.run([sys.executable, "-c", code, str(home)], env=env, capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


def _step_seconds(runs: list[dict]) -> dict[str, list[float]]:
    by_step: dict[str, list[float]] = {}
    for run in runs:
        for step, seconds in run["steps"].items():
            by_step.setdefault(step, []).append(seconds)
    return by_step


def _run_tree_rss(worker_pid: int) -> int:
    """The largest resident set of one forked run with the processes under it, in bytes.
    Forked runs share the warm process's pages until they write them: an upper bound."""
    largest = 0
    try:
        runs = psutil.Process(worker_pid).children()
    except psutil.Error:
        return 0
    for run in runs:
        try:
            tree = [run, *run.children(recursive=True)]
            largest = max(largest, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            continue
    return largest


def _warm_worker_pid(daemon_pid: int) -> int | None:
    """The warm run process: the daemon's child the runs are forked from."""
    try:
        for process in psutil.Process(daemon_pid).children():
            if any(arg.endswith(".run_worker") for arg in process.cmdline()):
                return process.pid
    except psutil.Error:
        pass
    return None


def time_ingest(repo: Path, clips: list[Path]) -> tuple[float, dict[str, list[float]], int]:
    """(seconds, seconds per step, peak resident set of the ingest process in bytes)"""
    home, env = _fresh_home(repo)
    try:
        started = time.perf_counter()
        out = subprocess.run(
            [str(BIN / "vidmine"), "ingest", "--json", *map(str, clips)],
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        statuses = [v["status"] for v in json.loads(out.stdout)["videos"]]
        if statuses.count("ready") != len(clips):
            raise SystemExit(
                f"ingest did not make every clip ready: {statuses}\n{out.stderr[-2000:]}"
            )
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        return wall, _step_seconds(_query(env, _RUN_TIMES)), peak
    finally:
        _cleanup(home, env)


def time_daemon(
    repo: Path, clips: list[Path], timeout_s: float
) -> tuple[float | None, list[float], int, dict[str, list[float]], int]:
    """(seconds until all ready or None after ``timeout_s``, per-run overheads, ready count,
    seconds per step, peak resident set of one run in bytes)"""
    home, env = _fresh_home(repo)
    workspace = home / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: pipeline_defs.definitions\n"
        f"      location_name: vidmine\n      working_directory: {repo}\n"
    )
    log = home / "daemon.log"
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
        env=env,
        cwd=home,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while "upload_folder_sensor" not in log.read_text(errors="replace"):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the daemon did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        staging = home / "uploads" / ".staging"
        staging.mkdir(parents=True)
        for clip in clips:
            shutil.copy2(clip, staging / clip.name)
        started = time.perf_counter()
        for clip in clips:  # renames: every file appears whole, all at once
            (staging / clip.name).rename(home / "uploads" / clip.name)
        wall: float | None = None
        peak_run = 0
        while wall is None:
            worker = _warm_worker_pid(daemon.pid)
            if worker is not None:
                peak_run = max(peak_run, _run_tree_rss(worker))
            states = _query(env, _VIDEO_STATES)
            ready = sum(1 for s in states.values() if s == "ready")
            if ready == len(clips):
                wall = time.perf_counter() - started
            elif time.perf_counter() - started > timeout_s:
                break
            else:
                time.sleep(0.5)
        runs = _query(env, _RUN_TIMES)
        overheads = [
            run["end"] - run["start"] - run["in_steps"]
            for run in runs
            if run["start"] and run["end"] and run["status"] == "SUCCESS"
        ]
        return wall, overheads, ready, _step_seconds(runs), peak_run
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        _cleanup(home, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--baseline-repo", type=Path)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    clips = make_clips(Path(tempfile.mkdtemp(prefix="vidmine-clips-")), args.clips)
    versions = {"this": REPO}
    if args.baseline_repo:
        versions = {"baseline": args.baseline_repo.resolve(), **versions}
    print(f"{args.clips} clips of ~8 s (1280x720, speech, two scenes)")
    print(f"{'':<12}{'ingest s':>10}{'daemon s':>10}{'ratio':>8}{'overhead/run s (median)':>26}")
    details = []
    for name, repo in versions.items():
        ingest_s, ingest_steps, ingest_peak = time_ingest(repo, clips)
        daemon_s, overheads, ready, daemon_steps, run_peak = time_daemon(repo, clips, args.timeout)
        details.append((name, ingest_steps, daemon_steps, ingest_peak, run_peak))
        overhead = statistics.median(overheads) if overheads else float("nan")
        if daemon_s is None:
            daemon, ratio = f">{args.timeout:g}", f">{args.timeout / ingest_s:.2f}"
            note = f"   ({ready} of {len(clips)} ready at the time limit)"
        else:
            daemon, ratio, note = f"{daemon_s:.1f}", f"{daemon_s / ingest_s:.2f}", ""
        print(
            f"{name:<12}{ingest_s:>10.1f}{daemon:>10}{ratio:>8}{overhead:>26.1f}{note}", flush=True
        )
    for name, ingest_steps, daemon_steps, ingest_peak, run_peak in details:
        print(
            f"\n{name}: median seconds per step, and peak memory "
            f"(ingest process {ingest_peak / 2**20:.0f} MB, largest daemon run {run_peak / 2**20:.0f} MB)"
        )
        print(f"  {'step':<26}{'ingest':>8}{'daemon':>8}{'daemon - ingest':>17}")
        for step in sorted(set(ingest_steps) | set(daemon_steps)):
            alone = statistics.median(ingest_steps[step]) if step in ingest_steps else float("nan")
            daemon = statistics.median(daemon_steps[step]) if step in daemon_steps else float("nan")
            print(f"  {step:<26}{alone:>8.2f}{daemon:>8.2f}{daemon - alone:>17.2f}")


if __name__ == "__main__":
    main()
