"""Publish the upcoming events: calendar.ics, feed.xml, the pages, events.json and the rest.

`publish_all` renders every output in memory first and only then writes them, each atomically: a
failure while rendering leaves all the previous files in place, never a mix of old and new.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aggregator.config import Config
from aggregator.errors import PublishError
from aggregator.models import Event
from aggregator.publish.atomic import atomic_write, write_if_changed, write_in_background
from aggregator.publish.changes import (
    STATE_FILE,
    compute_changes,
    load_state,
    render_changes,
    render_state,
)
from aggregator.publish.event_pages import EVENTS_PAGES_DIR, event_page_path, render_event_pages
from aggregator.publish.feeds import (
    plan_feeds,
    render_feeds,
    render_feeds_json,
    write_files,
)
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
    render_html,
    render_pages,
    render_robots,
    render_sitemap,
    sort_events,
    static_files,
    write_html,
)
from aggregator.publish.ical import (
    event_ics_path,
    published_events,
    render_calendar,
    render_event_files,
    write_calendar,
    write_event_files,
)
from aggregator.publish.json import render_json, write_json
from aggregator.publish.rss import LOCAL_ROOT, render_rss, write_rss
from aggregator.publish.sources_page import render_sources_page
from aggregator.publish.views import QUICK_DIR

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
) -> list[Path]:
    """Write every output into `out_dir` (created if missing); return the paths, in a fixed order.

    `events` are the upcoming, merged events; `now` only dates the page's footer (and the feed
    when no event carries a modification time). Files whose content did not change are left
    untouched. Raises `PublishError` if the directory or a file cannot be written.

    `health` (the store's view of each source) fills sources.html; `state_path` is the previous
    publication's state that changes.xml is computed from (default: in `out_dir`).
    """
    out_dir = Path(out_dir)
    # `cancelled: hide` drops cancelled events from every output, not only calendar.ics.
    events = published_events(events, config.agenda)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"cannot create output directory {out_dir}: {exc}") from exc
    calendar = render_calendar(events, config, now)
    # Creating tens of thousands of small files (events/<uid>.ics, evenements/<slug>.html) is
    # I/O-bound: a child process renders the event pages and writes both while this one renders
    # the list pages and feeds; each file is still written atomically, and only renamed into
    # place once everything rendered. Each per-event calendar reuses its block of calendar.ics.
    write_event_outputs = _event_outputs_writer(events, config, now)
    finish_event_files = write_in_background(
        write_event_outputs, render_event_files(events, config, calendar), out_dir
    )
    # Without base_url the feeds' <link> is the page in this folder (see rss.home_url).
    local_root = LOCAL_ROOT.set(out_dir.resolve().as_uri() + "/")
    try:
        planned = plan_feeds(events, config)
        feed_links = [feed.link for feed in planned]
        pages = render_pages(events, config, now, feeds=feed_links, ics_href=event_ics_path)
        state_path = Path(state_path) if state_path is not None else out_dir / STATE_FILE
        state = compute_changes(load_state(state_path), events, config, now)
        outputs = {
            CALENDAR_FILE: calendar,
            FEED_FILE: render_rss(events, config, now),
            HTML_FILE: pages.pop(HTML_FILE),
            JSON_FILE: render_json(events, config),
            SOURCES_FILE: render_sources_page(config, events, health, now),
            CHANGES_FILE: render_changes(state, config),
            FEEDS_FILE: render_feeds_json(planned, config),
            ROBOTS_FILE: render_robots(config),
            **static_files(),
        }
        sitemap = render_sitemap(
            config,
            [HTML_FILE, SOURCES_FILE, *pages, *(event_page_path(e) for e in sort_events(events))],
        )
        if sitemap is not None:
            outputs[SITEMAP_FILE] = sitemap
        # Month and quick-span pages, per-filter feeds, in their folders (mois/, quand/, villes/…).
        nested = pages | render_feeds(planned, events, config, calendar, now)
    except BaseException:
        # Never leave the writer behind; the render error is the one to report.
        with contextlib.suppress(PublishError):
            finish_event_files(False)
        raise
    finally:
        LOCAL_ROOT.reset(local_root)
    event_paths = finish_event_files(True)
    event_paths += sorted(out_dir / event_page_path(e) for e in events)
    paths: list[Path] = []
    for name, data in outputs.items():
        path = out_dir / name
        written = write_if_changed(path, data)
        log.info("%s %s", "wrote" if written else "unchanged", path)
        paths.append(path)
    # The per-event calendars and pages (events/, evenements/) come after the main files, sorted.
    paths += event_paths
    folders = [MONTHS_DIR, QUICK_DIR, *(folder for folder, _ in FEED_KINDS.values())]
    paths += write_files(nested, out_dir, folders)
    # Last, so a failed publication is compared again with the same previous one next time.
    write_if_changed(state_path, render_state(state))
    return [*paths, state_path]


def _event_outputs_writer(
    events: Sequence[Event], config: Config, now: datetime
) -> Callable[..., list[Path]]:
    """`write(files, out_dir, proceed=...)` for `write_in_background`: renders every event's page
    (in the child, beside the parent's work) and writes them with the per-event calendars
    `files`, all staged before the first rename; stale pages are removed as stale calendars are.
    """

    def write(
        files: dict[str, bytes], out_dir: Path, *, proceed: Callable[[], bool] | None = None
    ) -> list[Path]:
        pages = render_event_pages(events, config, now, ics_href=event_ics_path)
        folder = Path(out_dir) / EVENTS_PAGES_DIR
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PublishError(f"cannot create directory {folder}: {exc}") from exc
        decided: list[bool] = []

        def gate() -> bool:
            decided.append(proceed() if proceed is not None else True)
            return decided[-1]

        paths = write_event_files(files | pages, out_dir, proceed=gate)
        if decided and not decided[0]:
            return []
        keep = {Path(name).name for name in pages}
        for stale in sorted(folder.glob("*.html")):
            if stale.name not in keep:
                try:
                    stale.unlink()
                except OSError as exc:
                    raise PublishError(f"cannot remove the stale file {stale}: {exc}") from exc
                log.info("removed %s", stale)
        return paths

    return write
