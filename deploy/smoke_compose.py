"""The compose stack of the smoke run (deploy/smoke.py): docker-compose 1.29 over
docker-compose.yml and the host-network override, flattened into one file, and the
questions the smoke run asks of the running stack (vidmine's status, Dagster's run records,
duplicated search rows), answered inside the user code container.

It reads only: nothing here changes what a run does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from smoke_engine import Engine, SmokeError, run

DEPLOY = Path(__file__).resolve().parent
COMPOSE_FILES = [DEPLOY / "docker-compose.yml", DEPLOY / "docker-compose.host-network.yml"]
PROJECT = "vidmine-smoke"


@dataclass
class Compose:
    engine: Engine
    env_file: Path
    env: dict[str, str] = field(default_factory=dict)

    merged: Path | None = None

    def flatten(self, dest: Path) -> None:
        """One compose file from docker-compose.yml and the host-network override, minus
        the webserver's published port: docker-compose 1.29 refuses `ports` together with
        `network_mode: host` (Compose v2 only warns), and an override cannot remove a key."""
        text = self("config").stdout
        config = yaml.safe_load(text)
        for service in config["services"].values():
            if service.get("network_mode") == "host":
                service.pop("ports", None)
        dest.write_text(yaml.safe_dump(config, sort_keys=False))
        dest.chmod(0o600)  # it holds the generated database password
        self.merged = dest

    def __call__(self, *args: str, check: bool = True, capture: bool = True):
        sources = [self.merged] if self.merged else COMPOSE_FILES
        files = [a for f in sources for a in ("-f", str(f))]
        env = {
            **self.engine.env(),
            **self.env,
            # The legacy builder: BuildKit's dockerfile frontend comes from a registry.
            "DOCKER_BUILDKIT": "0",
            "COMPOSE_DOCKER_CLI_BUILD": "0",
        }
        return run(
            ["docker-compose", "-p", PROJECT, "--env-file", str(self.env_file), *files, *args],
            check=check,
            capture=capture,
            env=env,
        )

    def container(self, service: str) -> str:
        out = self("ps", "-q", service).stdout.strip()
        if not out:
            raise SmokeError(f"service {service} has no container")
        return out.splitlines()[0]

    def exec_python(self, service: str, code: str) -> str:
        return self.engine.docker(
            "exec", "-i", self.container(service), "python", "-c", code
        ).stdout


# Runs inside the user code container: Dagster's run records as JSON.
RUNS_QUERY = r"""
import json
from dagster import DagsterInstance
from dagster._core.storage.dagster_run import RunsFilter
instance = DagsterInstance.get()
out = []
for record in instance.get_run_records(RunsFilter()):
    run = record.dagster_run
    steps = {}
    for event in instance.all_logs(run.run_id):
        kind = event.dagster_event.event_type_value if event.dagster_event else None
        if kind == "STEP_SUCCESS":
            steps[event.step_key] = steps.get(event.step_key, 0) + 1
    out.append({
        "run_id": run.run_id, "status": run.status.value, "job": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "parent": run.parent_run_id, "root": run.root_run_id,
        "providers": sorted(k.split("/")[-1] for k, v in run.tags.items()
                            if k.startswith("vidmine/provider/") and v == "true"),
        "start": record.start_time, "end": record.end_time, "steps_succeeded": steps,
    })
print(json.dumps(out))
"""


# Runs inside the user code container: search rows written twice for the same source.
DUPLICATES_QUERY = r"""
import json, os, psycopg
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    rows = conn.execute(
        "SELECT video_id, kind, source_id, count(*) FROM search_items"
        " GROUP BY 1, 2, 3 HAVING count(*) > 1"
    ).fetchall()
print(json.dumps([list(map(str, row)) for row in rows]))
"""


def vidmine_status(compose: Compose) -> dict:
    out = compose.engine.docker(
        "exec", compose.container("user-code"), "vidmine", "status", "--json"
    ).stdout
    return json.loads(out)


def dagster_runs(compose: Compose) -> list[dict]:
    return json.loads(compose.exec_python("user-code", RUNS_QUERY))


def duplicated_search_items(compose: Compose) -> list[list[str]]:
    return json.loads(compose.exec_python("user-code", DUPLICATES_QUERY))
