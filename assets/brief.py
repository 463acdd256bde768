"""``video_brief``: the analysis the ten content writers read, gathered once (see
:mod:`vidmine.content.brief`). It stands between the analysis (transcript, scenes, OCR
text, captions) and the writers, so each writer has one upstream asset.

Its data version is the hash of the brief itself: when a re-run of the analysis changes
nothing the writers read, the writers' inputs did not change and they stay ``cached``.
"""

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_CONTENT, OWNERS, stage_work
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.content.brief import BRIEF_NAME, brief_json, brief_version
from vidmine.content.context import build_video_context, keyframe_times
from vidmine.files import atomic_write_text
from vidmine.stages import code_version


@dg.asset(
    partitions_def=video_partitions,
    code_version=code_version("video_brief"),  # vidmine.stages: bump its revision there
    deps=["transcript", "scenes", "ocr_text", "frame_captions"],
    group_name=GROUP_CONTENT,
    kinds={"json"},
    owners=OWNERS,
)
def video_brief(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> dg.MaterializeResult:
    """The video's transcript, scenes, on-screen text and keyframe captions, placed in time
    and clamped into the video, as ``brief.json``: what the content writers read."""
    with stage_work(context, "video_brief", database, media, providers) as work:
        store, vid = work.store, work.video_id
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
        text = brief_json(ctx)
        path = atomic_write_text(work.video_dir / BRIEF_NAME, text)
        counts = {
            "segments": len(ctx.segments),
            "scenes": len(ctx.scenes),
            "ocr_texts": len(ctx.ocr_texts),
            "captions": len(ctx.captions),
        }
        work.summary = dict(counts)
        return dg.MaterializeResult(
            # What the writers read, whatever made it: equal briefs, equal versions.
            data_version=dg.DataVersion(brief_version(text)),
            metadata={
                **counts,
                "duration_s": round(ctx.duration_s, 3),
                "path": dg.MetadataValue.path(str(path)),
            },
        )
