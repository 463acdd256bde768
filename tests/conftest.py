"""Fixtures shared by the whole test suite.

Parallel runs: pyproject.toml runs the suite on two pytest-xdist workers with ``--dist
loadfile``: all of a module's tests on one worker, so its module-scoped fixtures (a pipeline
run, a daemon's first wave) are set up once. Each worker is a session of its own, with its
own PostgreSQL, temporary folders and Dagster instances.

Database: ONE PostgreSQL for the session (an embedded pgserver in a short temporary
folder, or the server named by ``VIDMINE_TEST_DATABASE_URL``, whose user must be allowed
to create databases), a migrated template database, and for each test that asks a fresh
database copied from that template (``store_url``, ``store``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from vidmine.db.connection import ensure_embedded, normalize_url, stop_embedded, with_database
from vidmine.db.migrate import migrate
from vidmine.db.store import Store
from vidmine.settings import VidmineHome

# --- parallel runs (pytest-xdist) ----------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the modules holding slow tests go first: they mostly wait on daemons and
    real timeouts, so they overlap the CPU-bound modules instead of leaving one worker
    alone at the end. (pyproject.toml's --no-loadscope-reorder keeps this order.)"""
    if not hasattr(config, "workerinput"):  # the controller, or a run without -n
        return
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_modules)  # stable: modules stay whole


# --- database ----------------------------------------------------------------------------


def _admin(url: str, statement: sql.Composable) -> None:
    # CREATE/DROP DATABASE and ALTER SYSTEM refuse to run inside a transaction.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of the session's PostgreSQL server (its maintenance database)."""
    external = os.environ.get("VIDMINE_TEST_DATABASE_URL", "").strip()
    if external:
        yield normalize_url(external, source="VIDMINE_TEST_DATABASE_URL")
        return
    # Short on purpose: the server's unix socket lives in this folder.
    root = Path(tempfile.mkdtemp(prefix="vmpg"))
    home = VidmineHome(root)
    url = ensure_embedded(home)
    # A throwaway server: durability only costs time here.
    for setting in ("fsync", "synchronous_commit", "full_page_writes"):
        _admin(url, sql.SQL("ALTER SYSTEM SET {} = off").format(sql.Identifier(setting)))
    _admin(url, sql.SQL("SELECT pg_reload_conf()"))
    try:
        yield url
    finally:
        stop_embedded(home)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated_template(pg_url: str) -> Iterator[str]:
    """Name of a database holding vidmine's migrated schema, to copy per test."""
    name = f"vidmine_template_{uuid.uuid4().hex[:12]}"
    _admin(pg_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate(with_database(pg_url, name))
    yield name
    _admin(pg_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def store_url(pg_url: str, migrated_template: str) -> Iterator[str]:
    """URL of a fresh, migrated database for this test only (dropped afterwards)."""
    name = f"vidmine_test_{uuid.uuid4().hex[:12]}"
    _admin(
        pg_url,
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(migrated_template)
        ),
    )
    yield with_database(pg_url, name)
    _admin(pg_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def store(store_url: str) -> Store:
    """A Store on this test's fresh database."""
    return Store(store_url)


@pytest.fixture
def database_env(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Points DATABASE_URL at this test's database, for code that calls database_url()."""
    monkeypatch.setenv("DATABASE_URL", store_url)
    return store_url


# --- a whole pipeline environment ----------------------------------------------------------


def _module_database(pg_url: str, template: str) -> tuple[str, str]:
    """A database copied from the template: (its name, its URL)."""
    name = f"vidmine_module_{uuid.uuid4().hex[:10]}"
    _admin(
        pg_url,
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)
        ),
    )
    return name, with_database(pg_url, name)


@contextmanager
def _pipeline_context(url: str, home: Path) -> Iterator[dict]:
    """DATABASE_URL and VIDMINE_HOME pointed at ``url`` and ``home``, and a Dagster
    instance, for as long as the block lasts."""
    import dagster as dg

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        mp.setenv("VIDMINE_HOME", str(home))
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))  # the CLI's instance, restored after
        mp.delenv("VIDMINE_CONFIG", raising=False)
        mp.setenv("HF_HUB_OFFLINE", "1")
        with dg.instance_for_test() as instance:
            yield {"home": home, "store": Store(url), "instance": instance, "url": url}


@pytest.fixture(scope="module")
def pipeline_env(pg_url: str, migrated_template: str, tmp_path_factory) -> Iterator[dict]:
    """For a test module that runs the pipeline: its own database (from the template),
    VIDMINE_HOME and Dagster instance. Yields {"home", "store", "instance", "url"}."""
    name, url = _module_database(pg_url, migrated_template)
    with _pipeline_context(url, tmp_path_factory.mktemp("home")) as env:
        yield env
    _admin(pg_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def _web_library(pg_url: str, migrated_template: str, tmp_path_factory) -> Iterator[dict]:
    """The database and VIDMINE_HOME that the `vidmine serve` test modules share, and the
    id of the sample video once the first of them has processed it."""
    name, url = _module_database(pg_url, migrated_template)
    yield {"url": url, "home": tmp_path_factory.mktemp("web_home"), "video_id": None}
    _admin(pg_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def web_env(_web_library: dict, tmp_path_factory) -> Iterator[dict]:
    """pipeline_env for the `vidmine serve` tests (test_web, test_web_browser), on one
    library for the session: the sample video (web_helpers.WEB_SCENES) goes through the
    pipeline once, and each module gets the environment and a Dagster instance of its own.
    Yields pipeline_env's keys and "video_id"."""
    from web_helpers import ingest_web_sample

    with _pipeline_context(_web_library["url"], _web_library["home"]) as env:
        if _web_library["video_id"] is None:
            folder = tmp_path_factory.mktemp("web_sample")
            _web_library["video_id"] = ingest_web_sample(env, folder)
        yield {**env, "video_id": _web_library["video_id"]}
