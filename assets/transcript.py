"""``transcript``: timestamped speech segments in their languages, SRT and WebVTT files."""

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from assets.tags import stage_pool
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.files import atomic_write_text
from vidmine.languages import speech_seconds
from vidmine.stages import code_version
from vidmine.transcript import to_srt, to_vtt, transcript_preview


@dg.asset(
    partitions_def=video_partitions,
    code_version=code_version("transcript"),  # vidmine.stages: bump its revision there
    deps=["audio_wav"],
    group_name=GROUP_PIPELINE,
    kinds={"postgres"},  # and its providers: assets.kinds
    owners=OWNERS,
    pool=stage_pool("transcribe"),
)
def transcript(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> dg.MaterializeResult:
    """Speech as timestamped segments with their language and words' times
    (``transcript_segments`` rows), the video's languages, and subtitles in
    ``transcript.srt`` and ``transcript.vtt``. A video with no audio track gets an empty
    transcript."""
    with stage_work(context, "transcript", database, media, providers) as work:
        stage = work.config.stage("transcribe", work.profile_name)
        srt = work.video_dir / "transcript.srt"
        vtt = work.video_dir / "transcript.vtt"
        if work.reuse_if_unchanged(stage.model_dump(), files=[srt, vtt]):
            return work.cached_result()
        wav = work.audio_wav_path
        if work.video.has_audio and wav.is_file():
            transcriber = providers.transcriber(work.profile_name, work.recorder, work.store)
            segments = transcriber.transcribe(wav)
            engine = f"{transcriber.provider}/{transcriber.model}"
        else:
            segments, engine = [], "none (no audio track)"
        srt_path = atomic_write_text(srt, to_srt(segments))
        vtt_path = atomic_write_text(vtt, to_vtt(segments))
        work.store.replace_transcript(work.video_id, segments)
        words = sum(len(s.text.split()) for s in segments)
        seconds = speech_seconds(segments)
        work.summary = {"segments": len(segments), "words": words, "languages": list(seconds)}
        return dg.MaterializeResult(
            metadata={
                "segments": len(segments),
                "words": words,
                "languages": ", ".join(f"{code} ({s:.0f} s)" for code, s in seconds.items())
                or "none",
                "engine": engine,
                "srt": dg.MetadataValue.path(str(srt_path)),
                "vtt": dg.MetadataValue.path(str(vtt_path)),
                "preview": dg.MetadataValue.md(transcript_preview(segments)),
                **work.provider_metadata(),
            }
        )
