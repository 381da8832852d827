"""calendar.ics: the merged agenda as one RFC 5545 calendar that residents subscribe to.

Every value goes through icalendar's own types, so its escaping (not ours) guarantees that a CR,
LF, ';' or ',' in a title stays text and cannot start a new property. DTSTAMP and LAST-MODIFIED
come from the event's last real change, never from the clock, so an unchanged agenda gives the
same bytes.

Every published VEVENT is one occurrence with its own UID (the store gives each occurrence of a
recurring source event its own identity): no RRULE is ever published, so clients never expand a
series differently from us. Cancelled upcoming events stay published as STATUS:CANCELLED until
their date (subscribed calendars then remove them), their title prefixed « ANNULÉ – » under the
default `cancelled: mark` policy, since Google Calendar hides the status itself.

Besides calendar.ics, each event gets its own small calendar, `events/<uid>.ics`, for the page's
"ajouter à mon agenda" link (`event_ics_path`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from icalendar import Calendar, Timezone, vDuration
from icalendar import Event as VEvent

from aggregator.config import Agenda, Config
from aggregator.errors import PublishError
from aggregator.models import CANCELLED, Event
from aggregator.publish.atomic import write_if_changed
from aggregator.publish.html import (
    all_day_span,
    event_link,
    http_url,
    public_uid,
    sort_events,
)
from aggregator.publish.vtimezone import build_vtimezone

log = logging.getLogger(__name__)

PRODID = "-//aggregator//Agenda du numérique en Bretagne//FR"
# How often clients should come back: the sources themselves change a few times a day at most.
REFRESH = timedelta(hours=6)
# DTSTAMP is required; an event the store did not date gets a fixed one so output stays stable.
UNKNOWN_STAMP = datetime(1970, 1, 1, tzinfo=UTC)
CANCELLED_PREFIX = "ANNULÉ – "
EVENTS_DIR = "events"
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._@-]+")


def published_events(events: Iterable[Event], agenda: Agenda) -> list[Event]:
    """The events every output shows: all of them, minus cancelled ones under `cancelled: hide`."""
    if agenda.cancelled == "hide":
        return [e for e in events if e.status != CANCELLED]
    return list(events)


def display_title(event: Event, agenda: Agenda) -> str:
    """The title as published: « ANNULÉ – » first when cancelled under `cancelled: mark`.

    Every publisher (calendar, per-event files, page, feed, JSON) should show this, so the
    resident sees the same words everywhere.
    """
    marked = event.status == CANCELLED and agenda.cancelled == "mark"
    if marked and not event.title.startswith(CANCELLED_PREFIX):
        return CANCELLED_PREFIX + event.title
    return event.title


def event_ics_path(event: Event) -> str:
    """The event's own calendar file, relative to the output folder: "events/<name>.ics".

    The name is the public UID when it is already safe in a file name and a URL path (the
    store's UIDs are); otherwise its unsafe characters are replaced and a short hash of the
    UID is added, so two UIDs never share a file.
    """
    uid = public_uid(event)
    name = _UNSAFE_NAME_CHARS.sub("-", uid).strip(".-")[:80]
    if name != uid or not name:
        digest = hashlib.sha1(uid.encode("utf-8")).hexdigest()[:10]
        name = f"{name}-{digest}" if name else digest
    return f"{EVENTS_DIR}/{name}.ics"


def description_with_sources(event: Event) -> str:
    """The description followed by one "Source : name – url" line per source (provenance)."""
    lines = []
    for source in event.sources:
        url = http_url(source.url)
        lines.append(f"Source : {source.name} – {url}" if url else f"Source : {source.name}")
    return "\n\n".join(part for part in (event.description.strip(), "\n".join(lines)) if part)


def _local(moment: datetime, tz: tzinfo) -> datetime:
    """`moment` in the agenda zone, or in UTC when that wall-clock time is ambiguous.

    In the hour repeated when DST ends (02:00–03:00 on the last Sunday of October in Paris), a
    local time with a TZID names two instants and clients pick differently; UTC names one.
    """
    local = moment.astimezone(tz)
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return moment.astimezone(UTC)
    return local


def _vevent(event: Event, agenda: Agenda) -> VEvent:
    tz = agenda.tz
    vevent = VEvent()
    vevent.add("uid", public_uid(event))
    stamp = event.last_modified.astimezone(UTC) if event.last_modified else UNKNOWN_STAMP
    vevent.add("dtstamp", stamp)
    if event.last_modified:
        vevent.add("last-modified", stamp)
    vevent.add("sequence", event.sequence)
    vevent.add("summary", display_title(event, agenda))
    if event.all_day:
        first, last = all_day_span(event, tz)
        vevent.add("dtstart", first)
        vevent.add("dtend", last + timedelta(days=1))
    else:
        vevent.add("dtstart", _local(event.start, tz))
        # No DTEND when the end is unknown: RFC 5545 then reads the event as ending at its start.
        if event.end is not None and event.end > event.start:
            vevent.add("dtend", _local(event.end, tz))
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


def _vtimezone(events: Sequence[Event], agenda: Agenda, now: datetime | None) -> Timezone:
    """The agenda zone's VTIMEZONE, exact over the years of the events (see vtimezone.py).

    The years come from the events, not the clock, so unchanged events give the same bytes; an
    empty calendar describes the year of `now`.
    """
    tz = agenda.tz
    if events:
        first = min(e.start.astimezone(tz).year for e in events)
        last = max(e.effective_end.astimezone(tz).year for e in events)
    else:
        first = last = (now or datetime.now(UTC)).astimezone(tz).year
    return build_vtimezone(agenda.timezone, first, last)


def _calendar(agenda: Agenda) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    return calendar


def render_calendar(events: Sequence[Event], config: Config, now: datetime | None = None) -> bytes:
    """The calendar as bytes (CRLF lines, folded at 75 octets, UTF-8).

    `events` are the upcoming events; cancelled ones are dropped under `cancelled: hide`.
    """
    agenda = config.agenda
    events = published_events(events, agenda)
    calendar = _calendar(agenda)
    calendar.add("x-wr-calname", agenda.title)
    calendar.add("x-wr-caldesc", agenda.description)
    calendar.add("x-wr-timezone", agenda.timezone)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    # Not a registered property, so icalendar would not know it is a duration.
    calendar.add("x-published-ttl", vDuration(REFRESH))
    # Always present (even with only all-day events) since X-WR-TIMEZONE names it.
    calendar.add_component(_vtimezone(events, agenda, now))
    for event in sort_events(events):
        calendar.add_component(_vevent(event, agenda))
    return calendar.to_ical()


def render_event_calendar(event: Event, config: Config) -> bytes:
    """One event as a complete calendar (with the agenda zone's VTIMEZONE), for "add to mine"."""
    agenda = config.agenda
    calendar = _calendar(agenda)
    calendar.add_component(_vtimezone([event], agenda, None))
    calendar.add_component(_vevent(event, agenda))
    return calendar.to_ical()


def render_event_files(events: Sequence[Event], config: Config) -> dict[str, bytes]:
    """Every published event's own calendar, keyed by `event_ics_path`."""
    return {
        event_ics_path(event): render_event_calendar(event, config)
        for event in sort_events(published_events(events, config.agenda))
    }


def write_event_files(files: dict[str, bytes], out_dir: Path) -> list[Path]:
    """Write rendered per-event files under `out_dir`, each atomically; remove stale ones.

    A per-event file whose event is no longer published (past, removed, hidden) is deleted, so
    an old "ajouter à mon agenda" link answers 404 rather than an outdated event. Returns the
    paths of the current files, sorted.
    """
    folder = Path(out_dir) / EVENTS_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"cannot create directory {folder}: {exc}") from exc
    paths = []
    for relative, data in sorted(files.items()):
        path = Path(out_dir) / relative
        write_if_changed(path, data)
        paths.append(path)
    keep = {path.name for path in paths}
    for stale in sorted(folder.glob("*.ics")):
        if stale.name not in keep:
            try:
                stale.unlink()
            except OSError as exc:
                raise PublishError(f"cannot remove the stale file {stale}: {exc}") from exc
            log.info("removed %s", stale)
    return paths


def write_calendar(events: Sequence[Event], config: Config, path: Path) -> Path:
    """Render the calendar and write it atomically to `path`; return `path`."""
    write_if_changed(path, render_calendar(events, config))
    return path
