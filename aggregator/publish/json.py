"""events.json: the upcoming events as a JSON list, for anyone who wants to reuse the data.

Keys come in a fixed order and times are ISO 8601 with their offset in the agenda zone, so the file
is deterministic and readable without knowing our time zone rules.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aggregator.config import Config
from aggregator.models import Event
from aggregator.publish.atomic import write_if_changed
from aggregator.publish.fragments import Fragments
from aggregator.publish.html import public_uid, sort_events
from aggregator.publish.links import collective_link, page_url

KEYS = (
    "uid",
    "title",
    "start",
    "end",
    "all_day",
    "status",
    "url",
    "description",
    "location",
    "categories",
    "sources",
)


def event_record(event: Event, config: Config) -> dict[str, Any]:
    """One event as a JSON-ready dict with the keys of `KEYS`, in that order."""
    tz = config.agenda.tz
    location = event.location
    return {
        "uid": public_uid(event),
        "title": event.title,
        "start": event.start.astimezone(tz).isoformat(),
        "end": event.end.astimezone(tz).isoformat() if event.end is not None else None,
        "all_day": event.all_day,
        "status": event.status,
        # The event's own page only (never the calendar or feed it came from): the sources
        # below carry their own.
        "url": page_url(event.url, config),
        "description": event.description,
        "location": {
            "name": location.name,
            "address": location.address,
            "postcode": location.postcode,
            "city": location.city,
        },
        "categories": list(event.categories),
        "sources": [
            {"id": s.id, "name": s.name, "url": collective_link(s, config)} for s in event.sources
        ],
    }


def _line(event: Event, config: Config) -> bytes:
    # One event per line: still readable and diffable, and json's C encoder only runs without
    # `indent` (indent=2 made this file several times slower to write at 20,000 events).
    record = event_record(event, config)
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8")


def render_json(
    events: Sequence[Event], config: Config, *, fragments: Fragments | None = None
) -> bytes:
    """The JSON list as UTF-8 bytes (accents kept as they are, not \\u-escaped)."""
    return b"".join(render_json_parts(events, config, fragments=fragments))


def render_json_parts(
    events: Sequence[Event], config: Config, *, fragments: Fragments | None = None
) -> list[bytes]:
    """`render_json`'s bytes as parts, in order (see `ical.render_calendar_parts`)."""
    ordered = sort_events(events)
    if not ordered:
        return [b"[]\n"]
    if fragments is None:
        lines = [_line(e, config) for e in ordered]
    else:
        # One output joins them: not worth holding once it is written.
        lines = [
            fragments.piece("json", e, functools.partial(_line, e, config), hold=False)
            for e in ordered
        ]
    parts = [b"[\n"]
    for line in lines:
        parts += (line, b",\n")
    parts[-1] = b"\n]\n"
    return parts


def write_json(events: Sequence[Event], config: Config, path: Path) -> Path:
    """Render the JSON list and write it atomically to `path`; return `path`."""
    write_if_changed(path, render_json(events, config))
    return path
