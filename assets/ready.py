"""``video_ready``: the video's status becomes ``ready`` once every stage it needs is done."""

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
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
    """Marks the video ``ready`` when all stages its profile needs succeeded (stages the
    profile skips count as done), ``failed`` with the reason otherwise."""
    with stage_work(context, "video_ready", database, media, providers) as work:
        states = {s: st.status for s, st in work.store.stage_states(work.video_id).items()}
        missing = stages_not_done(states, work.profile)
        if missing:
            detail = ", ".join(f"{s}: {st}" for s, st in missing.items())
            raise dg.Failure(f"video {work.video_id} is not complete: {detail}")
        work.store.set_video_status(work.video_id, "ready")
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
