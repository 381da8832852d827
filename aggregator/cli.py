"""The `aggregator` command: a thin layer over the library (config, pipeline, store)."""

from __future__ import annotations

import gc
import json
import logging
import sqlite3
import unicodedata
from datetime import datetime
from importlib.metadata import version as _package_version
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import click
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from aggregator import pipeline, runlock, state
from aggregator.config import Agenda, Config, config_warnings, load_config
from aggregator.dedupe.engine import Explanation
from aggregator.dedupe.model import PRIOR, Decision
from aggregator.errors import AggregatorError, ConfigError
from aggregator.fetch import FetchSettings
from aggregator.models import FETCH_FAILED, FETCH_NOT_MODIFIED, FETCH_OK, Event, FetchResult
from aggregator.publish.json import event_record
from aggregator.sandbox import DEFAULT_MEMORY, DEFAULT_TIMEOUT
from aggregator.store import Store

# A run holds the whole agenda in memory (hundreds of thousands of objects, all alive until it
# ends): with the default thresholds, the cycle collector went over all of them a dozen times
# (1.8 s of a cold run's CPU at 600 sources, twice as much per source as at 300). Young
# objects are still collected, every 50,000 allocations rather than every 700.
_GC_THRESHOLDS = (50_000, 20, 100)


class _Group(TyperGroup):
    """Every command's SQLite errors end as a one-line message, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        thresholds = gc.get_threshold()
        gc.set_threshold(*_GC_THRESHOLDS)
        try:
            return super().invoke(ctx)
        except sqlite3.Error as exc:
            Console(stderr=True).print(
                f"[bold red]error:[/] database error: {exc}; check the --db path, the disk, and "
                "that no other program writes the database",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from exc
        finally:
            gc.set_threshold(*thresholds)


app = typer.Typer(
    cls=_Group,
    help="Build one shared agenda from the feeds, calendars and pages of Brittany's digital "
    "collectives.",
    no_args_is_help=True,
    add_completion=False,
)
sources_app = typer.Typer(help="Check the configuration and see each source's health.")
app.add_typer(sources_app, name="sources")
state_app = typer.Typer(
    help="Save the database and publication state as one snapshot file, or restore it."
)
app.add_typer(state_app, name="state")

out = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="The sources file.", show_default=True)
]
DbOpt = Annotated[Path, typer.Option("--db", help="The SQLite database (keep it between runs).")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Where to write the published files.")]
NowOpt = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Reference time for 'upcoming', ISO 8601 (e.g. 2026-05-01T12:00+02:00); "
        "default: the current time.",
    ),
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Exit with status 1 when any source failed.")
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log details to stderr.")]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Seconds to wait for a source's response.")
]

AcceptOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--accept-removals",
        metavar="SOURCE",
        help="Let this source remove more than half of its upcoming events in this run "
        "(otherwise held back for up to 3 runs). Repeatable.",
    ),
]

LockWaitOpt = Annotated[
    float,
    typer.Option(
        "--lock-wait",
        min=0,
        help="Seconds to wait for another run using the same database to finish.",
    ),
]

BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        envvar="AGGREGATOR_BASE_URL",
        help="Public address of the published output, used when sources.yaml sets no "
        "agenda.base_url (the publish workflow passes the Pages address).",
    ),
]

ParseTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--parse-timeout",
        min=0.1,
        help="Seconds one source's document may take to read; past it, that source fails.",
    ),
]
ParseMemoryOpt = Annotated[
    int,
    typer.Option(
        "--parse-memory",
        min=16,
        help="Megabytes of memory reading one source's document may use; past it, that "
        "source fails.",
    ),
]

DEFAULT_CONFIG = Path("sources.yaml")
DEFAULT_DB = Path("data/aggregator.db")
DEFAULT_OUT = Path("output")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # Per-source failures are reported in the summary table; no need to log them twice.
        logging.getLogger("aggregator.pipeline").setLevel(logging.ERROR)


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc


def _now(value: str | None, config: Config) -> datetime:
    if value is None:
        return datetime.now(config.agenda.tz)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        err.print(
            f"[bold red]error:[/] --now {value!r} is not an ISO 8601 date-time; "
            "use e.g. 2026-05-01T12:00+02:00"
        )
        raise typer.Exit(2) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=config.agenda.tz)


def _fail(exc: AggregatorError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(2 if isinstance(exc, ConfigError) else 1)


def _with_base_url(cfg: Config, base_url: str | None) -> Config:
    """The configuration with `base_url` filled in, unless sources.yaml already sets one."""
    if not base_url or cfg.agenda.base_url:
        return cfg
    try:
        agenda = Agenda.model_validate({**cfg.agenda.model_dump(), "base_url": base_url})
    except ValidationError as exc:
        err.print(
            f"[bold red]error:[/] --base-url {base_url!r}: {exc.errors()[0]['msg']}; "
            "use the full public address, e.g. https://collectif.github.io/agenda/",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from exc
    return cfg.model_copy(update={"agenda": agenda})


def _plural(count: int, word: str, plural: str | None = None) -> str:
    """'1 source', '2 sources'."""
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _existing_db(db: Path) -> Path:
    """Commands that only read must not create an empty database at a mistyped path."""
    if not db.is_file():
        err.print(
            f"[bold red]error:[/] no database at {db}: run `aggregator run` (or `fetch`) first, "
            "or pass --db with the path of your database",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    return db


def _warn_config(cfg: Config) -> None:
    for warning in config_warnings(cfg):
        err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


def _id_column(table: Table, name: str, values: list[str]) -> None:
    """Ids and UIDs are never wrapped: a broken id cannot be copied back into a command."""
    width = max([len(name), *(len(v) for v in values)])
    table.add_column(name, no_wrap=True, min_width=width)


def _fold(text: str) -> str:
    """Case- and accent-insensitive form for filters: 'plouzane' finds 'Plouzané'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip()


def _version(value: bool) -> None:
    if value:
        out.print(f"aggregator {_package_version('aggregator')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Build one shared agenda from the feeds, calendars and pages of Brittany's digital
    collectives."""


def _fetch_with_progress(
    config: Config,
    store: Store,
    now: datetime,
    timeout: float,
    accept: list[str] | None = None,
    parse_budget: tuple[float, int] = (DEFAULT_TIMEOUT, DEFAULT_MEMORY >> 20),
) -> pipeline.RunReport:
    enabled = [s for s in config.sources if s.enabled]
    with Progress(
        TextColumn("[bold]Fetching"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("", total=len(enabled))
        settings = FetchSettings(
            read_timeout=timeout, parse_timeout=parse_budget[0], parse_memory=parse_budget[1] << 20
        )

        def advance(result: FetchResult) -> None:
            progress.update(task, advance=1, description=result.source_id)

        return pipeline.fetch(
            config,
            store,
            now,
            settings=settings,
            on_result=advance,
            accept_removals=set(accept or ()),
        )


_OUTCOME_LABEL = {
    FETCH_OK: "[green]ok[/]",
    FETCH_NOT_MODIFIED: "[cyan]not modified[/]",
    FETCH_FAILED: "[red]failed[/]",
}


def _quiet(s: pipeline.SourceReport) -> bool:
    """Nothing to say about the source: not modified, without a warning or a notice."""
    return s.outcome == FETCH_NOT_MODIFIED and not (
        s.warnings or s.notices or s.new or s.updated or s.removed
    )


def _render_report(report: pipeline.RunReport) -> None:
    # The sources not modified are only counted: most of a scheduled run's sources, whose rows
    # would bury the few that changed or failed (and cost a large agenda's run a good part of
    # its time). `sources list` shows every source.
    listed = [s for s in report.sources if not _quiet(s)]
    if listed:
        table = Table(title="Sources", show_lines=False)
        _id_column(table, "source", [s.source_id for s in listed])
        # Short headers that never wrap, so 80 columns hold a long source id beside them.
        for column in ("result", "HTTP", "events", "+new ~upd -rm", "warn"):
            table.add_column(column, no_wrap=True)
        for s in listed:
            table.add_row(
                s.source_id,
                _OUTCOME_LABEL.get(s.outcome, s.outcome),
                str(s.http_status or ""),
                str(s.events_found) if s.outcome == FETCH_OK else "",
                f"+{s.new} ~{s.updated} -{s.removed}",
                str(len(s.warnings) or ""),
            )
        out.print(table)
    if quiet := len(report.sources) - len(listed):
        out.print(
            f"{_plural(quiet, 'source')} not modified, not listed "
            "(`aggregator sources list` shows every source)",
            highlight=False,
        )
    for s in report.failed:
        out.print(f"[red]✗ {s.source_id}[/]: {s.error}", highlight=False, soft_wrap=True)
    for s in report.sources:
        for notice in s.notices:
            out.print(f"[yellow]! {s.source_id}[/]: {notice}", highlight=False, soft_wrap=True)
    out.print(
        f"sources: {report.count(FETCH_OK)} ok, {report.count(FETCH_NOT_MODIFIED)} not modified, "
        f"{report.count(FETCH_FAILED)} failed · events: {report.new} new, {report.updated} updated,"
        f" {report.removed} removed",
        highlight=False,
    )


def _exit_for(report: pipeline.RunReport, strict: bool) -> None:
    if strict and report.failed:
        err.print(f"[red]{_plural(len(report.failed), 'source')} failed (--strict)[/]")
        raise typer.Exit(1)


@app.command()
def run(
    config: ConfigOpt = DEFAULT_CONFIG,
    db: DbOpt = DEFAULT_DB,
    out_dir: OutOpt = DEFAULT_OUT,
    now: NowOpt = None,
    strict: StrictOpt = False,
    timeout: TimeoutOpt = 30.0,
    verbose: VerboseOpt = False,
    accept_removals: AcceptOpt = None,
    lock_wait: LockWaitOpt = runlock.DEFAULT_WAIT,
    parse_timeout: ParseTimeoutOpt = DEFAULT_TIMEOUT,
    parse_memory: ParseMemoryOpt = DEFAULT_MEMORY >> 20,
    base_url: BaseUrlOpt = None,
) -> None:
    """Fetch every source, store the events, then publish the agenda (what cron runs)."""
    _setup_logging(verbose)
    cfg = _with_base_url(_load(config), base_url)
    _warn_config(cfg)
    moment = _now(now, cfg)
    try:
        with runlock.run_lock(db, lock_wait), Store(db) as store:
            report = _fetch_with_progress(
                cfg, store, moment, timeout, accept_removals, (parse_timeout, parse_memory)
            )
            report.published, report.upcoming = pipeline.publish(cfg, store, out_dir, moment)
    except AggregatorError as exc:
        raise _fail(exc) from exc
    _render_report(report)
    out.print(
        f"published {_plural(report.upcoming, 'upcoming event')} to {out_dir}/",
        highlight=False,
        soft_wrap=True,
    )
    _exit_for(report, strict)


@app.command()
def fetch(
    config: ConfigOpt = DEFAULT_CONFIG,
    db: DbOpt = DEFAULT_DB,
    now: NowOpt = None,
    strict: StrictOpt = False,
    timeout: TimeoutOpt = 30.0,
    verbose: VerboseOpt = False,
    accept_removals: AcceptOpt = None,
    lock_wait: LockWaitOpt = runlock.DEFAULT_WAIT,
    parse_timeout: ParseTimeoutOpt = DEFAULT_TIMEOUT,
    parse_memory: ParseMemoryOpt = DEFAULT_MEMORY >> 20,
) -> None:
    """Fetch every source and store its events, without publishing."""
    _setup_logging(verbose)
    cfg = _load(config)
    moment = _now(now, cfg)
    try:
        with runlock.run_lock(db, lock_wait), Store(db) as store:
            report = _fetch_with_progress(
                cfg, store, moment, timeout, accept_removals, (parse_timeout, parse_memory)
            )
    except AggregatorError as exc:
        raise _fail(exc) from exc
    _render_report(report)
    _exit_for(report, strict)


@app.command()
def publish(
    config: ConfigOpt = DEFAULT_CONFIG,
    db: DbOpt = DEFAULT_DB,
    out_dir: OutOpt = DEFAULT_OUT,
    now: NowOpt = None,
    verbose: VerboseOpt = False,
    lock_wait: LockWaitOpt = runlock.DEFAULT_WAIT,
    base_url: BaseUrlOpt = None,
) -> None:
    """Write the agenda (calendar.ics, feed.xml, index.html, events.json, per-city/tag/collective
    feeds, per-event .ics, sources.html, changes.xml) from the stored events."""
    _setup_logging(verbose)
    cfg = _with_base_url(_load(config), base_url)
    moment = _now(now, cfg)
    _existing_db(db)
    try:
        with runlock.run_lock(db, lock_wait), Store(db) as store:
            paths, count = pipeline.publish(cfg, store, out_dir, moment)
    except AggregatorError as exc:
        raise _fail(exc) from exc
    out.print(
        f"published {_plural(count, 'upcoming event')}: {_plural(len(paths), 'file')} "
        f"in {out_dir}/",
        highlight=False,
        soft_wrap=True,
    )


@sources_app.command("check")
def sources_check(
    config: ConfigOpt = DEFAULT_CONFIG,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Also fetch each enabled source once and say which answer (uses the network; "
            "exit 1 when one fails).",
        ),
    ] = False,
    timeout: TimeoutOpt = 30.0,
) -> None:
    """Validate the sources file; list every problem with its line and a hint."""
    cfg = _load(config)
    enabled = sum(1 for s in cfg.sources if s.enabled)
    _warn_config(cfg)
    out.print(
        f"{config}: OK — {_plural(len(cfg.sources), 'source')} ({enabled} enabled)",
        highlight=False,
        soft_wrap=True,
    )
    _print_detected(cfg)
    if live and _check_live(cfg, timeout, datetime.now(cfg.agenda.tz)):
        raise typer.Exit(1)


def _print_detected(cfg: Config) -> None:
    """Which adapter reads each source: the platform its address belongs to, else its type."""
    from urllib.parse import unquote

    from aggregator.platforms import detect_url, exports_for

    for s in cfg.sources:
        detection = detect_url(s.url)
        reader = detection.describe() if detection else None
        kind = s.type or "type detected from the response"
        state = "" if s.enabled else " (disabled)"
        out.print(
            f"  {s.id}: {reader + ', ' if reader else ''}{kind}{state}",
            highlight=False,
            soft_wrap=True,
        )
        exports = exports_for(s.url, detection)
        if exports and unquote(exports[0].url) != unquote(s.url):
            out.print(
                f"    hint: the platform's richest export is {exports[0].url}",
                highlight=False,
                soft_wrap=True,
            )


@sources_app.command("list")
def sources_list(
    config: ConfigOpt = DEFAULT_CONFIG,
    db: DbOpt = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show each source's health: last attempt, last success, HTTP status, events, last error."""
    cfg = _load(config)
    _existing_db(db)
    try:
        with Store(db) as store:
            health = store.health(cfg.sources)
    except AggregatorError as exc:
        raise _fail(exc) from exc
    if as_json:
        rows = [
            {
                "id": h.id,
                "name": h.name,
                "url": h.url,
                "last_attempt": h.last_attempt.isoformat() if h.last_attempt else None,
                "last_success": h.last_success.isoformat() if h.last_success else None,
                "last_outcome": h.last_outcome,
                "http_status": h.http_status,
                "events_found": h.events_found,
                "last_error": h.last_error,
                "warnings": list(h.warnings),
                "uid_unstable": h.uid_unstable,
                "notice": h.notice,
            }
            for h in health
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    tz = cfg.agenda.tz
    table = Table(title="Sources")
    _id_column(table, "id", [h.id for h in health])
    for column in ("last attempt", "last success", "result", "HTTP", "events"):
        table.add_column(column, overflow="fold")

    def when(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "never"

    for h in health:
        table.add_row(
            h.id,
            when(h.last_attempt),
            when(h.last_success),
            _OUTCOME_LABEL.get(h.last_outcome or "", h.last_outcome or ""),
            str(h.http_status or ""),
            "" if h.events_found is None else str(h.events_found),
        )
    out.print(table)
    # Long messages go under the table, unwrapped, so they stay readable and greppable.
    for h in health:
        if h.last_error and h.last_outcome == FETCH_FAILED:
            out.print(f"[red]✗ {h.id}[/]: {h.last_error}", highlight=False, soft_wrap=True)
        if h.notice:
            out.print(f"[yellow]! {h.id}[/]: {h.notice}", highlight=False, soft_wrap=True)


def _matches(event: Event, city: str | None, tag: str | None, source: str | None) -> bool:
    if city and _fold(event.location.city or "") != _fold(city):
        return False
    if tag and _fold(tag) not in {_fold(c) for c in event.categories}:
        return False
    return not (source and source not in {s.id for s in event.sources})


@app.command()
def events(
    config: ConfigOpt = DEFAULT_CONFIG,
    db: DbOpt = DEFAULT_DB,
    now: NowOpt = None,
    city: Annotated[str | None, typer.Option(help="Only events in this city.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only events with this tag.")] = None,
    source: Annotated[str | None, typer.Option(help="Only events from this source id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    explain: Annotated[
        str | None,
        typer.Option(
            "--explain",
            metavar="UID",
            help="Show which sources' records make up this event, with their match scores, "
            "and the near misses kept apart.",
        ),
    ] = None,
) -> None:
    """List the upcoming events stored in the database."""
    cfg = _load(config)
    moment = _now(now, cfg)
    _existing_db(db)
    if explain is not None:
        try:
            with Store(db) as store:
                explanation = pipeline.explain(cfg, store, explain)
        except AggregatorError as exc:
            raise _fail(exc) from exc
        _render_explanation(explanation, cfg)
        return
    try:
        with Store(db) as store:
            upcoming = pipeline.upcoming(cfg, store, moment)
    except AggregatorError as exc:
        raise _fail(exc) from exc
    selected = [e for e in upcoming if _matches(e, city, tag, source)]
    filters = ", ".join(
        f"{name} {value!r}"
        for name, value in (("city", city), ("tag", tag), ("source", source))
        if value
    )
    if not selected and filters:
        err.print(
            f"no upcoming event matches {filters} ({_plural(len(upcoming), 'upcoming event')} "
            "in all)",
            highlight=False,
            soft_wrap=True,
        )
    if as_json:
        typer.echo(
            json.dumps([event_record(e, cfg) for e in selected], ensure_ascii=False, indent=2)
        )
        return
    if not selected:
        return
    table = Table(title=_plural(len(selected), "upcoming event"))
    table.add_column("when", no_wrap=True)
    for column in ("title", "where", "sources"):
        table.add_column(column, overflow="fold")
    tz = cfg.agenda.tz
    for e in selected:
        start = e.start.astimezone(tz)
        when = start.strftime("%Y-%m-%d") if e.all_day else start.strftime("%Y-%m-%d %H:%M")
        title = f"[strike]{e.title}[/] (cancelled)" if e.status == "cancelled" else e.title
        table.add_row(when, title, e.location.one_line(), ", ".join(s.id for s in e.sources))
    out.print(table)
    # UIDs under the table, whole, so any of them can be passed to --explain.
    for e in selected:
        out.print(f"  {e.uid}  {e.title}", highlight=False, soft_wrap=True, markup=False)


def _render_explanation(x: Explanation, config: Config) -> None:
    tz = config.agenda.tz
    out.print(f"[bold]{x.title}[/] {x.uid}", highlight=False, soft_wrap=True)
    table = Table(title=f"{_plural(len(x.records), 'record')} merged")
    _id_column(table, "source", [r.source_id + " (dropped)" for r in x.records])
    for column in ("origin", "title", "start", "first seen", "last seen"):
        table.add_column(column, overflow="fold")
    for r in x.records:
        table.add_row(
            r.source_id + ("" if r.active else " (dropped)"),
            r.origin or "?",
            r.title,
            r.start.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            r.first_seen.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            r.last_seen.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)
    # Source UIDs are long (URLs, Outlook ids): listed whole under the table, never wrapped.
    for r in x.records:
        out.print(f"  {r.source_id}: {r.source_uid}", highlight=False, soft_wrap=True)
    out.print(f"threshold {x.threshold:.2f} (match probability)", highlight=False)
    for d in x.merged:
        out.print(
            f"  {x.labels.get(d.a, d.a)} × {x.labels.get(d.b, d.b)}:",
            highlight=False,
            soft_wrap=True,
        )
        _render_decision(d, "    ")
    if x.near_misses:
        out.print("near misses kept apart:", highlight=False)
    for record, d in x.near_misses:
        out.print(f"  {record.source_id} «{record.title}»:", highlight=False, soft_wrap=True)
        _render_decision(d, "    ")


def _render_decision(d: Decision, indent: str) -> None:
    """One pair's verdict, then each field's contribution to its weight (a waterfall)."""
    verdict = "same event" if d.same else "kept apart"
    out.print(
        f"{indent}{verdict}: score {d.probability:.2f}, weight {d.weight:+.1f} bits "
        f"(prior {PRIOR:+.1f})"
        + (f"; contradiction: {d.contradiction}" if d.contradiction else ""),
        highlight=False,
        soft_wrap=True,
    )
    for c in d.contributions:
        out.print(
            f"{indent}  {c.field:<6} {c.weight:+5.1f}  {c.level}: {c.detail}",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def dedupe(
    config: ConfigOpt = DEFAULT_CONFIG,
    db: DbOpt = DEFAULT_DB,
    now: NowOpt = None,
    lock_wait: LockWaitOpt = runlock.DEFAULT_WAIT,
) -> None:
    """Match every stored record again, e.g. after changing `dedupe_threshold`."""
    cfg = _load(config)
    moment = _now(now, cfg)
    try:
        with runlock.run_lock(db, lock_wait), Store(db) as store:
            report = pipeline.dedupe(cfg, store, moment)
    except AggregatorError as exc:
        raise _fail(exc) from exc
    out.print(
        f"{_plural(report.records, 'record')} in {_plural(report.clusters, 'event')}; "
        f"{_plural(report.moved, 'record')} moved; {_plural(report.stats.compared, 'pair')} "
        "compared",
        highlight=False,
    )


@app.command()
def demo(
    out_dir: OutOpt = DEFAULT_OUT,
    db: Annotated[Path, typer.Option("--db", help="The demo's SQLite database.")] = Path(
        "data/demo.db"
    ),
    now: Annotated[
        str | None, typer.Option("--now", help="Reference time (ISO 8601); default now.")
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Run the real pipeline on bundled demo sources served from a loopback HTTP server."""
    from aggregator.demo.runner import run_demo

    _setup_logging(verbose)
    moment = _now(now, Config())
    try:
        report = run_demo(
            out_dir, db, moment, on_status=lambda m: err.print(m, highlight=False, soft_wrap=True)
        )
    except AggregatorError as exc:
        raise _fail(exc) from exc
    _render_report(report)
    index = (out_dir / "index.html").resolve()
    out.print(
        f"published {_plural(report.upcoming, 'upcoming event')}", highlight=False, soft_wrap=True
    )
    out.print(f"open the agenda: file://{index}", highlight=False, soft_wrap=True)


@state_app.command("save")
def state_save(
    db: DbOpt = DEFAULT_DB,
    to: Annotated[
        Path, typer.Option("--to", help="Where to write the snapshot (published with the site).")
    ] = DEFAULT_OUT / "state" / state.SNAPSHOT_NAME,
    lock_wait: LockWaitOpt = runlock.DEFAULT_WAIT,
) -> None:
    """Write a verified snapshot of the database and publish-state.json (one .tar.gz file)."""
    _existing_db(db)
    try:
        with runlock.run_lock(db, lock_wait):
            path = state.save_snapshot(db, to)
    except AggregatorError as exc:
        raise _fail(exc) from exc
    size = path.stat().st_size / 1e6
    out.print(f"saved {db} to {path} ({size:.1f} MB)", highlight=False, soft_wrap=True)


@state_app.command("restore")
def state_restore(
    source: Annotated[
        str, typer.Argument(help="The snapshot: a file, or its URL on the published site.")
    ],
    db: DbOpt = DEFAULT_DB,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the database if one exists.")
    ] = False,
    timeout: TimeoutOpt = 60.0,
    missing_ok: Annotated[
        bool,
        typer.Option(
            "--missing-ok",
            help="A snapshot that does not exist yet (HTTP 404, no such file) is not an error: "
            "the first run starts a new database.",
        ),
    ] = False,
) -> None:
    """Restore the database and publish-state.json from a snapshot (e.g. after cache eviction)."""
    try:
        with runlock.run_lock(db, 0):
            count = state.restore_snapshot(source, db, overwrite=force, timeout=timeout)
    except state.SnapshotMissing as exc:
        if not missing_ok:
            raise _fail(exc) from exc
        out.print(f"{exc}; starting with a new database", highlight=False, soft_wrap=True)
        return
    except AggregatorError as exc:
        raise _fail(exc) from exc
    out.print(
        f"restored {db} from {source}: {_plural(count, 'event')}", highlight=False, soft_wrap=True
    )


# ---------------------------------------------------------------------------------------------
# For collectives: doctor, sources add, sources check --live, clashes (see aggregator/doctor.py,
# aggregator/discover.py, aggregator/platforms.py, aggregator/clashes.py).

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _render_diagnosis(d: Any) -> None:
    from aggregator.doctor import ERROR

    out.print(f"[bold]{d.url}[/]", highlight=False, soft_wrap=True)
    if d.what:
        out.print(f"C’est {d.what}.", highlight=False, soft_wrap=True)
    if d.final_url and d.final_url != d.url:
        out.print(f"adresse finale : {d.final_url}", highlight=False, soft_wrap=True)
    if d.kind:
        out.print(
            f"{d.events_found} événement(s) lu(s), dont {d.upcoming_count} à venir.",
            highlight=False,
        )
    if d.upcoming:
        table = Table(title="Prochains événements, tels qu’ils paraîtraient dans l’agenda")
        for column in ("quand", "titre", "lieu"):
            table.add_column(column, overflow="fold")
        for p in d.upcoming:
            table.add_row(p.when, p.title, p.where)
        out.print(table)
    for p in d.problems:
        mark = "[red]✗[/]" if p.severity == ERROR else "[yellow]![/]"
        out.print(f"{mark} {p.message} [dim]({p.code})[/]", highlight=False, soft_wrap=True)
    for e in d.exports:
        out.print(f"→ essayez aussi : {e.url} ({e.french})", highlight=False, soft_wrap=True)
    if d.ok and not d.problems:
        out.print("[green]✓ Aucun problème trouvé.[/]")


@app.command()
def doctor(
    url: Annotated[str, typer.Argument(help="Any address: a home page, a blog, a calendar.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    now: NowOpt = None,
    timeout: TimeoutOpt = 30.0,
    as_json: JsonOpt = False,
) -> None:
    """Say what an address is, the next events as the agenda would show them, and what to fix
    (exit 1 when nothing can be read from it)."""
    from aggregator.doctor import diagnose

    cfg = _load(config) if config.exists() else Config()
    report = diagnose(url, _now(now, cfg), config=cfg, settings=FetchSettings(read_timeout=timeout))
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _render_diagnosis(report)
    if not report.ok:
        raise typer.Exit(1)


@sources_app.command("add")
def sources_add(
    url: Annotated[str, typer.Argument(help="The collective's site, page, feed or calendar.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    source_id: Annotated[
        str | None, typer.Option("--id", help="The new source's id (default: from its name).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The collective's name (default: the title).")
    ] = None,
    city: Annotated[str | None, typer.Option("--city", help="Its town.")] = None,
    tags: Annotated[
        str | None, typer.Option("--tags", help="Comma-separated tags, e.g. 'fablab,repair café'.")
    ] = None,
    now: NowOpt = None,
    timeout: TimeoutOpt = 30.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the entry without writing sources.yaml.")
    ] = False,
) -> None:
    """Find the best source of a site (calendars before news feeds), show what `doctor` shows,
    and append a commented entry to sources.yaml (kept valid, comments preserved)."""
    from aggregator import discover as disc
    from aggregator.doctor import diagnose

    cfg = _load(config) if config.exists() else Config()
    moment = _now(now, cfg)
    settings = FetchSettings(read_timeout=timeout)
    found = disc.discover(url, moment, config=cfg, settings=settings)
    if found.error:
        err.print(f"[bold red]error:[/] {url}: {found.error}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    table = Table(title="Candidate sources")
    for column in ("address", "found as", "type", "upcoming", "result"):
        table.add_column(column, overflow="fold")
    for c in found.candidates:
        result = c.error or ("structured" if c.structured else "prose only" if c.events else "")
        table.add_row(c.url, c.how, c.kind or "", str(c.upcoming), result)
    out.print(table)
    best = found.best
    if best is None:
        err.print(
            f"[bold red]error:[/] no readable source with upcoming events found at {url}; "
            "run `aggregator doctor` on the address for details",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    out.print(f"best source: {best.url} ({best.how})", highlight=False, soft_wrap=True)
    report = diagnose(best.url, moment, config=cfg, settings=settings)
    _render_diagnosis(report)
    title = name or found.title or (urlsplit(url).hostname or url)
    ident = source_id or disc.choose_id(title, url, [s.id for s in cfg.sources])
    entry = {
        "id": ident,
        "name": title,
        "url": best.url,
        "city": city,
        "tags": [t.strip() for t in (tags or "").split(",") if t.strip()],
        "website": url if url != best.url else None,
    }
    comment = disc.entry_comment(title, url, best, report, moment.date().isoformat())
    try:
        if dry_run:
            text = config.read_text(encoding="utf-8") if config.exists() else ""
            result = disc.new_entry(text, entry, comment, str(config))
            out.print(result[result.rfind(comment.splitlines()[0]) - 4 :], highlight=False)
            return
        disc.add_source(config, entry, comment)
    except AggregatorError as exc:
        raise _fail(exc) from exc
    out.print(f"added source {ident!r} to {config}", highlight=False, soft_wrap=True)


def _check_live(cfg: Config, timeout: float, now: datetime) -> int:
    """Fetch every enabled source once; print which answer; return how many failed."""
    from aggregator.fetch import fetch_sources
    from aggregator.platforms import detect_document

    enabled = [s for s in cfg.sources if s.enabled]
    results = fetch_sources(enabled, None, FetchSettings(read_timeout=timeout, retries=0))
    table = Table(title="Live check")
    for column in ("id", "result", "HTTP", "events", "detected"):
        table.add_column(column, overflow="fold")
    failed = 0
    errors: dict[str, str] = {}
    for source, result in zip(enabled, results, strict=True):
        parsed, error = pipeline.parse_fetched(cfg, source, result, now)
        if result.error or error:
            errors[source.id] = result.error or error or ""
        ok = result.status == FETCH_OK and parsed is not None
        failed += not ok
        detection = detect_document(result.document) if result.document else None
        table.add_row(
            source.id,
            "[green]answers[/]" if ok else "[red]failed[/]",
            str(result.http_status or ""),
            str(len(parsed.events)) if parsed else "",
            detection.describe() if detection else "",
        )
    out.print(table)
    for source_id, message in errors.items():
        out.print(f"[red]✗ {source_id}[/]: {message}", highlight=False, soft_wrap=True)
    out.print(f"{len(enabled) - failed} of {len(enabled)} enabled sources answer", highlight=False)
    return failed


@app.command()
def clashes(
    config: ConfigOpt = DEFAULT_CONFIG,
    db: DbOpt = DEFAULT_DB,
    now: NowOpt = None,
    days: Annotated[int, typer.Option("--days", min=1, help="How many days ahead.")] = 60,
    postcode_digits: Annotated[
        int | None,
        typer.Option(
            "--postcode-digits",
            min=1,
            max=5,
            help="Compare postcode areas instead of towns: 2 = same département, 3 = nearby "
            "communes, 5 = same postcode.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List upcoming events of different collectives in the same town, overlapping in time and
    sharing a tag (a planning aid: nothing is merged)."""
    from aggregator.clashes import find_clashes

    cfg = _load(config)
    moment = _now(now, cfg)
    try:
        with Store(db) as store:
            upcoming = pipeline.upcoming(cfg, store, moment)
    except AggregatorError as exc:
        raise _fail(exc) from exc
    found = find_clashes(upcoming, cfg, moment, postcode_digits=postcode_digits, days=days)
    if as_json:
        rows = [
            {
                "area": c.area,
                "tags": list(c.tags),
                "events": [event_record(c.first, cfg), event_record(c.second, cfg)],
            }
            for c in found
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    tz = cfg.agenda.tz
    table = Table(title=f"{len(found)} clash(es) in the next {days} days")
    for column in ("when", "where", "event", "other event", "shared tags"):
        table.add_column(column, overflow="fold")

    def label(e: Event) -> str:
        who = ", ".join(ref.id for ref in e.sources) or e.source_id
        return f"{e.title} ({who}, {e.start.astimezone(tz).strftime('%H:%M')})"

    for c in found:
        table.add_row(
            c.first.start.astimezone(tz).strftime("%Y-%m-%d"),
            c.area,
            label(c.first),
            label(c.second),
            ", ".join(c.tags),
        )
    out.print(table)


def main() -> None:
    app()
