"""calendar.ics: the merged agenda as one RFC 5545 calendar that residents subscribe to.

The VEVENTs are written by contentline.py (icalendar's rules, without its per-character folding,
which made 20,000 events take a minute): every TEXT value is escaped there, so a CR, LF, ';' or
',' in a title stays text and cannot start a new property. The calendar header and the VTIMEZONE
are still written by icalendar. DTSTAMP and LAST-MODIFIED come from the event's last real change,
never from the clock, so an unchanged agenda gives the same bytes.

Every published VEVENT is one occurrence with its own UID (the store gives each occurrence of a
recurring source event its own identity): no RRULE is ever published, so clients never expand a
series differently from us. Cancelled upcoming events stay published as STATUS:CANCELLED until
their date (subscribed calendars then remove them), their title prefixed « ANNULÉ – » under the
default `cancelled: mark` policy, since Google Calendar hides the status itself.

Besides calendar.ics, each event gets its own small calendar, `events/<uid>.ics`, for the page's
"ajouter à mon agenda" link (`event_ics_path`): the short header, the VTIMEZONE of the event's
years and the event's VEVENT block, cut out of calendar.ics when it is at hand (`split_calendar`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from icalendar import Calendar, vDuration

from aggregator.config import Agenda, Config
from aggregator.models import CANCELLED, Event
from aggregator.publish.atomic import write_if_changed
from aggregator.publish.contentline import (
    DateTimeWriter,
    date_value,
    escape_text,
    fold,
    text_line,
    utc_stamp,
)
from aggregator.publish.fragments import Fragments
from aggregator.publish.html import (
    all_day_span,
    event_link,
    http_url,
    place_line,
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
    return _event_ics_path(public_uid(event))


@functools.lru_cache(maxsize=65536)
def _event_ics_path(uid: str) -> str:
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


def _vevent(event: Event, agenda: Agenda, writer: DateTimeWriter) -> bytes:
    """The event's VEVENT block, CRLF-terminated.

    Written line by line (contentline.py) in icalendar's order: SUMMARY, DTSTART, DTEND, DTSTAMP,
    UID, SEQUENCE, then the other properties alphabetically.
    """
    tz = agenda.tz
    stamp = utc_stamp(event.last_modified) if event.last_modified else utc_stamp(UNKNOWN_STAMP)
    lines = [b"BEGIN:VEVENT", text_line("SUMMARY", display_title(event, agenda))]
    if event.all_day:
        first, last = all_day_span(event, tz)
        lines.append(f"DTSTART;VALUE=DATE:{date_value(first)}".encode())
        lines.append(f"DTEND;VALUE=DATE:{date_value(last + timedelta(days=1))}".encode())
    else:
        lines.append(fold(writer.line("DTSTART", _local(event.start, tz)).encode()))
        # No DTEND when the end is unknown: RFC 5545 then reads the event as ending at its start.
        if event.end is not None and event.end > event.start:
            lines.append(fold(writer.line("DTEND", _local(event.end, tz)).encode()))
    lines.append(f"DTSTAMP:{stamp}".encode())
    lines.append(text_line("UID", public_uid(event)))
    lines.append(f"SEQUENCE:{int(event.sequence)}".encode())
    if event.categories:
        categories = ",".join(escape_text(category) for category in event.categories)
        lines.append(fold(f"CATEGORIES:{categories}".encode()))
    description = description_with_sources(event)
    if description:
        lines.append(text_line("DESCRIPTION", description))
    if event.last_modified:
        lines.append(f"LAST-MODIFIED:{stamp}".encode())
    if not event.location.is_empty():
        lines.append(text_line("LOCATION", place_line(event.location)))
    lines.append(b"STATUS:CANCELLED" if event.status == CANCELLED else b"STATUS:CONFIRMED")
    link = event_link(event)
    if link:
        # A URI value is not TEXT: written as is (http_url let no space or control through).
        lines.append(fold(f"URL:{link}".encode()))
    lines.append(b"END:VEVENT\r\n")
    return b"\r\n".join(lines)


def _years(events: Sequence[Event], agenda: Agenda, now: datetime | None) -> tuple[int, int]:
    """The years the VTIMEZONE must cover: those of the events, not the clock's, so unchanged
    events give the same bytes; an empty calendar describes the year of `now`."""
    tz = agenda.tz
    if events:
        first = min(e.start.astimezone(tz).year for e in events)
        last = max(e.effective_end.astimezone(tz).year for e in events)
    else:
        first = last = (now or datetime.now(UTC)).astimezone(tz).year
    return first, last


_END = b"END:VCALENDAR\r\n"


@functools.lru_cache(maxsize=64)
def _vtimezone(zone: str, first: int, last: int) -> bytes:
    """The zone's VTIMEZONE block, exact over [first, last] (see vtimezone.py).

    Cached: the per-event files of a year-long agenda need only two or three distinct blocks.
    """
    return build_vtimezone(zone, first, last).to_ical()


# One-slot cache: every file of one publication gets the same Agenda object.
_last_header: dict[tuple[int, bool], tuple[Agenda, bytes]] = {}


def _header(agenda: Agenda, *, subscription: bool) -> bytes:
    """`_make_header`, made once per agenda settings object and kind."""
    found = _last_header.get((id(agenda), subscription))
    if found is not None and found[0] is agenda:
        return found[1]
    header = _make_header(agenda, subscription=subscription)
    if len(_last_header) > 8:
        _last_header.clear()
    _last_header[id(agenda), subscription] = (agenda, header)
    return header


def _make_header(agenda: Agenda, *, subscription: bool) -> bytes:
    """The calendar's opening lines and own properties, up to its first component.

    `subscription` adds what a subscribed calendar needs (name, description, zone, refresh).
    Written by icalendar: it is a few lines, once per file kind.
    """
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    if subscription:
        calendar.add("x-wr-calname", agenda.title)
        calendar.add("x-wr-caldesc", agenda.description)
        calendar.add("x-wr-timezone", agenda.timezone)
        calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
        # Not a registered property, so icalendar would not know it is a duration.
        calendar.add("x-published-ttl", vDuration(REFRESH))
    return calendar.to_ical().removesuffix(_END)


def vevents(
    events: Iterable[Event], config: Config, fragments: Fragments | None = None
) -> list[bytes]:
    """Each event's VEVENT block, in the order given; from `fragments` when at hand (the same
    bytes in calendar.ics, the per-filter calendars and the per-event files)."""
    agenda = config.agenda
    writer = DateTimeWriter(agenda.tz)
    if fragments is None:
        return [_vevent(event, agenda, writer) for event in events]
    return [
        fragments.piece("vevent", e, functools.partial(_vevent, e, agenda, writer)) for e in events
    ]


def calendar_parts(
    events: Sequence[Event], config: Config, now: datetime | None = None
) -> tuple[bytes, bytes]:
    """calendar.ics's header and VTIMEZONE for these (published) events."""
    agenda = config.agenda
    # Always present (even with only all-day events) since X-WR-TIMEZONE names it.
    return _header(agenda, subscription=True), _vtimezone(
        agenda.timezone, *_years(events, agenda, now)
    )


def calendar_years(
    events: Sequence[Event], config: Config, now: datetime | None
) -> tuple[int, int]:
    """The years calendar.ics's VTIMEZONE covers (part of what the calendar shows)."""
    return _years(published_events(events, config.agenda), config.agenda, now)


def render_calendar(
    events: Sequence[Event],
    config: Config,
    now: datetime | None = None,
    *,
    fragments: Fragments | None = None,
) -> bytes:
    """The calendar as bytes (CRLF lines, folded at 75 octets, UTF-8).

    `events` are the upcoming events; cancelled ones are dropped under `cancelled: hide`.
    """
    return b"".join(render_calendar_parts(events, config, now, fragments=fragments))


def render_calendar_parts(
    events: Sequence[Event],
    config: Config,
    now: datetime | None = None,
    *,
    fragments: Fragments | None = None,
) -> list[bytes]:
    """`render_calendar`'s bytes as parts, in order: a big agenda's calendar is tens of
    megabytes, which publish_all writes part after part rather than join."""
    events = published_events(events, config.agenda)
    header, vtimezone = calendar_parts(events, config, now)
    return [header, vtimezone, *vevents(sort_events(events), config, fragments), _END]


def render_event_calendar(event: Event, config: Config) -> bytes:
    """One event as a complete calendar (with the agenda zone's VTIMEZONE), for "add to mine"."""
    agenda = config.agenda
    return _event_calendar(
        _header(agenda, subscription=False),
        _vevent(event, agenda, DateTimeWriter(agenda.tz)),
        event,
        agenda,
    )


def event_calendar(vevent: bytes, event: Event, config: Config) -> bytes:
    """The event's own calendar around its VEVENT block (as `render_event_files` makes it)."""
    agenda = config.agenda
    return _event_calendar(_header(agenda, subscription=False), vevent, event, agenda)


def _event_calendar(header: bytes, vevent: bytes, event: Event, agenda: Agenda) -> bytes:
    vtimezone = _vtimezone(agenda.timezone, *_years([event], agenda, None))
    return b"".join([header, vtimezone, vevent, _END])


def render_event_files(
    events: Sequence[Event],
    config: Config,
    calendar: bytes | None = None,
    *,
    fragments: Fragments | None = None,
) -> dict[str, bytes]:
    """Every published event's own calendar, keyed by `event_ics_path`.

    Each file reuses the event's VEVENT block from `fragments` (the very bytes of calendar.ics),
    or else from `calendar`, calendar.ics as already rendered for `events`, if at hand.
    """
    agenda = config.agenda
    published = sort_events(published_events(events, agenda))
    if fragments is not None:
        found = vevents(published, config, fragments)
    else:
        split = split_calendar(calendar) if calendar is not None else None
        blocks = split.events if split is not None and split.holds(published) else {}
        writer = DateTimeWriter(agenda.tz)
        found = [blocks.get(public_uid(e)) or _vevent(e, agenda, writer) for e in published]
    header = _header(agenda, subscription=False)
    return {
        event_ics_path(event): _event_calendar(header, vevent, event, agenda)
        for event, vevent in zip(published, found, strict=True)
    }


# --- cutting a calendar we wrote into blocks (per-event files, per-filter feeds) ---------------


@dataclass(slots=True)
class SplitCalendar:
    header: list[bytes]  # the calendar's own properties, BEGIN:VCALENDAR first
    others: list[bytes]  # non-event components (VTIMEZONE), whole
    events: dict[str, bytes]  # UID → the whole VEVENT block

    def holds(self, events: Iterable[Event]) -> bool:
        """Whether the blocks are exactly one per event of `events`, by public UID."""
        return set(self.events) == {public_uid(e) for e in events}


def split_calendar(data: bytes) -> SplitCalendar | None:
    """Cut a calendar into header lines, other components and VEVENT blocks by UID.

    Returns None when the layout is not the simple one we write (then the caller renders each
    event or feed on its own): content lines cannot contain a bare CRLF (TEXT escapes it), so a
    line that starts with "BEGIN:" or "END:" is always a component boundary.
    """
    lines = data.split(b"\r\n")
    if not lines or lines[0] != b"BEGIN:VCALENDAR" or lines[-1] != b"":
        return None
    split = SplitCalendar([], [], {})
    depth = 0
    block: list[bytes] = []
    for line in lines[:-1]:
        if line.startswith(b"BEGIN:"):
            depth += 1
        if depth == 1 and not line.startswith(b"END:VCALENDAR"):
            split.header.append(line)
        elif depth >= 2:
            block.append(line)
        if line.startswith(b"END:"):
            depth -= 1
            if depth == 1:
                raw = b"\r\n".join(block) + b"\r\n"
                if block[0] == b"BEGIN:VEVENT":
                    uid = _uid_of(block)
                    if uid is None or uid in split.events:
                        return None
                    split.events[uid] = raw
                else:
                    split.others.append(raw)
                block = []
    if depth != 0:
        return None
    return split


def _uid_of(block: list[bytes]) -> str | None:
    for index, line in enumerate(block):
        if line.startswith(b"UID:"):
            value = line[4:]
            for follow in block[index + 1 :]:
                if not follow.startswith((b" ", b"\t")):
                    break
                value += follow[1:]
            return _TEXT_ESCAPE.sub(_unescape, value.decode("utf-8"))
    return None


_TEXT_ESCAPE = re.compile(r"\\(.)")


def _unescape(match: re.Match[str]) -> str:
    return "\n" if match[1] in "nN" else match[1]


def write_calendar(events: Sequence[Event], config: Config, path: Path) -> Path:
    """Render the calendar and write it atomically to `path`; return `path`."""
    write_if_changed(path, render_calendar(events, config))
    return path
