"""Publish the upcoming events: calendar.ics, feed.xml, index.html and events.json.

`publish_all` renders every output in memory first and only then writes them, each atomically: a
failure while rendering leaves all the previous files in place, never a mix of old and new.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
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
    SOURCES_FILE,
    render_html,
    render_pages,
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
from aggregator.publish.rss import render_rss, write_rss
from aggregator.publish.sources_page import render_sources_page

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
    # Each per-event file reuses its VEVENT block from calendar.ics rather than rendering it again.
    # Creating tens of thousands of small files is I/O-bound: it runs in a child process while
    # this one renders the pages and feeds (each file is still written atomically).
    finish_event_files = write_in_background(
        write_event_files, render_event_files(events, config, calendar), out_dir
    )
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
        }
        # Month pages and per-filter feeds, in their folders (mois/, villes/, themes/, collectifs/).
        nested = pages | render_feeds(planned, events, config, calendar, now)
    except BaseException:
        # Never leave the writer behind; the render error is the one to report.
        with contextlib.suppress(PublishError):
            finish_event_files(False)
        raise
    event_paths = finish_event_files(True)
    paths: list[Path] = []
    for name, data in outputs.items():
        path = out_dir / name
        written = write_if_changed(path, data)
        log.info("%s %s", "wrote" if written else "unchanged", path)
        paths.append(path)
    # The per-event calendars (events/<uid>.ics) come after the main files, sorted.
    paths += event_paths
    folders = [MONTHS_DIR, *(folder for folder, _ in FEED_KINDS.values())]
    paths += write_files(nested, out_dir, folders)
    # Last, so a failed publication is compared again with the same previous one next time.
    write_if_changed(state_path, render_state(state))
    return [*paths, state_path]
