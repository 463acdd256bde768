"""The database resource: vidmine's PostgreSQL (``DATABASE_URL``, else an embedded
pgserver under ``VIDMINE_HOME``), migrated once per process."""

from __future__ import annotations

import functools

import dagster as dg

from vidmine.db.connection import database_url
from vidmine.db.migrate import migrate
from vidmine.db.store import Store
from vidmine.settings import VidmineHome


@functools.cache
def _migrated_store(url: str) -> Store:
    migrate(url)
    return Store(url)


def open_store(explicit_url: str | None = None) -> Store:
    """The process-wide Store for the configured database, migrated on first use."""
    url = explicit_url or database_url(VidmineHome.from_env().ensure())
    return _migrated_store(url)


class VidmineDatabase(dg.ConfigurableResource):
    """vidmine's own tables (videos, stage rows, search items), not Dagster's storage."""

    database_url: str | None = None

    def store(self) -> Store:
        return open_store(self.database_url)
