"""``video_ready``: the video is ready once every stage it needs is done, by Dagster's
record: each such stage's latest attempt materialized (or was skipped by the profile).
Its materialization is what makes the video's status ``ready`` (``assets.stage_record``)."""

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from assets.stage_record import read_runs, stage_states
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.readiness import required_stages, stages_not_done
from vidmine.stages import code_version


@dg.asset(
    partitions_def=video_partitions,
    code_version=code_version("video_ready"),  # vidmine.stages: bump its revision there
    deps=["embeddings", "scenes", "keyframes"],
    group_name=GROUP_PIPELINE,
    kinds={"postgres"},
    owners=OWNERS,
)
def video_ready(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> dg.MaterializeResult:
    """Materializes when all stages the video's profile needs succeeded in Dagster's event
    log (stages the profile skips count as done); fails with the missing ones otherwise."""
    with stage_work(context, "video_ready", database, media, providers) as work:
        recorded = stage_states(read_runs(context.instance, work.video_id))
        states = {name: state.status for name, state in recorded.items()}
        missing = stages_not_done(states, work.profile)
        if missing:
            detail = ", ".join(f"{s}: {st}" for s, st in missing.items())
            raise dg.Failure(f"video {work.video_id} is not complete: {detail}")
        work.summary = {"required": list(required_stages(work.profile))}
        return dg.MaterializeResult(
            # What this asset makes is the status, and "ready" is "ready" however the
            # stages got there: the playback copy after it does not go stale with them.
            data_version=dg.DataVersion("ready"),
            metadata={
                "status": "ready",
                "profile": work.profile_name,
                "stages": dg.MetadataValue.md("\n".join(f"- {s}: {states.get(s)}" for s in states)),
            },
        )
