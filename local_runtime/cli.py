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
    from local_runtime.ingest import ingest_paths

    config = _config()
    profile = profile or config.default_profile
    if profile not in config.profiles:
        _fail(f"unknown profile {profile!r}; choose one of {sorted(config.profiles)}")
    outcomes = []
    for outcome in ingest_paths(paths, profile, config, force=force):
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
    from vidmine.library_status import status_report

    report = status_report(_store())
    rows, rejected = report["videos"], report["rejected"]
    if as_json:
        _emit_json(report)
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


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question about what the videos say or show.")],
    video: Annotated[str | None, typer.Option("--video", help="Only this video id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Answer a question from the library's moments, citing them as [1], [2] ...

    Offline the answer is extractive (the best passages, cited); with an
    OpenAI-compatible generate provider it is written from the cited moments only."""
    from vidmine.ask import answer_json
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
    from vidmine.content.kinds import content_kind
    from vidmine.content.listing import content_json, in_reading_order

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
    records = in_reading_order(records)
    if fmt == "json":
        _emit_json(content_json(video, records))
        return
    for record in records:
        typer.echo(record.markdown.rstrip() + "\n")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Serve the search page, the library and the HTTP API (see README)."""
    import logging

    import uvicorn

    from local_runtime.serve import ServeSettingError, build_web_app, serve_access
    from vidmine.db.pool import PooledStore

    try:
        access = serve_access(host)
    except ServeSettingError as err:
        _fail(str(err))
    config = _config()
    # migrated by _store(); pooled for the server's life
    store = PooledStore(_store().url, name="vidmine-serve")
    web_app = build_web_app(config, store, host, access, say=typer.echo)
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
    from local_runtime.instance import apply_pool_limits, local_instance

    config = _config()
    for limit in apply_pool_limits(local_instance(config), config):
        typer.echo(f"{limit.pool}: {limit.applied}")


@limits_app.command("show")
def limits_show(as_json: JsonFlag = False) -> None:
    """Print each stage pool's configured limit against what the instance applies."""
    from local_runtime.instance import local_instance, show_pool_limits

    config = _config()
    limits = show_pool_limits(local_instance(config), config)
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
