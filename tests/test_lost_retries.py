"""The retry a crash lost (sensors/lost_retries.py), on a real Dagster instance."""

from __future__ import annotations

import time

import dagster as dg
from dagster._core.test_utils import create_run_for_test

import sensors.lost_retries as lost_retries_module
from pipeline_defs.definitions import defs
from sensors.lost_retries import LOST_AFTER_S, RETRY_OF_TAG, lost_retries


def _failed(instance: dg.DagsterInstance, partition: str, **tags: str) -> dg.DagsterRun:
    return create_run_for_test(
        instance,
        job_name="process_video",
        status=dg.DagsterRunStatus.FAILURE,
        tags={"dagster/partition": partition, "dagster/priority": "10", **tags},
    )


def test_a_promised_retry_that_never_came_is_found_once_it_is_late() -> None:
    with dg.instance_for_test() as instance:
        lost = _failed(instance, "a-1", **{"dagster/will_retry": "true"})
        _failed(instance, "b-2", **{"dagster/will_retry": "true", "dagster/auto_retry_run_id": "x"})
        _failed(instance, "c-3")  # no retry promised: its retries ran out
        _failed(instance, "d-4", **{"dagster/will_retry": "true"})
        records = instance.get_run_records(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE])
        )
        now = time.time()
        assert lost_retries(records, set(), now) == []  # Dagster may still make it
        late = lost_retries(records, {"d-4"}, now + LOST_AFTER_S + 1)  # d-4 ran again since
        assert [run.run_id for run in late] == [lost.run_id]


def test_the_sensor_launches_the_lost_retry_once_with_its_settings(monkeypatch) -> None:
    sensor = defs.get_sensor_def("lost_run_retries")
    with dg.instance_for_test() as instance:
        lost = _failed(instance, "a-1", **{"dagster/will_retry": "true", "vidmine/profile": "p"})
        with dg.build_sensor_context(instance=instance, definitions=defs) as context:
            assert isinstance(sensor(context), dg.SkipReason)  # Dagster may still make it
        monkeypatch.setattr(lost_retries_module, "LOST_AFTER_S", 0.0)  # a minute later
        with dg.build_sensor_context(instance=instance, definitions=defs) as context:
            (request,) = sensor(context)
        assert request.run_key == f"lost-retry:{lost.run_id}"  # once: Dagster dedupes keys
        assert (request.job_name, request.partition_key) == ("process_video", "a-1")
        assert request.tags == {
            "dagster/priority": "10",
            "vidmine/profile": "p",
            RETRY_OF_TAG: lost.run_id,
        }
