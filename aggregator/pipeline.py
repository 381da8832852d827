"""Run the stages for every source: fetch → parse → store, then publish from the store.

Each source's failure is isolated: it is recorded in the `RunReport` and the source's health,
and every other source still publishes.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from aggregator.config import Config, Source
from aggregator.dedupe import engine
from aggregator.dedupe.engine import Explanation, RematchReport
from aggregator.dedupe.model import MatchSettings
from aggregator.errors import ConfigError, ConfigProblem, ParseError
from aggregator.fetch import FetchSettings, Validators, fetch_sources, inward_link
from aggregator.models import (
    FETCH_FAILED,
    FETCH_NOT_MODIFIED,
    FETCH_OK,
    Event,
    FetchResult,
    ParseContext,
    ParseResult,
    Window,
)
from aggregator.normalize import unify_tags, with_source_tags
from aggregator.parsers import parse_document
from aggregator.publish import publish_all
from aggregator.publish.changes import STATE_FILE
from aggregator.publish.digest import (
    DIGEST_FILE,
    forget_publication,
    publication_digests,
    remember_publication,
    stable_until,
    unchanged_publication,
)
from aggregator.publish.sources_page import write_sources_page
from aggregator.runlock import run_lock
from aggregator.sandbox import ParseSandbox
from aggregator.store import SourceChanges, Store

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class SourceReport:
    """What happened to one source in one run."""

    source_id: str
    name: str
    outcome: str
    http_status: int | None = None
    events_found: int = 0
    new: int = 0
    updated: int = 0
    removed: int = 0
    held: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


@dataclass(slots=True)
class RunReport:
    """The result of a run: one report per source and the files published."""

    sources: list[SourceReport] = field(default_factory=list)
    published: Sequence[Path] = field(default_factory=list)
    upcoming: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for s in self.sources if s.outcome == outcome)

    @property
    def failed(self) -> list[SourceReport]:
        return [s for s in self.sources if s.outcome == FETCH_FAILED]

    @property
    def new(self) -> int:
        return sum(s.new for s in self.sources)

    @property
    def updated(self) -> int:
        return sum(s.updated for s in self.sources)

    @property
    def removed(self) -> int:
        return sum(s.removed for s in self.sources)


def match_settings(config: Config) -> MatchSettings:
    """The matcher's settings from the agenda's: its zone and the dedupe threshold."""
    return MatchSettings(tz=config.agenda.tz, threshold=config.agenda.dedupe_threshold)


def agenda_window(config: Config, now: datetime) -> Window:
    """The span in which recurring events are expanded and events are published."""
    agenda = config.agenda
    return Window(now - timedelta(days=agenda.past_days), now + timedelta(days=agenda.future_days))


def parse_fetched(
    config: Config,
    source: Source,
    result: FetchResult,
    now: datetime,
    sandbox: ParseSandbox | None = None,
) -> tuple[ParseResult | None, str | None]:
    """Parse a fetched document; return (result, None) or (None, the reason it failed).

    With a `sandbox`, the parse runs in its worker within a time and memory budget.
    """
    if result.status != FETCH_OK or result.document is None:
        return None, None
    context = ParseContext(
        tz=config.source_timezone(source), window=agenda_window(config, now), now=now
    )
    document = result.document
    try:
        if sandbox is not None:
            parsed = sandbox.parse(document, source, context)
        else:
            parsed = parse_document(document, source, context)
        parsed.warnings[:0] = document.warnings
        return parsed, None
    except ParseError as exc:
        return None, exc.reason
    except Exception as exc:  # a parser bug must not stop the other sources
        log.exception("unexpected error while parsing source %s", source.id)
        return None, f"internal error while reading the document ({type(exc).__name__}: {exc})"


MAX_FOLLOWED_LINKS = 5
# Downloaded bodies (bytes and text) waiting to be parsed, at most.
PENDING_BYTES = 64 * 1024 * 1024
"""How many linked feeds/calendars of one page are read (a page may link one per category)."""


def follow_links(
    config: Config,
    source: Source,
    parsed: ParseResult,
    now: datetime,
    settings: FetchSettings | None = None,
    sandbox: ParseSandbox | None = None,
) -> None:
    """Fetch and read the feeds/.ics files a page links to; add their events to `parsed`.

    Only for sources whose `follow` asks for it. A linked document that fails adds a warning to
    the page's result: the page's own events are kept.
    """
    links = []
    for url in parsed.links[:MAX_FOLLOWED_LINKS]:
        refused = inward_link(source.url, url)
        if refused:
            parsed.warnings.append(f"linked {url}: {refused}")
        else:
            links.append(url)
    linked = [
        source.model_copy(update={"url": url, "type": None, "selectors": None, "follow": ()})
        for url in links
    ]
    results = fetch_sources(linked, None, settings or FetchSettings())
    seen = {event.source_uid for event in parsed.events}
    for linked_source, result in zip(linked, results, strict=True):
        if result.status != FETCH_OK:
            parsed.warnings.append(f"linked {result.url}: {result.error or 'not fetched'}")
            continue
        found, error = parse_fetched(config, linked_source, result, now, sandbox)
        if found is None:
            parsed.warnings.append(f"linked {result.url}: {error}")
            continue
        parsed.items += found.items
        parsed.warnings.extend(f"linked {result.url}: {warning}" for warning in found.warnings)
        for event in found.events:
            if event.source_uid not in seen:
                seen.add(event.source_uid)
                parsed.events.append(event)


def fetch(
    config: Config,
    store: Store,
    now: datetime,
    *,
    settings: FetchSettings | None = None,
    only: set[str] | None = None,
    on_result: Callable[[FetchResult], None] | None = None,
    accept_removals: frozenset[str] | set[str] = frozenset(),
) -> RunReport:
    """Fetch every enabled source (or those in `only`), parse and store what each says.

    `accept_removals` names the sources allowed to drop more than half of their upcoming events
    in this run (otherwise the store holds such removals back, see Store.record_fetch).
    """
    sources = [s for s in config.sources if s.enabled and (only is None or s.id in only)]
    settings = settings or FetchSettings()
    # The worker is forked at the first document to parse (a run where every source answers 304
    # never imports a parser); bodies are dropped as soon as they are read, so the parent it
    # is forked from never holds every document.
    with ParseSandbox(settings.parse_timeout, settings.parse_memory) as sandbox:
        return _fetch_and_parse(
            config, store, now, sources, settings, sandbox, on_result, accept_removals
        )


def _fetch_and_parse(
    config: Config,
    store: Store,
    now: datetime,
    sources: list[Source],
    settings: FetchSettings,
    sandbox: ParseSandbox,
    on_result: Callable[[FetchResult], None] | None,
    accept_removals: frozenset[str] | set[str],
) -> RunReport:
    unknown = set(accept_removals) - {s.id for s in config.sources}
    if unknown:
        problems = [
            ConfigProblem(
                "--accept-removals",
                None,
                source_id,
                "no source has this id",
                "use an id listed by `aggregator sources list`",
            )
            for source_id in sorted(unknown)
        ]
        raise ConfigError(problems)
    store.sync_sources(config.sources)
    validators = store.validators()
    report = RunReport()
    every: list[SourceChanges] = []
    position = {source.id: index for index, source in enumerate(sources)}
    Read = tuple[int, FetchResult, ParseResult | None, str | None]

    def read(result: FetchResult) -> Read:
        index = position[result.source_id]
        source = sources[index]
        parsed, error = parse_fetched(config, source, result, now, sandbox)
        if parsed is not None and parsed.links and source.follow:
            follow_links(config, source, parsed, now, settings, sandbox)
        if parsed is not None and source.tags:
            parsed.events[:] = [with_source_tags(e, source.tags) for e in parsed.events]
        result.document = None  # read: never hold every body at once
        return index, result, parsed, error

    # Three stages overlap: the downloads (a thread), the parsing of each document as soon as it
    # arrives (a thread feeding the parse worker, on another core), and the store (here). The
    # store still takes the sources in configuration order (new events' UIDs and insertion
    # order must not depend on which server answered first), so a source may wait for earlier
    # ones.
    fetched = _fetch_as_they_come(sources, validators, settings, on_result)
    waiting: dict[int, tuple[FetchResult, ParseResult | None, str | None]] = {}
    # Sources that answered 304 write only their health, all at once when the next source
    # with news is stored and at the end (see Store.record_not_modified).
    unchanged: list[tuple[Source, FetchResult]] = []
    with contextlib.closing(_in_a_thread(fetched, read)) as parsed_sources:
        for index, result, parsed, error in parsed_sources:
            waiting[index] = (result, parsed, error)
            while len(every) in waiting:
                source = sources[len(every)]
                result, parsed, error = waiting.pop(len(every))
                if result.status == FETCH_NOT_MODIFIED and error is None:
                    unchanged.append((source, result))
                    every.append(SourceChanges())
                    report.sources.append(_source_report(source, result, None, None, every[-1]))
                    continue
                store.record_not_modified(unchanged, now)
                unchanged.clear()
                every.append(
                    _store_and_report(
                        store, report, source, result, parsed, now, error, accept_removals
                    )
                )
    store.record_not_modified(unchanged, now)
    # One matching pass for the whole run, after every source: its cost follows what changed,
    # and its result does not depend on the order the sources came in.
    match_changes(config, store, every, now)
    return report


def _fetch_as_they_come(
    sources: list[Source],
    validators: Validators,
    settings: FetchSettings,
    on_result: Callable[[FetchResult], None] | None,
) -> Iterator[FetchResult]:
    """Yield each source's fetch result as soon as it ends; the fetching runs in a thread (its
    event loop keeps the other downloads going while the caller parses and stores).

    When the caller reads more slowly than the servers answer, the downloads pause once
    `PENDING_BYTES` of bodies wait to be read (a single larger body still passes): memory
    follows the budget, never the number of sources."""
    arrived: queue.SimpleQueue[FetchResult | None] = queue.SimpleQueue()
    failure: list[BaseException] = []
    budget = threading.Condition()
    pending = [0]  # bytes of bodies delivered and not yet read
    closed = threading.Event()

    def deliver(result: FetchResult) -> None:
        size = _body_size(result)
        with budget:
            while pending[0] and pending[0] + size > PENDING_BYTES and not closed.is_set():
                budget.wait(0.5)
            pending[0] += size
        arrived.put(result)
        if on_result is not None:
            on_result(result)

    def done_with(size: int) -> None:
        with budget:
            pending[0] -= size
            budget.notify_all()

    def work() -> None:
        try:
            fetch_sources(sources, validators, settings, on_result=deliver)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)
        finally:
            arrived.put(None)

    thread = threading.Thread(target=work, name="aggregator-fetch", daemon=True)
    thread.start()
    try:
        while (result := arrived.get()) is not None:
            size = _body_size(result)  # before the reader drops the body
            # The caller asks for the next result once it has read this one.
            yield result
            done_with(size)
    finally:
        closed.set()  # a caller that stops early never leaves the downloads waiting
        with budget:
            budget.notify_all()
    thread.join()
    if failure:
        raise failure[0]


def _body_size(result: FetchResult) -> int:
    document = result.document
    return len(document.content) + len(document.text) if document is not None else 0


def _in_a_thread(items: Iterator[T], work: Callable[[T], R]) -> Generator[R, None, None]:
    """`work(item)` for each item, done in a thread (with the iteration), yielded in the order
    they are done; an exception in the thread is raised here."""
    done: queue.SimpleQueue[tuple[bool, R | BaseException | None]] = queue.SimpleQueue()
    # Set when the caller stops early (an error while storing): no more work is started, so
    # the thread never uses the parse worker while the caller shuts it down.
    stopped = threading.Event()

    def run() -> None:
        try:
            for item in items:
                if stopped.is_set():
                    return
                done.put((True, work(item)))
        except BaseException as exc:  # re-raised in the caller's thread
            done.put((False, exc))
        else:
            done.put((False, None))

    thread = threading.Thread(target=run, name="aggregator-parse", daemon=True)
    thread.start()
    try:
        while True:
            ok, value = done.get()
            if not ok:
                break
            yield value  # type: ignore[misc]
    finally:
        stopped.set()
    thread.join()
    if isinstance(value, BaseException):
        raise value


def _store_and_report(
    store: Store,
    report: RunReport,
    source: Source,
    result: FetchResult,
    parsed: ParseResult | None,
    now: datetime,
    error: str | None,
    accept_removals: frozenset[str] | set[str],
) -> SourceChanges:
    """Store one source's outcome and add its line to `report`."""
    changes = store_source(
        store,
        source,
        result,
        parsed,
        now,
        error=error,
        accept_removals=source.id in accept_removals,
    )
    report.sources.append(_source_report(source, result, parsed, error, changes))
    if error or result.status == FETCH_FAILED:
        log.warning("source %s failed: %s", source.id, error or result.error)
    return changes


def _source_report(
    source: Source,
    result: FetchResult,
    parsed: ParseResult | None,
    error: str | None,
    changes: SourceChanges,
) -> SourceReport:
    return SourceReport(
        source_id=source.id,
        name=source.name,
        outcome=FETCH_FAILED if error else result.status,
        http_status=result.http_status,
        events_found=len(parsed.events) if parsed else 0,
        new=changes.new,
        updated=changes.updated,
        removed=changes.removed,
        held=changes.held,
        error=error or result.error,
        warnings=list(parsed.warnings) if parsed else [],
        notices=list(changes.notices),
    )


def store_source(
    store: Store,
    source: Source,
    result: FetchResult,
    parsed: ParseResult | None,
    now: datetime,
    *,
    error: str | None = None,
    accept_removals: bool = False,
) -> SourceChanges:
    """Write one source's outcome and refresh the events whose records changed, in one
    transaction; matching waits for `match_changes` at the end of the run."""
    with store.transaction():
        changes = store.record_fetch(
            source, result, parsed, now, error=error, accept_removals=accept_removals
        )
        engine.refresh(store, changes.dirty, now)
    return changes


def match_changes(
    config: Config, store: Store, changes: list[SourceChanges], now: datetime
) -> RematchReport:
    """Re-cluster what the run's sources touched, in one transaction."""
    with store.transaction():
        return engine.reconcile(store, changes, match_settings(config), now)


def explain(config: Config, store: Store, uid: str) -> Explanation:
    """Why the event `uid` is made of its records, and which near misses were kept apart."""
    return engine.explain(store, uid, match_settings(config))


def dedupe(config: Config, store: Store, now: datetime) -> RematchReport:
    """Match every stored record again (e.g. after changing `dedupe_threshold`)."""
    with store.transaction():
        return engine.rematch_all(store, match_settings(config), now)


def upcoming(config: Config, store: Store, now: datetime) -> list[Event]:
    """The upcoming events as published: every tag in one display form (the registry's)."""
    preferred = tuple(tag for source in config.sources for tag in source.tags)
    return unify_tags(store.upcoming(config, now), preferred)


def publish(
    config: Config, store: Store, out_dir: Path, now: datetime
) -> tuple[Sequence[Path], int]:
    """Write every output from the stored events; return the paths and the number of events."""
    # changes.xml compares with the previous publication, remembered next to the database:
    # that folder is what survives between scheduled runs (output/ is rebuilt each time).
    in_memory = str(store.path) == ":memory:"
    state = None if in_memory else store.path.parent / STATE_FILE
    health = store.health(config.sources)
    if state is None:
        events = upcoming(config, store, now)
        return publish_all(events, config, out_dir, now, health=health), len(events)
    # Nothing to render when every input of the outputs is what the last publication had; the
    # stored agenda enters as its version (a token its every write changes), so an unchanged
    # agenda is not even read.
    record = store.path.parent / DIGEST_FILE
    stored = f"store {store.events_version()}"
    # With and without the sources' health, which only sources.html shows: each run reads the
    # sources again, so that page changes at every run even when nothing else does.
    digests = publication_digests(stored, config, out_dir, now, health=health, state_path=state)
    previous = unchanged_publication(record, digests, now)
    if previous is not None and not previous.health_only:
        log.info(
            "publication unchanged since the last run: %d files left as they are",
            len(previous.paths),
        )
        return previous.paths, previous.count
    forget_publication(record)
    if previous is not None:
        log.info("only the sources' health changed since the last run: writing sources.html")
        events = upcoming(config, store, now)
        page = write_sources_page(config, events, health, now, out_dir)
        remember_publication(
            record,
            digests,
            previous.paths,
            since=previous.since,
            until=previous.until,
            count=previous.count,
            rewritten=[page],
        )
        return previous.paths, previous.count
    _give_back_memory()
    events = upcoming(config, store, now)
    paths = publish_all(
        events, config, out_dir, now, health=health, state_path=state, cache_dir=store.path.parent
    )
    # Valid until the time alone changes an output or what `upcoming` returns.
    moments = [stable_until(events, config, now, state, paths), store.next_arrival(config, now)]
    until = min((m for m in moments if m is not None), default=None)
    count = len(events)
    del events  # not needed any more: what follows reuses their memory, at the run's peak
    # The state file just written is the next publication's input: record the digest with it.
    digests = publication_digests(stored, config, out_dir, now, health=health, state_path=state)
    remember_publication(record, digests, paths, since=now, until=until, count=count)
    return paths, count


def _give_back_memory() -> None:
    """Before publishing, the run's peak: collect the cycles fetching and matching left (the
    collector had not reached them yet) and hand the freed memory back to the system, which
    glibc's allocator otherwise keeps: about 45 MB at 300 sources."""
    gc.collect()
    # Not glibc (musl, macOS, Windows): no such way to hand memory back.
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(None).malloc_trim(0)


def run(
    config: Config,
    db_path: Path,
    out_dir: Path,
    now: datetime,
    *,
    settings: FetchSettings | None = None,
    on_result: Callable[[FetchResult], None] | None = None,
    accept_removals: frozenset[str] | set[str] = frozenset(),
) -> RunReport:
    """Fetch every source then publish: what cron runs (one run at a time per database)."""
    with run_lock(db_path), Store(db_path) as store:
        report = fetch(
            config,
            store,
            now,
            settings=settings,
            on_result=on_result,
            accept_removals=accept_removals,
        )
        report.published, report.upcoming = publish(config, store, out_dir, now)
    return report


__all__ = [
    "RunReport",
    "SourceReport",
    "agenda_window",
    "dedupe",
    "explain",
    "fetch",
    "match_changes",
    "match_settings",
    "publish",
    "run",
    "store_source",
]
