"""``speakers``: who speaks when, each transcript segment and word given its speaker."""

import dagster as dg

from assets.partitions import video_partitions
from assets.stage import GROUP_PIPELINE, OWNERS, stage_work
from resources import AIProviders, MediaLibrary, VidmineDatabase
from vidmine.db.speakers import TurnRecord, replace_speakers, speaker_names
from vidmine.files import atomic_write_text
from vidmine.speakers.diarize import DiarizationSettings
from vidmine.speakers.encoder import SpeakerModelMissing
from vidmine.speakers.label import label_speakers
from vidmine.stages import code_version
from vidmine.transcript import to_srt, to_vtt


@dg.asset(
    partitions_def=video_partitions,
    code_version=code_version("speakers"),  # vidmine.stages: bump its revision there
    deps=["transcript", "audio_wav"],
    group_name=GROUP_PIPELINE,
    kinds={"numpy", "postgres"},
    owners=OWNERS,
)
def speakers(
    context: dg.AssetExecutionContext,
    database: VidmineDatabase,
    media: MediaLibrary,
    providers: AIProviders,
) -> dg.MaterializeResult:
    """Speaker turns from the transcript's speech (resemblyzer's encoder offline, or the
    speakers a diarizing transcriber told), the speaker of each segment and word, each
    speaker's talk time, and subtitles rewritten with speaker labels. Not needed for
    ``ready``: a failure here leaves the video searchable."""
    with stage_work(context, "speakers", database, media, providers) as work:
        setting = work.config.speakers
        if not setting.enabled:
            return work.skip("speakers.enabled is false in vidmine.yaml")
        srt = work.video_dir / "transcript.srt"
        vtt = work.video_dir / "transcript.vtt"
        if work.reuse_if_unchanged(setting.model_dump(), files=[srt, vtt]):
            return work.cached_result()
        segments = work.store.load_transcript(work.video_id)
        wav = work.audio_wav_path if work.audio_wav_path.is_file() else None
        try:
            labels = label_speakers(
                wav,
                segments,
                DiarizationSettings(
                    num_speakers=setting.num_speakers, max_speakers=setting.max_speakers
                ),
            )
        except SpeakerModelMissing as missing:
            # An image without the local extra (deploy's base image) has no encoder: the
            # video is still searchable, and the reason is on the stage.
            return work.skip(f"no offline speaker encoder here: {missing}")
        replace_speakers(
            work.store,
            work.video_id,
            labels.segments,
            [TurnRecord(t.speaker, t.start_s, t.end_s) for t in labels.turns],
        )
        names = speaker_names(work.store, work.video_id)
        atomic_write_text(srt, to_srt(labels.segments, names))
        atomic_write_text(vtt, to_vtt(labels.segments, names))
        talk = {names.get(k, f"Speaker {k}"): round(v, 1) for k, v in labels.talk_s.items()}
        work.summary = {
            "speakers": len(talk),
            "turns": len(labels.turns),
            "windows": labels.windows,
        }
        return dg.MaterializeResult(
            metadata={
                "speakers": len(talk),
                "turns": len(labels.turns),
                "windows": labels.windows,
                "engine": labels.engine,
                "eigengap": labels.eigengap if labels.eigengap is not None else "n/a",
                "talk time": dg.MetadataValue.md(
                    "\n".join(f"- {name}: {s:.1f} s" for name, s in talk.items()) or "none"
                ),
            }
        )
