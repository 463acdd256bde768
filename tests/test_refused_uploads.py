"""A file that ``source_video`` refuses leaves no red partition across the graph: the
upload sensor ticked by hand and the runs it asks for executed in-process on a real
Dagster instance, real ffmpeg and PostgreSQL (the daemon's run of the same is in
test_daemon_pipeline.py).

A truncated upload dropped next to a good one: the rejection is recorded with its reason,
the good video is ready, and afterwards the instance has no partition for the refused
file, no asset of the graph shows it failed (asked as the UI asks, through Dagster's
GraphQL API: without the removal all 20 assets showed one failed partition), and its
failed run stays in the run history with its logs. Then what must keep its partition: the video a duplicate repeats, a video
that was good before its file went missing, a partition another run is queued for."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
from pipeline_helpers import partitions_shown_failed, ui_partition_stats
from sensor_helpers import RESOURCES, tick

from assets.partitions import VIDEO_PARTITIONS_NAME, video_partitions
from assets.tags import PARTITION_TAG
from local_runtime.ingest import ingest_file
from pipeline_defs.definitions import defs
from vidmine.config import load_config
from vidmine.db.store import Store
from vidmine.registration import register_upload
from vidmine.samples import SampleScene, make_sample_video

pytestmark = pytest.mark.slow

GRAPH_KEYS = sorted(defs.resolve_asset_graph().get_all_asset_keys())


def sample(folder: Path, name: str, colour: str) -> Path:
    return make_sample_video(
        folder / name, (SampleScene(colour, name.upper()[:6], "", 1.0),), size="320x240"
    )


def cut_short(source: Path, target: Path) -> Path:
    """The first two thirds of ``source``: a copy cut short. Its index is at the front
    (faststart), so it probes fine and only reading it through finds the end missing."""
    data = source.read_bytes()
    target.write_bytes(data[: len(data) * 2 // 3])
    return target


def drop(uploads: Path, source: Path, name: str) -> Path:
    target = uploads / name
    shutil.copyfile(source, target)
    past = time.time() - 30  # settled: copied in a while ago
    os.utime(target, (past, past))
    return target


def run(instance: dg.DagsterInstance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """The run the daemon would launch for ``request``, in this process."""
    return defs.resolve_job_def(request.job_name or "process_video").execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        tags=dict(request.tags),
        raise_on_error=False,
    )


def source_only(instance: dg.DagsterInstance, video_id: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [defs.get_assets_def("source_video")],
        partition_key=video_id,
        instance=instance,
        resources=RESOURCES,
        raise_on_error=False,
    )


def registered(store: Store, instance: dg.DagsterInstance, path: Path) -> str:
    """``path`` registered as the sensor registers an upload, with its partition."""
    video_id = register_upload(store, path, "standard_audio_visual").video_id
    instance.add_dynamic_partitions(VIDEO_PARTITIONS_NAME, [video_id])
    return video_id


@pytest.fixture
def uploads(pipeline_env: dict) -> Path:
    folder = pipeline_env["home"] / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    for item in folder.iterdir():
        if item.is_file():
            item.unlink()
    return folder


@pytest.fixture
def instance():
    """A Dagster instance of the test's own (the module shares the database)."""
    with dg.instance_for_test() as inst:
        yield inst


def test_a_truncated_upload_beside_a_good_one_leaves_no_failed_partition(
    pipeline_env: dict, uploads: Path, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    store: Store = pipeline_env["store"]
    good = sample(tmp_path, "harbour.mp4", "navy")
    whole = sample(tmp_path, "lecture.mp4", "maroon")
    truncated = cut_short(whole, tmp_path / "lecture cut.mp4")
    drop(uploads, good, "harbour.mp4")
    drop(uploads, truncated, "lecture.mp4")

    first = tick(instance, None)
    requests = {r.partition_key: r for r in first.run_requests}
    assert len(requests) == 2 and set(instance.get_dynamic_partitions("videos")) == set(requests)
    results = {key: run(instance, request) for key, request in requests.items()}
    by_name = {store.get_video(key).file_name: key for key in requests}
    good_key, refused_key = by_name["harbour.mp4"], by_name["lecture.mp4"]

    # The good video is ready; the truncated one is recorded as rejected with its reason.
    assert results[good_key].success
    assert store.get_video(good_key).status == "ready"
    assert not results[refused_key].success
    (rejection,) = [r for r in store.list_rejections() if r.path.endswith("lecture.mp4")]
    assert "is incomplete" in rejection.reason and "copy the file again" in rejection.reason
    refused = store.get_video(refused_key)
    assert refused.status == "failed" and "rejected lecture.mp4" in (refused.error or "")

    # Dagster: no partition for the refused file, no asset shows it failed, the good one
    # is materialized all through, and the failed run and its logs are still there.
    assert instance.get_dynamic_partitions(VIDEO_PARTITIONS_NAME) == [good_key]
    shown = ui_partition_stats(instance)  # what the UI's asset pages read
    assert len(shown) == len(GRAPH_KEYS)
    for asset, stats in shown.items():
        assert stats["numFailed"] == 0 and stats["numPartitions"] == 1, (asset, stats)
    assert shown["video_ready"]["numMaterialized"] == 1
    for key in GRAPH_KEYS:
        statuses = instance.get_status_by_partition(key, [good_key, refused_key], video_partitions)
        assert statuses[refused_key] is None, key
    assert (
        instance.get_status_by_partition(dg.AssetKey("video_ready"), [good_key], video_partitions)[
            good_key
        ]
        == dg.AssetPartitionStatus.MATERIALIZED
    )
    (failed_run,) = instance.get_runs(filters=dg.RunsFilter(tags={PARTITION_TAG: refused_key}))
    assert failed_run.status == dg.DagsterRunStatus.FAILURE
    logs = [e.message or "" for e in instance.all_logs(failed_run.run_id)]
    assert any(f"removed partition {refused_key}" in m for m in logs), logs
    failure = next(
        e
        for e in instance.all_logs(failed_run.run_id)
        if e.is_dagster_event and e.dagster_event.is_step_failure
    )
    user_failure = failure.dagster_event.step_failure_data.user_failure_data
    assert "is incomplete" in user_failure.metadata["refused_reason"].value

    # The sensor goes on quietly: the refused file is not taken again as it is.
    again = tick(instance, first.cursor)
    assert not again.run_requests and not again.dynamic_partitions_requests

    # The complete file under the same name: another key, a partition of its own, read.
    drop(uploads, whole, "lecture.mp4")
    (request,) = tick(instance, again.cursor).run_requests
    assert request.partition_key != refused_key and request.partition_key.startswith("lecture-")
    assert instance.has_dynamic_partition(VIDEO_PARTITIONS_NAME, request.partition_key)
    assert source_only(instance, request.partition_key).success
    assert partitions_shown_failed(instance) == {}


def test_a_duplicate_loses_its_partition_and_the_video_it_repeats_keeps_its_own(
    pipeline_env: dict, uploads: Path, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    store: Store = pipeline_env["store"]
    original = drop(uploads, sample(tmp_path, "dup.mp4", "teal"), "dup original.mp4")
    first = registered(store, instance, original)
    assert source_only(instance, first).success
    # The same bytes under another key (as an older vidmine keyed them): only the full
    # hash in source_video tells.
    twin = drop(uploads, original, "dup twin.mp4")
    store.register_video("dup-twin-0000000000", file_name=twin.name, source_path=twin, size_bytes=1)
    instance.add_dynamic_partitions(VIDEO_PARTITIONS_NAME, ["dup-twin-0000000000"])
    result = source_only(instance, "dup-twin-0000000000")
    assert not result.success
    reasons = [r.reason for r in store.list_rejections() if r.path == str(twin)]
    assert reasons and f"same content as video {first}" in reasons[0]
    assert instance.get_dynamic_partitions(VIDEO_PARTITIONS_NAME) == [first]
    status = instance.get_status_by_partition(
        dg.AssetKey("source_video"), [first], video_partitions
    )
    assert status[first] == dg.AssetPartitionStatus.MATERIALIZED
    assert partitions_shown_failed(instance) == {}


def test_a_video_that_was_good_keeps_its_partition_when_its_file_goes(
    pipeline_env: dict, uploads: Path, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    store: Store = pipeline_env["store"]
    path = drop(uploads, sample(tmp_path, "gone.mp4", "olive"), "gone.mp4")
    video_id = registered(store, instance, path)
    assert source_only(instance, video_id).success
    path.unlink()
    result = source_only(instance, video_id)
    assert not result.success
    # Its lineage is the record of a real video: the partition stays, and says why.
    assert instance.has_dynamic_partition(VIDEO_PARTITIONS_NAME, video_id)
    logs = [e.message or "" for e in instance.all_logs(result.run_id)]
    assert any("source_video was materialized for it before" in m for m in logs), logs


def test_a_partition_another_run_is_working_on_is_kept(
    pipeline_env: dict, uploads: Path, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    store: Store = pipeline_env["store"]
    bad = uploads / "queued twice.mp4"
    cut_short(sample(tmp_path, "queued.mp4", "purple"), bad)
    video_id = registered(store, instance, bad)
    # The same file launched again by hand, already started.
    waiting = instance.add_run(
        dg.DagsterRun(
            job_name="process_video",
            run_id="0" * 8 + "-another-run",
            status=dg.DagsterRunStatus.STARTED,
            tags={PARTITION_TAG: video_id},
        )
    )
    result = source_only(instance, video_id)
    assert not result.success
    assert instance.has_dynamic_partition(VIDEO_PARTITIONS_NAME, video_id)
    logs = [e.message or "" for e in instance.all_logs(result.run_id)]
    assert any(f"run {waiting.run_id[:8]} is STARTED" in m for m in logs), logs
    # Once that run is over, the next refusal removes it.
    instance.report_run_failed(waiting)
    assert not source_only(instance, video_id).success
    assert not instance.has_dynamic_partition(VIDEO_PARTITIONS_NAME, video_id)


def test_ingest_reports_a_refused_file_as_rejected_and_leaves_no_partition(
    pipeline_env: dict, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    truncated = cut_short(sample(tmp_path, "ingested.mp4", "black"), tmp_path / "cut.mp4")
    outcome = ingest_file(truncated, "standard_audio_visual", load_config(), instance)
    assert outcome.status == "rejected" and "is incomplete" in (outcome.error or "")
    assert outcome.video_id and outcome.video_id.startswith("cut-")
    assert not instance.has_dynamic_partition(VIDEO_PARTITIONS_NAME, outcome.video_id)
    assert partitions_shown_failed(instance) == {}
    (failed_run,) = instance.get_runs(filters=dg.RunsFilter(tags={PARTITION_TAG: outcome.video_id}))
    assert failed_run.status == dg.DagsterRunStatus.FAILURE
