"""``embeddings``: the searchable rows, with vectors in pgvector and full-text vectors."""

from collections import Counter

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from assets.tags import stage_pool
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.db.models import SearchItem
from vidmine.indexing import search_texts
from vidmine.stages import code_version


@dg.asset(
    partitions_def=video_partitions,
    code_version=code_version("embeddings"),  # vidmine.stages: bump its revision there
    deps=["transcript", "ocr_text", "frame_captions"],
    group_name=GROUP_PIPELINE,
    kinds={"pgvector", "postgres"},  # and its providers: assets.kinds
    owners=OWNERS,
    pool=stage_pool("embed"),
)
def embeddings(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> dg.MaterializeResult:
    """Transcript segments, OCR text and captions embedded with the configured model
    (the vector dimension follows it) into ``search_items``."""
    with stage_work(context, "embeddings", database, media, providers) as work:
        store, vid = work.store, work.video_id
        stage = work.config.stage("embed", work.profile_name)
        if work.reuse_if_unchanged(stage.model_dump()):
            return work.cached_result()
        texts = search_texts(
            vid,
            store.load_transcript(vid),
            store.load_ocr_texts(vid),
            store.load_captions(vid),
            store.load_keyframes(vid),
            store.load_scenes(vid),
        )
        embedder = providers.embedder(work.profile_name, work.recorder, store)
        vectors = embedder.embed([t.text for t in texts]) if texts else []
        items = [
            SearchItem(
                item_id=t.item_id,
                kind=t.kind,
                source_id=t.source_id,
                start_s=t.start_s,
                end_s=t.end_s,
                text=t.text,
                embedding=v,
                language=t.language,
            )
            for t, v in zip(texts, vectors, strict=True)
        ]
        store.replace_search_items(vid, items, embedder.model, embedder.dimensions)
        by_kind = Counter(t.kind for t in texts)
        work.summary = {"items": len(items), **by_kind}
        return dg.MaterializeResult(
            metadata={
                "items": len(items),
                "segments": by_kind.get("segment", 0),
                "ocr": by_kind.get("ocr", 0),
                "captions": by_kind.get("caption", 0),
                "model": f"{embedder.provider}/{embedder.model}",
                "dimensions": embedder.dimensions,
                **work.provider_metadata(),
            }
        )
