"""``frame_captions``: a structured description of each keyframe."""

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from assets.tags import stage_pool
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.captions import caption_inputs
from vidmine.stages import code_version
from vidmine.transcript import clock


@dg.asset(
    partitions_def=video_partitions,
    code_version=code_version("frame_captions"),  # vidmine.stages: bump its revision there
    deps=["keyframes", "ocr_text"],
    group_name=GROUP_PIPELINE,
    kinds={"postgres"},  # and its providers: assets.kinds
    owners=OWNERS,
    pool=stage_pool("vision"),
)
def frame_captions(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> dg.MaterializeResult:
    """Caption, entities and on-screen text per keyframe. The offline provider has no
    captioning model: its rows are descriptors built from OCR text, colours and faces,
    and say so (``descriptor_only``)."""
    with stage_work(context, "frame_captions", database, media, providers) as work:
        reason = work.visual_skip_reason()
        params = {
            "visual": reason is None,
            **work.config.stage("vision", work.profile_name).model_dump(),
            "detail": work.profile.image_detail,
            "max_image_px": work.profile.max_image_px,
        }
        if work.reuse_if_unchanged(params):
            return work.cached_result()
        if reason:
            work.store.replace_captions(work.video_id, [])
            return work.skip(reason)
        frames = work.store.load_keyframes(work.video_id)
        inputs = caption_inputs(frames, work.store.load_ocr_texts(work.video_id))
        captioner = providers.captioner(work.profile_name, work.recorder, work.store)
        captions = captioner.caption(inputs) if inputs else []
        work.store.replace_captions(work.video_id, captions)
        descriptors = sum(1 for c in captions if c.descriptor_only)
        work.summary = {"captions": len(captions), "descriptor_only": descriptors}
        when = {f.index: f.timestamp_s for f in frames}
        preview = "\n".join(
            f"- **{clock(when.get(c.frame_index, 0.0))}** {c.caption}" for c in captions[:20]
        )
        return dg.MaterializeResult(
            metadata={
                "captions": len(captions),
                "descriptor_only": descriptors,
                "engine": f"{captioner.provider}/{captioner.model}",
                "preview": dg.MetadataValue.md(preview or "_no keyframes_"),
                **work.provider_metadata(),
            }
        )
