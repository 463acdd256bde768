"""The ``vidmine`` command line: ingest, status, search, export, content, limits and serve.

``--json`` output is stable: its shape is documented in README ("CLI JSON output") and
only grows new keys.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vidmine.config import ConfigError, load_config

if TYPE_CHECKING:
    from vidmine.models import SearchHit

app = typer.Typer(
    help="vidmine: turn videos into searchable, AI-analysed content.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
limits_app = typer.Typer(help="Provider concurrency limits (pools and run tags).")
app.add_typer(limits_app, name="limits")
db_app = typer.Typer(help="The embedded PostgreSQL (used when DATABASE_URL is unset).")
app.add_typer(db_app, name="db")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _config():
    try:
        return load_config()
    except ConfigError as err:
        _fail(str(err))


def _emit_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def _store():
    from resources.database import open_store

    try:
        return open_store()
    except Exception as err:  # no server, bad URL: say what and how to fix
        _fail(f"cannot reach the database ({err}); check DATABASE_URL or VIDMINE_HOME")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Video or audio files to process.")],
    profile: Annotated[
        str | None, typer.Option(help="Processing profile (default from vidmine.yaml).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Redo every stage even if its inputs are unchanged.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Register files and process them now, in this process, through every stage."""
    import dagster as dg

    from pipeline_defs.ingest import ingest_file
    from pipeline_defs.instance import ensure_dagster_home

    config = _config()
    profile = profile or config.default_profile
    if profile not in config.profiles:
        _fail(f"unknown profile {profile!r}; choose one of {sorted(config.profiles)}")
    ensure_dagster_home(config)
    instance = dg.DagsterInstance.get()
    outcomes = []
    for path in paths:
        outcome = ingest_file(path.expanduser().resolve(), profile, config, instance, force=force)
        outcomes.append(outcome)
        if not as_json:
            _print_outcome(outcome)
    if as_json:
        _emit_json({"videos": [dataclasses.asdict(o) for o in outcomes]})
    if any(o.status != "ready" for o in outcomes):
        raise typer.Exit(1)


def _print_outcome(outcome) -> None:
    colour = typer.colors.GREEN if outcome.status == "ready" else typer.colors.RED
    name = Path(outcome.path).name
    typer.secho(
        f"{name}: {outcome.status} ({outcome.video_id or '-'}) in {outcome.seconds:.1f} s",
        fg=colour,
        bold=True,
    )
    if outcome.error:
        typer.echo(f"  {outcome.error}")
    for stage in outcome.stages:
        counts = {k: v for k, v in stage.metadata.items() if isinstance(v, int) and k != "seconds"}
        detail = " ".join(f"{k}={v}" for k, v in counts.items())
        secs = f"{stage.seconds:6.2f} s" if stage.seconds is not None else "       -"
        shown = "cached" if stage.cached else stage.status
        typer.echo(f"  {stage.stage:<15} {shown:<10} {secs}  {detail}")


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """List videos with their status and the state of each stage."""
    from vidmine.db.speakers import load_speakers

    store = _store()
    videos = store.list_videos()
    rows = []
    for video in videos:
        states = store.stage_states(video.video_id)
        rows.append(
            {
                "video_id": video.video_id,
                "file_name": video.file_name,
                "profile": video.profile,
                "status": video.status,
                "error": video.error,
                "duration_s": video.duration_s,
                "languages": video.languages,  # spoken, most first (by speech seconds)
                "stages": {name: st.status for name, st in states.items()},
                "provider_calls": store.provider_call_summary(video.video_id),
                # who speaks, most talk first (empty until the speakers stage ran)
                "speakers": [
                    {
                        "speaker": s.speaker,
                        "name": s.name,
                        "talk_s": round(s.talk_s, 1),
                        "turns": s.turns,
                    }
                    for s in load_speakers(store, video.video_id)
                ],
            }
        )
    rejected = [
        {"path": r.path, "reason": r.reason, "rejected_at": r.rejected_at}
        for r in store.list_rejections()
    ]
    if as_json:
        _emit_json({"videos": rows, "rejected": rejected})
        return
    if not rows and not rejected:
        typer.echo("no videos yet: drop files into uploads/ or run `vidmine ingest PATH`")
    for row in rows:
        typer.secho(f"{row['video_id']}  {row['status']}", bold=True)
        typer.echo(f"  file: {row['file_name']}  profile: {row['profile']}")
        if row["languages"]:
            typer.echo(f"  languages: {', '.join(row['languages'])}")
        if row["speakers"]:
            talk = ", ".join(f"{s['name']} {s['talk_s']:.0f} s" for s in row["speakers"])
            typer.echo(f"  speakers: {talk}")
        if row["error"]:
            typer.echo(f"  error: {row['error']}")
        stages = "  ".join(f"{k}={v}" for k, v in row["stages"].items())
        typer.echo(f"  stages: {stages}")
        total = row["provider_calls"]["total"]
        if total["calls"]:
            typer.echo(
                f"  provider calls: {total['calls']} ({total['cached']} cached, "
                f"{total['retries']} retries, {total['errors']} errors), "
                f"tokens in/out {total['input_tokens']}/{total['output_tokens']}, "
                f"audio {total['audio_seconds']:.0f} s, est. cost ${total['cost_usd']:.4f}"
            )
    for item in rejected:
        typer.secho(f"rejected {item['path']}: {item['reason']}", fg=typer.colors.YELLOW)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    video: Annotated[str | None, typer.Option("--video", help="Only this video id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 10,
    group: Annotated[bool, typer.Option("--group", help="Group the moments by video.")] = False,
    speaker: Annotated[
        str | None,
        typer.Option("--speaker", help='Only what this speaker said ("Speaker 2" or a name).'),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Search transcripts, on-screen text and captions across all videos.

    Only what matches comes back: a query nothing matches says so (and, with --json,
    gives "nothing_found": true and no hits)."""
    from vidmine.providers.base import MemoryRecorder
    from vidmine.providers.registry import embedder_for
    from vidmine.search import (
        group_by_video,
        moments_label,
        nothing_found_message,
        search_answer,
        search_text,
    )

    config = _config()
    store = _store()
    embedder = embedder_for(config, None, MemoryRecorder(), store)
    hits = search_text(store, embedder, query, video_id=video, limit=limit, speaker=speaker)
    if as_json:
        _emit_json(search_answer(query, hits, group=group))
        return
    if not hits:
        typer.echo(nothing_found_message(query) if query.strip() else "nothing to look for")
        return
    if not group:
        for rank, hit in enumerate(hits, start=1):
            typer.echo(_hit_line(rank, hit))
        return
    rank = 0
    for moments in group_by_video(hits):
        typer.echo(f"{moments_label(len(moments.hits), moments.file_name)} ({moments.video_id})")
        for hit in moments.hits:
            rank += 1
            typer.echo(_hit_line(rank, hit))


def _hit_line(rank: int, hit: SearchHit) -> str:
    return (
        f"{rank:>2}. {hit.video_id} ({hit.file_name}) {hit.start_s:.1f}-{hit.end_s:.1f} s "
        f"[{hit.kind}] score={hit.score:.4f}"
        + (f" {hit.speaker}" if hit.speaker else "")
        + f"\n    {hit.snippet}"
    )


def answer_json(answer) -> dict[str, Any]:
    """An Answer as `vidmine ask --json` prints it (the API adds links to each citation)."""
    payload = dataclasses.asdict(answer)
    payload.pop("moments", None)
    return payload


class _CallsIntoStore:
    """A recorder writing each provider call to provider_calls as it happens (a server
    lives long; a question's calls belong to no video)."""

    def __init__(self, store) -> None:
        self.store = store

    def record(self, call) -> None:
        self.store.record_provider_calls(None, [call])


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question about what the videos say or show.")],
    video: Annotated[str | None, typer.Option("--video", help="Only this video id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Answer a question from the library's moments, citing them as [1], [2] ...

    Offline the answer is extractive (the best passages, cited); with an
    OpenAI-compatible generate provider it is written from the cited moments only."""
    from vidmine.ask import ask as ask_library
    from vidmine.providers.base import MemoryRecorder
    from vidmine.providers.registry import embedder_for, generator_for
    from vidmine.transcript import clock

    config = _config()
    store = _store()
    recorder = MemoryRecorder()
    embedder = embedder_for(config, None, recorder, store)
    generator = generator_for(config, None, recorder, store, slots_database_url=store.url)
    answer = ask_library(store, embedder, question, generator=generator, video_id=video)
    store.record_provider_calls(None, [c for c in recorder.calls if c.stage == "generate"])
    if as_json:
        _emit_json(answer_json(answer))
        return
    typer.echo(answer.answer)
    if answer.note:
        typer.secho(f"({answer.note})", dim=True)
    for c in answer.citations:
        who = f" {c.speaker}:" if c.speaker else ""
        typer.echo(
            f"[{c.n}] {c.video_id} ({c.file_name}) {clock(c.start_s)}-{clock(c.end_s)}"
            f" [{c.kind}]{who} {c.text}"
        )


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


@app.command()
def export(
    video: Annotated[str, typer.Argument(help="Video id (see `vidmine status`).")],
    fmt: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.csv,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("."),
) -> None:
    """Write a video's rows (segments, scenes, keyframes, OCR, captions, search items)."""
    from vidmine.export import export_video

    store = _store()
    if store.get_video(video) is None:
        _fail(f"no video {video!r}; `vidmine status` lists the ids")
    for path in export_video(store, video, fmt.value, out / video):
        typer.echo(str(path))


@app.command()
def content(
    video: Annotated[str, typer.Argument(help="Video id (see `vidmine status`).")],
    content_type: Annotated[str | None, typer.Option("--type", help="One content type.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md or json")] = "md",
) -> None:
    """Print the written content of a video (titles, description, chapters, ...)."""
    from vidmine.content.kinds import CONTENT_TYPES, content_kind

    if fmt not in ("md", "json"):
        _fail("--format must be md or json")
    if content_type is not None:
        try:
            content_kind(content_type)
        except ValueError as err:  # names the known types
            _fail(f"--type: {err}")
    store = _store()
    if store.get_video(video) is None:
        _fail(f"no video {video!r}; `vidmine status` lists the ids")
    records = store.load_content(video, content_type)
    if not records:
        what = f"{content_type} content" if content_type else "content"
        _fail(
            f"no {what} for {video} yet: its content step has not run or failed; "
            "`vidmine status` shows the stages"
        )
    # In the order people read them (titles first), not the database's alphabetical one.
    order = {name: i for i, name in enumerate(CONTENT_TYPES)}
    records.sort(key=lambda r: (order.get(r.content_type, len(order)), r.content_type))
    if fmt == "json":
        _emit_json(
            {
                "video_id": video,
                "content": {
                    r.content_type: {
                        "body": r.body,
                        "extractive": r.extractive,
                        "provider": r.provider,
                        "model": r.model,
                    }
                    for r in records
                },
            }
        )
        return
    for record in records:
        typer.echo(record.markdown.rstrip() + "\n")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Serve the search page, the library and the HTTP API (see README)."""
    import ipaddress
    import logging
    import os

    import dagster as dg
    import uvicorn

    from pipeline_defs.instance import (
        active_runs_lister,
        ensure_dagster_home,
        pipeline_health_checker,
    )
    from vidmine.db.pool import PooledStore
    from vidmine.providers.registry import embedder_for, generator_for
    from vidmine.search import hub_centroid
    from vidmine.settings import VidmineHome
    from vidmine.web import WebSettings, create_app
    from vidmine.web.app import QueryEmbeddingCalls, tune_for_serving
    from vidmine.web.auth import TOKEN_ENV, token_problem
    from vidmine.web.guard import allowed_hosts_from_env
    from vidmine.web.uploads import DEFAULT_MAX_UPLOAD_MB

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False  # a host name: it may resolve beyond this machine
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if not loopback and token is None:
        _fail(
            f"--host {host} serves beyond this machine: set {TOKEN_ENV} to an access token "
            "(clients send 'Authorization: Bearer <token>' or open ?token=<token> once), "
            "or keep the default --host 127.0.0.1"
        )
    if token is not None and (problem := token_problem(token)):
        _fail(problem)
    raw_limit = os.environ.get("VIDMINE_MAX_UPLOAD_MB", str(DEFAULT_MAX_UPLOAD_MB))
    try:
        max_upload_mb = float(raw_limit)
        if max_upload_mb <= 0:
            raise ValueError
    except ValueError:
        _fail(f"VIDMINE_MAX_UPLOAD_MB must be a positive number of megabytes, got {raw_limit!r}")
    config = _config()
    store = PooledStore(
        _store().url, name="vidmine-serve"
    )  # migrated by _store(); pooled for the server's life
    home = VidmineHome.from_env().ensure()
    ensure_dagster_home(config)
    tune_for_serving()
    calls = QueryEmbeddingCalls()
    embedder = embedder_for(config, None, calls, store)
    typer.echo("loading the query embedder ...")
    embedder.embed(["warm up"])  # load the model now, not on the first search
    hub_centroid(embedder)  # and the probe questions' centroid search measures hubs by
    calls.reset()  # /stats counts the searches, not the warm-up
    instance = dg.DagsterInstance.get()
    web_app = create_app(
        store,
        embedder,
        WebSettings(
            home=home,
            max_upload_bytes=int(max_upload_mb * 1_000_000),
            token=token,
            known_profiles=frozenset(config.profiles),
            allowed_hosts=allowed_hosts_from_env(host),
            media_limits=config.limits,
            provider_ceilings={
                name: config.provider(name).max_concurrent
                for name in sorted(config.providers_in_use())
            },
        ),
        active_runs=active_runs_lister(instance),
        pipeline_health=pipeline_health_checker(instance),
        embedding_calls=calls,
        # the answers to questions: written by an OpenAI-compatible generate provider (its
        # calls recorded in provider_calls like the pipeline's), extractive when local
        generator=generator_for(
            config, None, _CallsIntoStore(store), store, slots_database_url=store.url
        ),
    )
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.secho(f"vidmine serve: open http://{host}:{port}/", fg=typer.colors.GREEN, bold=True)
    try:
        uvicorn.run(web_app, host=host, port=port, log_level="info", access_log=False)
    finally:
        store.close()


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL of VIDMINE_HOME. It keeps running after each command on
    purpose (the next one starts in milliseconds); the next command starts it again."""
    import os

    from vidmine.db import stop_embedded
    from vidmine.settings import VidmineHome

    if os.environ.get("DATABASE_URL", "").strip():
        _fail("DATABASE_URL is set: vidmine uses that server, and stops no embedded one")
    home = VidmineHome.from_env()
    if stop_embedded(home):
        typer.echo(f"stopped the embedded PostgreSQL of {home.root}")
    else:
        typer.echo(f"no embedded PostgreSQL of {home.root} was running")


@limits_app.command("apply")
def limits_apply() -> None:
    """Set each stage pool's limit on the Dagster instance from vidmine.yaml and
    regenerate the instance's run-tag limits."""
    import dagster as dg

    from pipeline_defs.instance import apply_pool_limits, ensure_dagster_home

    config = _config()
    ensure_dagster_home(config)
    for limit in apply_pool_limits(dg.DagsterInstance.get(), config):
        typer.echo(f"{limit.pool}: {limit.applied}")


@limits_app.command("show")
def limits_show(as_json: JsonFlag = False) -> None:
    """Print each stage pool's configured limit against what the instance applies."""
    import dagster as dg

    from pipeline_defs.instance import ensure_dagster_home, show_pool_limits

    config = _config()
    ensure_dagster_home(config)
    limits = show_pool_limits(dg.DagsterInstance.get(), config)
    if as_json:
        _emit_json({"pools": [dataclasses.asdict(limit) for limit in limits]})
        return
    typer.echo(f"{'pool':<20} {'configured':>10} {'applied':>8}")
    for limit in limits:
        applied = "-" if limit.applied is None else str(limit.applied)
        mark = "" if limit.applied == limit.configured else "  (run `vidmine limits apply`)"
        typer.echo(f"{limit.pool:<20} {limit.configured:>10} {applied:>8}{mark}")


if __name__ == "__main__":
    app()
