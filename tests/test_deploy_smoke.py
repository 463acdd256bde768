"""The production deployment on a real Docker engine (deploy/smoke.sh): images built
without a registry, PostgreSQL, the code server, the daemon and the webserver in
containers, each run in a container of its own. A few videos and one truncated file are
dropped into the upload folder; every video must end ready and the truncated file
rejected with its reason, within the provider limits, with nothing left behind.

Needs root (the smoke run starts its own dockerd when no engine is reachable, and installs
docker.io, docker-compose and mmdebstrap from Debian when they are missing); skips
elsewhere. The first run on a machine builds the images (about 4 minutes); later runs
reuse them from the engine's data root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from vidmine.samples import make_sample_video

REPO = Path(__file__).resolve().parents[1]
SHARED_MEDIA = REPO.parent / "shared" / "media"
# Short third-party clips: a 3 s 1080p counter and a 704x576 clip with non-square pixels.
SHARED_CLIPS = ("pyscenedetect/counter.mp4", "pyscenedetect/edge_cases/issue-195-aspect-ratio.mp4")


def _engine_reason() -> str | None:
    """Why the smoke run cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root: deploy/smoke.sh starts its own dockerd when no engine is reachable"
    if shutil.which("dockerd") is None and shutil.which("apt-get") is None:
        return "no dockerd and no apt-get to install docker.io with"
    return None


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_smoke_run_processes_videos_in_containers_and_rejects_a_truncated_file(
    tmp_path: Path,
) -> None:
    reason = _engine_reason()
    if reason:
        pytest.skip(reason)
    sample = make_sample_video(tmp_path / "vidmine_demo.mp4")
    truncated = tmp_path / "cut_short.mp4"
    truncated.write_bytes(sample.read_bytes()[: sample.stat().st_size // 2])
    files = [sample, truncated]
    if SHARED_MEDIA.is_dir():
        files += [SHARED_MEDIA / clip for clip in SHARED_CLIPS]
    else:
        print(f"{SHARED_MEDIA} is absent: the smoke run gets the sample and the truncated file")

    done = subprocess.run(
        ["bash", str(REPO / "deploy" / "smoke.sh"), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=1700,
    )
    print(done.stderr[-6000:])
    try:
        summary = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"deploy/smoke.sh printed no JSON summary (exit {done.returncode}):\n{done.stdout[-3000:]}"
        )
    print(json.dumps(summary, indent=2))
    assert done.returncode == 0 and summary["ok"], summary.get("error") or summary

    assert summary["files"] == len(files)
    assert summary["ready"] == len(files) - 1
    assert summary["rejected_files"].keys() == {truncated.name}
    assert summary["rejected_files"][truncated.name], "rejected without a reason"
    # One run container per run, none left STARTED, the local provider's limit held.
    assert summary["run_containers_launched"] == summary["runs"] >= len(files) - 1
    assert summary["runs_left_started"] == []
    assert summary["peak_concurrent_runs_by_provider"].get("local", 0) <= 2
    assert summary["left_behind"] == {"containers": 0, "volumes": []}
