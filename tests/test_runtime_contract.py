"""The private Dagster API the local runtime is built on, checked against the installed Dagster.

``local_runtime/dagster_private.py`` imports every private Dagster name the runtime uses
(a run launcher, a run queue and a run executed in a forked process have no public API).
These tests read that module's imports from its source, without importing it, and check
each name on its own: that it still exists, and that its signature or members are the
ones the runtime calls. A Dagster upgrade that moves or changes one fails here, naming
the symbol and the Dagster version, instead of in a daemon that cannot start runs.

When one fails: read the symbol's new shape in the installed Dagster, adapt the runtime
(``local_runtime/launcher.py``, ``local_runtime/run_worker.py``), then update ``EXPECTED``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import dagster
import pytest

ROOT = Path(__file__).resolve().parent.parent
PRIVATE_MODULE = ROOT / "local_runtime" / "dagster_private.py"
# Other places that import Dagster's internals on purpose: tests and benchmarks read
# Dagster's records; the deploy smoke runs in the image. None of them is the runtime.
RUNTIME_PACKAGES = ("local_runtime", "pipeline_defs", "assets", "resources", "sensors", "vidmine")

# What the runtime relies on, per private name: the leading parameters it passes (a call)
# or the constructor's (a class); the methods it overrides or calls; enum members.
EXPECTED: dict[str, dict] = {
    "dagster._cli.api._execute_run_command_body": {
        "params": ["run_id", "instance", "write_stream_fn", "set_exit_code_on_failure"],
    },
    "dagster._core.instance.ref.InstanceRef": {"class": True},
    "dagster._core.launcher.CheckRunHealthResult": {"params": ["status", "msg"]},
    "dagster._core.launcher.LaunchRunContext": {"params": ["dagster_run"]},
    "dagster._core.launcher.RunLauncher": {
        "abstract": {"launch_run", "terminate"},
        "methods": {
            "launch_run": ["self", "context"],
            "terminate": ["self", "run_id"],
            "check_run_worker_health": ["self", "run"],
            "dispose": ["self"],
        },
        "properties": {"supports_check_run_worker_health", "_instance"},
    },
    "dagster._core.launcher.WorkerStatus": {"members": {"RUNNING", "FAILED"}},
    "dagster._core.run_coordinator.QueuedRunCoordinator": {
        "methods": {"get_run_queue_config": ["self"]},
        "properties": {"_instance"},
    },
    "dagster._core.run_coordinator.queued_run_coordinator.RunQueueConfig": {"class": True},
    "dagster._serdes.ConfigurableClass": {
        "abstract": {"config_type", "from_config_value", "inst_data"},
        "methods": {"from_config_value": ["inst_data", "config_value"]},
    },
    "dagster._serdes.ConfigurableClassData": {
        "params": ["module_name", "class_name", "config_yaml"],
    },
    "dagster_shared.serdes.serialize_value": {"params": ["val"]},
    "dagster_shared.serdes.deserialize_value": {"params": ["val", "as_type"]},
}


def private_imports(path: Path = PRIVATE_MODULE) -> list[str]:
    """``module.name`` of every name ``path`` imports (read with ast: nothing imported)."""
    names = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _where(qualified: str) -> str:
    return f"{qualified} (Dagster {dagster.__version__}, used by local_runtime/dagster_private.py)"


def _leading_params(obj) -> list[str]:
    return list(inspect.signature(obj).parameters)


def test_every_private_name_has_an_expected_shape() -> None:
    imported = set(private_imports())
    assert imported == set(EXPECTED), (
        "local_runtime/dagster_private.py and this test's EXPECTED must name the same "
        f"private Dagster names; only imported: {sorted(imported - set(EXPECTED))}, "
        f"only expected: {sorted(set(EXPECTED) - imported)}"
    )


def shape_problems(qualified: str, expected: dict) -> list[str]:
    """What no longer fits in the installed Dagster, each naming the symbol and the version."""
    module_name, name = qualified.rsplit(".", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        return [f"{_where(qualified)}: its module is gone ({err})"]
    if not hasattr(module, name):
        return [f"{_where(qualified)}: {module_name} no longer has {name}"]
    obj = getattr(module, name)
    problems = []
    if expected.get("class") and not inspect.isclass(obj):
        problems.append(f"is no longer a class ({type(obj).__name__})")
    if "params" in expected:
        params, want = _leading_params(obj), expected["params"]
        if params[: len(want)] != want:
            problems.append(f"takes ({', '.join(params)}), the runtime passes ({', '.join(want)})")
    abstract = set(getattr(obj, "__abstractmethods__", ()))
    if "abstract" in expected and abstract - expected["abstract"]:
        new = sorted(abstract - expected["abstract"])
        problems.append(f"has new abstract methods the runtime does not implement: {new}")
    for method, want in expected.get("methods", {}).items():
        if inspect.getattr_static(obj, method, None) is None:
            problems.append(f"has no method {method}")
            continue
        params = _leading_params(getattr(obj, method))
        if params[: len(want)] != want:
            problems.append(f"{method} takes ({', '.join(params)}), expected ({', '.join(want)})")
    problems.extend(
        f"has no attribute {attribute}"
        for attribute in sorted(expected.get("properties", ()))
        if inspect.getattr_static(obj, attribute, None) is None
    )
    missing_members = expected.get("members", set()) - set(getattr(obj, "__members__", {}))
    if missing_members:
        problems.append(f"has no members {sorted(missing_members)}")
    return [f"{_where(qualified)}: {problem}" for problem in problems]


@pytest.mark.parametrize("qualified", sorted(EXPECTED))
def test_private_dagster_name_still_fits(qualified: str) -> None:
    problems = shape_problems(qualified, EXPECTED[qualified])
    assert not problems, "\n".join(problems)


def test_a_removed_or_changed_name_is_named_with_the_version() -> None:
    gone = shape_problems("dagster._core.launcher.NoSuchLauncher", {"class": True})
    assert gone == [
        f"dagster._core.launcher.NoSuchLauncher (Dagster {dagster.__version__}, used by "
        "local_runtime/dagster_private.py): dagster._core.launcher no longer has NoSuchLauncher"
    ]
    changed = shape_problems(
        "dagster._serdes.ConfigurableClassData", {"params": ["module_name", "renamed"]}
    )
    assert len(changed) == 1 and "ConfigurableClassData" in changed[0]
    assert f"Dagster {dagster.__version__}" in changed[0] and "renamed" in changed[0]
    assert shape_problems("dagster._no_such_module.Thing", {})[0].endswith(
        "its module is gone (No module named 'dagster._no_such_module')"
    )


def test_the_queue_daemon_thread_keeps_its_name() -> None:
    """WarmingRunCoordinator recognises the daemon's queue thread by the name Dagster's
    daemon controller gives it (local_runtime/launcher.py, QUEUE_DAEMON_THREAD)."""
    from dagster._daemon import controller
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
        QueuedRunCoordinatorDaemon,
    )

    from local_runtime.launcher import QUEUE_DAEMON_THREAD

    assert 'name=f"dagster-daemon-{daemon_type}"' in inspect.getsource(controller), _where(
        "dagster._daemon.controller (daemon thread names)"
    )
    assert f"dagster-daemon-{QueuedRunCoordinatorDaemon.daemon_type()}" == QUEUE_DAEMON_THREAD


def test_no_other_runtime_module_imports_dagster_internals() -> None:
    """Private names come in through local_runtime/dagster_private.py only, so this test
    sees them all."""
    wrong = []
    for package in RUNTIME_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == PRIVATE_MODULE:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                modules = []
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                elif isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                wrong.extend(
                    f"{path.relative_to(ROOT)}: {module}"
                    for module in modules
                    if module.startswith(("dagster._", "dagster_shared"))
                )
    assert not wrong, "import these through local_runtime/dagster_private.py:\n" + "\n".join(wrong)


def test_the_private_imports_are_read_from_the_source(tmp_path: Path) -> None:
    source = tmp_path / "private.py"
    source.write_text(
        "from __future__ import annotations\nfrom dagster._core.launcher import (\n    Gone,\n)\n"
    )
    assert private_imports(source) == ["dagster._core.launcher.Gone"]
