"""The upload-folder sensor, ticked by hand against a real Dagster instance, real
ffprobe and a real PostgreSQL: settling, keys, duplicates, rejections, outages."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
from sensor_helpers import RESOURCES, SENSOR, tick

from assets.partitions import VIDEO_PARTITIONS_NAME
from pipeline_defs.definitions import defs
from vidmine.db.store import Store
from vidmine.registration import register_upload
from vidmine.samples import SampleScene, make_sample_video
from vidmine.uploads import BULK_PRIORITY, INTERACTIVE_PRIORITY


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "tiny.mp4"
    return make_sample_video(
        out,
        (SampleScene("navy", "HELLO", "", 1.0), SampleScene("maroon", "WORLD", "", 1.0)),
        size="320x240",
    )


@pytest.fixture
def home(tmp_path: Path, database_env: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDMINE_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "uploads").mkdir(parents=True)
    return tmp_path / "home"


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def drop(home: Path, src: Path, name: str, *, age_s: float = 10.0) -> Path:
    """Copy a file into uploads/ with an mtime in the past (as if copied a while ago)."""
    target = home / "uploads" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    past = time.time() - age_s
    os.utime(target, (past, past))
    return target


def settle(instance: dg.DagsterInstance, cursor: str | None = None):
    """One tick: files dropped whole (their mtime in the past) are taken by the first tick
    that sees them, after its second look."""
    return tick(instance, cursor)


def test_empty_folder_skips_with_a_sentence(home: Path, instance) -> None:
    result = tick(instance, None)
    assert not result.run_requests
    assert "no new files" in result.skip_reason.skip_message


def test_a_settled_video_becomes_a_partition_and_one_run(
    home: Path, instance, tiny_video: Path, store_url: str
) -> None:
    drop(home, tiny_video, "My Talk – été.mp4")
    result = settle(instance)
    (request,) = result.run_requests
    key = request.partition_key
    assert key.startswith("my-talk-ete-") and len(key) == len("my-talk-ete-") + 10
    assert instance.has_dynamic_partition(VIDEO_PARTITIONS_NAME, key)
    assert request.tags["vidmine/provider/local"] == "true"
    assert request.tags["vidmine/profile"] == "standard_audio_visual"
    video = Store(store_url).get_video(key)
    assert video is not None and video.status == "registered"
    again = tick(instance, result.cursor)  # the cursor remembers it
    assert not again.run_requests


def test_same_content_twice_is_one_video_same_name_different_content_is_two(
    home: Path, instance, tiny_video: Path, tmp_path: Path
) -> None:
    drop(home, tiny_video, "a.mp4")
    drop(home, tiny_video, "copy of a.mp4")
    other = make_sample_video(
        tmp_path / "other.mp4", (SampleScene("black", "X", "", 1.0),), size="320x240"
    )
    drop(home, other, "standard_audio_visual/a.mp4")
    result = settle(instance)
    keys = sorted(r.partition_key for r in result.run_requests)
    assert len(keys) == 2, keys
    assert keys[0].startswith("a-") and keys[1].startswith("a-") and keys[0] != keys[1]


@dg.op
def dies() -> None:
    raise RuntimeError("worker gone")


@dg.job
def dying_job() -> None:
    dies()


def test_the_same_content_again_runs_again_only_when_its_last_run_failed(
    home: Path, instance, tiny_video: Path
) -> None:
    """Dagster's record decides: the partition's latest run failed (not the video row)."""
    drop(home, tiny_video, "a.mp4")
    first = settle(instance)
    (request,) = first.run_requests
    key = request.partition_key
    drop(home, tiny_video, "again.mp4")
    second = tick(instance, first.cursor)
    assert not second.run_requests  # not processed twice while its run stands
    dying_job.execute_in_process(
        instance=instance, tags={"dagster/partition": key}, raise_on_error=False
    )
    drop(home, tiny_video, "once more.mp4")
    third = tick(instance, second.cursor)
    assert [r.partition_key for r in third.run_requests] == [key]


def test_a_file_still_being_written_waits(home: Path, instance, tiny_video: Path) -> None:
    target = drop(home, tiny_video, "growing.mp4", age_s=0)
    first = tick(instance, None)
    with target.open("ab") as handle:
        handle.write(b"\0" * 1000)
    second = tick(instance, first.cursor)
    assert not second.run_requests
    assert "still being written" in second.skip_reason.skip_message


def test_bad_files_are_rejected_once_with_reasons_and_never_raise(
    home: Path, instance, tiny_video: Path, store_url: str, tmp_path: Path
) -> None:
    (home / "uploads" / "empty.mp4").write_bytes(b"")
    (home / "uploads" / "notes.txt").write_text("hello")
    (home / "uploads" / "fake video.mp4").write_text("this is text, not a video\n" * 50)
    data = tiny_video.read_bytes()
    (home / "uploads" / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (home / "uploads" / "nowhere").mkdir()
    (home / "uploads" / "nowhere" / "clip.mp4").write_bytes(data)
    for path in (home / "uploads").rglob("*"):
        if path.is_file():
            os.utime(path, (time.time() - 30, time.time() - 30))
    result = settle(instance)
    # What the tick can tell without reading the file is refused at once.
    rejections = {Path(r.path).name: r.reason for r in Store(store_url).list_rejections()}
    assert set(rejections) == {"empty.mp4", "notes.txt", "clip.mp4"}
    assert "empty" in rejections["empty.mp4"]
    assert "not a video" in rejections["notes.txt"]
    assert "not a profile folder" in rejections["clip.mp4"]
    # Files that need reading get their run; its first asset refuses them with a reason.
    runs = {r.partition_key: r for r in result.run_requests}
    assert len(runs) == 2
    for key in runs:
        outcome = dg.materialize(
            [defs.get_assets_def("source_video")],
            partition_key=key,
            instance=instance,
            resources=RESOURCES,
            raise_on_error=False,
        )
        assert not outcome.success
    rejections = {Path(r.path).name: r.reason for r in Store(store_url).list_rejections()}
    assert {"fake video.mp4", "truncated.mp4"} <= set(rejections)
    failed = {v.file_name: v for v in Store(store_url).list_videos()}
    assert failed["fake video.mp4"].status == "failed"
    assert "rejected fake video.mp4" in (failed["fake video.mp4"].error or "")
    third = tick(instance, result.cursor)  # not retried in a loop
    assert "no new files" in third.skip_reason.skip_message
    assert len(Store(store_url).list_rejections()) == 5


def test_the_same_content_under_two_names_fails_the_second_run(
    home: Path, instance, tiny_video: Path, store_url: str
) -> None:
    """Registration keys by a sampled fingerprint; the full hash in source_video is what
    judges duplicates, so content that differs only outside the samples is caught there."""
    store = Store(store_url)
    first = register_upload(store, drop(home, tiny_video, "first.mp4"), "standard_audio_visual")
    instance.add_dynamic_partitions(VIDEO_PARTITIONS_NAME, [first.video_id])
    assert dg.materialize(
        [defs.get_assets_def("source_video")],
        partition_key=first.video_id,
        instance=instance,
        resources=RESOURCES,
    ).success
    # The same bytes registered under another key (as an older vidmine keyed by sha256).
    twin = drop(home, tiny_video, "twin.mp4")
    store.register_video("twin-0000000000", file_name="twin.mp4", source_path=twin, size_bytes=1)
    instance.add_dynamic_partitions(VIDEO_PARTITIONS_NAME, ["twin-0000000000"])
    outcome = dg.materialize(
        [defs.get_assets_def("source_video")],
        partition_key="twin-0000000000",
        instance=instance,
        resources=RESOURCES,
        raise_on_error=False,
    )
    assert not outcome.success
    video = store.get_video("twin-0000000000")
    assert video is not None and video.status == "failed"
    assert f"same content as video {first.video_id}" in (video.error or "")


def test_a_multi_gigabyte_upload_is_taken_within_the_tick(
    home: Path, instance, store_url: str
) -> None:
    """The tick reads 3 MiB of a file whatever its size (Dagster times sensors out at
    60 s; hashing 4 GB took longer than that on slow disks)."""
    big = home / "uploads" / "long recording.mp4"
    with big.open("wb") as handle:
        handle.truncate(4 * 1024**3)  # sparse: 4 GiB without writing them
    past = time.time() - 30
    os.utime(big, (past, past))
    started = time.monotonic()
    result = settle(instance)
    took = time.monotonic() - started
    (request,) = result.run_requests
    assert request.partition_key.startswith("long-recording-")
    assert took < 30, f"two ticks took {took:.1f} s with a 4 GiB upload"


def test_the_cursor_stays_small_however_many_files_the_folder_keeps(
    home: Path, instance, tiny_video: Path
) -> None:
    data = tiny_video.read_bytes()
    for index in range(30):
        target = home / "uploads" / f"clip {index:02d}.mp4"
        target.write_bytes(data + index.to_bytes(4, "big"))  # distinct content each
        os.utime(target, (time.time() - 30, time.time() - 30))
    result = settle(instance)
    assert len(result.run_requests) == 30
    cursor = json.loads(result.cursor)
    assert cursor["taken"] == {} and cursor["seen"] == {}, cursor
    again = tick(instance, result.cursor)
    assert not again.run_requests
    # A file copied in later with an old mtime (cp -p, rsync -t) is still new to the sensor.
    late = home / "uploads" / "late arrival.mp4"
    late.write_bytes(data + b"late")
    os.utime(late, (time.time() - 3600, time.time() - 3600))
    (request,) = settle(instance, again.cursor).run_requests
    assert request.partition_key.startswith("late-arrival-")


def test_database_outage_postpones_without_raising(
    home: Path, instance, tiny_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    drop(home, tiny_video, "later.mp4")
    result = settle(instance)
    assert not result.run_requests
    assert str(home / "uploads" / "later.mp4") not in json.loads(result.cursor)["taken"]


def test_an_unusable_home_is_a_skip_not_a_crash(
    tmp_path: Path, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("VIDMINE_HOME", str(blocker))
    with dg.build_sensor_context(
        instance=instance, cursor=None, definitions=defs, resources=RESOURCES
    ) as context:
        result = SENSOR(context)
    assert isinstance(result, dg.SkipReason)
    assert "will retry" in result.skip_message


def _variant(src: Path, folder: Path, n: int) -> Path:
    """The same video with a few bytes after its end: another file, another video."""
    out = folder / f"variant-{n}.mp4"
    out.write_bytes(src.read_bytes() + f"variant {n}".encode())
    return out


def test_a_few_files_are_interactive_a_bulk_drop_and_backfill_wait_behind(
    home: Path, instance, tiny_video: Path, tmp_path: Path
) -> None:
    drop(home, tiny_video, "one.mp4")
    first = settle(instance)
    (single,) = first.run_requests
    assert single.tags["dagster/priority"] == str(INTERACTIVE_PRIORITY)

    for n in range(7):  # more than queue.bulk_files (5) arriving together
        drop(home, _variant(tiny_video, tmp_path, n), f"bulk {n}.mp4")
    bulk = settle(instance, first.cursor)
    assert len(bulk.run_requests) == 7
    assert {r.tags["dagster/priority"] for r in bulk.run_requests} == {str(BULK_PRIORITY)}

    drop(home, _variant(tiny_video, tmp_path, 10), "backfill/archive.mp4")
    drop(home, _variant(tiny_video, tmp_path, 11), "backfill/fast_audio_only/old talk.mp4")
    backfill = settle(instance, bulk.cursor)
    by_profile = {r.tags["vidmine/profile"]: r for r in backfill.run_requests}
    assert set(by_profile) == {"standard_audio_visual", "fast_audio_only"}
    assert {r.tags["dagster/priority"] for r in backfill.run_requests} == {str(BULK_PRIORITY)}
