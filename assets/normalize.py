"""``normalized_video`` and ``audio_wav``: the forms every later stage reads.

One step makes both so the source is opened once per run."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from pipeline_defs.partitions import video_partitions
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.media.normalize import extract_audio_wav, normalize_video
from vidmine.media.probe import probe_media


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
        ),
        dg.AssetSpec(
            "audio_wav",
            deps=["source_video"],
            description="The audio as 16 kHz mono PCM wav, for transcription.",
            kinds={"ffmpeg", "audio"},
            owners=OWNERS,
            group_name=GROUP_PIPELINE,
        ),
    ],
    partitions_def=video_partitions,
    name="normalize",
)
def normalize(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> Iterator[dg.MaterializeResult]:
    with stage_work(context, "normalize", database, media, providers) as work:
        source = Path(work.video.source_path)
        wants_video = work.profile.visual and work.video.has_video
        outputs = [work.normalized_video_path] if wants_video else []
        if work.video.has_audio:
            outputs.append(work.audio_wav_path)
        if work.unchanged({"video": wants_video}, upstream=["source_video"], files=outputs):
            result = work.cached_result()
            yield dg.MaterializeResult(asset_key="normalized_video", metadata=result.metadata)
            yield dg.MaterializeResult(asset_key="audio_wav", metadata=result.metadata)
            return
        probe = probe_media(source)
        if not work.profile.visual:
            yield dg.MaterializeResult(
                asset_key="normalized_video",
                metadata={"status": "skipped", "reason": f"profile {work.profile_name}"},
            )
        elif not probe.has_video:
            yield dg.MaterializeResult(
                asset_key="normalized_video",
                metadata={"status": "skipped", "reason": "no video stream (audio-only file)"},
            )
        else:
            out = work.video_dir / "normalized.mp4"
            result = normalize_video(source, probe, out)
            work.summary["video_reencoded"] = result.reencoded
            yield dg.MaterializeResult(
                asset_key="normalized_video",
                metadata={
                    "path": dg.MetadataValue.path(str(out)),
                    "size": f"{result.width}x{result.height}",
                    "fps": result.fps,
                    "reencoded": result.reencoded,
                    "bytes": out.stat().st_size,
                },
            )
        if not probe.has_audio:
            yield dg.MaterializeResult(
                asset_key="audio_wav",
                metadata={"status": "skipped", "reason": "no audio track; transcript is empty"},
            )
        else:
            wav = work.video_dir / "audio.wav"
            extract_audio_wav(source, wav)
            yield dg.MaterializeResult(
                asset_key="audio_wav",
                metadata={
                    "path": dg.MetadataValue.path(str(wav)),
                    "sample_rate": 16000,
                    "channels": 1,
                    "bytes": wav.stat().st_size,
                },
            )
