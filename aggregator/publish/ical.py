"""calendar.ics: the merged agenda as one RFC 5545 calendar that residents subscribe to.

Every value goes through icalendar's own types, so its escaping (not ours) guarantees that a CR,
LF, ';' or ',' in a title stays text and cannot start a new property. DTSTAMP and LAST-MODIFIED
come from the event's last real change, never from the clock, so an unchanged agenda gives the
same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path

from icalendar import Calendar, Timezone, vDuration
from icalendar import Event as VEvent

from aggregator.config import Agenda, Config
from aggregator.models import CANCELLED, Event
from aggregator.publish.atomic import write_if_changed
from aggregator.publish.html import (
    all_day_span,
    event_link,
    http_url,
    public_uid,
    sort_events,
)

PRODID = "-//aggregator//Agenda du numérique en Bretagne//FR"
# How often clients should come back: the sources themselves change a few times a day at most.
REFRESH = timedelta(hours=6)
# DTSTAMP is required; an event the store did not date gets a fixed one so output stays stable.
UNKNOWN_STAMP = datetime(1970, 1, 1, tzinfo=UTC)


def description_with_sources(event: Event) -> str:
    """The description followed by one "Source : name – url" line per source (provenance)."""
    lines = []
    for source in event.sources:
        url = http_url(source.url)
        lines.append(f"Source : {source.name} – {url}" if url else f"Source : {source.name}")
    return "\n\n".join(part for part in (event.description.strip(), "\n".join(lines)) if part)


def _vevent(event: Event, tz: tzinfo) -> VEvent:
    vevent = VEvent()
    vevent.add("uid", public_uid(event))
    stamp = event.last_modified.astimezone(UTC) if event.last_modified else UNKNOWN_STAMP
    vevent.add("dtstamp", stamp)
    if event.last_modified:
        vevent.add("last-modified", stamp)
    vevent.add("sequence", event.sequence)
    vevent.add("summary", event.title)
    if event.all_day:
        first, last = all_day_span(event, tz)
        vevent.add("dtstart", first)
        vevent.add("dtend", last + timedelta(days=1))
    else:
        vevent.add("dtstart", event.start.astimezone(tz))
        # No DTEND when the end is unknown: RFC 5545 then reads the event as ending at its start.
        if event.end is not None and event.end > event.start:
            vevent.add("dtend", event.end.astimezone(tz))
    description = description_with_sources(event)
    if description:
        vevent.add("description", description)
    if not event.location.is_empty():
        vevent.add("location", event.location.one_line())
    link = event_link(event)
    if link:
        vevent.add("url", link)
    if event.categories:
        vevent.add("categories", list(event.categories))
    vevent.add("status", "CANCELLED" if event.status == CANCELLED else "CONFIRMED")
    return vevent


def _vtimezone(events: Sequence[Event], agenda: Agenda) -> Timezone:
    """The agenda zone's VTIMEZONE, covering the years of the events.

    icalendar lists every transition as an RDATE; limiting them to the years we publish keeps the
    component a few lines long instead of covering 1970–2038.
    """
    tz = agenda.tz
    if not events:
        return Timezone.from_tzid(agenda.timezone)
    first = min(e.start.astimezone(tz).year for e in events)
    last = max(e.effective_end.astimezone(tz).year for e in events)
    return Timezone.from_tzid(
        agenda.timezone, first_date=date(first, 1, 1), last_date=date(last + 1, 1, 1)
    )


def render_calendar(events: Sequence[Event], config: Config) -> bytes:
    """The calendar as bytes (CRLF lines, folded at 75 octets, UTF-8)."""
    agenda = config.agenda
    tz = agenda.tz
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", agenda.title)
    calendar.add("x-wr-caldesc", agenda.description)
    calendar.add("x-wr-timezone", agenda.timezone)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    # Not a registered property, so icalendar would not know it is a duration.
    calendar.add("x-published-ttl", vDuration(REFRESH))
    # Always present (even with only all-day events) since X-WR-TIMEZONE names it.
    calendar.add_component(_vtimezone(events, agenda))
    for event in sort_events(events):
        calendar.add_component(_vevent(event, tz))
    return calendar.to_ical()


def write_calendar(events: Sequence[Event], config: Config, path: Path) -> Path:
    """Render the calendar and write it atomically to `path`; return `path`."""
    write_if_changed(path, render_calendar(events, config))
    return path
