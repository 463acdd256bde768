"""Proves deploy/ on a real Docker engine: builds the images, starts PostgreSQL, the user
code server, the Dagster daemon and webserver with docker-compose (docker-compose.yml plus
docker-compose.host-network.yml), migrates Dagster's schema once, drops video files into
the upload folder the sensor watches, waits until each is ready, failed or rejected, prints
one JSON summary and tears everything down (containers, network, volumes; images stay).

Run it as ``deploy/smoke.sh [FILE...]`` (the wrapper installs what is missing when root).
With no engine reachable it starts its own dockerd (root only) and stops it by its pid.
``--drill`` kills a run container mid-run and restarts the daemon container;
``--second-engine`` starts the run containers on a second dockerd in its own network
namespace, reached over TCP. Exit 0 only when every readable video is ready, every bad
file is rejected with a reason, and the drill's checks hold.

This script only orchestrates: it reads Dagster's records through the user code
container, and must not change anything a run does. It holds the flow and the summary;
beside it, smoke_engine.py (dockerd, the second engine), smoke_images.py (building without
a registry), smoke_compose.py (the stack and what is asked of it) and smoke_drill.py. They
import each other by name: ``python deploy/smoke.py`` puts deploy/ on sys.path.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from smoke_compose import PROJECT, Compose, dagster_runs, duplicated_search_items, vidmine_status
from smoke_drill import drill_verdict, run_drill
from smoke_engine import (
    SmokeError,
    copy_image,
    find_or_start_engine,
    log,
    second_engine,
    socket_path,
)
from smoke_images import REGISTRY_BASE_IMAGE, USER_CODE_IMAGE, build_images

REPO = Path(__file__).resolve().parents[1]
VIDMINE_UID = 10001
PORTS = {"postgres": 5432, "code server": 4000, "webserver": 3000}


def default_files(work: Path) -> list[Path]:
    """The sample video `make demo` makes."""
    sys.path.insert(0, str(REPO))
    from vidmine.samples import make_sample_video

    path = work / "vidmine_demo.mp4"
    make_sample_video(path)
    return [path]


def free_ports_or_fail() -> None:
    busy = []
    for what, port in PORTS.items():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"{port} ({what})")
    if busy:
        raise SmokeError(
            f"ports in use on this host: {', '.join(busy)}; the host-network stack needs them"
        )


def drop(files: list[Path], uploads: Path) -> float:
    """Copies each file in under a hidden name (the sensor skips those), then renames it
    into place, so the sensor sees only whole files."""
    uploads.mkdir(parents=True, exist_ok=True)
    staged = []
    for i, src in enumerate(files):
        name = src.name if src.name not in {p.name for _, p in staged} else f"{i}-{src.name}"
        tmp = uploads / f".{name}"
        shutil.copyfile(src, tmp)
        os.chown(tmp, VIDMINE_UID, VIDMINE_UID)
        staged.append((tmp, uploads / name))
    dropped_at = time.time()
    for tmp, final in staged:
        os.rename(tmp, final)
    return dropped_at


def peak_concurrency(runs: list[dict]) -> dict[str, int]:
    """Most runs in progress at once per provider tag, from their start and end times."""
    peaks: dict[str, int] = {}
    for provider in sorted({p for r in runs for p in r["providers"]}):
        edges = []
        for r in runs:
            if provider in r["providers"] and r["start"] is not None:
                edges.append((r["start"], 1))
                edges.append((r["end"] if r["end"] is not None else float("inf"), -1))
        now = peak = 0
        for _, delta in sorted(edges, key=lambda e: (e[0], e[1])):
            now += delta
            peak = max(peak, now)
        peaks[provider] = peak
    return peaks


def settled(status: dict, names: list[str], runs: list[dict]) -> bool:
    videos = {v["file_name"]: v for v in status["videos"]}
    rejected = {Path(r["path"]).name for r in status["rejected"]}
    done = all(
        n in rejected or (n in videos and videos[n]["status"] in ("ready", "failed")) for n in names
    )
    busy = [
        r
        for r in runs
        if r["status"] in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
    ]
    return done and not busy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        help="videos (or bad files) to drop; default: the demo sample",
    )
    parser.add_argument(
        "--drill", action="store_true", help="kill a run container mid-run and restart the daemon"
    )
    parser.add_argument(
        "--second-engine", action="store_true", help="start the runs on a second engine in a netns"
    )
    parser.add_argument(
        "--base-image",
        help=f"PYTHON_IMAGE for the builds (default {REGISTRY_BASE_IMAGE} if the engine has it, else a local one)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the files")
    args = parser.parse_args(argv)

    state = Path(
        os.environ.get(
            "VIDMINE_SMOKE_STATE",
            "/var/lib/vidmine-smoke"
            if os.geteuid() == 0
            else Path.home() / ".cache" / "vidmine-smoke",
        )
    )
    state.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=state))
    data_dir = work / "data"
    data_dir.mkdir()
    os.chown(data_dir, VIDMINE_UID, VIDMINE_UID)
    summary: dict = {"ok": False}
    started_all = time.monotonic()
    engine = compose = None
    stack = contextlib.ExitStack()
    try:
        free_ports_or_fail()
        files = [f.resolve() for f in args.files] or default_files(work)
        for f in files:
            if not f.is_file():
                raise SmokeError(f"{f}: no such file")
        engine = find_or_start_engine(state)
        sock = socket_path(engine)
        env_file = work / "smoke.env"
        env_file.write_text("")  # everything comes from the environment below
        compose = Compose(
            engine,
            env_file,
            {
                "POSTGRES_PASSWORD": secrets.token_hex(16),
                "WITH_LOCAL_MODELS": "true",
                "VIDMINE_DATA_DIR": str(data_dir),
                "VIDMINE_DOCKER_SOCKET": sock,
                "DOCKER_GID": str(os.stat(sock).st_gid),
            },
        )
        started = time.monotonic()
        base_image, timings = build_images(engine, compose, args.base_image)
        summary["base_image"] = base_image
        summary["build_seconds"] = {**timings, "total_s": round(time.monotonic() - started, 1)}

        run_engine = engine
        if args.second_engine:
            run_engine, host_ip = stack.enter_context(second_engine(state, data_dir))
            summary["second_engine"] = {
                "docker_host": run_engine.host,
                "image_copy_s": copy_image(engine, run_engine, USER_CODE_IMAGE),
            }
            compose.env["VIDMINE_RUN_DOCKER_HOST"] = run_engine.host
            compose.env["VIDMINE_POSTGRES_HOST"] = host_ip

        compose.flatten(work / "compose.yml")
        started = time.monotonic()
        # postgres, then the one-shot migrate, then the code server, daemon and webserver
        # (depends_on in docker-compose.yml).
        compose("up", "-d")
        summary["stack_up_s"] = round(time.monotonic() - started, 1)
        log(f"stack up in {summary['stack_up_s']} s")

        dropped_at = drop(files, data_dir / "uploads")
        names = sorted(
            p.name for p in (data_dir / "uploads").iterdir() if not p.name.startswith(".")
        )
        log(f"dropped {len(names)} file(s)")
        drill = run_drill(compose, run_engine) if args.drill else None

        deadline = time.monotonic() + args.timeout
        looks_settled = 0
        while True:
            status, runs = vidmine_status(compose), dagster_runs(compose)
            # A failed run's retry is queued by the daemon's next tick: a failure counts
            # only when a second look 5 s later finds the same.
            any_failed = any(v["status"] == "failed" for v in status["videos"])
            looks_settled = looks_settled + 1 if settled(status, names, runs) else 0
            if looks_settled >= (2 if any_failed else 1):
                break
            if time.monotonic() > deadline:
                raise SmokeError(
                    f"files not settled after {args.timeout:.0f} s: {json.dumps(status)[:2000]}"
                )
            time.sleep(5 if looks_settled else 3)

        videos = {v["file_name"]: v for v in status["videos"]}
        rejected = {Path(r["path"]).name: r["reason"] for r in status["rejected"]}
        ready = [n for n in names if videos.get(n, {}).get("status") == "ready"]
        # A file vidmine refused (unreadable, cut short, a duplicate) fails its run and is
        # recorded as rejected with the reason: it counts as rejected, not failed.
        failed = {
            n: videos[n]["error"]
            for n in names
            if videos.get(n, {}).get("status") == "failed" and n not in rejected
        }
        ends = [r["end"] for r in runs if r["end"] is not None and r["status"] == "SUCCESS"]
        containers = run_engine.run_containers()
        summary.update(
            {
                "files": len(names),
                "ready": len(ready),
                "failed": len(failed),
                "rejected": len([n for n in names if n in rejected]),
                "runs": len(runs),
                "run_statuses": {
                    s: sum(r["status"] == s for r in runs)
                    for s in sorted({r["status"] for r in runs})
                },
                "run_containers_launched": len(containers),
                "run_engine": run_engine.host if args.second_engine else "the compose engine",
                # With --second-engine none may start beside the daemon.
                "run_containers_on_compose_engine": len(engine.run_containers()),
                "peak_concurrent_runs_by_provider": peak_concurrency(runs),
                "drop_to_first_run_done_s": round(
                    min((r["end"] for r in runs if r["end"]), default=dropped_at) - dropped_at, 1
                ),
                "drop_to_all_ready_s": round(max(ends) - dropped_at, 1) if ends and ready else None,
                "failed_files": failed,
                "rejected_files": {n: rejected[n] for n in names if n in rejected},
                "runs_left_started": [
                    r["run_id"][:8] for r in runs if r["status"] in ("STARTED", "STARTING")
                ],
            }
        )
        limits = {"local": 2, "openai": 4}
        over = {
            p: n
            for p, n in summary["peak_concurrent_runs_by_provider"].items()
            if n > limits.get(p, 99)
        }
        summary["provider_limits_held"] = not over
        if drill:
            summary["drill"] = drill_verdict(drill, runs)
            dupes = duplicated_search_items(compose)
            summary["drill"]["duplicated_search_items"] = dupes[:5]
            summary["drill"]["ok"] = summary["drill"]["ok"] and not dupes
        # A file is "bad" when vidmine rejected it; every other one must be ready.
        summary["ok"] = (
            not failed
            and all(n in ready or rejected.get(n) for n in names)
            and not summary["runs_left_started"]
            and not over
            and (drill is None or summary["drill"]["ok"])
            and not (args.second_engine and summary["run_containers_on_compose_engine"])
        )
    except SmokeError as err:
        summary["error"] = str(err)
        log(f"FAILED: {err}")
    finally:
        if compose is not None and not summary["ok"]:
            with contextlib.suppress(Exception):
                log(
                    "daemon log tail:\n"
                    + compose("logs", "--tail", "40", "daemon", check=False).stdout
                )
        stack.close()  # the second engine, if any (its run containers go with it)
        if compose is not None:
            ids = compose.engine.run_containers(check=False)
            if ids:
                compose.engine.docker("rm", "-f", *ids, check=False)
            compose("down", "-v", "--remove-orphans", "-t", "20", check=False)
            left = compose.engine.docker(
                "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}", check=False
            ).stdout.split()
            summary["left_behind"] = {
                "containers": len(left),
                "volumes": [
                    v
                    for v in compose.engine.docker("volume", "ls", "-q", check=False).stdout.split()
                    if v.startswith(("vidmine", PROJECT))
                ],
            }
            if summary["left_behind"]["containers"] or summary["left_behind"]["volumes"]:
                summary["ok"] = False
        if engine is not None:
            engine.stop()
        # Files written by uid 10001 inside the containers: this process is root (or owns them).
        shutil.rmtree(work, ignore_errors=True)
        summary["total_s"] = round(time.monotonic() - started_all, 1)
        print(json.dumps(summary, indent=2, sort_keys=True))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
