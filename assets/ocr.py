"""``ocr_text``: on-screen text read by tesseract at the profile's sample rate."""

from pathlib import Path

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.languages import ocr_languages
from vidmine.media.ocr import SAMPLES_DIR, ocr_samples, sample_frames
from vidmine.media.sampling import read_manifest
from vidmine.stages import code_version
from vidmine.transcript import clock


@dg.asset(
    partitions_def=video_partitions,
    code_version=code_version("ocr_text"),  # vidmine.stages: bump its revision there
    deps=["scenes"],
    group_name=GROUP_PIPELINE,
    kinds={"tesseract", "postgres"},
    owners=OWNERS,
)
def ocr_text(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> dg.MaterializeResult:
    """Text on screen with the time range it is shown; frames that look identical to the
    previous one are not read twice. The frames are the ones the source's decode pass
    sampled; re-run alone, this step samples the source itself.

    Read with tesseract's English pack plus the packs of the video's languages that are
    installed: the configured ``stages.transcribe.language``, and the spoken languages when
    the transcript is already stored (a re-run, or a transcript that finished first). The
    step does not depend on the transcript, so a re-run of either does not make the other
    stale.

    With the profile setting ``ocr_text_detector``, a text detector decides which frames,
    and which regions of them, tesseract reads."""
    with stage_work(context, "ocr_text", database, media, providers) as work:
        reason = work.visual_skip_reason()
        if reason is None and work.profile.ocr_fps <= 0:
            reason = f"profile {work.profile_name} samples no frames for OCR"
        configured = work.config.stage("transcribe", work.profile_name).language
        spoken = [configured] if configured else []
        spoken += work.store.video_languages(work.video_id)
        lang = "+".join(ocr_languages(spoken))
        detect_text = work.profile.ocr_text_detector
        params = {"visual": reason is None, "fps": work.profile.ocr_fps, "lang": lang}
        if detect_text:  # absent when off, so readings made before the setting stay current
            params["text_detector"] = True
        frames_dir = work.video_dir / SAMPLES_DIR
        # A decode pass since the last reading replaced the frames the rows point at.
        shown = [t.frame_path for t in work.store.load_ocr_texts(work.video_id) if t.frame_path]
        if work.reuse_if_unchanged(params, files=shown):
            read_manifest(frames_dir, work.profile.ocr_fps)  # fresh samples not needed
            return work.cached_result()
        if reason:
            work.store.replace_ocr_texts(work.video_id, [])
            return work.skip(reason)
        fps = work.profile.ocr_fps
        samples = read_manifest(frames_dir, fps)
        sampled_here = samples is None
        if samples is None:
            samples = sample_frames(Path(work.video.source_path), fps, frames_dir)
        result = ocr_samples(
            samples, fps, work.video.duration_s or 0.0, lang=lang, detect_text=detect_text
        )
        work.store.replace_ocr_texts(work.video_id, result.texts)
        work.summary = {
            "texts": len(result.texts),
            "frames_sampled": result.frames_sampled,
            "frames_ocred": result.frames_ocred,
            "frames_without_text": result.frames_without_text,
        }
        preview = "\n".join(
            f"- **{clock(t.start_s)}–{clock(t.end_s)}** {t.text[:120]}" for t in result.texts[:20]
        )
        return dg.MaterializeResult(
            metadata={
                "texts": len(result.texts),
                "sample_fps": work.profile.ocr_fps,
                "tesseract_languages": lang,
                "frames_sampled": result.frames_sampled,
                "frames_ocred": result.frames_ocred,
                "frames_without_text": result.frames_without_text,
                "text_detector": detect_text,
                "sampled_by": "this step" if sampled_here else "the decode pass",
                "preview": dg.MetadataValue.md(preview or "_no text found_"),
            }
        )
