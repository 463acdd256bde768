"""The code location: every asset, job, sensor and resource of vidmine."""

from __future__ import annotations

import dagster as dg

from assets import (
    brief,
    captions,
    content,
    decode,
    embeddings,
    keyframes,
    normalize,
    ocr,
    ready,
    source,
    speakers,
    transcript,
)
from assets.checks import ASSET_CHECKS
from assets.kinds import with_provider_kinds
from assets.stage_record import STAGE_ROW_HOOKS
from pipeline_defs.jobs import PROCESS_VIDEO_JOB, build_jobs
from resources import AIProviders, MediaLibrary, VidmineDatabase
from sensors.failed_runs import failed_run_stage_rows
from sensors.lost_retries import build_lost_retries_sensor
from sensors.uploads import build_upload_sensor
from vidmine.config import load_config

ASSET_MODULES = [
    source,
    decode,
    normalize,
    transcript,
    speakers,
    keyframes,
    ocr,
    captions,
    embeddings,
    ready,
    brief,
    content,
]


def build_definitions() -> dg.Definitions:
    # Loading the config here makes a bad vidmine.yaml fail at load, before any run, and
    # lets the AI stages' kinds name the providers that run them.
    config = load_config()
    # After each step, its hooks write the video's stage rows and status from the event
    # log (assets.stage_record), however the asset is launched.
    all_assets = [
        assets_def.with_hooks(STAGE_ROW_HOOKS)
        for assets_def in with_provider_kinds(dg.load_assets_from_modules(ASSET_MODULES), config)
    ]
    jobs = build_jobs(config, dg.AssetSelection.all())
    return dg.Definitions(
        assets=all_assets,
        asset_checks=ASSET_CHECKS,
        jobs=jobs,
        sensors=[
            build_upload_sensor(PROCESS_VIDEO_JOB),
            failed_run_stage_rows,
            build_lost_retries_sensor(jobs),
        ],
        resources={
            "database": VidmineDatabase(),
            "media": MediaLibrary(),
            "providers": AIProviders(),
        },
    )


defs = build_definitions()
