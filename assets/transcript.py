"""``transcript``: timestamped speech segments and an SRT file."""

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from assets.tags import stage_pool
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.files import atomic_write_text
from vidmine.transcript import to_srt, transcript_preview


@dg.asset(
    partitions_def=video_partitions,
    code_version="1",  # bump when the code changes what it makes
    deps=["audio_wav"],
    group_name=GROUP_PIPELINE,
    kinds={"whisper", "postgres"},
    owners=OWNERS,
    pool=stage_pool("transcribe"),
)
def transcript(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> dg.MaterializeResult:
    """Speech as timestamped segments (``transcript_segments`` rows) and ``transcript.srt``.
    A video with no audio track gets an empty transcript."""
    with stage_work(context, "transcript", database, media, providers) as work:
        stage = work.config.stage("transcribe", work.profile_name)
        srt = work.video_dir / "transcript.srt"
        if work.unchanged(stage.model_dump(), files=[srt]):
            return work.cached_result()
        wav = work.audio_wav_path
        if work.video.has_audio and wav.is_file():
            transcriber = providers.transcriber(work.profile_name, work.recorder, work.store)
            segments = transcriber.transcribe(wav)
            engine = f"{transcriber.provider}/{transcriber.model}"
        else:
            segments, engine = [], "none (no audio track)"
        srt_path = atomic_write_text(work.video_dir / "transcript.srt", to_srt(segments))
        work.store.replace_transcript(work.video_id, segments)
        words = sum(len(s.text.split()) for s in segments)
        work.summary = {"segments": len(segments), "words": words}
        return dg.MaterializeResult(
            metadata={
                "segments": len(segments),
                "words": words,
                "engine": engine,
                "srt": dg.MetadataValue.path(str(srt_path)),
                "preview": dg.MetadataValue.md(transcript_preview(segments)),
                **work.provider_metadata(),
            }
        )
