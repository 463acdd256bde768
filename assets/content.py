"""The written content of a video: ten assets (titles, description, chapters, tags,
posts, briefs, a clip plan), made in one step so their provider calls run
concurrently under the provider's limits, each stored and shown on its own."""

from collections.abc import Iterator

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_CONTENT, OWNERS, stage_work
from assets.tags import stage_pool
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.content.brief import BRIEF_NAME, load_brief
from vidmine.content.generate import generate_content
from vidmine.content.kinds import CONTENT_TYPES, content_kind
from vidmine.stages import CONTENT_STAGE, code_version

# The writers read the analysis through the brief only (assets/brief.py).
CONTENT_DEPS = ["video_brief"]


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
            code_version=code_version(content_type),  # its kind's prompt and schema
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
    with stage_work(context, CONTENT_STAGE, database, media, providers) as work:
        store, vid = work.store, work.video_id
        stage = work.config.stage("generate", work.profile_name)
        params = {**stage.model_dump(), "types": sorted(wanted)}
        stored = {r.content_type: r for r in store.load_content(vid)}
        work.set_data_versions(params)
        if work.reusable() and set(wanted) <= set(stored):
            work.mark_reused()
            for content_type in wanted:
                yield dg.MaterializeResult(
                    asset_key=content_type,
                    metadata={
                        "status": "cached",
                        "content": dg.MetadataValue.md(stored[content_type].markdown),
                    },
                )
            return
        ctx = load_brief(work.video_dir / BRIEF_NAME)
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
