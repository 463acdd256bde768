"""Every private Dagster name vidmine's local runtime uses, and only here.

Dagster offers no public API for a run launcher or run queue of one's own, nor for
executing a run by id inside a process one has forked: these names come from Dagster's
internals (``dagster._...``, ``dagster_shared``) and may change in any release. Importing
them in this one module, checked name by name and signature by signature against the
installed Dagster by ``tests/test_runtime_contract.py``, turns a Dagster upgrade that
moves one into a test failure naming it, instead of a daemon that cannot start runs.

This module must not hold logic: names only. Add a private name here (and to the
contract test's expected signatures), never in another module.
"""

from __future__ import annotations

# The warm process's child executes its run with this, as `dagster api execute_run` does.
from dagster._cli.api import _execute_run_command_body

# The warm process opens the launcher's instance from its serialized ref.
from dagster._core.instance.ref import InstanceRef

# The run launcher's base class and what its methods take and return.
from dagster._core.launcher import (
    CheckRunHealthResult,
    LaunchRunContext,
    RunLauncher,
    WorkerStatus,
)

# The run queue whose daemon keeps the warm process ready.
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.run_coordinator.queued_run_coordinator import RunQueueConfig

# dagster.yaml builds the launcher and the queue from their module and class names.
from dagster._serdes import ConfigurableClass, ConfigurableClassData

# How the launcher hands the instance to the warm process.
from dagster_shared.serdes import deserialize_value, serialize_value

__all__ = [
    "CheckRunHealthResult",
    "ConfigurableClass",
    "ConfigurableClassData",
    "InstanceRef",
    "LaunchRunContext",
    "QueuedRunCoordinator",
    "RunLauncher",
    "RunQueueConfig",
    "WorkerStatus",
    "_execute_run_command_body",
    "deserialize_value",
    "serialize_value",
]
