"""The written content of a video: ten assets (titles, description, chapters, tags,
posts, briefs, a clip plan), made in one step so their provider calls run
concurrently under the provider's limits, each stored and shown on its own."""

from collections.abc import Iterator

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_CONTENT, OWNERS, stage_work
from assets.tags import stage_pool
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.content.context import build_video_context, keyframe_times
from vidmine.content.generate import generate_content
from vidmine.content.kinds import CONTENT_TYPES, content_kind

CONTENT_DEPS = ["transcript", "scenes", "ocr_text", "frame_captions"]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            content_type,
            deps=CONTENT_DEPS,
            description=content_kind(content_type).description,
            kinds={"postgres"},  # and its providers: assets.kinds
            owners=OWNERS,
            group_name=GROUP_CONTENT,
            skippable=True,
            code_version=content_kind(content_type).version,  # its prompt and schema
        )
        for content_type in CONTENT_TYPES
    ],
    partitions_def=video_partitions,
    name="video_content",
    can_subset=True,
    pool=stage_pool("generate"),
)
def video_content(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> Iterator[dg.MaterializeResult]:
    wanted = [key.path[-1] for key in context.selected_asset_keys]
    failures: dict[str, str] = {}
    with stage_work(
        context, "content", database, media, providers, asset_keys=wanted, fails_video=False
    ) as work:
        store, vid = work.store, work.video_id
        stage = work.config.stage("generate", work.profile_name)
        params = {**stage.model_dump(), "types": sorted(wanted)}
        stored = {r.content_type: r for r in store.load_content(vid)}
        if work.unchanged(params) and set(wanted) <= set(stored):
            for content_type in wanted:
                yield dg.MaterializeResult(
                    asset_key=content_type,
                    metadata={
                        "status": "cached",
                        "content": dg.MetadataValue.md(stored[content_type].markdown),
                    },
                )
            return
        work.cached = False
        ctx = build_video_context(
            video_id=vid,
            file_name=work.video.file_name,
            duration_s=work.video.duration_s or 0.0,
            segments=store.load_transcript(vid),
            scenes=store.load_scenes(vid),
            ocr_texts=store.load_ocr_texts(vid),
            captions=store.load_captions(vid),
            frame_times=keyframe_times(store.load_keyframes(vid)),
        )
        # None under the local provider (no language model): written extractively
        generator = providers.generator(work.profile_name, work.recorder, store)
        results = generate_content(ctx, generator, types=wanted)
        for content_type in wanted:
            result = results[content_type]
            if result.error or result.body is None:
                failures[content_type] = result.error or "no answer"
                continue
            store.replace_content(
                vid,
                content_type,
                result.body,
                result.markdown,
                result.provider,
                result.model,
                result.extractive,
            )
            yield dg.MaterializeResult(
                asset_key=content_type,
                metadata={
                    "extractive": result.extractive,
                    "engine": f"{result.provider}/{result.model}",
                    "content": dg.MetadataValue.md(result.markdown),
                },
            )
        work.summary = {
            "written": len(wanted) - len(failures),
            "failed": sorted(failures),
            **work.provider_metadata(),
        }
        if failures:
            detail = "; ".join(f"{t}: {e}" for t, e in sorted(failures.items()))
            raise dg.Failure(
                f"{len(failures)} of {len(wanted)} content assets failed: {detail}",
                metadata={"failed": sorted(failures)},
            )
