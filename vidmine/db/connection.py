"""Where vidmine's PostgreSQL is and how to open a connection to it.

``DATABASE_URL`` wins when set. Otherwise vidmine runs an embedded PostgreSQL 16 with
pgvector (the ``pgserver`` package) whose data lives in ``VIDMINE_HOME/pg``. Many
processes ask for it at once (the Dagster webserver, the daemon, every run worker,
the CLI, tests), so starting it is serialised by a file lock, the server is left
running when the process that started it exits (later processes reuse it), and the
leftovers of a crash or a machine restart (a ``postmaster.pid`` naming a dead or
recycled pid, a stale socket lock) are cleared before starting again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from pgvector.psycopg import register_vector

from vidmine.settings import VidmineHome

log = logging.getLogger(__name__)

# The user pgserver runs postgres as when we are root (postgres refuses to run as root).
_PGSERVER_SYSTEM_USER = "pgserver"
_URL_SCHEMES = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+psycopg": "postgresql",
    "postgresql+psycopg2": "postgresql",
}

# One start at a time inside this process: file locks order processes, not threads.
_start_guard = threading.Lock()


@dataclass(frozen=True)
class _Running:
    """A server this process found running (see ensure_embedded)."""

    url: str
    pid: int
    socket: Path | None


_running: dict[Path, _Running] = {}  # by pgdata
# URLs whose database is known to have the vector extension (saves a query per connect).
_vector_ready: set[str] = set()
_vector_guard = threading.Lock()


class DatabaseConfigError(ValueError):
    """DATABASE_URL (or another given URL) is not a PostgreSQL URL we can use."""


class EmbeddedDatabaseError(RuntimeError):
    """The embedded PostgreSQL could not be started; the message names its log file."""


def database_url(home: VidmineHome) -> str:
    """The URL of vidmine's database: ``DATABASE_URL`` if set, else the embedded server's."""
    env_url = os.environ.get("DATABASE_URL", "").strip()
    if env_url:
        return normalize_url(env_url, source="DATABASE_URL")
    return ensure_embedded(home)


def normalize_url(url: str, *, source: str = "the database URL") -> str:
    """Turn the SQLAlchemy-style and short forms into the ``postgresql://`` psycopg accepts."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _URL_SCHEMES:
        # Never echo the value itself: it may hold a password.
        got = f"the scheme {scheme!r}" if sep else "no scheme"
        raise DatabaseConfigError(
            f"{source} must be a PostgreSQL URL such as postgresql://user:pass@host:5432/dbname "
            f"(postgres:// and postgresql+psycopg2:// are accepted too); it has {got}. "
            f"Fix {source}, or unset DATABASE_URL to use the embedded database."
        )
    return f"{_URL_SCHEMES[scheme.lower()]}://{rest}"


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database (keeps host, user and query)."""
    parts = urlsplit(normalize_url(url))
    return urlunsplit(parts._replace(path="/" + dbname))


# --- embedded server ----------------------------------------------------------------------


def ensure_embedded(home: VidmineHome) -> str:
    """Start the embedded server for ``home`` unless it runs already; return its URL."""
    pgdata = home.pg_data.resolve()
    known = _running.get(pgdata)
    if (
        known is not None
        and (known.socket is None or known.socket.exists())
        and _postmaster_is_ours(pgdata, known.pid)
    ):
        return known.url
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with _start_guard, _file_lock(_lock_path(home)):
        running = _start_locked(pgdata)
    _running[pgdata] = running
    return running.url


def stop_embedded(home: VidmineHome) -> bool:
    """Stop the embedded server of ``home`` if it runs; returns whether one was stopped."""
    pgdata = home.pg_data.resolve()
    _running.pop(pgdata, None)
    if not pgdata.exists():
        return False
    with _start_guard, _file_lock(_lock_path(home)):
        return _stop_locked(pgdata, mode="fast")


def _lock_path(home: VidmineHome) -> Path:
    # Beside pgdata, not inside it: initdb wants an empty directory.
    return home.pg_data.resolve().parent / ".pg-start.lock"


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # flock, not lockf: a lockf lock is dropped when *any* descriptor of the file closes
    # in this process; the kernel releases either when the process dies.
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _import_pgserver() -> types.ModuleType:
    try:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset and falls back to /tmp.
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as err:
        raise EmbeddedDatabaseError(
            "DATABASE_URL is not set and the embedded database needs the 'pgserver' package: "
            "install it (pip install -e '.[embedded-db]') or set DATABASE_URL."
        ) from err
    return pgserver


def _system_user() -> str | None:
    return _PGSERVER_SYSTEM_USER if os.geteuid() == 0 else None


def _read_pid_file(pgdata: Path) -> tuple[int, Path | None] | None:
    """The postmaster pid and socket directory recorded in ``postmaster.pid``, if readable."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
    return pid, socket_dir


def _postmaster_is_ours(pgdata: Path, pid: int) -> bool:
    """Whether ``pid`` is a live postgres serving ``pgdata`` (pids get recycled after a reboot)."""
    import psutil  # a pgserver dependency: only needed for the embedded server

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != "postgres":
            return False
        # postgres runs in its data folder; the command line names it when pg_ctl started it.
        return proc.cwd() == str(pgdata) or str(pgdata) in proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _clear_stale_files(pgdata: Path) -> None:
    """Remove a crash's lock files so postgres does not mistake a recycled pid for a server."""
    recorded = _read_pid_file(pgdata)
    if recorded is None:
        # Missing, or half-written by a start that a crash interrupted.
        (pgdata / "postmaster.pid").unlink(missing_ok=True)
        return
    pid, socket_dir = recorded
    if _postmaster_is_ours(pgdata, pid):
        return
    log.warning("embedded PostgreSQL in %s was not shut down cleanly; recovering", pgdata)
    # Backends of a killed postmaster linger a moment; a new postmaster must not share
    # the data folder with them (postgres would check that itself, but only through the
    # very pid file we are about to delete).
    _end_orphaned_backends(pgdata)
    (pgdata / "postmaster.pid").unlink(missing_ok=True)
    for directory in {pgdata, socket_dir} - {None}:
        for stale in directory.glob(".s.PGSQL.*"):  # the socket and its .lock file
            stale.unlink(missing_ok=True)


def _end_orphaned_backends(pgdata: Path, *, patience_s: float = 10.0) -> None:
    import psutil

    def orphans() -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["name"]):
            try:
                if (
                    proc.info["name"] == "postgres"
                    and proc.status() != psutil.STATUS_ZOMBIE
                    and proc.cwd() == str(pgdata)  # every postgres process runs in its pgdata
                ):
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return found

    lingering = orphans()
    if lingering:
        _, alive = psutil.wait_procs(lingering, timeout=patience_s)
        for proc in alive:
            log.warning("killing postgres process %s left over in %s", proc.pid, pgdata)
            proc.kill()
        psutil.wait_procs(alive, timeout=5)


def _start_locked(pgdata: Path) -> _Running:
    pgserver = _import_pgserver()
    if (pgdata / "PG_VERSION").exists():
        _clear_stale_files(pgdata)
    pgdata.mkdir(exist_ok=True)
    if _system_user() is not None:
        from pgserver.utils import ensure_user_exists

        # pgserver adds this user without a lock of its own; two first-ever starts in
        # different homes would race on useradd.
        with pgserver.PostgresServer._lock:
            ensure_user_exists(_PGSERVER_SYSTEM_USER)
    for _attempt in (1, 2):
        try:
            # cleanup_mode=None: the server outlives this process for the next one to reuse.
            server = pgserver.PostgresServer(pgdata, cleanup_mode=None)
            info = server.get_postmaster_info()
        except Exception as err:
            raise EmbeddedDatabaseError(
                f"could not start the embedded PostgreSQL in {pgdata}: {err}. See its log "
                f"{pgdata / 'log'}; stop any other postgres using that folder, or set "
                "DATABASE_URL to use another server."
            ) from err
        if info.socket_path is None or info.socket_path.exists():
            return _Running(server.get_uri(), info.pid, info.socket_path)
        # Running but unreachable: its socket was cleaned out of /tmp. Restart it.
        log.warning(
            "embedded PostgreSQL (pid %s) lost its socket %s; restarting",
            info.pid,
            info.socket_path,
        )
        _stop_locked(pgdata, mode="fast")
    raise EmbeddedDatabaseError(
        f"the embedded PostgreSQL in {pgdata} starts but its socket does not appear; "
        f"see its log {pgdata / 'log'}."
    )


def _stop_locked(pgdata: Path, *, mode: str) -> bool:
    recorded = _read_pid_file(pgdata)
    if recorded is None or not _postmaster_is_ours(pgdata, recorded[0]):
        return False
    pgserver = _import_pgserver()
    pgserver.pg_ctl(["-w", "-m", mode, "stop"], pgdata=pgdata, user=_system_user())
    return True


# --- connections --------------------------------------------------------------------------


def connect(url: str, **kwargs: object) -> psycopg.Connection:
    """Open a connection with pgvector's types registered (creates the extension if missing).

    The connection is not in autocommit mode: use it as a context manager so that the
    work inside commits on success and rolls back on an exception.
    """
    conn = psycopg.connect(url, **kwargs)
    try:
        if url not in _vector_ready:
            _ensure_vector_extension(conn, url)
        register_vector(conn)
        if not conn.autocommit:
            conn.commit()  # end the transaction register_vector's type lookups opened
    except BaseException:
        conn.close()
        raise
    return conn


def _ensure_vector_extension(conn: psycopg.Connection, url: str) -> None:
    with _vector_guard:
        try:
            with conn.transaction():
                present = conn.execute(
                    "SELECT 1 FROM pg_extension WHERE extname = 'vector'"
                ).fetchone()
                if present is None:
                    # Concurrent first connections wait here rather than collide on
                    # pg_extension's unique name.
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext('vidmine:vector'))")
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as err:
            raise DatabaseConfigError(
                f"the database at {_redacted(url)} lacks the pgvector extension and it "
                f"could not be created ({err}). Install pgvector on that server and run "
                "'CREATE EXTENSION vector' there as a superuser, or unset DATABASE_URL to "
                "use the embedded database."
            ) from err
        _vector_ready.add(url)


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
