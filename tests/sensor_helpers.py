"""The upload sensor ticked by hand against a real Dagster instance, as the daemon ticks it."""

from __future__ import annotations

import dagster as dg

from pipeline_defs.definitions import defs
from resources import AIProviders, MediaLibrary, VidmineDatabase

SENSOR = defs.get_sensor_def("upload_folder_sensor")
RESOURCES = {"database": VidmineDatabase(), "media": MediaLibrary(), "providers": AIProviders()}


def tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    """One evaluation, applying its partition requests as the daemon would."""
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=RESOURCES
    ) as context:
        result = SENSOR(context)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        assert isinstance(request, dg.AddDynamicPartitionsRequest)
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result
