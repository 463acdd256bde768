"""Storage: the embedded server's life cycle, migrations, and every Store method."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psutil
import psycopg
import pytest
from db_helpers import row_counts
from psycopg import sql

from vidmine.db.connection import (
    DatabaseConfigError,
    database_url,
    normalize_url,
    stop_embedded,
    with_database,
)
from vidmine.db.migrate import available_migrations, migrate, pending_migrations
from vidmine.db.models import SearchItem, StageState, VideoNotFoundError
from vidmine.db.search_index import search_statement, vector_index_name
from vidmine.db.store import Store
from vidmine.models import (
    FrameCaption,
    Keyframe,
    OcrText,
    ProbeResult,
    Scene,
    TranscriptSegment,
)
from vidmine.providers.base import CallRecord
from vidmine.search import search
from vidmine.settings import VidmineHome

REPO = Path(__file__).resolve().parents[1]


def register(store: Store, video_id: str = "vid1", **overrides: object) -> None:
    fields = {
        "file_name": f"{video_id}.mp4",
        "source_path": f"/uploads/{video_id}.mp4",
        "sha256": "ab" * 32,
        "size_bytes": 1234,
        "profile": "default",
    }
    fields.update(overrides)
    store.register_video(video_id, **fields)


# --- connection URLs ---------------------------------------------------------------------


def test_database_url_forms_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    home = VidmineHome(Path("/nonexistent"))
    for given in (
        "postgres://u:p@db:5432/vm",
        "postgresql+psycopg2://u:p@db:5432/vm",
        "postgresql://u:p@db:5432/vm",
    ):
        monkeypatch.setenv("DATABASE_URL", given)
        assert database_url(home) == "postgresql://u:p@db:5432/vm"
    monkeypatch.setenv("DATABASE_URL", "mysql://u@db/vm")
    with pytest.raises(DatabaseConfigError, match="DATABASE_URL"):
        database_url(home)
    assert with_database("postgresql://u@/postgres?host=/tmp/x", "other") == (
        "postgresql://u@/other?host=/tmp/x"
    )
    assert normalize_url("postgres://h/db") == "postgresql://h/db"


def test_database_env_fixture(database_env: str) -> None:
    assert database_url(VidmineHome(Path("/nonexistent"))) == database_env
    assert Store(database_url(VidmineHome(Path("/nonexistent")))).list_videos() == []


# --- embedded server -----------------------------------------------------------------------


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def test_embedded_server_is_shared_survives_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long folder name pushes the socket path past the unix limit (about 107 bytes).
    home = VidmineHome(tmp_path / ("a_rather_long_folder_name_" * 4) / "home")
    assert len(str(home.pg_data / ".s.PGSQL.5432")) > 107
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    script = (
        "import sys; from pathlib import Path;"
        "from vidmine.db.connection import database_url;"
        "from vidmine.settings import VidmineHome;"
        "print(database_url(VidmineHome(Path(sys.argv[1]))))"
    )
    socket_dir: Path | None = None
    try:
        # Two processes start it at once; both get the one server, which outlives them.
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(home.root)],
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [proc.communicate(timeout=120) for proc in procs]
        for proc, (_, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
        urls = {out.strip() for out, _ in outputs}
        assert len(urls) == 1
        url = urls.pop()
        socket_dir = Path(url.split("host=")[1])
        assert not socket_dir.is_relative_to(home.root)  # the socket went to a shorter folder
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

        # A crash, then the pid recorded in postmaster.pid given to another process.
        pid = _postmaster_pid(home.pg_data)
        os.kill(pid, signal.SIGKILL)
        psutil.wait_procs([psutil.Process(pid)], timeout=10)
        impostor = subprocess.Popen(["sleep", "60"])
        try:
            lines = (home.pg_data / "postmaster.pid").read_text().splitlines()
            lines[0] = str(impostor.pid)
            (home.pg_data / "postmaster.pid").write_text("\n".join(lines) + "\n")
            monkeypatch.delenv("DATABASE_URL", raising=False)
            recovered = database_url(home)
            with psycopg.connect(recovered) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            assert _postmaster_pid(home.pg_data) != impostor.pid
        finally:
            impostor.kill()
            impostor.wait()
        # The socket deleted under a running server (a /tmp cleaner): it is restarted.
        (socket,) = Path(recovered.split("host=")[1]).glob(".s.PGSQL.*[0-9]")
        socket.unlink()
        with psycopg.connect(database_url(home)) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        new_pid = _postmaster_pid(home.pg_data)
    finally:
        stopped = stop_embedded(home)
        if socket_dir is not None:
            shutil.rmtree(socket_dir, ignore_errors=True)
    assert stopped
    assert not (home.pg_data / "postmaster.pid").exists()
    assert not _is_running(new_pid)
    assert not stop_embedded(home)  # stopping again is a no-op


def _is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --- migrations ----------------------------------------------------------------------------


@pytest.fixture
def empty_db_url(pg_url: str) -> Iterator[str]:
    name = f"vidmine_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield with_database(pg_url, name)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_migrate_is_idempotent(empty_db_url: str) -> None:
    names = [migration.name for migration in available_migrations()]
    assert names[0] == "0001_initial"
    assert pending_migrations(empty_db_url) == names
    assert migrate(empty_db_url) == names
    assert migrate(empty_db_url) == []
    assert pending_migrations(empty_db_url) == []


def test_concurrent_migrations_apply_once(empty_db_url: str) -> None:
    barrier = threading.Barrier(3)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(migrate(empty_db_url))
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(results, key=len) == [[], [], [m.name for m in available_migrations()]]
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (
            len(available_migrations()),
        )


# --- videos, rejections, stages ----------------------------------------------------------------


def test_register_video_never_clobbers(store: Store) -> None:
    assert store.register_video(
        "vid1",
        file_name="talk.mp4",
        source_path=Path("/up/talk.mp4"),
        sha256="ff" * 32,
        size_bytes=10,
        profile="default",
    )
    store.set_video_status("vid1", "ready")
    assert not store.register_video(
        "vid1", file_name="x.mp4", source_path="/x", sha256="00", size_bytes=1, profile="p"
    )
    video = store.get_video("vid1")
    assert video is not None
    assert (video.file_name, video.status, video.profile) == ("talk.mp4", "ready", "default")
    assert store.find_video_by_sha256("ff" * 32) == video
    assert store.find_video_by_sha256("12") is None
    assert store.get_video("nope") is None

    store.set_video_status("vid1", "failed", error="ffmpeg: no streams")
    store.set_video_profile("vid1", "lecture")
    video = store.get_video("vid1")
    assert (video.status, video.error, video.profile) == (
        "failed",
        "ffmpeg: no streams",
        "lecture",
    )
    assert video.updated_at >= video.created_at
    register(store, "vid2")
    assert [v.video_id for v in store.list_videos()] == ["vid1", "vid2"]
    assert [v.video_id for v in store.list_videos(status="registered")] == ["vid2"]
    with pytest.raises(ValueError, match="status"):
        store.set_video_status("vid1", "done")
    with pytest.raises(VideoNotFoundError, match="ghost"):
        store.set_video_status("ghost", "ready")


def test_update_probe(store: Store) -> None:
    register(store)
    probe = ProbeResult(
        path=Path("/up/vid1.mp4"),
        format_name="mov,mp4",
        duration_s=12.5,
        size_bytes=1234,
        has_video=True,
        has_audio=False,
        width=720,
        height=1280,
        fps=29.97,
        rotation=90,
        video_codec="h264",
        raw={"streams": [{"codec_name": "h264"}]},
    )
    store.update_probe("vid1", probe)
    video = store.get_video("vid1")
    assert (video.duration_s, video.width, video.height, video.rotation) == (12.5, 720, 1280, 90)
    assert (video.has_video, video.has_audio, video.video_codec, video.audio_codec) == (
        True,
        False,
        "h264",
        None,
    )
    assert video.probe["raw"]["streams"][0]["codec_name"] == "h264"
    assert video.probe["path"] == "/up/vid1.mp4"


def test_rejections(store: Store) -> None:
    store.record_rejection("/up/bad.mp4", 10, 1.5, "not a video")
    store.record_rejection("/up/bad.mp4", 10, 1.5, "still not a video")
    store.record_rejection("/up/bad.mp4", 11, 2.5, "truncated")
    rejections = store.list_rejections()
    assert [(r.size_bytes, r.reason) for r in rejections] == [
        (10, "still not a video"),
        (11, "truncated"),
    ]


def test_stage_states_are_replaced_whole(store: Store) -> None:
    register(store)
    started = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
    running = StageState("transcript", "running", started, None, None, None, {})
    store.replace_stage_states("vid1", [running])
    state = store.stage_states("vid1")["transcript"]
    assert state.status == "running" and state.finished_at is None
    done = StageState(
        "transcript", "succeeded", started, started, 2.5, None, {"wav": Path("/m/a.wav")}
    )
    failed = StageState("ocr_text", "failed", started, started, 0.5, "tesseract missing", {})
    store.replace_stage_states("vid1", [done, failed])
    states = store.stage_states("vid1")
    assert states["transcript"].status == "succeeded" and states["transcript"].seconds == 2.5
    assert states["transcript"].metadata == {"wav": "/m/a.wav"}
    assert states["ocr_text"].error == "tesseract missing"
    store.replace_stage_states("vid1", [done])
    assert set(store.stage_states("vid1")) == {"transcript"}  # the old rows are gone
    with pytest.raises(ValueError, match="stage status"):
        store.replace_stage_states("vid1", [dataclasses.replace(done, status="ok")])
    assert set(store.stage_states("vid1")) == {"transcript"}  # nothing half-written
    with pytest.raises(VideoNotFoundError, match="ghost"):
        store.replace_stage_states("ghost", [done])


# --- derived rows ----------------------------------------------------------------------------


def sample_rows(
    n: int = 3,
) -> tuple[list[TranscriptSegment], list[Scene], list[Keyframe], list[OcrText], list[FrameCaption]]:
    segments = [TranscriptSegment(i, i * 2.0, i * 2.0 + 2, f"words {i}") for i in range(n)]
    scenes = [Scene(i, i * 5.0, i * 5.0 + 5, i * 150, i * 150 + 150) for i in range(n)]
    keyframes = [
        Keyframe(i, i, i * 5.0 + 1, Path(f"/m/vid1/frame_{i:03d}.jpg"), f"{i:016x}", 640, 360)
        for i in range(n)
    ]
    ocr = [
        OcrText(i, i * 3.0, i * 3.0 + 3, f"SLIDE {i}", 91.5, Path(f"/m/o{i}.png")) for i in range(n)
    ]
    captions = [
        FrameCaption(i, f"a frame {i}", ["person", f"thing {i}"], f"SLIDE {i}", "local", "d", True)
        for i in range(n)
    ]
    return segments, scenes, keyframes, ocr, captions


def test_replace_rows_replaces(store: Store) -> None:
    register(store)
    register(store, "other")
    segments, scenes, keyframes, ocr, captions = sample_rows()
    for _ in range(2):  # a re-run writes the same rows, never duplicates
        store.replace_transcript("vid1", segments)
        store.replace_scenes("vid1", scenes)
        store.replace_keyframes("vid1", keyframes)
        store.replace_ocr_texts("vid1", ocr)
        store.replace_captions("vid1", captions)
    store.replace_transcript("other", segments[:1])
    assert store.load_transcript("vid1") == segments
    assert store.load_scenes("vid1") == scenes
    assert store.load_keyframes("vid1") == keyframes
    assert store.load_ocr_texts("vid1") == ocr
    assert store.load_captions("vid1") == captions
    counts = row_counts(store, "vid1")
    assert counts["transcript_segments"] == counts["frame_captions"] == 3

    fewer = sample_rows(1)
    store.replace_transcript("vid1", fewer[0])
    store.replace_scenes("vid1", [])
    assert store.load_transcript("vid1") == fewer[0]
    assert store.load_scenes("vid1") == []
    assert store.load_transcript("other") == segments[:1]  # other videos untouched
    with pytest.raises(VideoNotFoundError, match="ghost"):
        store.replace_transcript("ghost", segments)


def test_failed_replace_keeps_previous_rows(store: Store) -> None:
    register(store)
    segments, *_ = sample_rows()
    store.replace_transcript("vid1", segments)
    clash = [TranscriptSegment(0, 0, 1, "new"), TranscriptSegment(0, 1, 2, "same index")]
    with pytest.raises(psycopg.errors.UniqueViolation):
        store.replace_transcript("vid1", clash)
    nul = [TranscriptSegment(0, 0, 1, "ok"), TranscriptSegment(1, 1, 2, "bad \x00 byte")]
    with pytest.raises(psycopg.DataError):  # text cannot hold NUL
        store.replace_transcript("vid1", nul)
    assert store.load_transcript("vid1") == segments

    items = [SearchItem("vid1_segment_000", "segment", "vid1_segment_000", 0, 2, "hi", [0.1] * 4)]
    store.replace_search_items("vid1", items, "m", 4)
    wrong = [SearchItem("vid1_segment_001", "segment", "x", 0, 2, "hi", [0.1] * 5)]
    with pytest.raises(ValueError, match="vid1_segment_001"):
        store.replace_search_items("vid1", wrong, "m", 4)
    assert [i.item_id for i in store.load_search_items("vid1")] == ["vid1_segment_000"]


def test_provider_calls_cache_and_content(store: Store) -> None:
    register(store)
    calls = [
        CallRecord("vision", "openai", "gpt-4o", "ok", 800, 1, 1000, 200),
        CallRecord("vision", "openai", "gpt-4o", "cached", 1, cached=True),
        CallRecord("vision", "openai", "gpt-4o", "error", 50, 5, error="429"),
        CallRecord("transcribe", "local", "tiny.en", "ok", 900, audio_seconds=61.5),
    ]

    def price(call: CallRecord) -> float | None:
        if call.provider != "openai" or call.cached:
            return None
        return call.input_tokens * 2.5e-6 + call.output_tokens * 1e-5

    store.record_provider_calls("vid1", calls, cost_fn=price)
    store.record_provider_calls("vid2", calls[:1])  # calls need no registered video
    summary = store.provider_call_summary("vid1")
    vision = next(row for row in summary["by_stage"] if row["stage"] == "vision")
    assert (vision["calls"], vision["errors"], vision["cached"], vision["retries"]) == (3, 1, 1, 6)
    assert (vision["input_tokens"], vision["output_tokens"]) == (1000, 200)
    assert vision["cost_usd"] == pytest.approx(0.0045)
    assert summary["total"]["audio_seconds"] == pytest.approx(61.5)
    assert summary["total"]["unpriced_calls"] == 1  # the local call
    assert store.provider_call_summary()["total"]["calls"] == 5
    json.dumps(summary)  # ready for the CLI's --json

    assert store.cache_get("k1") is None
    store.cache_put("k1", "openai", "gpt-4o", {"caption": "a cat"})
    store.cache_put("k1", "openai", "gpt-4o", {"caption": "a dog"})
    assert store.cache_get("k1") == {"caption": "a dog"}

    store.replace_content("vid1", "summary", {"text": "v1"}, "# v1", "local", "extractive", True)
    store.replace_content("vid1", "summary", {"text": "v2"}, "# v2", "openai", "gpt-4o", False)
    store.replace_content("vid1", "chapters", {"chapters": []}, "", "openai", "gpt-4o", False)
    content = store.load_content("vid1")
    assert [c.content_type for c in content] == ["chapters", "summary"]
    (summary_record,) = store.load_content("vid1", "summary")
    assert (summary_record.body, summary_record.markdown, summary_record.extractive) == (
        {"text": "v2"},
        "# v2",
        False,
    )
    with pytest.raises(VideoNotFoundError):
        store.replace_content("ghost", "summary", {}, "", "local", "x", True)


# --- vectors of different dimensions -------------------------------------------------------


def _random_items(video_id: str, n: int, dim: int, seed: int) -> list[SearchItem]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    return [
        SearchItem(
            f"{video_id}_segment_{i:03d}",
            "segment",
            f"{video_id}_segment_{i:03d}",
            float(i),
            float(i + 1),
            f"item {i} of {video_id}",
            vectors[i],
        )
        for i in range(n)
    ]


def _plan(store: Store, embedding: np.ndarray, dim: int, model: str, video_id: str | None) -> str:
    statement, params = search_statement(
        "", embedding, model=model, dim=dim, video_id=video_id, mode="vector"
    )
    with store.connection() as conn:
        # With a few hundred rows a sequential scan is cheaper; what matters here is that
        # the query's expression matches the index, i.e. that the planner *can* use it.
        conn.execute("SET LOCAL enable_seqscan = off")
        rows = conn.execute(sql.SQL("EXPLAIN ") + statement, params).fetchall()
    return "\n".join(row[0] for row in rows)


def test_embeddings_of_two_dimensions_coexist(store: Store) -> None:
    register(store, "small")
    register(store, "large")
    small = _random_items("small", 150, 384, seed=1)
    large = _random_items("large", 150, 1536, seed=2)
    store.replace_search_items("small", small, "minilm", 384)
    store.replace_search_items("large", large, "openai-small", 1536)
    with store.connection() as conn:
        conn.execute("ANALYZE search_items")
        indexes = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes")}
    assert {vector_index_name(384), vector_index_name(1536)} <= indexes

    for items, dim, model in ((small, 384, "minilm"), (large, 1536, "openai-small")):
        target = items[123]
        hits = search(store, "", list(target.embedding), model=model, dim=dim, mode="vector")
        assert hits[0].item_id == target.item_id
        assert {hit.video_id for hit in hits} == {target.item_id.split("_")[0]}
        embedding = np.asarray(target.embedding)
        assert vector_index_name(dim) in _plan(store, embedding, dim, model, None)
        assert vector_index_name(dim) not in _plan(store, embedding, dim, model, "small")
        # Within one video the ranking is exact and still finds it.
        (hit, *_) = search(
            store, "", target.embedding, model=model, dim=dim, video_id=hits[0].video_id
        )
        assert hit.item_id == target.item_id
    stored = store.load_search_items("large", with_embeddings=True)
    assert len(stored) == len(large)
    assert stored[0].embedding == pytest.approx(list(large[0].embedding))
    assert store.load_search_items("large")[0].embedding is None
    # A model's query never sees another model's vectors, even of the same dimension.
    assert search(store, "", small[0].embedding, model="other", dim=384, mode="vector") == []
