"""The pipeline run the production way: a real ``dagster-daemon`` (upload sensor, queued
run coordinator with vidmine's run-tag limits and pools, runs forked by vidmine's warm
run launcher, steps in the run's process) on real PostgreSQL, ffmpeg and tesseract, with
the AI stages on the fake OpenAI server (``max_concurrent: 2``, ~200 ms a request).

One deployment, one first wave: two videos, a bad file and a truncated copy dropped into
``uploads/`` and a third video launched with ``dagster job launch``, all at once. Then:

- issue 2: the dropped videos become ready with nobody touching anything, the bad file
  is recorded as rejected, the launched run goes through the daemon too;
- issue 19: the refused files leave no partition, and no asset shows them failed, while
  their failed runs stay in the run history;
- issue 3: never more than ``max_concurrent`` requests in flight at the server across
  runs (and it is reached), the run queue holds the provider's runs
  to its limit while another waits, a 429 storm and a hang end in success, and the API
  key is nowhere in run logs, the database, Dagster's files or the daemon's output;
- limits and config: ``vidmine limits apply/show``, per-stage job tags, bad configs
  failing at load, naming the key.

The AI stages run on the fake server rather than the local models, so the provider
limits have a server to count requests at. The local models are covered in-process by
test_pipeline.py and through the daemon by test_launcher.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml
from dagster_daemon import (
    BIN,
    IN_PROGRESS_STATUSES,
    REPO,
    DaemonProcess,
    open_instance,
    prepare_dagster_home,
    process_env,
    running_daemon,
    wait_for,
    wait_for_runs,
    warm_run_processes,
    write_workspace,
)
from fake_openai import FakeOpenAI, running_fake_openai
from pipeline_helpers import partitions_shown_failed
from psycopg import sql

from assets.partitions import VIDEO_PARTITIONS_NAME
from assets.tags import FORCE_TAG, PARTITION_TAG, video_run_tags
from vidmine.config import ConfigError, load_config, parse_config
from vidmine.db.connection import with_database
from vidmine.db.store import Store
from vidmine.registration import register_upload
from vidmine.samples import SampleScene, make_sample_video

pytestmark = pytest.mark.slow

# Not shaped like an OpenAI key, so only exact redaction (not the key-shape patterns)
# keeps it out of messages.
DUMMY_KEY = "vmfake-DUMMY-KEY-0451-never-log-me"
FAKE_TAG = "vidmine/provider/fake"
FAKE_MAX_CONCURRENT = 2
STORM_429S = 6
PROVIDER_TIMEOUT_S = 4  # long enough that no answer at ~200 ms times out under load


# --- helpers ---------------------------------------------------------------------------------


@contextmanager
def fresh_database(pg_url: str, template: str) -> Iterator[str]:
    name = f"vidmine_daemon_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    try:
        yield with_database(pg_url, name)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass
class Deployment:
    """One vidmine home, database and Dagster instance with a daemon running on them."""

    root: Path
    home: Path
    dagster_home: Path
    workspace: Path
    env: dict[str, str]
    database_url: str
    daemon: DaemonProcess
    instance: dg.DagsterInstance
    store: Store = field(init=False)

    def __post_init__(self) -> None:
        self.store = Store(self.database_url)

    @property
    def uploads(self) -> Path:
        return self.home / "uploads"

    def drop(self, source: Path, name: str) -> Path:
        """Copy a file into uploads/, as a user would."""
        target = self.uploads / name
        shutil.copyfile(source, target)
        return target

    def cli(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
        """A command (``vidmine`` or ``dagster``) with this deployment's environment."""
        return subprocess.run(
            [str(BIN / args[0]), *args[1:]],
            env=process_env(self.dagster_home, self.env),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )


@contextmanager
def deployment(
    root: Path, pg_url: str, template: str, config_text: str, extra_env: dict[str, str]
) -> Iterator[Deployment]:
    home = root / "home"
    (home / "uploads").mkdir(parents=True)
    config_path = root / "vidmine.yaml"
    config_path.write_text(config_text)
    with fresh_database(pg_url, template) as url:
        env = {
            "VIDMINE_HOME": str(home),
            "VIDMINE_CONFIG": str(config_path),
            "DATABASE_URL": url,
            "HF_HUB_OFFLINE": "1",
            "VIDMINE_SENSOR_INTERVAL_S": "1",
            **extra_env,
        }
        dagster_home = root / "dagster"
        prepare_dagster_home(dagster_home, load_config(config_path, check_keys=False))
        workspace = write_workspace(root / "workspace.yaml")
        with (
            running_daemon(dagster_home, workspace, env) as daemon,
            open_instance(dagster_home) as instance,
        ):
            yield Deployment(root, home, dagster_home, workspace, env, url, daemon, instance)


def tiny_video(folder: Path, name: str, colours: tuple[str, ...]) -> Path:
    """A silent 320x240 video of one 1 s scene per colour, with hard cuts."""
    scenes = tuple(
        SampleScene(colour, f"{name.upper()} {i}", "", 1.0) for i, colour in enumerate(colours)
    )
    return make_sample_video(folder / f"{name}.mp4", scenes, size="320x240")


def video_id_of(run: dg.DagsterRun) -> str:
    return run.tags["dagster/partition"]


# --- one deployment on the fake OpenAI server ---------------------------------------------------


def fake_provider_config(base_url: str) -> str:
    return yaml.safe_dump(
        {
            "default_profile": "standard_audio_visual",
            "providers": {
                "fake": {
                    "base_url": base_url,
                    "api_key_env": "FAKE_OPENAI_KEY",
                    "max_concurrent": FAKE_MAX_CONCURRENT,
                    "timeout_s": PROVIDER_TIMEOUT_S,
                    "max_retries": 8,
                }
            },
            "stages": {
                "transcribe": {"provider": "fake", "model": "whisper-1"},
                "vision": {"provider": "fake", "model": "gpt-4o"},
                "embed": {"provider": "fake", "model": "text-embedding-3-small", "dimensions": 64},
                # Not on the fake: its schema-shaped answers fail content validation
                # (chapters outside the video, too few titles), which fails the run.
                "generate": {"provider": "local"},
            },
        },
        sort_keys=False,
    )


class RunQueueWatch(threading.Thread):
    """Polls the instance while runs execute: how many runs of a provider were in
    progress at once, whether others waited queued meanwhile, and the pool's busiest."""

    def __init__(self, dagster_home: Path, tag: str, pool: str, poll_s: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.dagster_home = dagster_home
        self.tag = tag
        self.pool = pool
        self.poll_s = poll_s
        self.stopping = threading.Event()
        self.max_in_progress = 0
        self.queued_behind_full = False
        self.max_pool_slots = 0
        self.samples = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with open_instance(self.dagster_home) as instance:
                while not self.stopping.is_set():
                    runs = instance.get_runs(filters=dg.RunsFilter(tags={self.tag: "true"}))
                    busy = sum(1 for r in runs if r.status in IN_PROGRESS_STATUSES)
                    queued = sum(1 for r in runs if r.status == dg.DagsterRunStatus.QUEUED)
                    self.max_in_progress = max(self.max_in_progress, busy)
                    if busy == FAKE_MAX_CONCURRENT and queued:
                        self.queued_behind_full = True
                    info = instance.event_log_storage.get_concurrency_info(self.pool)
                    self.max_pool_slots = max(self.max_pool_slots, info.active_slot_count)
                    self.samples += 1
                    self.stopping.wait(self.poll_s)
        except BaseException as err:  # reported by the test, not lost in a thread
            self.error = err

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)


def database_text(url: str) -> str:
    """Every row of every vidmine table, as text."""
    parts = []
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        for (table,) in tables:
            rows = conn.execute(
                sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(table))
            ).fetchall()
            parts.extend(row[0] for row in rows)
    return "\n".join(parts)


def files_containing(root: Path, needle: bytes) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found


def launch(
    deployed: Deployment, job: str, partition: str, **tags: str
) -> subprocess.CompletedProcess:
    """``dagster job launch`` as an operator types it; the daemon dequeues the run."""
    return deployed.cli(
        "dagster",
        "job",
        "launch",
        "-w",
        str(deployed.workspace),
        "-j",
        job,
        "--tags",
        json.dumps({"dagster/partition": partition, **tags}),
    )


@dataclass
class FirstWave:
    """What happened when two videos (and a bad file) were dropped into uploads/ and a
    third, registered by hand, was launched from the command line, all at once."""

    dropped: dict[str, str]  # file name -> video id
    launched: str  # video id of the run launched with `dagster job launch`
    runs: list[dg.DagsterRun]
    warm_before: int  # pid of the warm run process running before anything was dropped
    warm_after: list[int]  # pids of the warm run processes once every run ended
    stats: dict
    watch: RunQueueWatch
    launch_output: str


class TestThroughTheDaemon:
    @pytest.fixture(scope="class")
    def fake(self) -> Iterator[FakeOpenAI]:
        # A 429 storm waits for the first requests; every request takes ~200 ms.
        with running_fake_openai(
            latency_ms=200, require_api_key=DUMMY_KEY, fail_429=STORM_429S, retry_after="0.3"
        ) as server:
            yield server

    @pytest.fixture(scope="class")
    def deployed(
        self,
        fake: FakeOpenAI,
        pg_url: str,
        migrated_template: str,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> Iterator[Deployment]:
        root = tmp_path_factory.mktemp("deployment")
        config = fake_provider_config(fake.base_url)
        with deployment(
            root, pg_url, migrated_template, config, {"FAKE_OPENAI_KEY": DUMMY_KEY}
        ) as running:
            yield running

    @pytest.fixture(scope="class")
    def first_wave(
        self, deployed: Deployment, fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
    ) -> FirstWave:
        folder = tmp_path_factory.mktemp("videos")
        talk = tiny_video(folder, "garden", ("darkgreen", "navy"))
        slides = tiny_video(folder, "slides", ("maroon", "black"))
        by_hand = tiny_video(folder, "by-hand", ("purple", "teal"))
        broken = folder / "broken.mp4"
        broken.write_bytes(os.urandom(4096))
        # The first two thirds of a video whose index is at the front: it probes fine,
        # and only reading it through finds it cut short.
        whole = tiny_video(folder, "cut", ("olive", "gray")).read_bytes()
        cut = folder / "cut short.mp4"
        cut.write_bytes(whole[: len(whole) * 2 // 3])

        registration = register_upload(deployed.store, by_hand, "standard_audio_visual")
        assert registration.video_id is not None
        deployed.instance.add_dynamic_partitions("videos", [registration.video_id])
        # The daemon starts its warm run process itself, before any run.
        (warm,) = wait_for(
            lambda: warm_run_processes(deployed.daemon),
            timeout_s=120,
            what="the daemon's warm run process",
            process=deployed.daemon,
        )
        watch = RunQueueWatch(deployed.dagster_home, FAKE_TAG, "vidmine_transcribe")
        watch.start()
        try:
            deployed.drop(talk, "garden talk.mp4")
            deployed.drop(slides, "slides.mp4")
            deployed.drop(broken, "broken.mp4")
            deployed.drop(cut, "cut short.mp4")
            launched = launch(deployed, "process_video", registration.video_id)
            assert launched.returncode == 0, launched.stderr[-3000:]
            # Three videos succeed; the broken and cut files' runs fail in their first asset.
            wait_for_runs(
                deployed.instance,
                5,
                (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE),
                timeout_s=300,
                daemon=deployed.daemon,
                fail_fast=False,
            )
            runs = [
                r for r in deployed.instance.get_runs() if r.status == dg.DagsterRunStatus.SUCCESS
            ]
        finally:
            watch.stop()
        videos = {v.file_name: v.video_id for v in deployed.store.list_videos()}
        dropped = {name: videos[name] for name in ("garden talk.mp4", "slides.mp4")}
        stats = fake.stats()
        print(
            f"\nfake server: {stats['requests']} requests, max in flight "
            f"{stats['max_in_flight']}, 429s served {stats['served_429']}; runs in progress "
            f"at most {watch.max_in_progress} ({watch.samples} samples); pool slots at most "
            f"{watch.max_pool_slots}"
        )
        return FirstWave(
            dropped,
            registration.video_id,
            runs,
            warm.pid,
            [p.pid for p in warm_run_processes(deployed.daemon)],
            stats,
            watch,
            launched.stdout + launched.stderr,
        )

    # issue 2

    def test_dropped_videos_become_ready_and_the_bad_file_is_rejected(
        self, deployed: Deployment, first_wave: FirstWave
    ) -> None:
        by_partition = {video_id_of(r): r for r in first_wave.runs}
        for name, video_id in first_wave.dropped.items():
            assert deployed.store.get_video(video_id).status == "ready", name
            run = by_partition[video_id]
            assert run.status == dg.DagsterRunStatus.SUCCESS
            assert run.tags["dagster/sensor_name"] == "upload_folder_sensor"
        states = deployed.store.stage_states(first_wave.dropped["garden talk.mp4"])
        assert states["video_ready"].status == "succeeded", states
        assert {s.status for s in states.values()} <= {"succeeded", "skipped"}, states
        rejected = [r for r in deployed.store.list_rejections() if r.path.endswith("broken.mp4")]
        assert rejected and rejected[0].reason
        # The sensor does not read files: the broken one got a run, whose first asset
        # refused it with the reason.
        (broken,) = [v for v in deployed.store.list_videos() if v.file_name == "broken.mp4"]
        assert broken.status == "failed" and "rejected broken.mp4" in (broken.error or "")
        assert len(deployed.store.list_videos()) == 5

    # issue 19

    def test_refused_files_leave_no_partition_and_keep_their_failed_runs(
        self, deployed: Deployment, first_wave: FirstWave
    ) -> None:
        videos = {v.file_name: v.video_id for v in deployed.store.list_videos()}
        refused = {name: videos[name] for name in ("broken.mp4", "cut short.mp4")}
        rejections = {Path(r.path).name: r.reason for r in deployed.store.list_rejections()}
        assert "is incomplete" in rejections["cut short.mp4"], rejections
        assert rejections["broken.mp4"], rejections
        good = {*first_wave.dropped.values(), first_wave.launched}
        assert set(deployed.instance.get_dynamic_partitions(VIDEO_PARTITIONS_NAME)) == good
        assert partitions_shown_failed(deployed.instance) == {}
        for name, video_id in refused.items():
            (run,) = deployed.instance.get_runs(
                filters=dg.RunsFilter(tags={PARTITION_TAG: video_id})
            )
            assert run.status == dg.DagsterRunStatus.FAILURE, name
            assert run.tags["dagster/sensor_name"] == "upload_folder_sensor"
            logs = [e.message or "" for e in deployed.instance.all_logs(run.run_id)]
            assert any(f"removed partition {video_id}" in m for m in logs), (name, logs)

    def test_every_run_forks_from_the_warm_process_the_daemon_started_first(
        self, deployed: Deployment, first_wave: FirstWave
    ) -> None:
        assert first_wave.warm_after == [first_wave.warm_before]  # not restarted, not doubled
        for run in first_wave.runs:
            forked = [
                e.message
                for e in deployed.instance.all_logs(run.run_id)
                if "forked from vidmine's warm run process" in (e.message or "")
            ]
            assert forked, f"run {run.run_id} was not forked from the warm process"

    def test_a_run_launched_from_the_command_line_goes_through_the_daemon(
        self, deployed: Deployment, first_wave: FirstWave
    ) -> None:
        (run,) = [r for r in first_wave.runs if video_id_of(r) == first_wave.launched]
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert "dagster/sensor_name" not in run.tags
        assert run.tags[FAKE_TAG] == "true"  # the job's own tags
        assert deployed.store.get_video(first_wave.launched).status == "ready"

    # issue 3

    def test_requests_and_runs_stay_within_the_provider_limit(self, first_wave: FirstWave) -> None:
        # Never more than max_concurrent requests at the server across all runs and
        # step processes, and parallelism was used.
        assert first_wave.stats["max_in_flight"] == FAKE_MAX_CONCURRENT, first_wave.stats
        watch = first_wave.watch
        assert watch.error is None, watch.error
        # The queue held the provider's runs to its limit while another waited.
        assert watch.max_in_progress == FAKE_MAX_CONCURRENT
        assert watch.queued_behind_full
        assert 1 <= watch.max_pool_slots <= FAKE_MAX_CONCURRENT
        assert all(run.tags[FAKE_TAG] == "true" for run in first_wave.runs)

    def test_a_429_storm_ends_in_success(self, deployed: Deployment, first_wave: FirstWave) -> None:
        stats = first_wave.stats
        assert stats["served_429"] == STORM_429S and stats["pending"]["fail_429"] == 0
        with psycopg.connect(deployed.database_url) as conn:
            retries, failed = conn.execute(
                "SELECT coalesce(sum(retries), 0), count(*) FILTER (WHERE status NOT IN"
                " ('ok', 'cached')) FROM provider_calls WHERE provider = 'fake'"
            ).fetchone()
        assert retries >= STORM_429S and failed == 0

    def test_a_hang_times_out_and_the_retry_succeeds(
        self, deployed: Deployment, fake: FakeOpenAI, first_wave: FirstWave
    ) -> None:
        video_id = first_wave.dropped["slides.mp4"]
        with psycopg.connect(deployed.database_url) as conn:
            # Forget the answers, and force the stage, so that re-captioning asks again.
            conn.execute("DELETE FROM response_cache WHERE provider = 'fake'")
        before = fake.stats()["served_hangs"]
        fake.configure(hang=1, hang_s=PROVIDER_TIMEOUT_S + 2)
        launched = launch(deployed, "caption_video", video_id, **{FORCE_TAG: "true"})
        assert launched.returncode == 0, launched.stderr[-3000:]
        (run,) = wait_for_runs(
            deployed.instance,
            1,
            timeout_s=120,
            filters=dg.RunsFilter(job_name="caption_video"),
            daemon=deployed.daemon,
        )
        assert run.tags.get(FAKE_TAG) == "true"
        assert "vidmine/provider/local" not in run.tags  # a stage job names only its provider
        assert fake.stats()["served_hangs"] == before + 1
        with psycopg.connect(deployed.database_url) as conn:
            retried = conn.execute(
                "SELECT retries FROM provider_calls WHERE video_id = %s AND stage = 'vision'"
                " AND status = 'ok' AND retries > 0",
                (video_id,),
            ).fetchall()
        assert retried, "the hung request was not retried"
        assert deployed.store.stage_states(video_id)["frame_captions"].status == "succeeded"

    def test_the_api_key_is_nowhere(
        self, deployed: Deployment, fake: FakeOpenAI, first_wave: FirstWave
    ) -> None:
        assert fake.stats()["served_401"] == 0  # the key did reach the server
        for run in deployed.instance.get_runs():
            for record in deployed.instance.all_logs(run.run_id):
                assert DUMMY_KEY not in str(record), run.run_id
        assert DUMMY_KEY not in database_text(deployed.database_url)
        assert DUMMY_KEY not in deployed.daemon.output()
        assert DUMMY_KEY not in first_wave.launch_output
        needle = DUMMY_KEY.encode()
        assert not files_containing(deployed.dagster_home, needle)
        assert not files_containing(deployed.home, needle)


# --- limits and config -----------------------------------------------------------------------


@pytest.fixture
def limits_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "vidmine.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "providers": {"remote": {"base_url": "http://127.0.0.1:9/v1", "max_concurrent": 3}},
                # Vision goes to the remote provider only in one profile.
                "profiles": {
                    "standard_audio_visual": {},
                    "remote_vision": {"stages": {"vision": {"provider": "remote"}}},
                },
            }
        )
    )
    (tmp_path / "dagster").mkdir()
    return {
        "VIDMINE_HOME": str(tmp_path / "home"),
        "VIDMINE_CONFIG": str(config),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }


def vidmine_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    full = process_env(None, env)
    return subprocess.run(
        [str(BIN / "vidmine"), *args], env=full, capture_output=True, text=True, timeout=60
    )


def test_limits_apply_then_show_agree_for_every_stage_pool(limits_env: dict) -> None:
    applied = vidmine_cli(limits_env, "limits", "apply")
    assert applied.returncode == 0, applied.stderr
    shown = vidmine_cli(limits_env, "limits", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    pools = {p["pool"]: p for p in json.loads(shown.stdout)["pools"]}
    assert set(pools) == {
        "vidmine_transcribe",
        "vidmine_vision",
        "vidmine_embed",
        "vidmine_generate",
    }
    # A profile sends vision to the remote provider: the vision pool admits as many steps
    # as that provider allows, the others what the local provider allows.
    assert pools["vidmine_vision"]["configured"] == 3
    assert pools["vidmine_transcribe"]["configured"] == 2
    for pool in pools.values():
        assert pool["configured"] == pool["applied"], pool
    generated = yaml.safe_load((Path(limits_env["DAGSTER_HOME"]) / "dagster.yaml").read_text())
    tag_limits = generated["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": "vidmine/provider/remote", "value": "true", "limit": 3} in tag_limits


def test_run_tags_follow_the_profile_of_the_video(limits_env: dict) -> None:
    config = parse_config(yaml.safe_load(Path(limits_env["VIDMINE_CONFIG"]).read_text()), Path("x"))
    default = video_run_tags(config, "standard_audio_visual")
    moved = video_run_tags(config, "remote_vision")
    assert "vidmine/provider/remote" not in default
    assert moved["vidmine/provider/remote"] == "true"
    assert moved["vidmine/provider/local"] == "true"  # the other stages stay local


def test_stage_jobs_carry_their_provider_tag(
    limits_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in limits_env.items():
        monkeypatch.setenv(name, value)
    from pipeline_defs.definitions import build_definitions

    defs = build_definitions()
    tags = {
        name: defs.resolve_job_def(name).tags
        for name in ("process_video", "transcribe_video", "caption_video", "embed_video")
    }
    # A job launched from the UI may be for a video of any profile: it carries every
    # provider that some profile uses for its stages.
    assert tags["caption_video"].get("vidmine/provider/remote") == "true"
    assert tags["caption_video"].get("vidmine/provider/local") == "true"
    assert "vidmine/provider/remote" not in tags["transcribe_video"]
    assert tags["transcribe_video"].get("vidmine/provider/local") == "true"
    assert tags["embed_video"].get("vidmine/provider/local") == "true"
    assert {"vidmine/provider/remote", "vidmine/provider/local"} <= set(tags["process_video"])


BAD_CONFIGS = {
    "unknown provider": (
        {"stages": {"vision": {"provider": "nosuch"}}},
        ["stages.vision.provider", "nosuch"],
    ),
    "missing key variable": (
        {
            "providers": {"remote": {"base_url": "http://x/v1", "api_key_env": "VM_NO_SUCH_KEY"}},
            "stages": {"vision": {"provider": "remote"}},
        },
        ["providers.remote.api_key_env", "VM_NO_SUCH_KEY"],
    ),
    "wrong type": (
        {"providers": {"remote": {"max_concurrent": "lots"}}},
        ["providers.remote.max_concurrent"],
    ),
}


def test_bad_configs_fail_at_load_naming_the_key(tmp_path: Path) -> None:
    checks = []
    for label, (data, words) in BAD_CONFIGS.items():
        folder = tmp_path / label.replace(" ", "_")
        (folder / "dagster").mkdir(parents=True)
        config = folder / "vidmine.yaml"
        config.write_text(yaml.safe_dump(data))
        with pytest.raises(ConfigError) as caught:
            load_config(config)
        for word in words:
            assert word in str(caught.value), (label, str(caught.value))
        env = {
            "VIDMINE_HOME": str(folder / "home"),
            "VIDMINE_CONFIG": str(config),
            "VM_NO_SUCH_KEY": "",
        }
        # Loading the code location the way Dagster does, all three side by side.
        validate = subprocess.Popen(
            [str(BIN / "dagster"), "definitions", "validate", "-m", "pipeline_defs.definitions"],
            env=process_env(folder / "dagster", env),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        checks.append((label, words, validate))
    for label, words, validate in checks:
        output, _ = validate.communicate(timeout=120)
        assert validate.returncode != 0, (label, output[-2000:])
        for word in words:
            assert word in output, (label, output[-2000:])
