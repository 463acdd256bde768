"""The stage registry (vidmine/stages.py) and the definitions agree: every asset belongs
to one stage and carries the registry's code version, the per-stage jobs select the
registry's assets, and readiness asks for the stages the profile needs."""

from __future__ import annotations

import dagster as dg

from pipeline_defs.definitions import defs
from pipeline_defs.jobs import STAGE_JOBS
from vidmine.config import load_config
from vidmine.content.kinds import CONTENT_TYPES
from vidmine.readiness import AUDIO_STAGES, PIPELINE_STAGES
from vidmine.stages import STAGE_OF_ASSET, code_version, required_stages


def test_every_asset_is_a_stage_with_the_registry_code_version() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == set(STAGE_OF_ASSET)
    for key in keys:
        assets_def = defs.get_assets_def(dg.AssetKey(key))
        assert assets_def.code_versions_by_key[dg.AssetKey(key)] == code_version(key), key


def test_content_reads_the_brief_only() -> None:
    graph = defs.resolve_asset_graph()
    for content_type in CONTENT_TYPES:
        parents = graph.get(dg.AssetKey(content_type)).parent_keys
        assert parents == {dg.AssetKey("video_brief")}, content_type


def test_stage_jobs_select_the_registry_assets() -> None:
    assert STAGE_JOBS["write_content"] == (("video_brief", *CONTENT_TYPES), ("generate",))
    assert STAGE_JOBS["transcribe_video"] == (("transcript",), ("transcribe",))
    for name, (selection, _) in STAGE_JOBS.items():
        job = defs.resolve_job_def(name)
        selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
        assert selected == set(selection), name


def test_readiness_needs_the_visual_stages_only_on_visual_profiles() -> None:
    config = load_config()
    assert required_stages(config.profile("standard_audio_visual")) == PIPELINE_STAGES
    assert required_stages(config.profile("fast_audio_only")) == AUDIO_STAGES
    assert "audio_wav" in AUDIO_STAGES and "decode" not in PIPELINE_STAGES


def test_a_stage_whose_planned_events_are_missing_counts_where_its_step_ran():
    """A run's planned-materialization events can be incomplete (a crash drill's retry run
    had 3 of its 21, the daemon stopped while writing them): the stage's step starting and
    its asset materializing in that run still make the stage's state."""
    from types import SimpleNamespace

    import dagster as dg

    from assets.stage_record import RunEvents, stage_states

    def materialization(key: str, at: float) -> SimpleNamespace:
        made = SimpleNamespace(metadata={"segments": dg.IntMetadataValue(3)})
        event = SimpleNamespace(step_materialization_data=SimpleNamespace(materialization=made))
        return SimpleNamespace(dagster_event=event, timestamp=at)

    crashed = RunEvents("crashed", dg.DagsterRunStatus.FAILURE, failure="worker gone")
    crashed.planned = {"transcript": "transcript", "keyframes": "keyframes"}
    crashed.started = {"keyframes": 10.0}
    retry = RunEvents("retry", dg.DagsterRunStatus.STARTED)
    retry.planned = {"title_set": "video_content"}  # the rest never written
    retry.started = {"transcript": 20.0, "keyframes": 22.0}
    retry.succeeded = {"transcript": 21.0, "keyframes": 23.0}
    retry.materialized = {
        "transcript": materialization("transcript", 21.0),
        "keyframes": materialization("keyframes", 23.0),
    }
    states = stage_states([crashed, retry])
    assert states["transcript"].status == "succeeded"
    assert states["transcript"].metadata["segments"] == 3
    assert states["keyframes"].status == "succeeded"  # not the crashed run's failure
    assert states["keyframes"].seconds == 1.0


def test_a_retry_whose_planned_events_are_missing_still_makes_the_video_ready():
    """The retry Dagster made just before a power cut had only some of its planned
    events: what it was created to do (its job, its steps) stands for the rest, so the
    video shows processing while it runs and ready once its ``video_ready`` materialized,
    not the crashed run's failure."""
    from types import SimpleNamespace

    import dagster as dg

    from assets.stage_record import RunEvents, fill_planned, stage_states, video_status

    def materialization(at: float) -> SimpleNamespace:
        made = SimpleNamespace(metadata={"status": dg.TextMetadataValue("ready")})
        event = SimpleNamespace(step_materialization_data=SimpleNamespace(materialization=made))
        return SimpleNamespace(dagster_event=event, timestamp=at)

    plan = {"transcript": "transcript", "embeddings": "embeddings", "video_ready": "video_ready"}
    crashed = RunEvents(
        "crashed", dg.DagsterRunStatus.FAILURE, failure="worker gone", job_name="process_video"
    )
    crashed.planned = dict(plan)
    crashed.started = {"transcript": 10.0}
    retry = RunEvents(
        "retry",
        dg.DagsterRunStatus.STARTED,
        job_name="process_video",
        step_keys=frozenset({"transcript", "embeddings", "video_ready"}),
    )
    retry.planned = {"transcript": "transcript"}  # the rest never written
    runs = [crashed, retry]
    fill_planned(runs)
    assert retry.planned == plan
    assert video_status(stage_states(runs), runs) == ("processing", None)

    retry.status = dg.DagsterRunStatus.SUCCESS
    for at, step in enumerate(plan, start=20):
        retry.started[step], retry.succeeded[step] = float(at), at + 0.5
        retry.materialized[step] = materialization(at + 0.5)
    assert video_status(stage_states(runs), runs) == ("ready", None)
