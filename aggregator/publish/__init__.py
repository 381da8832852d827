"""Publish the upcoming events: calendar.ics, feed.xml, the pages, events.json and the rest.

`publish_all` writes each output to a temporary file beside it as soon as it is rendered (its
bytes let go of at once: a big agenda's outputs weigh hundreds of megabytes) and renames them all
into place only once every one is written: a failure while rendering or writing leaves all the
previous files in place, never a mix of old and new, and a file whose bytes did not change is
not touched.

Given `cache_dir` (the database's folder), a publication is incremental: each output gets a key,
the hash of everything it shows (record.py), and only the outputs whose key or file changed since
the last publication are rendered and written; the per-event pieces they are joined from come
from the previous publications where the event did not change (fragments.py). What it writes is
byte for byte what a full publication writes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import logging
import marshal
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aggregator.clashes import find_clashes
from aggregator.config import Config
from aggregator.errors import PublishError
from aggregator.models import Event
from aggregator.publish.atomic import (
    BackgroundWrite,
    PathList,
    Staging,
    atomic_write,
    remove_abandoned,
    remove_stale,
    write_if_changed,
    write_in_background,
)
from aggregator.publish.changes import (
    KEEP_DAYS,
    STATE_FILE,
    compute_changes,
    load_state,
    render_changes,
    render_state,
)
from aggregator.publish.event_pages import EVENTS_PAGES_DIR, event_page_path, plan_event_pages
from aggregator.publish.feeds import (
    make_folders,
    plan_feeds,
    remove_stale_files,
    render_feed_parts,
    render_feeds_json,
)
from aggregator.publish.fragments import CACHE_FILE, Fragments, FragmentStore, key_of, keys_of
from aggregator.publish.html import (
    CALENDAR_FILE,
    CHANGES_FILE,
    FEED_FILE,
    FEED_KINDS,
    FEEDS_FILE,
    HTML_FILE,
    JSON_FILE,
    MONTHS_DIR,
    ROBOTS_FILE,
    SITEMAP_FILE,
    SOURCES_FILE,
    Planned,
    joined,
    plan_pages,
    public_uid,
    render_html,
    render_robots,
    render_sitemap,
    sort_events,
    static_files,
    tag_labels,
    write_html,
)
from aggregator.publish.ical import (
    EVENTS_DIR,
    calendar_parts,
    calendar_years,
    event_calendar,
    event_ics_path,
    published_events,
    render_calendar,
    render_calendar_parts,
    vevents,
    write_calendar,
)
from aggregator.publish.json import render_json, render_json_parts, write_json
from aggregator.publish.links import remember_pages
from aggregator.publish.record import RECORD_FILE, OutputRecord, Publication
from aggregator.publish.rss import LOCAL_ROOT, render_rss, render_rss_parts, write_rss
from aggregator.publish.sources_page import CLASH_DAYS, render_sources_page, shown_health
from aggregator.publish.views import QUICK_DIR, Series, find_series

__all__ = [
    "CALENDAR_FILE",
    "FEED_FILE",
    "HTML_FILE",
    "JSON_FILE",
    "atomic_write",
    "publish_all",
    "render_calendar",
    "render_html",
    "render_json",
    "render_rss",
    "write_calendar",
    "write_html",
    "write_json",
    "write_rss",
]

if TYPE_CHECKING:
    from aggregator.store import SourceHealth

log = logging.getLogger(__name__)


def publish_all(
    events: Sequence[Event],
    config: Config,
    out_dir: Path,
    now: datetime,
    *,
    health: Sequence[SourceHealth] | None = None,
    state_path: Path | None = None,
    cache_dir: Path | None = None,
) -> Sequence[Path]:
    """Write every output into `out_dir` (created if missing); return the paths, in a fixed order.

    `events` are the upcoming, merged events; `now` says which day is today (the pages mark it)
    and what is over. Files whose content did not change are left untouched. Raises
    `PublishError` if the directory or a file cannot be written.

    `health` (the store's view of each source) fills sources.html; `state_path` is the previous
    publication's state that changes.xml is computed from (default: in `out_dir`). With
    `cache_dir`, only what changed since the last publication is rendered (see the module
    docstring); the record and the pieces are kept there.
    """
    out_dir = Path(out_dir)
    # `cancelled: hide` drops cancelled events from every output, not only calendar.ics.
    events = sort_events(published_events(events, config.agenda))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"cannot create output directory {out_dir}: {exc}") from exc
    state_path = Path(state_path) if state_path is not None else out_dir / STATE_FILE
    store = FragmentStore(Path(cache_dir) / CACHE_FILE) if cache_dir is not None else None
    fragments = Fragments(config, store)
    record = None
    if cache_dir is not None:
        scope = key_of(fragments.scope, str(out_dir.resolve())).hex()
        record = OutputRecord(Path(cache_dir) / RECORD_FILE, out_dir, scope)

    def fresh(planned: Planned) -> bool:
        return record is not None and record.fresh(planned.path, planned.key)

    # Without base_url the feeds' <link> is the page in this folder (see rss.home_url).
    local_root = LOCAL_ROOT.set(out_dir.resolve().as_uri() + "/")
    try:
        # changes.xml: from the state computed against the previous publication's, which is
        # the same as last time when the events are (and no change left its history). Made
        # once the child processes are at work (`_write_outputs` calls it): they do not need it.
        events_key = b""
        if record is not None:
            events_key = keys_of((fragments.scope, "changes"), (fragments.key(e) for e in events))
        state: dict[str, Any] | None = None
        state_bytes: bytes | None = None

        def snapshot_key(event: Event) -> str:
            # What an event's snapshot in the state depends on: itself, the code, the config.
            return key_of(fragments.scope, "snapshot", fragments.key(event)).hex()

        changes: list[Planned] = []

        def plan_changes() -> Planned | None:
            nonlocal state, state_bytes
            if record is not None and record.state_fresh(events_key, state_path, now):
                with contextlib.suppress(OSError):
                    state_bytes = state_path.read_bytes()
            if state_bytes is None:
                state = compute_changes(
                    load_state(state_path),
                    events,
                    config,
                    now,
                    snapshot_key if record is not None else None,
                )
                state_bytes = render_state(state)
            planned = Planned(
                CHANGES_FILE,
                key_of(fragments.scope, CHANGES_FILE, hashlib.sha256(state_bytes).digest())
                if record is not None
                else None,
                functools.partial(_render_changes, state, state_path, config),
            )
            changes.append(planned)
            return None if fresh(planned) else planned

        remember_pages(events, config)
        shared = _plan_event_pages(events, config, now, fragments)
        pages = _FilesWriter(EVENTS_PAGES_DIR, ".html", [p for p in shared.pages if not fresh(p)])
        # The event pages are the longest work: their child starts before the rest is planned,
        # so that the other core is not idle meanwhile.
        early = pages.fork(out_dir) if len(pages.planned) >= _BACKGROUND_FILES else None
        try:
            plan = _plan(events, config, now, health, fragments, shared)
            main = plan.main
            writers = (
                _FilesWriter(EVENTS_DIR, ".ics", [p for p in plan.ics_files if not fresh(p)]),
                pages,
            )
            outputs = [p for p in (*main, *plan.nested) if not fresh(p)]
            durable = {CHANGES_FILE, *(p.path for p in main)}
            changed = _write_outputs(
                outputs, durable, writers, plan, config, out_dir, later=plan_changes, pages=early
            )
        except BaseException:
            if early is not None:
                with contextlib.suppress(PublishError):
                    early(False)
            raise
        main.insert(main.index(next(p for p in main if p.path == SOURCES_FILE)) + 1, changes[0])
    finally:
        LOCAL_ROOT.reset(local_root)
    root = os.fspath(out_dir)
    paths: list[str] = []
    for planned in main:
        path = os.path.join(root, planned.path)
        if planned.path in changed:
            log.info("%s %s", "wrote" if changed[planned.path] else "unchanged", path)
        paths.append(path)
    # The per-event calendars and pages (events/, evenements/) come after the main files, sorted.
    for writer, planned_files in zip(writers, (plan.ics_files, plan.pages), strict=True):
        names = sorted(p.path for p in planned_files)
        writer.remove_stale(out_dir, names)
        paths += [os.path.join(root, name) for name in names]
    paths += map(str, remove_stale_files(out_dir, _FOLDERS, [p.path for p in plan.nested]))
    remove_abandoned(out_dir)
    # Last, so a failed publication is compared again with the same previous one next time.
    if state is not None and state_bytes is not None:
        write_if_changed(state_path, state_bytes)
    written = {*changed, *(name for writer in writers for name in writer.files)}
    paths.append(str(state_path))
    publication = Publication(paths)
    if record is not None and (written or state is not None):
        keys = {
            p.path: p.key
            for group in (main, plan.nested, plan.ics_files, plan.pages)
            for p in group
            if p.key
        }
        until = _state_until(state if state is not None else load_state(state_path))
        stamps = record.save(keys, written, state=(events_key, state_path, now, until))
        del keys
        under = len(root) + 1
        # Every path but the state file's is the output folder joined with its output's name.
        aligned = [stamps.get(path[under:]) for path in paths[:-1]]
        aligned.append(stamps.get(paths[-1]))
        publication = Publication(paths, stamps=aligned, history_end=until)
    fragments.save()
    log.info(
        "rendered %d of %d outputs (%d pieces rendered)",
        len(written),
        len(main) + len(plan.nested) + len(plan.ics_files) + len(plan.pages),
        fragments.rendered,
    )
    return publication


# The folders of the main outputs' companions: pages by month and span, per-filter feeds.
_FOLDERS = (MONTHS_DIR, QUICK_DIR, *(folder for folder, _ in FEED_KINDS.values()))

# Below this many per-event files to write, a child process costs more than it saves.
_BACKGROUND_FILES = 400

# The per-event files are rendered this many bytes at a time before they are written.
_BATCH_BYTES = 4 << 20

# The order outputs are rendered in, by the kinds of piece they are joined from (those of no
# kind last): the VEVENT blocks made for the per-event calendars first.
_RENDER_ORDER = ("vevent", "jsonld", "card", "rss", "json")


def _write_outputs(
    outputs: list[Planned],
    durable: set[str],
    writers: tuple[_FilesWriter, _FilesWriter],
    plan: _Plan,
    config: Config,
    out_dir: Path,
    *,
    later: Callable[[], Planned | None] = lambda: None,
    pages: BackgroundWrite | None = None,
) -> dict[str, bool]:
    """Render `outputs` and the per-event files of `writers` (calendars, pages), each written
    to a temporary file as soon as it is rendered and let go of; once all of them are, rename
    them into place (a failure before leaves every previous file as it was). Return the
    outputs rendered, each with whether its file changed. The outputs named in `durable` (the
    main files) are flushed to disk before their rename. `later()` plans one more output (None:
    nothing to render), once the child processes are at work. `pages`: the child already
    writing the event pages (`_FilesWriter.fork`), if any; else they are written here.

    A large agenda's publication is shared among processes (two cores do it in about half the
    time, and creating tens of thousands of small files is I/O-bound): one child renders and
    writes the event pages (evenements/<slug>.html), one the per-event calendars
    (events/<uid>.ics) and the outputs joined from VEVENT blocks only (calendar.ics, the .ics
    feeds), one the outputs joined from RSS items, cards and JSON-LD objects (feed.xml, the .xml
    feeds, the list pages), while this process renders the rest (events.json, sources.html,
    changes.xml…). The shares are about even, so that no process is left working alone at the
    end. The VEVENT blocks are made here, once, before their child is forked; the stored pieces
    a child joins are read before it is forked, and the pieces it renders handed back to be
    stored. The outputs are rendered kind of piece by kind of piece (`_RENDER_ORDER`), and each
    kind let go of once the outputs joined from it are rendered (`Fragments.release`): the
    pieces held are about one kind's.
    """
    fragments = plan.fragments
    calendars, page_files = writers
    lists = _FilesWriter("", "", [])
    big = len(plan.ics_files) >= _BACKGROUND_FILES
    if big:
        for writer, kinds in ((calendars, {"vevent"}), (lists, {"rss", "card", "jsonld"})):
            writer.outputs = [p for p in outputs if p.pieces and set(p.pieces) <= kinds]
            writer.durable = durable
            writer.fragments = fragments
        taken = {p.path for p in (*calendars.outputs, *lists.outputs)}
        outputs = [p for p in outputs if p.path not in taken]
    rank = {kind: number for number, kind in enumerate(_RENDER_ORDER)}
    order = sorted(
        outputs, key=lambda p: min((rank.get(k, len(rank)) for k in p.pieces), default=len(rank))
    )
    last = {kind: number for number, planned in enumerate(order) for kind in planned.pieces}
    root = os.fspath(out_dir)
    changed: dict[str, bool] = {}
    with Staging() as staging:
        children: list[BackgroundWrite] = []
        forked: list[_FilesWriter] = []

        def start(writer: _FilesWriter, fork: bool) -> None:
            child = writer.start(staging, out_dir, fork=fork)
            if child is not None:
                children.append(child)
                forked.append(writer)

        if pages is not None:
            children.append(pages)
            forked.append(page_files)
        try:
            make_folders(out_dir, _FOLDERS)
            if pages is None:
                start(page_files, False)
            # The stored pieces a child joins are read before it is forked (it cannot read
            # them), and only when it has outputs to join; the calendars' child once their
            # VEVENT blocks are made.
            if lists.outputs:
                fragments.preload("rss", "card", "jsonld")
                start(lists, True)
            vevents([plan.events_of[p.path] for p in calendars.planned], config, fragments)
            if calendars.outputs:
                fragments.preload("vevent")
            start(calendars, len(calendars.planned) >= _BACKGROUND_FILES or bool(calendars.outputs))
            fragments.release(*(kind for kind in _RENDER_ORDER if kind not in last))
            if (planned_later := later()) is not None:
                order.append(planned_later)
            for number, planned in enumerate(order):
                path = os.path.join(root, planned.path)
                changed[planned.path] = staging.add(
                    path, planned.render(), sync=planned.path in durable
                )
                fragments.release(*(k for k in planned.pieces if last[k] == number))
            for writer, child in zip(forked, children, strict=True):
                child.ready(writer.receive)
        except BaseException:
            # Never leave the writers behind; the first error is the one to report.
            for child in children:
                with contextlib.suppress(PublishError):
                    child(False)
            raise
        # Every file is written: the children's go into place (at once), then this process's.
        for child in children:
            child.tell(True)
        for number, child in enumerate(children):
            try:
                child(True)
            except BaseException:
                for other in children[number + 1 :]:
                    with contextlib.suppress(PublishError):
                        other(False)
                raise
        staging.commit()
    for writer in (calendars, lists):
        changed |= writer.changed
    return changed


def _render_changes(state: dict[str, Any] | None, state_path: Path, config: Config) -> bytes:
    if state is None:
        state = load_state(state_path)
    if state is None:
        raise PublishError(f"cannot read the publication state {state_path}")
    return render_changes(state, config)


def _state_until(state: dict[str, Any] | None) -> datetime | None:
    """When the first change in the state's history leaves changes.xml."""
    moments = []
    for change in (state or {}).get("changes", []):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            moments.append(datetime.fromisoformat(change["at"]) + timedelta(days=KEEP_DAYS))
    return min(moments) if moments else None


@dataclass(frozen=True, slots=True)
class _Plan:
    """Every output with its key: the main files (in the order they are returned), the files in
    folders (pages by month and span, per-filter feeds), the per-event calendars and pages, and
    the event of each per-event file."""

    main: list[Planned]
    nested: list[Planned]
    ics_files: list[Planned]
    pages: list[Planned]
    events_of: dict[str, Event]
    fragments: Fragments


@dataclass(frozen=True, slots=True)
class _EventPages:
    """The event pages (`listed`: one per event, as the sitemap lists them; `pages`: one per
    path), and what the list pages show of the events too: the series they fold into and the
    tags' display forms."""

    series: dict[int, Series]
    labels: dict[str, str]
    listed: list[Planned]
    pages: list[Planned]


def _plan_event_pages(
    events: list[Event], config: Config, now: datetime, fragments: Fragments
) -> _EventPages:
    # Series fold on the list pages and list their other dates on the event pages.
    series = find_series(events, config.agenda.tz, now.astimezone(config.agenda.tz).date())
    labels = tag_labels(events)
    event_pages = plan_event_pages(
        events,
        config,
        now,
        ics_href=event_ics_path,
        fragments=fragments,
        series=series,
        labels=labels,
    )
    # One page per path (plan_event_pages keeps the order of `events`, sorted already).
    pages = list({p.path: p for p in event_pages}.values())
    return _EventPages(series, labels, event_pages, pages)


def _plan(
    events: list[Event],
    config: Config,
    now: datetime,
    health: Sequence[SourceHealth] | None,
    fragments: Fragments,
    shared: _EventPages,
) -> _Plan:
    """Every output to publish, with its key (see `_Plan`); `shared`: the event pages,
    planned first (`_plan_event_pages`)."""
    scope = fragments.scope
    years = calendar_years(events, config, now)
    head = calendar_parts(events, config, now)
    keyed = fragments.keyed

    def key(make: Callable[[], bytes]) -> bytes | None:
        """`make()`, when outputs are compared with the last publication's (else no key)."""
        return make() if keyed else None

    vevent_keys = {id(e): fragments.piece_key("vevent", e) for e in events} if keyed else {}
    rss_keys = {id(e): fragments.piece_key("rss", e) for e in events} if keyed else {}
    json_keys = [fragments.piece_key("json", e) for e in events] if keyed else []
    if keyed:  # in use by the list pages and the event pages (for `Fragments.save`)
        for event in events:
            fragments.piece_key("jsonld", event)
    planned = plan_feeds(events, config)
    feed_links = [feed.link for feed in planned]
    series, labels = shared.series, shared.labels
    pages = plan_pages(
        events,
        config,
        now,
        feeds=feed_links,
        ics_href=event_ics_path,
        fragments=fragments,
        series=series,
        labels=labels,
    )
    index = pages[0]

    def clashes() -> str:
        found = find_clashes(events, config, now, days=CLASH_DAYS)
        return repr([(public_uid(c.first), public_uid(c.second)) for c in found])

    main = [
        Planned(
            CALENDAR_FILE,
            key(lambda: keys_of((scope, CALENDAR_FILE, repr(years)), vevent_keys.values())),
            functools.partial(render_calendar_parts, events, config, now, fragments=fragments),
            ("vevent",),
        ),
        Planned(
            FEED_FILE,
            key(lambda: keys_of((scope, FEED_FILE), rss_keys.values())),
            functools.partial(render_rss_parts, events, config, fragments=fragments),
            ("rss",),
        ),
        index,
        Planned(
            JSON_FILE,
            key(lambda: keys_of((scope, JSON_FILE), json_keys)),
            functools.partial(render_json_parts, events, config, fragments=fragments),
            ("json",),
        ),
        Planned(
            SOURCES_FILE,
            key(
                lambda: keys_of(
                    (scope, SOURCES_FILE, repr(shown_health(health)), clashes()),
                    (fragments.key(e) for e in events),
                )
            ),
            functools.partial(render_sources_page, config, events, health, now),
        ),
        Planned(
            FEEDS_FILE,
            key(lambda: key_of(scope, FEEDS_FILE, repr(feed_links))),
            functools.partial(render_feeds_json, planned, config),
        ),
        Planned(ROBOTS_FILE, key_of(scope, ROBOTS_FILE), functools.partial(render_robots, config)),
    ]
    for name, data in static_files().items():
        main.append(Planned(name, key_of(scope, name, data), lambda data=data: data))
    event_pages = shared.listed
    sitemap_paths = [
        HTML_FILE,
        SOURCES_FILE,
        *(p.path for p in pages[1:]),
        *(p.path for p in event_pages),
    ]
    if config.agenda.base_url:
        main.append(
            Planned(
                SITEMAP_FILE,
                key_of(scope, SITEMAP_FILE, "\n".join(sitemap_paths)),
                lambda: render_sitemap(config, sitemap_paths) or b"",
            )
        )
    nested = list(pages[1:])
    for feed in planned:
        link = feed.link
        nested.append(
            Planned(
                link.ics,
                key(
                    lambda link=link, feed=feed: keys_of(
                        (scope, link.ics, link.label, repr(years)),
                        (vevent_keys[id(e)] for e in feed.events),
                    )
                ),
                functools.partial(render_feed_parts, feed, config, head, fragments, link.ics),
                ("vevent",),
            )
        )
        nested.append(
            Planned(
                link.rss,
                key(
                    lambda link=link, feed=feed: keys_of(
                        (scope, link.rss, link.label), (rss_keys[id(e)] for e in feed.events)
                    )
                ),
                functools.partial(render_feed_parts, feed, config, head, fragments, link.rss),
                ("rss",),
            )
        )
    # One file per path (two events sharing one keep the last, as a dict of files did).
    ics_files: dict[str, Planned] = {}
    events_of: dict[str, Event] = {}
    for event in events:
        path = event_ics_path(event)
        events_of[path] = event
        ics_files[path] = Planned(
            path,
            fragments.piece_key("event-ics", event) if keyed else None,
            functools.partial(_event_file, event, config, fragments),
            ("vevent",),
        )
    events_of |= {event_page_path(e): e for e in events}
    return _Plan(main, nested, list(ics_files.values()), shared.pages, events_of, fragments)


def _event_file(event: Event, config: Config, fragments: Fragments) -> bytes:
    [vevent] = vevents([event], config, fragments)
    return event_calendar(vevent, event, config)


class _FilesWriter:
    """Files rendered and written together: the per-event files of one folder
    (events/<uid>.ics, evenements/<slug>.html), then `outputs` (list outputs handed to it by
    `_write_outputs`). Each is rendered, written to its temporary file and let go of (`stage`),
    in this process or in the child process `write_in_background` forks (calling it), which
    renames them into place when the parent says so and hands back which outputs changed and
    the pieces it rendered (`receive`)."""

    def __init__(self, folder: str, suffix: str, planned: list[Planned]) -> None:
        self.folder = folder
        self.suffix = suffix
        self.planned = planned
        self.outputs: list[Planned] = []
        self.durable: set[str] = set()
        self.fragments: Fragments | None = None
        # Whether each output's file changed (known once staged: `receive` in a child's case).
        self.changed: dict[str, bool] = {}
        self._told_changed = False
        # What write_in_background expects: the files' names (rendered in the child).
        self.files: dict[str, bytes] = dict.fromkeys((p.path for p in planned), b"")

    def start(self, staging: Staging, out_dir: Path, *, fork: bool) -> BackgroundWrite | None:
        """Write the files: in a child process (returned) if `fork`, else here."""
        child = self.fork(out_dir) if fork else None
        if child is None:
            self.changed = self.stage(staging, out_dir)
        return child

    def fork(self, out_dir: Path) -> BackgroundWrite | None:
        """Write the files in a child process (returned), where the system can fork."""
        return write_in_background(self, self.files, out_dir) if hasattr(os, "fork") else None

    def stage(self, staging: Staging, out_dir: Path) -> dict[str, bool]:
        """Stage the files, then the outputs; return whether each output changed."""
        root = os.fspath(out_dir)
        if self.planned:
            folder = Path(out_dir) / self.folder
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise PublishError(f"cannot create directory {folder}: {exc}") from exc
        # Rendered a few megabytes at a time, then written: rendering and the file system's
        # calls each run faster in a row than one file after the other.
        batch: list[tuple[str, bytes]] = []
        size = 0
        for number, planned in enumerate(self.planned, 1):
            data = joined(planned.render())
            batch.append((os.path.join(root, planned.path), data))
            size += len(data)
            if size >= _BATCH_BYTES or number == len(self.planned):
                for name, rendered in batch:
                    staging.add(name, rendered)
                batch, size = [], 0
        changed: dict[str, bool] = {}
        for planned in self.outputs:
            path = os.path.join(root, planned.path)
            changed[planned.path] = staging.add(
                path, planned.render(), sync=planned.path in self.durable
            )
        return changed

    def __call__(
        self, files: dict[str, bytes], out_dir: Path, *, proceed: Callable[..., bool] | None = None
    ) -> Sequence[Path]:
        if proceed is not None and self.fragments is not None:
            self.fragments.in_child()
        with Staging() as staging:
            changed = self.stage(staging, out_dir)
            if proceed is not None:
                handed = self.fragments.handed() if self.fragments is not None else ()
                if not proceed(itertools.chain([marshal.dumps(changed)], handed)):
                    return []  # called off: nothing replaced
            staging.commit()
        return PathList(sorted(files), os.fspath(out_dir))

    def receive(self, said: bytes) -> None:
        """What the child says once ready, chunk by chunk: which outputs changed, then the
        pieces it rendered."""
        if self._told_changed:
            if self.fragments is not None:
                self.fragments.adopt(said)
        else:
            self.changed = marshal.loads(said)
            self._told_changed = True

    def remove_stale(self, out_dir: Path, keep: list[str]) -> None:
        """Remove the files of events no longer published (not in `keep`, the folder's files
        published: written now or already as they should be)."""
        names = {name.rpartition("/")[2] for name in keep}
        remove_stale(Path(out_dir) / self.folder, self.suffix, names)
