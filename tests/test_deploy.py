"""Checks the production deployment files (deploy/, requirements.lock) without a Docker
engine: the Dagster instance configs load with Dagster's own schema (and start on a real
PostgreSQL), the compose file is consistent with itself, with .env.example and with the
instance config, the Dockerfiles copy files that exist and run commands this Dagster's
CLI accepts, and the locks pin what pyproject.toml asks for."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shlex
import subprocess
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import psycopg
import pytest
import yaml
from dagster import DagsterInstance
from dagster._check import CheckError
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster._core.launcher import RunLauncher
from dagster._core.run_coordinator import QueuedRunCoordinator, RunCoordinator
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.compute_log_manager import ComputeLogManager
from dagster._serdes import serialize_value
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
PRODUCTION_YAML = DEPLOY / "dagster.yaml"
LOCAL_YAML = DEPLOY / "dagster.local.yaml"
POSTGRES_LOCAL_YAML = DEPLOY / "dagster.postgres-local.yaml"
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
LOCK = REPO / "requirements.lock"
SUBSET_LOCKS = (DEPLOY / "requirements-base.lock", DEPLOY / "requirements-dagster.lock")
PROVIDER_TAG_LIMITS = {"vidmine/provider/openai": 4, "vidmine/provider/local": 2}
RELOCK = "run `bash deploy/lock.sh` (deploy/README.md, Dependency locks)"

# Placeholder connection values for schema-only checks; the password doubles as a
# sentinel that must never be copied into what a run container receives.
FAKE_PG_ENV = {
    "DAGSTER_POSTGRES_USER": "vidmine",
    "DAGSTER_POSTGRES_PASSWORD": "sentinel-password-4711",
    "DAGSTER_POSTGRES_HOST": "postgres",
    "DAGSTER_POSTGRES_DB": "dagster",
    "DAGSTER_POSTGRES_PORT": "5432",
    "VIDMINE_RUN_NETWORK": "vidmine",
}


# --- helpers -----------------------------------------------------------------------------


def _instance_dir(tmp_path: Path, source: Path, text: str | None = None) -> Path:
    """A DAGSTER_HOME holding ``source`` (or ``text``) as its dagster.yaml."""
    home = tmp_path / f"home-{uuid.uuid4().hex[:8]}"
    home.mkdir()
    (home / "dagster.yaml").write_text(source.read_text() if text is None else text)
    return home


def _load_parts(home: Path) -> InstanceRef:
    """Validates a dagster.yaml the way Dagster does at startup, and builds the parts that
    need no database (launcher, coordinator, log manager) with their own schemas."""
    dagster_instance_config(str(home))
    ref = InstanceRef.from_dir(str(home))
    ref.run_launcher_data.rehydrate(RunLauncher)
    ref.run_coordinator_data.rehydrate(RunCoordinator)
    ref.compute_logs_data.rehydrate(ComputeLogManager)
    return ref


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _tag_limits(config: dict) -> dict[str, int]:
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert all(limit.get("value") == "true" for limit in limits), (
        "provider tag limits must match the run tag value 'true' (pipeline_defs/tags.py)"
    )
    return {limit["key"]: limit["limit"] for limit in limits}


@pytest.fixture
def fake_pg_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in FAKE_PG_ENV.items():
        monkeypatch.setenv(name, value)
    return FAKE_PG_ENV


@pytest.fixture
def dagster_db(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh database on the session's PostgreSQL with DAGSTER_POSTGRES_* pointing at it.
    Returns the extra ``postgres_db.params`` needed when the server only has a unix socket
    (dagster-postgres puts the host into a URL, where a socket path cannot go)."""
    name = f"dagster_deploy_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = conninfo_to_dict(pg_url)
    host = str(info.get("host") or "")
    socket_params = {"host": host} if host.startswith("/") else {}
    monkeypatch.setenv("DAGSTER_POSTGRES_USER", str(info.get("user") or "postgres"))
    monkeypatch.setenv("DAGSTER_POSTGRES_PASSWORD", str(info.get("password") or ""))
    monkeypatch.setenv("DAGSTER_POSTGRES_HOST", "" if socket_params else host)
    monkeypatch.setenv("DAGSTER_POSTGRES_PORT", str(info.get("port") or 5432))
    monkeypatch.setenv("DAGSTER_POSTGRES_DB", name)
    yield socket_params
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _postgres_instance(tmp_path: Path, source: Path, socket_params: dict) -> DagsterInstance:
    config = _yaml(source)
    if socket_params:
        config["storage"]["postgres"]["postgres_db"]["params"] = socket_params
    return DagsterInstance.from_config(str(_instance_dir(tmp_path, source, yaml.safe_dump(config))))


# --- Dagster instance configs --------------------------------------------------------------


def test_production_instance_config_validates(tmp_path: Path, fake_pg_env: dict) -> None:
    ref = _load_parts(_instance_dir(tmp_path, PRODUCTION_YAML))
    config, _ = dagster_instance_config(str(_instance_dir(tmp_path, PRODUCTION_YAML)))

    assert ref.run_launcher_data.class_name == "DockerRunLauncher"
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"
    assert _tag_limits(config) == PROVIDER_TAG_LIMITS
    assert config["run_retries"]["enabled"] and config["run_retries"]["max_retries"] == 2
    monitoring = config["run_monitoring"]
    assert monitoring["enabled"] and monitoring["max_resume_run_attempts"] == 0
    assert config["telemetry"] == {"enabled": False}
    # Run containers get the instance ref on their command line: it must carry the
    # env var names, never the password itself.
    serialized = serialize_value(ref)
    assert fake_pg_env["DAGSTER_POSTGRES_PASSWORD"] not in serialized
    assert "DAGSTER_POSTGRES_PASSWORD" in serialized


def test_production_instance_config_names_a_missing_env_var(
    tmp_path: Path, fake_pg_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_POSTGRES_PASSWORD")
    ref = InstanceRef.from_dir(str(_instance_dir(tmp_path, PRODUCTION_YAML)))
    # Env values are read when the storage is built, before any connection is tried.
    with pytest.raises(DagsterInvalidConfigError, match="DAGSTER_POSTGRES_PASSWORD"):
        ref.storage_data.rehydrate(DagsterStorage)


@pytest.mark.parametrize(
    ("original", "typo", "reported"),
    [
        ("run_retries:", "run_retires:", "run_retires"),
        ("max_concurrent_runs: 8", "max_concurent_runs: 8", "max_concurent_runs"),
        ("poll_interval_seconds: 60", "poll_interval_secs: 60", "poll_interval_secs"),
        ("granularity: op", "granularity: ops", "ops"),
        ("network: {env: VIDMINE_RUN_NETWORK}", "netwrok: {env: VIDMINE_RUN_NETWORK}", "netwrok"),
        ("dequeue_interval_seconds: 5", "dequeue_interval_second: 5", "dequeue_interval_second"),
        ("class: DockerRunLauncher", "class: DockerRunLauncer", "DockerRunLauncer"),
        # Queue limits in both places is a conflict Dagster 1.13 refuses.
        (
            "    dequeue_interval_seconds: 5\n",
            "    dequeue_interval_seconds: 5\n    max_concurrent_runs: 8\n",
            "max_concurrent_runs",
        ),
    ],
)
def test_production_instance_config_rejects_a_typo(
    tmp_path: Path, fake_pg_env: dict, original: str, typo: str, reported: str
) -> None:
    text = PRODUCTION_YAML.read_text()
    assert original in text, f"the mutation no longer applies to {PRODUCTION_YAML.name}"
    home = _instance_dir(tmp_path, PRODUCTION_YAML, text.replace(original, typo, 1))
    with pytest.raises((DagsterInvalidConfigError, CheckError)) as failure:
        _load_parts(home)
    assert reported in str(failure.value)


def test_production_instance_starts_on_postgres(
    tmp_path: Path, dagster_db: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The launcher forwards these from the launching process; only their names matter here.
    monkeypatch.setenv("DATABASE_URL", "postgresql://unused@localhost/unused")
    monkeypatch.setenv("VIDMINE_RUN_NETWORK", "vidmine")
    instance = _postgres_instance(tmp_path, PRODUCTION_YAML, dagster_db)
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_runs() == []
        launcher = instance.run_launcher
        assert type(launcher).__name__ == "DockerRunLauncher"
        assert launcher.networks == ["vidmine"]
        assert "OPENAI_API_KEY" in launcher.env_vars
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None and queue.max_concurrent_runs == 8
        assert {t["key"]: t["limit"] for t in queue.tag_concurrency_limits} == (PROVIDER_TAG_LIMITS)
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert instance.run_monitoring_enabled
    finally:
        instance.dispose()


def test_postgres_local_instance_starts_with_the_default_launcher(
    tmp_path: Path, dagster_db: dict
) -> None:
    instance = _postgres_instance(tmp_path, POSTGRES_LOCAL_YAML, dagster_db)
    try:
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert {t["key"]: t["limit"] for t in queue.tag_concurrency_limits} == (PROVIDER_TAG_LIMITS)
        assert instance.run_retries_enabled
    finally:
        instance.dispose()


def test_postgres_local_matches_production_except_the_launcher() -> None:
    production, local = _yaml(PRODUCTION_YAML), _yaml(POSTGRES_LOCAL_YAML)
    for key in ("storage", "concurrency", "run_retries", "telemetry"):
        assert local[key] == production[key], f"{POSTGRES_LOCAL_YAML.name}: {key} drifted"


def test_local_instance_starts_on_sqlite(tmp_path: Path) -> None:
    instance = DagsterInstance.from_config(str(_instance_dir(tmp_path, LOCAL_YAML)))
    try:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert {t["key"]: t["limit"] for t in queue.tag_concurrency_limits} == (PROVIDER_TAG_LIMITS)
        assert instance.run_retries_enabled
        assert not instance.telemetry_enabled
    finally:
        instance.dispose()


def test_postgres_init_script_creates_the_dagster_database_and_pgvector(
    pg_url: str, tmp_path: Path
) -> None:
    psql_dir = _pgserver_bin_dir()
    info = conninfo_to_dict(pg_url)
    target = f"vidmine_init_{uuid.uuid4().hex[:12]}"
    dagster_name = f"dagster_init_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target)))
    env = {
        **os.environ,
        "PATH": f"{psql_dir}:{os.environ['PATH']}",
        "PGHOST": str(info.get("host") or "localhost"),
        "PGPORT": str(info.get("port") or 5432),
        "PGPASSWORD": str(info.get("password") or ""),
        "POSTGRES_USER": str(info.get("user") or "postgres"),
        "POSTGRES_DB": target,
        "DAGSTER_DB": dagster_name,
    }
    script = DEPLOY / "postgres" / "initdb" / "10-vidmine.sh"
    try:
        for _ in range(2):  # a second run must change nothing and not fail
            done = subprocess.run(
                ["bash", str(script)], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
        with psycopg.connect(pg_url) as conn:
            assert conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (dagster_name,)
            ).fetchone()
        with psycopg.connect(_with_dbname(pg_url, target)) as conn:
            assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for name in (target, dagster_name):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def _pgserver_bin_dir() -> Path:
    # pgserver ships psql beside its server binaries; a system psql works as well.
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "pginstall" / "bin"
        if (candidate / "psql").exists():
            return candidate
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if (Path(directory) / "psql").exists():
            return Path(directory)
    pytest.skip("no psql found (neither pgserver's nor on PATH) to run the init script")


def _with_dbname(url: str, dbname: str) -> str:
    info = conninfo_to_dict(url)
    info["dbname"] = dbname
    return make_conninfo(**info)


# --- compose --------------------------------------------------------------------------------

_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"{ENV_EXAMPLE.name}: not NAME=value: {line!r}"
            values[name.strip()] = value.strip()
    return values


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` with ``env``."""

    def replace(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        value = env.get(name)
        if op in (":-", ":?") and not value:
            return arg if op == ":-" else f"<required {name}>"
        return value if value is not None else (arg if op == "-" else "")

    return _VAR.sub(replace, text).replace("$$", "$")


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


@pytest.fixture(scope="module")
def compose() -> dict:
    return _yaml(COMPOSE)


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_compose_has_the_four_services_and_the_migration(compose: dict) -> None:
    assert set(compose["services"]) == {"postgres", "migrate", "user-code", "webserver", "daemon"}
    assert compose["services"]["postgres"]["image"] == "pgvector/pgvector:pg16"
    assert compose["services"]["daemon"]["command"][:2] == ["dagster-daemon", "run"]


def test_compose_builds_from_files_that_exist(compose: dict) -> None:
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is None:
            continue
        context = (DEPLOY / build["context"]).resolve()
        assert context.is_dir(), f"service {name}: build context {context} missing"
        assert (context / build["dockerfile"]).is_file(), (
            f"service {name}: {build['dockerfile']} missing in {context}"
        )


def test_compose_volumes_and_networks_are_declared(compose: dict) -> None:
    declared_volumes = set(compose.get("volumes") or {})
    declared_networks = set(compose.get("networks") or {})
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith((".", "/", "~")):
                if source.startswith("."):
                    assert (DEPLOY / source).exists(), f"service {name}: {source} missing"
            else:
                assert source in declared_volumes, f"service {name}: volume {source} undeclared"
        for network in service.get("networks", []):
            assert network in declared_networks, f"service {name}: network {network} undeclared"


def test_compose_variables_are_all_in_env_example(compose: dict) -> None:
    example = _env_example()
    override = _yaml(DEPLOY / "docker-compose.host-network.yml")
    used = {m.group(1) for text in _strings([compose, override]) for m in _VAR.finditer(text)}
    assert used - set(example) == set(), f"add to {ENV_EXAMPLE.name}: {used - set(example)}"
    assert set(example) - used == set(), f"unused in the compose files: {set(example) - used}"
    # Only placeholders are committed; real secrets go into the git-ignored deploy/.env.
    assert example["POSTGRES_PASSWORD"] == "" and example["OPENAI_API_KEY"] == ""
    assert "deploy/.env" in (REPO / ".gitignore").read_text().split()


def test_compose_published_ports_are_unique(compose: dict) -> None:
    env = _env_example()
    published: dict[str, str] = {}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            parts = _interpolate(str(port), env).split(":")
            host_port = parts[-2] if len(parts) >= 2 else parts[-1]
            assert host_port not in published, (
                f"port {host_port} published by {published.get(host_port)} and {name}"
            )
            published[host_port] = name
    assert "3000" in published


def test_compose_dependencies_exist_and_can_become_healthy(compose: dict) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        for target in depends:
            assert target in services, f"service {name} depends on unknown {target}"
            if isinstance(depends, dict) and depends[target].get("condition") == (
                "service_healthy"
            ):
                assert "healthcheck" in services[target], f"{target} has no healthcheck"


def test_schema_is_migrated_once_before_any_dagster_process_starts(compose: dict) -> None:
    # Several Dagster processes starting together on an empty database each create the
    # schema and leave it half built; the one-shot `migrate` service runs first.
    services = compose["services"]
    assert services["migrate"]["command"] == ["dagster", "instance", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("user-code", "webserver", "daemon"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, f"service {name} may start before the schema is migrated"


HOST_NETWORK = DEPLOY / "docker-compose.host-network.yml"


def test_host_network_override_puts_everything_on_the_host_network(compose: dict) -> None:
    override = _yaml(HOST_NETWORK)
    assert set(override["services"]) == set(compose["services"])
    for name, service in override["services"].items():
        assert service["network_mode"] == "host", name
        # No service may name a network: compose refuses network_mode with networks.
        assert "networks" not in compose["services"][name], name
    for name in ("migrate", "user-code", "webserver", "daemon"):
        env = _environment(override["services"][name])
        assert env["VIDMINE_RUN_NETWORK"] == "host", name
        # vidmine's tables and Dagster's storage on the same server, wherever it is.
        host = env["DAGSTER_POSTGRES_HOST"]
        assert env["DATABASE_URL"].split("@")[1].startswith(f"{host}:"), name
    for name in ("webserver", "daemon"):
        assert "user-code:127.0.0.1" in override["services"][name]["extra_hosts"]
        assert _environment(override["services"][name])["DOCKER_HOST"].startswith(
            "${VIDMINE_RUN_DOCKER_HOST:-"
        )
    data = override["volumes"]["vidmine-data"]
    assert data["name"] == compose["volumes"]["vidmine-data"]["name"]
    assert data["driver_opts"]["o"] == "bind"
    postgres_build = override["services"]["postgres"]["build"]
    assert (DEPLOY / postgres_build["context"] / postgres_build["dockerfile"]).is_file()


@pytest.mark.skipif(
    not Path("/usr/bin/docker-compose").exists(), reason="docker-compose 1.29 is not installed"
)
def test_compose_files_load_in_docker_compose_1_29(tmp_path: Path) -> None:
    env = {
        **os.environ,
        **{k: v or "x" for k, v in _env_example().items()},
        "VIDMINE_DATA_DIR": str(tmp_path),
        # A path, as on a real host: compose merges the two socket mounts by their target.
        "VIDMINE_DOCKER_SOCKET": "/var/run/docker.sock",
    }
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    base = ["/usr/bin/docker-compose", "--env-file", str(env_file), "-f", str(COMPOSE)]
    for argv in (base, [*base, "-f", str(HOST_NETWORK)]):
        done = subprocess.run(
            [*argv, "config", "-q"], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr


def test_compose_gives_runs_what_the_instance_config_expects(compose: dict) -> None:
    """deploy/dagster.yaml names env vars, a network and a volume; compose must provide
    them under those exact names."""
    launcher = _yaml(PRODUCTION_YAML)["run_launcher"]["config"]
    instance_env = set(re.findall(r"\{env: (\w+)\}", PRODUCTION_YAML.read_text()))
    services = compose["services"]
    for name in ("daemon", "webserver", "user-code"):
        env = _environment(services[name])
        missing = (set(launcher["env_vars"]) | instance_env) - set(env)
        assert not missing, f"service {name} lacks {sorted(missing)}"
    for name in ("daemon", "webserver"):
        assert "/var/run/docker.sock:/var/run/docker.sock" in services[name]["volumes"]

    network_names = {cfg.get("name", key) for key, cfg in compose["networks"].items()}
    assert launcher["network"] == {"env": "VIDMINE_RUN_NETWORK"}
    assert _environment(services["daemon"])["VIDMINE_RUN_NETWORK"] in network_names
    volume_names = {key: cfg.get("name", key) for key, cfg in compose["volumes"].items()}
    run_mount = launcher["container_kwargs"]["volumes"][0]
    run_volume, run_target = run_mount.split(":")[:2]
    assert run_volume == volume_names["vidmine-data"]
    assert run_target == _environment(services["user-code"])["VIDMINE_HOME"]
    assert f"vidmine-data:{run_target}" in services["user-code"]["volumes"]

    user_code = services["user-code"]
    assert _environment(user_code)["DAGSTER_CURRENT_IMAGE"] == user_code["image"]


def test_workspace_points_at_the_code_server(compose: dict) -> None:
    server = _yaml(DEPLOY / "workspace.yaml")["load_from"][0]["grpc_server"]
    assert server["host"] in compose["services"]
    cmd = _dockerfile(DEPLOY / "Dockerfile.user-code").cmd
    assert str(server["port"]) == cmd[cmd.index("-p") + 1]
    assert server["location_name"] == cmd[cmd.index("--location-name") + 1]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert server["location_name"] == pyproject["tool"]["dagster"]["code_location_name"]


# --- Dockerfiles ----------------------------------------------------------------------------


@dataclass
class Dockerfile:
    stages: list[str] = field(default_factory=list)  # resolved FROM images
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, dest)
    final_user: str | None = None
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)


def _dockerfile(path: Path) -> Dockerfile:
    """The instructions these checks need; handles continuations and JSON forms."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if raw.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        logical.append(pending + raw)
        pending = ""
    result = Dockerfile()
    args: dict[str, str] = {}
    aliases: set[str] = set()
    for line in logical:
        instruction, _, rest = line.strip().partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        elif instruction == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), rest.split()[0])
            if image not in aliases:  # FROM <an earlier stage> adds no base image
                result.stages.append(image)
            if " AS " in rest.upper():
                aliases.add(rest.split()[-1])
            # USER and ENV do not carry over into a new stage.
            result.final_user = None
            result.env = {}
        elif instruction == "COPY":
            tokens = shlex.split(rest)
            if any(token.startswith("--from") for token in tokens):
                continue
            paths = [token for token in tokens if not token.startswith("--")]
            result.copies.append((paths[:-1], paths[-1]))
        elif instruction == "USER":
            result.final_user = rest
        elif instruction == "CMD":
            result.cmd = json.loads(rest)
        elif instruction == "HEALTHCHECK":
            result.healthcheck = json.loads(rest[rest.index("CMD") + 3 :])
        elif instruction == "ENV":
            for token in shlex.split(rest):
                name, _, value = token.partition("=")
                result.env[name] = value
        elif instruction == "RUN":
            result.runs.append(rest)
    return result


DOCKERFILES = sorted(p for p in DEPLOY.glob("Dockerfile.*") if p.suffix != ".dockerignore")


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_copies_files_that_exist(path: Path) -> None:
    parsed = _dockerfile(path)
    assert parsed.copies, f"{path.name}: no COPY found"
    for sources, _dest in parsed.copies:
        for source in sources:
            assert (REPO / source).exists(), (
                f"{path.name} copies {source}, which is not in the repository "
                "(the build context is the repository root)"
            )


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_context_lets_every_copy_source_through(path: Path) -> None:
    # The context is the repository root (.venv and media included), so each Dockerfile
    # has an allowlist; a COPY source missing from it would fail the build.
    ignore = path.with_name(path.name + ".dockerignore")
    assert ignore.is_file(), f"{ignore.name} missing: the build would send all of .venv"
    allowed = {line[1:].strip() for line in ignore.read_text().splitlines() if line[:1] == "!"}
    for sources, _dest in _dockerfile(path).copies:
        for source in sources:
            assert source in allowed, f"add `!{source}` to {ignore.name}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_builds_without_a_registry_frontend_and_with_a_small_context(
    path: Path,
) -> None:
    # A `# syntax=` line makes BuildKit pull its frontend from a registry; the legacy
    # builder reads only the root .dockerignore, which must let every COPY through too.
    assert not path.read_text().startswith("# syntax"), f"{path.name}: drop the # syntax line"
    allowed = {
        line[1:].strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line[:1] == "!"
    }
    assert {"*", ".venv"} & set((REPO / ".dockerignore").read_text().split()) == {"*"}
    for sources, _dest in _dockerfile(path).copies:
        for source in sources:
            assert source in allowed, f"add `!{source}` to .dockerignore"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_is_slim_multistage_and_non_root(path: Path) -> None:
    parsed = _dockerfile(path)
    assert len(parsed.stages) >= 2, f"{path.name}: expected a build and a runtime stage"
    assert set(parsed.stages) == {"python:3.11-slim-bookworm"}
    assert parsed.final_user not in (None, "root", "0"), f"{path.name}: runs as root"
    assert parsed.env["DAGSTER_HOME"] == "/opt/dagster/home"


def test_user_code_image_has_the_system_tools_and_settings() -> None:
    parsed = _dockerfile(DEPLOY / "Dockerfile.user-code")
    apt = next(run for run in parsed.runs if "apt-get install" in run)
    for package in ("ffmpeg", "tesseract-ocr", "tesseract-ocr-eng", "libgl1", "libglib2.0-0"):
        assert f" {package} " in f" {apt} ", f"apt package {package} missing"
    assert "--no-install-recommends" in apt and "rm -rf /var/lib/apt/lists" in apt
    assert parsed.env["VIDMINE_HOME"] == "/data/vidmine"
    assert any("--require-hashes" in run and "requirements" in run for run in parsed.runs)


def test_user_code_command_serves_the_definitions_module() -> None:
    cmd = _dockerfile(DEPLOY / "Dockerfile.user-code").cmd
    module = cmd[cmd.index("-m") + 1]
    assert module == "pipeline_defs.definitions"
    assert importlib.util.find_spec(module) is not None, f"{module} is not importable"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["tool"]["dagster"]["module_name"] == module


# The console scripts the images and compose run, and the click command behind each.
_CLIS = {
    "dagster": "dagster._cli:cli",
    "dagster-daemon": "dagster._daemon.cli:cli",
    "dagster-webserver": "dagster_webserver.cli:cli",
}


def _parse_cli(argv: list[str]) -> str:
    """Parses ``argv`` with the installed Dagster's own click commands without running
    it; returns the resolved (sub)command name. Image paths of files the Dockerfiles copy
    are swapped for the repository files so path options can be checked too."""
    image_files = {"/opt/dagster/home/workspace.yaml": str(DEPLOY / "workspace.yaml")}
    module, _, attr = _CLIS[argv[0]].partition(":")
    command: click.Command = getattr(importlib.import_module(module), attr)
    args = [image_files.get(arg, arg) for arg in argv[1:]]
    ctx = command.make_context(argv[0], args)
    while isinstance(command, click.Group):
        # click >= 8.2 keeps the subcommand words in _protected_args.
        protected = getattr(ctx, "_protected_args", None)
        rest = [*(ctx.protected_args if protected is None else protected), *ctx.args]
        name, command, rest = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx)
    return command.name


def test_container_commands_parse_with_this_dagster(compose: dict) -> None:
    user_code = _dockerfile(DEPLOY / "Dockerfile.user-code")
    dagster_image = _dockerfile(DEPLOY / "Dockerfile.dagster")
    services = compose["services"]
    commands = [
        user_code.cmd,
        user_code.healthcheck,
        dagster_image.cmd,
        services["webserver"]["command"],
        services["daemon"]["command"],
        services["migrate"]["command"],
        services["user-code"]["healthcheck"]["test"][1:],
        services["daemon"]["healthcheck"]["test"][1:],
    ]
    for argv in commands:
        assert _parse_cli(argv), argv
    # The workspace file the webserver and daemon are pointed at is the one the image has.
    assert ["deploy/dagster.yaml", "deploy/workspace.yaml"] in [
        sources for sources, _ in dagster_image.copies
    ]


# --- dependency locks -----------------------------------------------------------------------


def _lock_entries(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (pinned version, hashes) of a ``--generate-hashes`` lock file."""
    text = re.sub(r"\\\n", " ", path.read_text())
    entries = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        requirement, *options = line.split("--hash=")
        name, sep, version = requirement.strip().partition("==")
        assert sep, f"{path.name}: {requirement.strip()!r} is not pinned with =="
        assert options, f"{path.name}: {name} has no --hash"
        entries[canonicalize_name(name)] = (version, frozenset(o.strip() for o in options))
    return entries


@pytest.fixture(scope="module")
def lock() -> dict[str, tuple[str, frozenset[str]]]:
    return _lock_entries(LOCK)


def test_lock_covers_pyproject(lock: dict) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in ("local", "embedded-db", "dev"):
        wanted += project["optional-dependencies"][extra]
    for spec in wanted:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{LOCK.name} lacks {name} ({spec}); {RELOCK}"
        version = lock[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{LOCK.name} pins {name}=={version}, pyproject.toml wants {spec}; {RELOCK}"
        )


def test_lock_keeps_sqlalchemy_below_2_1_and_says_why(lock: dict) -> None:
    assert Requirement("sqlalchemy<2.1").specifier.contains(lock["sqlalchemy"][0])
    comments = [line for line in LOCK.read_text().splitlines() if line.startswith("#")]
    assert any("sqlalchemy" in line.lower() and "2.1" in line for line in comments)


def test_lock_leaves_out_torch_and_cuda(lock: dict) -> None:
    cuda = [n for n in lock if n in ("torch", "triton") or n.startswith("nvidia-")]
    assert cuda == [], f"{LOCK.name} must not pin {cuda}: torch is installed separately"
    header = LOCK.read_text().split("\n\n", 1)[0]
    assert "torch==2.13.0+cpu" in header and "deploy/lock.sh" in header


@pytest.mark.parametrize("path", SUBSET_LOCKS, ids=lambda p: p.name)
def test_deploy_locks_are_subsets_of_the_main_lock(path: Path, lock: dict) -> None:
    for name, (version, hashes) in _lock_entries(path).items():
        assert name in lock, f"{path.name} pins {name}, {LOCK.name} does not; {RELOCK}"
        assert lock[name] == (version, hashes), (
            f"{name}: {path.name} and {LOCK.name} disagree; {RELOCK}"
        )


def test_dagster_lock_has_what_the_webserver_and_daemon_run() -> None:
    names = set(_lock_entries(DEPLOY / "requirements-dagster.lock"))
    assert {"dagster", "dagster-webserver", "dagster-postgres", "dagster-docker"} <= names
