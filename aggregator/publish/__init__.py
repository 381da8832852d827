"""Publish the upcoming events: calendar.ics, feed.xml, index.html and events.json.

`publish_all` renders every output in memory first and only then writes them, each atomically: a
failure while rendering leaves all the previous files in place, never a mix of old and new.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from aggregator.config import Config
from aggregator.errors import PublishError
from aggregator.models import Event
from aggregator.publish.atomic import atomic_write, write_if_changed
from aggregator.publish.html import (
    CALENDAR_FILE,
    FEED_FILE,
    HTML_FILE,
    JSON_FILE,
    render_html,
    write_html,
)
from aggregator.publish.ical import (
    published_events,
    render_calendar,
    render_event_files,
    write_calendar,
    write_event_files,
)
from aggregator.publish.json import render_json, write_json
from aggregator.publish.rss import render_rss, write_rss

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

log = logging.getLogger(__name__)


def publish_all(
    events: Sequence[Event], config: Config, out_dir: Path, now: datetime
) -> list[Path]:
    """Write every output into `out_dir` (created if missing); return the paths, in a fixed order.

    `events` are the upcoming, merged events; `now` only dates the page's footer (and the feed
    when no event carries a modification time). Files whose content did not change are left
    untouched. Raises `PublishError` if the directory or a file cannot be written.
    """
    out_dir = Path(out_dir)
    # `cancelled: hide` drops cancelled events from every output, not only calendar.ics.
    events = published_events(events, config.agenda)
    event_files = render_event_files(events, config)
    outputs = {
        CALENDAR_FILE: render_calendar(events, config, now),
        FEED_FILE: render_rss(events, config, now),
        HTML_FILE: render_html(events, config, now),
        JSON_FILE: render_json(events, config),
    }
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"cannot create output directory {out_dir}: {exc}") from exc
    paths: list[Path] = []
    for name, data in outputs.items():
        path = out_dir / name
        written = write_if_changed(path, data)
        log.info("%s %s", "wrote" if written else "unchanged", path)
        paths.append(path)
    # The per-event calendars (events/<uid>.ics) come after the main files, sorted.
    paths += write_event_files(event_files, out_dir)
    return paths
