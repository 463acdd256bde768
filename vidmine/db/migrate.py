"""Schema migrations: the numbered SQL files in ``vidmine/db/migrations`` applied in order.

Applied names are recorded in ``schema_migrations``. A session-level advisory lock makes
concurrent callers (the webserver, the daemon and a run worker all starting at once)
take turns, and each file runs in its own transaction, so a failing migration leaves
the schema as the previous one left it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

from vidmine.db.connection import connect

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any fixed number works; it only has to differ from other advisory locks on the server.
_ADVISORY_LOCK_KEY = 0x7669646D696E65  # "vidmine" in ASCII


class MigrationError(RuntimeError):
    """A migration file failed; the message names it."""


@dataclass(frozen=True)
class Migration:
    name: str  # file name without ".sql", e.g. "0001_initial"
    sql: str


def available_migrations() -> list[Migration]:
    """The migration files shipped with the package, in the order they apply."""
    folder = resources.files("vidmine.db") / "migrations"
    found = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        if not _MIGRATION_NAME.match(entry.name):
            raise MigrationError(
                f"migration file {entry.name!r} must be named NNNN_name.sql "
                "(four digits, lower-case letters, digits and underscores)"
            )
        found.append(Migration(entry.name.removesuffix(".sql"), entry.read_text("utf-8")))
    found.sort(key=lambda migration: migration.name)
    numbers = [migration.name[:4] for migration in found]
    if len(set(numbers)) != len(numbers):
        raise MigrationError(f"two migration files share a number: {sorted(numbers)}")
    return found


def migrate(url: str) -> list[str]:
    """Apply the migrations this database lacks; returns the names applied by this call."""
    applied_now: list[str] = []
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
            for migration in available_migrations():
                if migration.name in done:
                    continue
                try:
                    with conn.transaction():
                        conn.execute(migration.sql)
                        conn.execute(
                            "INSERT INTO schema_migrations (name) VALUES (%s)", (migration.name,)
                        )
                except Exception as err:
                    raise MigrationError(
                        f"migration {migration.name}.sql failed and was rolled back: {err}"
                    ) from err
                log.info("applied migration %s", migration.name)
                applied_now.append(migration.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK_KEY,))
    return applied_now


def pending_migrations(url: str) -> list[str]:
    """Names of the migrations not yet applied to this database."""
    with connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        done = (
            {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
            if exists and exists[0]
            else set()
        )
    return [m.name for m in available_migrations() if m.name not in done]
