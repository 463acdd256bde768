"""Crash drills for the local stack (`make dev`): kill it as a power cut would, start it
again, and check that every video still ends ``ready`` and nothing was done twice.

    .venv/bin/python bench/fault_drill.py crash [--clips 8]
    .venv/bin/python bench/fault_drill.py drop50 [--videos 40]

``crash``: the clips are moved into ``uploads/`` at once; two run workers are killed with
SIGKILL mid-run; then every process of the stack (UI, daemon, code server, run workers,
the embedded PostgreSQL) is killed with SIGKILL, and ``scripts/dev.sh`` starts again.

``drop50``: ``--videos`` clips and ten bad or duplicate files of different kinds are
moved in at once; once a quarter of the videos are ready the whole stack is killed the
same way and started again.

Both then wait until every run has ended and check: every video is ``ready`` (the bad
files rejected with a reason), no run is left STARTED or QUEUED, no stage row is left
``running``, no row is duplicated, a video's stages were completed once (a stage runs
again only where a crash cut it short), and the runs in progress per provider tag never
exceeded its limit. The figures are printed; a broken invariant exits 1.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
IN_PROGRESS = ("STARTING", "STARTED", "CANCELING")
WAITING = ("QUEUED", "NOT_STARTED")
PROVIDER_TAG_PREFIX = "vidmine/provider/"


def make_clips(folder: Path, count: int, prefix: str = "clip") -> list[Path]:
    """``count`` distinct clips of ~6 s: two captioned scenes with a spoken sentence."""
    from vidmine.samples import SampleScene, make_sample_video

    words = (
        "The quarterly numbers came in above the plan.",
        "Remember to water the tomatoes every morning.",
        "The museum shows paintings from the last century.",
        "Traffic on the bridge is slow because of repairs.",
    )
    colours = ("navy", "darkgreen", "maroon", "black", "teal", "purple", "olive", "gray")
    return [
        make_sample_video(
            folder / f"{prefix} {i:02d}.mp4",
            (
                SampleScene(colours[i % 8], f"{prefix.upper()} {i} A", words[i % 4], 3.0),
                SampleScene(
                    colours[(i + 3) % 8], f"{prefix.upper()} {i} B", words[(i + 1) % 4], 3.0
                ),
            ),
            size="640x360",
        )
        for i in range(count)
    ]


def bad_files(folder: Path, clips: list[Path]) -> dict[str, Path]:
    """Ten files the pipeline must refuse, each a different kind of wrong, by the name
    they get in uploads/."""
    folder.mkdir(parents=True, exist_ok=True)
    data = clips[0].read_bytes()
    made = {
        "empty.mp4": b"",
        "notes.txt": b"meeting notes\n",
        "text pretending.mp4": b"this is text, not a video\n" * 200,
        "truncated.mp4": data[: len(data) // 3],
        "noise.mov": os.urandom(200_000),
        "picture.png": b"\x89PNG\r\n\x1a\n" + os.urandom(1000),
        "nowhere/clip.mp4": data,  # not a profile folder
    }
    files = {}
    for name, content in made.items():
        path = folder / name.replace("/", "__")
        path.write_bytes(content)
        files[name] = path
    # The same content again: under another name, in a profile folder, with a capital
    # extension.
    files["copy of clip 00.mp4"] = clips[0]
    files["standard_audio_visual/again 01.mp4"] = clips[1]
    files["CLIP 02 COPY.MP4"] = clips[2]
    return files


@dataclass
class Stack:
    """`scripts/dev.sh` under a VIDMINE_HOME of its own, and a way to cut its power."""

    home: Path
    log: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None
    starts: int = 0

    @classmethod
    def fresh(cls) -> Stack:
        home = Path(tempfile.mkdtemp(prefix="vidmine-drill-"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {
            **os.environ,
            "VIDMINE_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
            "HF_HUB_OFFLINE": "1",
            "PORT": str(port),
            "VIDMINE_SENSOR_INTERVAL_S": "1",
        }
        for name in ("DATABASE_URL", "VIDMINE_CONFIG", "PYTHONPATH"):
            env.pop(name, None)
        (home / "uploads").mkdir(parents=True)
        # This process reads the same instance and database.
        os.environ.update({k: env[k] for k in ("VIDMINE_HOME", "DAGSTER_HOME", "HF_HUB_OFFLINE")})
        for name in ("DATABASE_URL", "VIDMINE_CONFIG"):
            os.environ.pop(name, None)
        return cls(home, home / "dev.log", env)

    def start(self) -> None:
        self.starts += 1
        marker = self.log.stat().st_size if self.log.exists() else 0
        self.process = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "dev.sh")],
            env=self.env,
            cwd=REPO,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 240
        while True:
            text = self.log.read_bytes()[marker:].decode(errors="replace")
            if "upload_folder_sensor" in text or "Started Dagster code server" in text:
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"`make dev` did not start:\n{text[-3000:]}")
            time.sleep(0.5)
        time.sleep(3)  # the daemon's first sensor tick

    def power_cut(self) -> int:
        """SIGKILL to every process started for this home (they carry its VIDMINE_HOME),
        all at once: the UI, the daemon, code servers, run workers and PostgreSQL."""
        victims = []
        for proc in psutil.process_iter(["pid"]):
            if proc.pid == os.getpid():
                continue
            try:
                if proc.environ().get("VIDMINE_HOME") == str(self.home):
                    victims.append(proc)
            except (psutil.Error, OSError):
                continue
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
        psutil.wait_procs(victims, timeout=10)
        if self.process is not None:
            self.process.wait(timeout=10)
        return len(victims)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        self.power_cut()  # whatever is left, the run workers and the database included


@dataclass
class RunWatch:
    """Samples the runs in progress per provider tag, from the instance's own storage."""

    limits: dict[str, int]
    peak: collections.Counter = field(default_factory=collections.Counter)
    samples: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        import dagster as dg

        while not self.stop.is_set():
            try:
                with dg.DagsterInstance.get() as instance:
                    runs = instance.get_runs(
                        filters=dg.RunsFilter(
                            statuses=[dg.DagsterRunStatus(s) for s in IN_PROGRESS]
                        )
                    )
                counts = collections.Counter(
                    tag for run in runs for tag in run.tags if tag.startswith(PROVIDER_TAG_PREFIX)
                )
                for tag, count in counts.items():
                    self.peak[tag] = max(self.peak[tag], count)
                self.samples += 1
            except Exception:  # the instance is being killed or restarted
                pass
            self.stop.wait(0.5)


def tag_limits() -> dict[str, int]:
    import yaml

    generated = yaml.safe_load((Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml").read_text())
    limits = generated["concurrency"]["runs"]["tag_concurrency_limits"]
    return {entry["key"]: entry["limit"] for entry in limits}


def runs_by_status() -> collections.Counter:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        return collections.Counter(run.status.value for run in instance.get_runs())


def store():
    from resources.database import open_store

    return open_store()


def wait_until(what: str, check, timeout_s: float, stack: Stack) -> float:
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except Exception:  # the database or instance restarting: ask again
            pass
        if time.monotonic() - started > timeout_s:
            raise SystemExit(
                f"timed out after {timeout_s:.0f} s waiting for {what}\n{where_it_stands(stack)}"
            )
        if stack.process is not None and stack.process.poll() is not None:
            raise SystemExit(f"`make dev` died:\n{stack.log.read_text(errors='replace')[-3000:]}")
        time.sleep(1)


def where_it_stands(stack: Stack) -> str:
    """What a person would look at when the drill times out: each run's status and
    partition, each video's status and stage rows, and the end of the stack's log."""
    import dagster as dg

    lines = []
    try:
        with dg.DagsterInstance.get() as instance:
            for record in instance.get_run_records():
                run = record.dagster_run
                lines.append(
                    f"run {run.run_id[:8]} {run.status.value} {run.tags.get('dagster/partition')}"
                    f" created {record.create_timestamp:%H:%M:%S}"
                    f" retry_of={run.tags.get('vidmine/retry_of', run.parent_run_id or '')[:8]}"
                )
        lines += [f"video {v.video_id} {v.status} {v.error or ''}" for v in store().list_videos()]
    except Exception as error:  # the report must not hide the timeout
        lines.append(f"(could not read the instance or store: {error!r})")
    log = stack.log.read_text(errors="replace").splitlines() if stack.log.exists() else []
    lines += ["--- end of the stack's log ---", *log[-60:]]
    return "\n".join(lines)


def drop_all(stack: Stack, files: dict[str, Path]) -> None:
    """Copy into a hidden staging folder, then rename in: every file appears whole."""
    staging = stack.home / "uploads" / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    for index, source in enumerate(files.values()):
        shutil.copyfile(source, staging / f"{index:03d}")
    for index, name in enumerate(files):
        target = stack.home / "uploads" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (staging / f"{index:03d}").rename(target)


def all_ready(expected: int):
    def check() -> bool:
        videos = store().list_videos()
        ready = sum(1 for v in videos if v.status == "ready")
        counts = runs_by_status()
        busy = sum(counts[s] for s in (*IN_PROGRESS, *WAITING))
        return ready >= expected and busy == 0

    return check


def started_workers() -> list[tuple[str, int]]:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    return [
        (run.run_id, int(run.tags["vidmine/worker_pid"]))
        for run in runs
        if "vidmine/worker_pid" in run.tags
    ]


def invariants(expected_ready: int, watch: RunWatch) -> tuple[list[str], dict]:
    """The checks of the module docstring; returns (broken ones, figures)."""
    import dagster as dg
    import psycopg

    broken: list[str] = []
    db = store()
    videos = db.list_videos()
    ready = [v for v in videos if v.status == "ready"]
    if len(ready) != expected_ready:
        broken.append(f"{len(ready)} videos ready, expected {expected_ready}")
    with psycopg.connect(db.url) as conn:
        running = conn.execute(
            "SELECT video_id, stage FROM stage_runs WHERE status = 'running'"
        ).fetchall()
        dupes = conn.execute(
            "SELECT video_id, kind, source_id, count(*) FROM search_items"
            " GROUP BY 1, 2, 3 HAVING count(*) > 1"
        ).fetchall()
        scene_counts = dict(
            conn.execute("SELECT video_id, count(*) FROM scenes GROUP BY 1").fetchall()
        )
    if running:
        broken.append(f"stage rows left running: {running[:5]}")
    if dupes:
        broken.append(f"duplicated search items: {dupes[:5]}")
    no_scenes = [v.video_id for v in ready if not scene_counts.get(v.video_id)]
    if no_scenes:
        broken.append(f"ready videos without scenes: {no_scenes}")
    counts = runs_by_status()
    busy = {s: counts[s] for s in (*IN_PROGRESS, *WAITING) if counts[s]}
    if busy:
        broken.append(f"runs not ended: {busy}")
    for tag, peak in watch.peak.items():
        if peak > watch.limits.get(tag, 10**6):
            broken.append(f"{peak} runs in progress with {tag}, limit {watch.limits[tag]}")
    # A stage completed more than once for a video means work done twice, unless a
    # crash cut a run short while that stage was in progress.
    repeats = collections.Counter()
    with dg.DagsterInstance.get() as instance:
        for video in ready:
            runs = instance.get_runs(
                filters=dg.RunsFilter(tags={"dagster/partition": video.video_id})
            )
            done = collections.Counter()
            for run in runs:
                for entry in instance.all_logs(
                    run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS
                ):
                    done[entry.step_key] += 1
            repeats.update(step for step, n in done.items() if n > 1)
        figures = {
            "videos": len(videos),
            "ready": len(ready),
            "failed (rejected in their run)": sum(1 for v in videos if v.status == "failed"),
            "rejected by the sensor": len(db.list_rejections()),
            "runs": dict(counts),
            "retries": len(
                instance.get_runs(filters=dg.RunsFilter(tags={"dagster/retry_number": "1"}))
            ),
            "steps completed twice (by step)": dict(repeats),
            "peak runs in progress per provider tag": dict(watch.peak),
            "run tag limits": watch.limits,
            "watch samples": watch.samples,
        }
    return broken, figures


@contextmanager
def watched(stack: Stack, keep: bool) -> Iterator[RunWatch]:
    """The stack started, with a watch on its runs; on leaving, both stop and the drill's
    VIDMINE_HOME goes (unless ``keep``)."""
    watch = None
    try:
        stack.start()
        watch = RunWatch(tag_limits())
        threading.Thread(target=watch.run, daemon=True).start()
        yield watch
    finally:
        if watch is not None:
            watch.stop.set()
        stack.stop()
        if not keep:
            shutil.rmtree(stack.home, ignore_errors=True)


def power_cut_and_restart(stack: Stack, started: float) -> None:
    ready = sum(1 for v in store().list_videos() if v.status == "ready")
    killed = stack.power_cut()
    print(
        f"power cut {time.monotonic() - started:.0f} s after the drop: {killed} processes "
        f"killed with SIGKILL, {ready} videos ready",
        flush=True,
    )
    time.sleep(2)
    stack.start()


def finish(stack: Stack, watch: RunWatch, expected: int, started: float, timeout: float):
    took = wait_until(f"{expected} videos ready", all_ready(expected), timeout, stack)
    print(
        f"all {expected} ready {took:.0f} s after the restart, "
        f"{time.monotonic() - started:.0f} s after the drop",
        flush=True,
    )
    watch.stop.set()
    return invariants(expected, watch)


def crash(args: argparse.Namespace) -> int:
    stack = Stack.fresh()
    clips = make_clips(stack.home / "sources", args.clips)
    with watched(stack, args.keep) as watch:
        started = time.monotonic()
        drop_all(stack, {clip.name: clip for clip in clips})
        wait_until("two run workers", lambda: len(started_workers()) >= 2, 300, stack)
        victims = started_workers()[:2]
        time.sleep(2)  # mid-run
        for _, pid in victims:
            os.kill(pid, signal.SIGKILL)
        print(f"killed run workers {[pid for _, pid in victims]}", flush=True)
        killed_runs = {run_id for run_id, _ in victims}
        wait_until(
            "a run started after the kills",
            lambda: any(run_id not in killed_runs for run_id, _ in started_workers()),
            300,
            stack,
        )
        power_cut_and_restart(stack, started)
        return report(*finish(stack, watch, len(clips), started, args.timeout))


def drop50(args: argparse.Namespace) -> int:
    stack = Stack.fresh()
    clips = make_clips(stack.home / "sources", args.videos)
    files = {clip.name: clip for clip in clips}
    files.update(bad_files(stack.home / "bad", clips))
    with watched(stack, args.keep) as watch:
        started = time.monotonic()
        drop_all(stack, files)
        print(f"dropped {len(files)} files: {args.videos} videos, the rest bad or duplicate")
        quarter = max(1, args.videos // 4)
        wait_until(
            f"{quarter} videos ready",
            lambda: sum(1 for v in store().list_videos() if v.status == "ready") >= quarter,
            args.timeout,
            stack,
        )
        power_cut_and_restart(stack, started)
        broken, figures = finish(stack, watch, args.videos, started, args.timeout)
        rejected = {Path(r.path).name for r in store().list_rejections()}
        good = {clip.name for clip in clips}
        broken += [
            f"{name} was not recorded as rejected"
            for name in files
            if name not in good and Path(name).name not in rejected
        ]
        return report(broken, figures)


def report(broken: list[str], figures: dict) -> int:
    for name, value in figures.items():
        print(f"  {name}: {value}")
    if broken:
        print("BROKEN:")
        for line in broken:
            print(f"  - {line}")
        return 1
    print("every invariant held")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="drill", required=True)
    one = sub.add_parser("crash", help="kill run workers, then the whole stack")
    one.add_argument("--clips", type=int, default=8)
    two = sub.add_parser("drop50", help="40 videos and 10 bad files; the stack killed midway")
    two.add_argument("--videos", type=int, default=40)
    for p in (one, two):
        p.add_argument("--timeout", type=float, default=1200)
        p.add_argument("--keep", action="store_true", help="keep the drill's VIDMINE_HOME")
    args = parser.parse_args()
    sys.exit(crash(args) if args.drill == "crash" else drop50(args))


if __name__ == "__main__":
    main()
