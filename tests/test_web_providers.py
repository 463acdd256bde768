"""Queue visibility (issue #24 item 3): /stats and the library show, per provider, the
requests in flight in every process, the adaptive limit against its ceiling, the 429s of
the last minutes and the queued runs waiting on its pool, with their ages and priorities.

The state is real: a slot held and a 429 reported through RequestSlots on this test's
PostgreSQL database; only the Dagster run list is a plain callable, as `vidmine serve`
takes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.testclient import TestClient

from vidmine.db.store import Store
from vidmine.providers.adaptive import Outcome
from vidmine.providers.local import LocalEmbedder
from vidmine.providers.slots import RequestSlots
from vidmine.settings import VidmineHome
from vidmine.web import WebSettings, create_app
from vidmine.web.openapi import StatsAnswer
from vidmine.web.runs import ActiveRun


def local_client(app, **options) -> TestClient:
    """A client of ``app`` as a browser on this machine sees it (``Host: 127.0.0.1``)."""
    return TestClient(app, base_url="http://127.0.0.1", **options)


def test_stats_and_the_library_show_each_providers_requests_limit_and_queue(
    store_url: str, tmp_path: Path
) -> None:
    slots = RequestSlots(store_url, "remote", 4)
    held = slots.acquire()
    slots.report(held, Outcome.THROTTLED)  # a 429: the limit halves, for every process
    now = datetime.now(UTC)

    def active_runs():
        both = ("local", "remote")
        return [
            ActiveRun("r1", "process_video", "QUEUED", "a-1", now - timedelta(seconds=90), -10, both),
            ActiveRun("r2", "process_video", "STARTED", "b-2", now - timedelta(seconds=60), 10, both),
            ActiveRun("r3", "process_video", "QUEUED", "c-3", now - timedelta(seconds=5), 10, ("local",)),
        ]  # fmt: skip

    app = create_app(
        Store(store_url),
        LocalEmbedder(),
        WebSettings(home=VidmineHome(tmp_path), provider_ceilings={"remote": 4, "local": 2}),
        active_runs=active_runs,
    )
    client = local_client(app)
    answer = client.get("/stats").json()
    StatsAnswer.model_validate(answer)  # the contract /openapi.json publishes
    section = answer["providers"]
    assert section["available"] is True and section["window_s"] == 600
    local, remote = section["by_provider"]
    assert remote["provider"] == "remote" and remote["ceiling"] == 4
    assert remote["in_flight"] == 1 and remote["limit"] == 2.0 and remote["concurrency"] == 2
    assert remote["too_many_requests"] == 1 and remote["server_errors"] == 0
    assert remote["adaptive"] is True and remote["decreased_at"] is not None
    # Only queued runs wait on a pool; the running one is not in its queue.
    assert [r["run_id"] for r in remote["queued_runs"]] == ["r1"]
    assert remote["queued_runs"][0]["priority_label"] == "bulk"
    assert 89 <= remote["queued_runs"][0]["age_s"] < 120
    assert local["local"] is True and local["in_flight"] is None and local["limit"] is None
    assert [r["run_id"] for r in local["queued_runs"]] == ["r1", "r3"]
    assert answer["runs"]["queued"][0]["providers"] == ["local", "remote"]

    page = client.get("/library").text
    assert "<b>remote</b>: 1 in flight, limit 2 of 4, 1 × 429 in 10 min; 1 run waiting" in page
    assert "<b>local</b>: 2 runs waiting, oldest 1 min" in page

    slots.release(held)
    slots.close()
    assert client.get("/stats").json()["providers"]["by_provider"][1]["in_flight"] == 0


def test_stats_without_providers_or_runs_has_an_empty_section(
    store_url: str, tmp_path: Path
) -> None:
    app = create_app(Store(store_url), LocalEmbedder(), WebSettings(home=VidmineHome(tmp_path)))
    answer = local_client(app).get("/stats").json()
    assert answer["providers"] == {"available": True, "window_s": 600, "by_provider": []}
    assert 'id="providers"' not in local_client(app).get("/library").text


def test_the_run_lister_reads_each_runs_providers_from_its_tags() -> None:
    import dagster as dg

    from local_runtime.instance import active_runs_lister

    @dg.op
    def step() -> None:
        pass

    @dg.job
    def job() -> None:
        step()

    tags = {"vidmine/provider/openai": "true", "vidmine/provider/local": "true"}
    with dg.DagsterInstance.ephemeral() as instance:
        instance.create_run_for_job(job, tags={**tags, "dagster/priority": "5"})
        (run,) = active_runs_lister(instance)()
    assert run.providers == ("local", "openai") and run.priority == 5
