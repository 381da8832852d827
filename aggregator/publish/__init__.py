"""Publish the upcoming events: calendar.ics, feed.xml, the pages, events.json and the rest.

`publish_all` renders every output in memory first and only then writes them, each atomically: a
failure while rendering leaves all the previous files in place, never a mix of old and new.

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
import logging
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aggregator.clashes import find_clashes
from aggregator.config import Config
from aggregator.errors import PublishError
from aggregator.models import Event
from aggregator.publish.atomic import (
    atomic_write,
    remove_stale,
    write_if_changed,
    write_in_background,
    write_many,
)
from aggregator.publish.changes import (
    KEEP_DAYS,
    STATE_FILE,
    compute_changes,
    load_state,
    render_changes,
    render_state,
)
from aggregator.publish.event_pages import EVENTS_PAGES_DIR, plan_event_pages
from aggregator.publish.feeds import (
    plan_feeds,
    render_feed,
    render_feeds_json,
    write_files,
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
    calendar_parts,
    calendar_years,
    event_calendar,
    event_ics_path,
    published_events,
    render_calendar,
    vevents,
    write_calendar,
    write_event_files,
)
from aggregator.publish.json import render_json, write_json
from aggregator.publish.record import RECORD_FILE, OutputRecord
from aggregator.publish.rss import LOCAL_ROOT, render_rss, write_rss
from aggregator.publish.sources_page import CLASH_DAYS, render_sources_page, shown_health
from aggregator.publish.views import QUICK_DIR, find_series

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
) -> list[Path]:
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
        main, nested, ics_files, pages = _plan(events, config, now, health, fragments)
        # changes.xml: from the state computed against the previous publication's, which is
        # the same as last time when the events are (and no change left its history).
        events_key = b""
        if record is not None:
            events_key = keys_of((fragments.scope, "changes"), (fragments.key(e) for e in events))
        state: dict[str, Any] | None = None
        state_bytes: bytes | None = None
        if record is not None and record.state_fresh(events_key, state_path, now):
            with contextlib.suppress(OSError):
                state_bytes = state_path.read_bytes()
        if state_bytes is None:
            state = compute_changes(load_state(state_path), events, config, now)
            state_bytes = render_state(state)
        changes = Planned(
            CHANGES_FILE,
            key_of(fragments.scope, CHANGES_FILE, hashlib.sha256(state_bytes).digest())
            if record is not None
            else None,
            functools.partial(_render_changes, state, state_path, config),
        )
        main.insert(main.index(next(p for p in main if p.path == SOURCES_FILE)) + 1, changes)
        ics_bytes = {p.path: p.render() for p in ics_files if not fresh(p)}
        write_ics = functools.partial(write_event_files, keep={p.path for p in ics_files})
        write_pages = _PagesWriter([p for p in pages if not fresh(p)], keep={p.path for p in pages})
        # Creating tens of thousands of small files (events/<uid>.ics, evenements/<slug>.html) is
        # I/O-bound: two child processes, one rendering and writing the event pages, the other
        # writing the per-event calendars, work while this one renders the list pages and feeds;
        # each file is still written atomically, and only renamed into place once everything
        # rendered. A few files are written here, after the rest is rendered.
        finishers = [
            (write_in_background if len(files) >= _BACKGROUND_FILES else _later)(
                writer, files, out_dir
            )
            for writer, files in ((write_pages, write_pages.files), (write_ics, ics_bytes))
        ]
        try:
            rendered = {p.path: p.render() for p in (*main, *nested) if not fresh(p)}
        except BaseException:
            # Never leave the writers behind; the render error is the one to report.
            for finish in finishers:
                with contextlib.suppress(PublishError):
                    finish(False)
            raise
    finally:
        LOCAL_ROOT.reset(local_root)
    try:
        finishers[0](True)
    except BaseException:
        with contextlib.suppress(PublishError):
            finishers[1](False)
        raise
    finishers[1](True)
    paths: list[Path] = []
    for planned in main:
        path = out_dir / planned.path
        if planned.path in rendered:
            written = write_if_changed(path, rendered[planned.path])
            log.info("%s %s", "wrote" if written else "unchanged", path)
        paths.append(path)
    # The per-event calendars and pages (events/, evenements/) come after the main files, sorted.
    paths += [out_dir / name for name in sorted(p.path for p in ics_files)]
    paths += [out_dir / name for name in sorted(p.path for p in pages)]
    folders = [MONTHS_DIR, QUICK_DIR, *(folder for folder, _ in FEED_KINDS.values())]
    nested_files = {p.path: rendered[p.path] for p in nested if p.path in rendered}
    paths += write_files(nested_files, out_dir, folders, keep={p.path for p in nested})
    # Last, so a failed publication is compared again with the same previous one next time.
    if state is not None:
        write_if_changed(state_path, state_bytes)
    written = {*rendered, *ics_bytes, *write_pages.files}
    if record is not None and (written or state is not None):
        keys = {p.path: p.key for group in (main, nested, ics_files, pages) for p in group if p.key}
        until = _state_until(state if state is not None else load_state(state_path))
        record.save(keys, written, state=(events_key, state_path, now, until))
    fragments.save()
    log.info(
        "rendered %d of %d outputs (%d pieces rendered)",
        len(written),
        len(main) + len(nested) + len(ics_files) + len(pages),
        fragments.rendered,
    )
    return [*paths, state_path]


def _render_changes(state: dict[str, Any] | None, state_path: Path, config: Config) -> bytes:
    if state is None:
        state = load_state(state_path)
    if state is None:
        raise PublishError(f"cannot read the publication state {state_path}")
    return render_changes(state, config)


# Below this many per-event files to write, a child process costs more than it saves.
_BACKGROUND_FILES = 400


def _state_until(state: dict[str, Any] | None) -> datetime | None:
    """When the first change in the state's history leaves changes.xml."""
    moments = []
    for change in (state or {}).get("changes", []):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            moments.append(datetime.fromisoformat(change["at"]) + timedelta(days=KEEP_DAYS))
    return min(moments) if moments else None


_Plan = tuple[list[Planned], list[Planned], list[Planned], list[Planned]]


def _plan(
    events: list[Event],
    config: Config,
    now: datetime,
    health: Sequence[SourceHealth] | None,
    fragments: Fragments,
) -> _Plan:
    """Every output with its key: the main files (in the order they are returned), the files in
    folders (pages by month and span, per-filter feeds), the per-event calendars and pages."""
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
    # Series fold on the list pages and list their other dates on the event pages.
    series = find_series(events, config.agenda.tz, now.astimezone(config.agenda.tz).date())
    labels = tag_labels(events)
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
            functools.partial(render_calendar, events, config, now, fragments=fragments),
        ),
        Planned(
            FEED_FILE,
            key(lambda: keys_of((scope, FEED_FILE), rss_keys.values())),
            functools.partial(render_rss, events, config, now, fragments=fragments),
        ),
        index,
        Planned(
            JSON_FILE,
            key(lambda: keys_of((scope, JSON_FILE), json_keys)),
            functools.partial(render_json, events, config, fragments=fragments),
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
    event_pages = plan_event_pages(
        events,
        config,
        now,
        ics_href=event_ics_path,
        fragments=fragments,
        series=series,
        labels=labels,
    )
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
                functools.partial(render_feed, feed, config, head, fragments, link.ics),
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
                functools.partial(render_feed, feed, config, head, fragments, link.rss),
            )
        )
    # One file per path (two events sharing one keep the last, as a dict of files did).
    ics_files: dict[str, Planned] = {}
    for event in events:
        path = event_ics_path(event)
        ics_files[path] = Planned(
            path,
            fragments.piece_key("event-ics", event) if keyed else None,
            functools.partial(_event_file, event, config, fragments),
        )
    pages_by_path = {p.path: p for p in event_pages}
    return main, nested, list(ics_files.values()), list(pages_by_path.values())


def _event_file(event: Event, config: Config, fragments: Fragments) -> bytes:
    [vevent] = vevents([event], config, fragments)
    return event_calendar(vevent, event, config)


def _later(
    write: Callable[..., list[Path]], files: dict[str, bytes], out_dir: Path
) -> Callable[[bool], list[Path]]:
    """`write_in_background`'s `finish`, doing the work in this process when it is called."""

    def finish(commit: bool) -> list[Path]:
        return write(files, out_dir) if commit else []

    return finish


class _PagesWriter:
    """`write(files, out_dir, proceed=...)` for `write_in_background`: renders the event pages
    to write (in the child, beside the parent's work) and writes them, all staged before the
    first rename; pages of events no longer published (not in `keep`) are removed."""

    def __init__(self, pages: list[Planned], *, keep: set[str]) -> None:
        self.pages = pages
        self.keep = keep
        # What write_in_background expects: the files' names (rendered in the child).
        self.files: dict[str, bytes] = dict.fromkeys((p.path for p in pages), b"")

    def __call__(
        self, files: dict[str, bytes], out_dir: Path, *, proceed: Callable[[], bool] | None = None
    ) -> list[Path]:
        folder = Path(out_dir) / EVENTS_PAGES_DIR
        root = os.fspath(out_dir)
        rendered = {os.path.join(root, p.path): p.render() for p in self.pages}
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PublishError(f"cannot create directory {folder}: {exc}") from exc
        decided: list[bool] = []

        def gate() -> bool:
            decided.append(proceed() if proceed is not None else True)
            return decided[-1]

        write_many(rendered, proceed=gate)
        if decided and not decided[0]:
            return []
        remove_stale(folder, ".html", {name.rpartition("/")[2] for name in self.keep})
        return [Path(name) for name in rendered]
