"""One dynamic partition per video, keyed ``<slug>-<short sha256>`` (see vidmine.uploads)."""

import dagster as dg

VIDEO_PARTITIONS_NAME = "videos"
video_partitions = dg.DynamicPartitionsDefinition(name=VIDEO_PARTITIONS_NAME)
