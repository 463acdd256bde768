"""The database resource: vidmine's PostgreSQL (``database_url``, else ``DATABASE_URL``,
else an embedded pgserver under ``VIDMINE_HOME``), migrated once per process, with a
connection pool that lives as long as the run or sensor tick using it."""

from __future__ import annotations

import functools

import dagster as dg
from pydantic import PrivateAttr

from vidmine.db.connection import database_url
from vidmine.db.migrate import migrate
from vidmine.db.pool import PooledStore
from vidmine.db.store import Store
from vidmine.settings import VidmineHome

POOL_SIZE = 4  # a run's steps go one at a time; threads inside a step share a few


@functools.cache
def _migrated_url(url: str) -> str:
    migrate(url)
    return url


def resolve_database_url(explicit_url: str | None = None) -> str:
    """The configured database's URL, migrated on first use in this process."""
    return _migrated_url(explicit_url or database_url(VidmineHome.from_env().ensure()))


def open_store(explicit_url: str | None = None) -> Store:
    """A Store for the configured database (a connection per call), for short commands
    outside Dagster's runs (`vidmine status`, `vidmine ingest`'s registration)."""
    return Store(resolve_database_url(explicit_url))


class VidmineDatabase(dg.ConfigurableResource):
    """vidmine's own tables (videos, stage rows, search items), not Dagster's storage.

    The pool opens on the first ``store()`` call of a run or sensor tick (a tick that
    finds nothing to do connects to nothing) and closes when it ends."""

    database_url: str | None = None
    _store: PooledStore | None = PrivateAttr(default=None)

    def store(self) -> Store:
        if self._store is None:
            url = resolve_database_url(self.database_url)
            self._store = PooledStore(url, max_size=POOL_SIZE, name="vidmine-run")
        return self._store

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
