"""``normalized_video``, ``audio_wav`` and ``scenes``: everything one decode of the source
makes, in one step (see :mod:`vidmine.media.decode`). The same pass samples the frames
``ocr_text`` reads, so the pictures are decoded once per run.

Each asset can still be materialized alone (the step is subsettable): the pass then
decodes only for it.
"""

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import dagster as dg

from assets.stage import GROUP_PIPELINE, OWNERS, StageWork, stage_work
from pipeline_defs.partitions import video_partitions
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.export import scenes_markdown_table
from vidmine.media.decode import DecodeResult, decode_once
from vidmine.media.ocr import write_sample_manifest
from vidmine.media.probe import probe_media

NORMALIZE_ASSETS = {"normalized_video", "audio_wav"}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "normalized_video",
            deps=["source_video"],
            description="The video at most 720p (never upscaled, aspect kept, rotation "
            "applied), 30 fps H.264; the source is remuxed when it already conforms.",
            kinds={"ffmpeg", "video"},
            owners=OWNERS,
            group_name=GROUP_PIPELINE,
            skippable=True,
        ),
        dg.AssetSpec(
            "audio_wav",
            deps=["source_video"],
            description="The audio as 16 kHz mono PCM wav, for transcription.",
            kinds={"ffmpeg", "audio"},
            owners=OWNERS,
            group_name=GROUP_PIPELINE,
            skippable=True,
        ),
        dg.AssetSpec(
            "scenes",
            deps=["source_video"],
            description="Scene rows with start and end seconds and frames, found by "
            "PySceneDetect's AdaptiveDetector on the source's own frames.",
            kinds={"opencv", "postgres"},
            owners=OWNERS,
            group_name=GROUP_PIPELINE,
            skippable=True,
        ),
    ],
    partitions_def=video_partitions,
    name="decode_source",
    can_subset=True,
)
def decode_source(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> Iterator[dg.MaterializeResult]:
    selected = {key.path[-1] for key in context.selected_asset_keys}
    with ExitStack() as stages:
        normalize = (
            stages.enter_context(stage_work(context, "normalize", database, media, providers))
            if selected & NORMALIZE_ASSETS
            else None
        )
        scenes = (
            stages.enter_context(stage_work(context, "scenes", database, media, providers))
            if "scenes" in selected
            else None
        )
        work = normalize or scenes
        assert work is not None
        source = Path(work.video.source_path)
        wants_video = work.profile.visual and bool(work.video.has_video)
        outputs = [work.normalized_video_path] if wants_video else []
        if work.video.has_audio:
            outputs.append(work.audio_wav_path)
        normalize_cached = normalize is not None and normalize.unchanged(
            {"video": wants_video}, upstream=["source_video"], files=outputs
        )
        scenes_skip = scenes.visual_skip_reason() if scenes is not None else None
        scenes_cached = scenes is not None and scenes.unchanged(
            {"visual": scenes_skip is None}, upstream=["source_video"]
        )
        make_video = normalize is not None and not normalize_cached and wants_video
        make_audio = normalize is not None and not normalize_cached and bool(work.video.has_audio)
        find_scenes = scenes is not None and not scenes_cached and scenes_skip is None
        # OCR samples ride along whenever the pictures are decoded anyway.
        ocr_fps = work.profile.ocr_fps if (make_video or find_scenes) else 0.0
        result = None
        if make_video or make_audio or find_scenes:
            probe = probe_media(source)
            result = decode_once(
                source,
                probe,
                normalized_path=work.normalized_video_path if make_video else None,
                audio_path=work.audio_wav_path if make_audio else None,
                detect_scenes=find_scenes,
                ocr_fps=ocr_fps or None,
                ocr_dir=work.video_dir / "ocr_frames" if ocr_fps else None,
            )
            if result.ocr_samples is not None:
                write_sample_manifest(work.video_dir / "ocr_frames", ocr_fps, result.ocr_samples)
        if normalize is not None:
            yield from _normalize_results(normalize, selected, normalize_cached, result)
        if scenes is not None:
            yield _scenes_result(scenes, scenes_cached, scenes_skip, result)


def _normalize_results(
    work: StageWork, selected: set[str], cached: bool, result: DecodeResult | None
) -> Iterator[dg.MaterializeResult]:
    if cached:
        shown = work.cached_result().metadata
        for key in sorted(selected & NORMALIZE_ASSETS):
            yield dg.MaterializeResult(asset_key=key, metadata=shown)
        return
    pass_metadata = _pass_metadata(result)
    normalized = result.normalized if result else None
    if "normalized_video" in selected:
        if normalized is None:
            reason = (
                f"profile {work.profile_name}"
                if not work.profile.visual
                else "no video stream (audio-only file)"
            )
            metadata = {"status": "skipped", "reason": reason}
        else:
            work.summary["video_reencoded"] = normalized.reencoded
            metadata = {
                "path": dg.MetadataValue.path(str(normalized.path)),
                "size": f"{normalized.width}x{normalized.height}",
                "fps": normalized.fps,
                "reencoded": normalized.reencoded,
                "bytes": normalized.path.stat().st_size,
                **pass_metadata,
            }
        yield dg.MaterializeResult(asset_key="normalized_video", metadata=metadata)
    if "audio_wav" in selected:
        wav = result.audio_path if result else None
        if wav is None:
            metadata = {"status": "skipped", "reason": "no audio track; transcript is empty"}
        else:
            metadata = {
                "path": dg.MetadataValue.path(str(wav)),
                "sample_rate": 16000,
                "channels": 1,
                "bytes": wav.stat().st_size,
                **pass_metadata,
            }
        yield dg.MaterializeResult(asset_key="audio_wav", metadata=metadata)


def _scenes_result(
    work: StageWork, cached: bool, skip_reason: str | None, result: DecodeResult | None
) -> dg.MaterializeResult:
    if cached:
        return dg.MaterializeResult(asset_key="scenes", metadata=work.cached_result().metadata)
    if skip_reason or result is None or result.scenes is None:
        work.store.replace_scenes(work.video_id, [])
        skipped = work.skip(skip_reason or "no video stream")
        return dg.MaterializeResult(asset_key="scenes", metadata=skipped.metadata)
    found = result.scenes
    work.store.replace_scenes(work.video_id, found)
    work.summary = {"scenes": len(found)}
    return dg.MaterializeResult(
        asset_key="scenes",
        metadata={
            "scenes": len(found),
            "cuts_s": [round(s.start_s, 3) for s in found[1:]],
            "table": dg.MetadataValue.md(scenes_markdown_table(found)),
            **_pass_metadata(result),
        },
    )


def _pass_metadata(result: DecodeResult | None) -> dict:
    """What the shared decode pass did, shown on each asset it made."""
    if result is None:
        return {}
    made = [
        name
        for name, done in (
            ("normalized video", result.normalized is not None),
            ("wav", result.audio_path is not None),
            ("scene detection", result.scenes is not None),
            ("OCR samples", result.ocr_samples is not None),
        )
        if done
    ]
    return {
        "decode_pass": ", ".join(made),
        "decode_seconds": round(result.seconds, 3),
        "frames_decoded": result.frames_decoded,
        "ocr_samples": len(result.ocr_samples or []),
    }
