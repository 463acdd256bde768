"""Imports run one way: local_runtime > pipeline_defs > sensors > assets > resources > vidmine.

``local_runtime`` (the ``vidmine`` command, the warm-fork run launcher, the local instance)
runs the code location; the code location (``pipeline_defs`` and below) never imports it,
so production runs the same definitions with Dagster's own launchers.

Read from the source with ``ast`` (no module is imported), so a lazy import inside a
function counts as much as one at the top. Within the core, the database layer and the
provider layer stay apart: providers reach the database only through the shapes in
``vidmine.providers.cache``, and the store writes the plain records of ``vidmine.models``.
Partitions and tag names live in leaf modules (``assets/partitions.py``,
``assets/tags.py``), so nothing below ``pipeline_defs`` needs it. No shipped code imports
the test doubles (``tests/fake_openai``): they are not installed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (the package or folder whose modules are checked, the top-level packages they must not import)
TEST_DOUBLES = ("fake_openai",)
LATER = ("local_runtime", *TEST_DOUBLES)  # what vidmine/ must not import besides
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("vidmine", ("dagster", "assets", "resources", "sensors", "pipeline_defs", *LATER)),
    ("pipeline_defs", ("local_runtime", *TEST_DOUBLES)),
    ("sensors", ("pipeline_defs", "local_runtime", *TEST_DOUBLES)),
    ("assets", ("sensors", "pipeline_defs", "local_runtime", *TEST_DOUBLES)),
    ("resources", ("assets", "sensors", "pipeline_defs", "local_runtime", *TEST_DOUBLES)),
    ("vidmine/db", ("vidmine.providers",)),
    ("vidmine/providers", ("vidmine.db",)),
]


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports, wherever in the file the import is."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize(("folder", "forbidden"), RULES, ids=[folder for folder, _ in RULES])
def test_imports_run_one_way(folder: str, forbidden: tuple[str, ...]) -> None:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"no Python files under {folder}/"
    wrong = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in files
        for module in sorted(imported_modules(path))
        if any(_inside(module, package) for package in forbidden)
    ]
    assert not wrong, f"{folder} must not import {', '.join(forbidden)}:\n" + "\n".join(wrong)


def test_the_check_sees_lazy_and_dotted_imports(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "import os.path\n"
        "from vidmine.db import store\n"
        "from . import sibling\n"
        "def later():\n"
        "    import dagster\n"
    )
    assert imported_modules(source) == {"os.path", "vidmine.db", "dagster"}
    assert _inside("vidmine.db.store", "vidmine.db") and not _inside("vidmine.dbx", "vidmine.db")
