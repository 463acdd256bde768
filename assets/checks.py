"""Asset checks: what must hold of a stage's rows, shown in the UI's Checks tab for each
video. The embeddings check blocks: a video whose vectors are wrong must not be marked
ready. The others warn. The checks themselves are plain functions in vidmine.quality."""

import warnings

import dagster as dg

from assets.partitions import video_partitions
from resources import AIProviders, VidmineDatabase
from vidmine.quality import embedding_problems, keyframe_problems, transcript_problems

# Partitioned asset checks are a preview in Dagster 1.13 (2026-11-27); we use them on
# purpose, so the warning would only be noise in every process that loads the code.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)


def _result(problems: list[str], **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            **metadata,
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        },
    )


@dg.asset_check(asset="transcript", partitions_def=video_partitions)
def transcript_within_the_audio(
    context: dg.AssetCheckExecutionContext, database: VidmineDatabase
) -> dg.AssetCheckResult:
    """Segments run forward, each ends after it starts, and none ends after the audio."""
    store = database.store()
    video = store.get_video(context.partition_key)
    segments = store.load_transcript(context.partition_key)
    duration = video.duration_s if video else None
    return _result(transcript_problems(segments, duration), segments=len(segments))


@dg.asset_check(asset="keyframes", partitions_def=video_partitions)
def keyframes_inside_their_scenes(
    context: dg.AssetCheckExecutionContext, database: VidmineDatabase
) -> dg.AssetCheckResult:
    """Each keyframe's time lies inside the scene it stands for."""
    store = database.store()
    scenes = store.load_scenes(context.partition_key)
    keyframes = store.load_keyframes(context.partition_key)
    return _result(keyframe_problems(scenes, keyframes), keyframes=len(keyframes))


@dg.asset_check(asset="embeddings", partitions_def=video_partitions, blocking=True)
def embeddings_have_the_configured_dimension(
    context: dg.AssetCheckExecutionContext, database: VidmineDatabase, providers: AIProviders
) -> dg.AssetCheckResult:
    """Every searchable text has a vector of the dimension the profile's embedder makes.
    Blocking: the video is not marked ready with vectors search cannot use."""
    store = database.store()
    video = store.get_video(context.partition_key)
    config = providers.config()
    profile = (video.profile if video else None) or config.default_profile
    dimensions = config.stage("embed", profile).dimensions
    items = store.load_search_items(context.partition_key, with_embeddings=True)
    return _result(
        embedding_problems(items, dimensions), items=len(items), dimensions=dimensions or 0
    )


ASSET_CHECKS = [
    transcript_within_the_audio,
    keyframes_inside_their_scenes,
    embeddings_have_the_configured_dimension,
]
