"""``audio_wav`` and ``scenes``: what one decode of the source makes, in one step (see
:mod:`vidmine.media.decode`). The same pass samples the frames ``ocr_text`` reads and
the keyframe candidates ``keyframes`` picks from, so the source is decoded once on the
way to a searchable video.

Each asset can still be materialized alone (the step is subsettable): the pass then
decodes only for it, and the stages after it sample the source themselves.
"""

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, StageWork, stage_work
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.export import scenes_markdown_table
from vidmine.media.decode import DecodeResult, FrameSampling, decode_once
from vidmine.media.keyframes import CANDIDATE_FPS, CANDIDATE_NAME, CANDIDATES_DIR
from vidmine.media.ocr import SAMPLE_MAX_HEIGHT, SAMPLE_NAME, SAMPLES_DIR
from vidmine.media.probe import probe_media
from vidmine.media.sampling import write_manifest
from vidmine.stages import code_version


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "audio_wav",
            deps=["source_video"],
            description="The audio as 16 kHz mono PCM wav, for transcription.",
            kinds={"ffmpeg", "audio"},
            owners=OWNERS,
            group_name=GROUP_PIPELINE,
            skippable=True,
            code_version=code_version("audio_wav"),  # vidmine.stages: bump its revision there
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
            code_version=code_version("scenes"),  # vidmine.stages: bump its revision there
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
        audio = (
            stages.enter_context(stage_work(context, "audio_wav", database, media, providers))
            if "audio_wav" in selected
            else None
        )
        scenes = (
            stages.enter_context(stage_work(context, "scenes", database, media, providers))
            if "scenes" in selected
            else None
        )
        work = audio or scenes
        assert work is not None
        has_audio = bool(work.video.has_audio)
        visual_skip = work.visual_skip_reason()
        audio_cached = audio is not None and audio.reuse_if_unchanged(
            {"audio": has_audio},
            files=[work.audio_wav_path] if has_audio else [],
        )
        scenes_cached = scenes is not None and scenes.reuse_if_unchanged(
            {"visual": visual_skip is None}
        )
        make_audio = audio is not None and not audio_cached and has_audio
        find_scenes = scenes is not None and not scenes_cached and visual_skip is None
        result = None
        if make_audio or find_scenes:
            samplings = _samplings(work) if find_scenes else {}
            result = decode_once(
                Path(work.video.source_path),
                probe_media(Path(work.video.source_path)),
                audio_path=work.audio_wav_path if make_audio else None,
                detect_scenes=find_scenes,
                samplings=samplings,
            )
            for key, frames in result.samples.items():
                write_manifest(samplings[key].folder, samplings[key].fps, frames)
        if audio is not None:
            yield _audio_result(audio, audio_cached, result)
        if scenes is not None:
            yield _scenes_result(scenes, scenes_cached, visual_skip, result)


def _samplings(work: StageWork) -> dict[str, FrameSampling]:
    """Frames the stages after this one read, sampled while the pictures are decoded."""
    samplings = {
        "keyframe_candidates": FrameSampling(
            CANDIDATE_FPS, 720, work.video_dir / CANDIDATES_DIR, CANDIDATE_NAME
        )
    }
    if work.profile.ocr_fps > 0:
        samplings["ocr_samples"] = FrameSampling(
            work.profile.ocr_fps, SAMPLE_MAX_HEIGHT, work.video_dir / SAMPLES_DIR, SAMPLE_NAME
        )
    return samplings


def _audio_result(
    work: StageWork, cached: bool, result: DecodeResult | None
) -> dg.MaterializeResult:
    if cached:
        return dg.MaterializeResult(asset_key="audio_wav", metadata=work.cached_result().metadata)
    wav = result.audio_path if result else None
    if wav is None:
        return dg.MaterializeResult(
            asset_key="audio_wav",
            metadata={"status": "skipped", "reason": "no audio track; transcript is empty"},
        )
    return dg.MaterializeResult(
        asset_key="audio_wav",
        metadata={
            "path": dg.MetadataValue.path(str(wav)),
            "sample_rate": 16000,
            "channels": 1,
            "bytes": wav.stat().st_size,
            **_pass_metadata(result),
        },
    )


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
            ("wav", result.audio_path is not None),
            ("scene detection", result.scenes is not None),
            *((f"{key.replace('_', ' ')}", True) for key in result.samples),
        )
        if done
    ]
    return {
        "decode_pass": ", ".join(made),
        "decode_seconds": round(result.seconds, 3),
        "frames_decoded": result.frames_decoded,
        **{key: len(frames) for key, frames in result.samples.items()},
    }
