"""Jobs: the whole per-video pipeline, and per-stage jobs (e.g. re-caption one video)
that carry their provider's run tag however they are launched.

Every job runs its steps in the run's own process (the in-process executor): a step
then starts in microseconds and reuses the models the steps before it loaded, where a
process per step cost seconds each. The steps that decode or read many frames use both
cores themselves (ffmpeg's threads, tesseract workers, batched speech recognition), and
runs of different videos go side by side."""

from __future__ import annotations

import dagster as dg

from assets.partitions import video_partitions
from assets.tags import job_run_tags
from vidmine.config import VidmineConfig
from vidmine.stages import stage_jobs

PROCESS_VIDEO_JOB = "process_video"

# Per-stage jobs: name -> (asset selection, the AI stages it calls), from the registry.
STAGE_JOBS = stage_jobs()


def build_jobs(config: VidmineConfig, pipeline_selection: dg.AssetSelection) -> list:
    jobs = [
        dg.define_asset_job(
            PROCESS_VIDEO_JOB,
            selection=pipeline_selection,
            partitions_def=video_partitions,
            description="Every stage for one video, from the upload to searchable rows "
            "and written content.",
            tags=job_run_tags(config),
            executor_def=dg.in_process_executor,
        )
    ]
    for name, (selection, stages) in STAGE_JOBS.items():
        jobs.append(
            dg.define_asset_job(
                name,
                selection=dg.AssetSelection.assets(*selection),
                partitions_def=video_partitions,
                description=f"Re-run {', '.join(selection)} for one video.",
                tags=job_run_tags(config, stages),
                executor_def=dg.in_process_executor,
            )
        )
    return jobs
