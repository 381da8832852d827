"""iCalendar (.ics) adapter: VEVENTs → Events, recurrences expanded inside the window.

Real-world calendars are rarely clean (see /work/shared/corpus/ics): this adapter unfolds the
lines first (RFC 5545 §3.1: producers fold anywhere, even before the colon), then repairs the
text before icalendar reads it (BOM, Latin-1 bytes, a missing BEGIN:VCALENDAR wrapper, stray
lines, unescaped multi-line values, empty parameters, components after END:VCALENDAR), falls
back to reading each VEVENT on its own when the whole file is rejected, and resolves the
time-zone names producers invent (Windows names, Outlook display names, "(GMT +01:00)") to IANA
zones where it can.

Two rules keep one source from damaging the agenda:
- a body that ends inside a component (no END:VCALENDAR after a BEGIN:VCALENDAR, or a VEVENT
  cut mid-way) is a cut download, not a producer's quirk: ParseError, so the source's stored
  events stay as they were (a file that never had the wrapper is still read);
- each parse depends on its own bytes only (zones come from this file's VTIMEZONEs and the
  zone database, never from icalendar's process-wide cache), and expansion is bounded:
  MAX_OCCURRENCES_PER_SERIES per recurring event, MAX_EVENTS_PER_SOURCE per calendar, each cut
  reported as a warning in the source's health.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import icalendar
import recurring_ical_events
import x_wr_timezone
from icalendar.error import InvalidCalendar
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from aggregator.config import Source
from aggregator.errors import ParseError
from aggregator.models import (
    CANCELLED,
    CONFIRMED,
    ORIGIN_ICAL,
    Document,
    Event,
    ParseContext,
    ParseResult,
)
from aggregator.normalize import (
    clean_categories,
    clean_description,
    clean_title,
    event_span,
    fingerprint,
    make_aware,
    parse_location,
    utc_stamp,
)
from aggregator.parsers import ical_fast

log = logging.getLogger(__name__)

# Outlook/Exchange display names of Windows zones (after the "(UTC+01:00) " prefix) that do not
# name an IANA city we can find by itself. Anything naming a city ("... Paris, ...",
# "Canberra, Melbourne, Sydney") is resolved by `_zone_from_cities` instead.
_DISPLAY_NAMES: dict[str, str] = {
    "eastern time (us & canada)": "America/New_York",
    "central time (us & canada)": "America/Chicago",
    "mountain time (us & canada)": "America/Denver",
    "pacific time (us & canada)": "America/Los_Angeles",
    "coordinated universal time": "UTC",
    "utc": "UTC",
    "gmt": "UTC",
    "greenwich mean time": "Europe/London",
    "brasília": "America/Sao_Paulo",
    "brasilia": "America/Sao_Paulo",
}
_OFFSET_NAME_RE = re.compile(
    r"^\(?\s*(?:UTC|GMT)\s*(?:(?P<sign>[+-])\s*(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?)?\s*\)?\s*(?P<rest>.*)$",
    re.I,
)
_DATE_PROPS = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")

# Property names a content line may start with; other "NAME:" lines inside a VEVENT are the
# continuation of an unescaped multi-line value (Exchange writes "Meeting ID: 123" that way).
_KNOWN_NAMES = frozenset(
    [
        "BEGIN",
        "END",
        "CALSCALE",
        "METHOD",
        "PRODID",
        "VERSION",
        "ATTACH",
        "CATEGORIES",
        "CLASS",
        "COMMENT",
        "DESCRIPTION",
        "GEO",
        "LOCATION",
        "PERCENT-COMPLETE",
        "PRIORITY",
        "RESOURCES",
        "STATUS",
        "SUMMARY",
        "COMPLETED",
        "DTEND",
        "DUE",
        "DTSTART",
        "DURATION",
        "FREEBUSY",
        "TRANSP",
        "TZID",
        "TZNAME",
        "TZOFFSETFROM",
        "TZOFFSETTO",
        "TZURL",
        "ATTENDEE",
        "CONTACT",
        "ORGANIZER",
        "RECURRENCE-ID",
        "RELATED-TO",
        "URL",
        "UID",
        "EXDATE",
        "EXRULE",
        "RDATE",
        "RRULE",
        "ACTION",
        "REPEAT",
        "TRIGGER",
        "CREATED",
        "DTSTAMP",
        "LAST-MODIFIED",
        "SEQUENCE",
        "REQUEST-STATUS",
        "NAME",
        "REFRESH-INTERVAL",
        "SOURCE",
        "COLOR",
        "IMAGE",
        "CONFERENCE",
        "TZUNTIL",
        "TZID-ALIAS-OF",
        "ACKNOWLEDGED",
        "PROXIMITY",
        "STYLED-DESCRIPTION",
        "STRUCTURED-DATA",
        "LOCATION-TYPE",
        "PARTICIPANT-TYPE",
        "CALENDAR-ADDRESS",
    ]
)
MAX_OCCURRENCES_PER_SERIES = 1000
"""Occurrences of one recurring event read in the agenda window (a daily event for almost three
years); a denser series (FREQ=MINUTELY without end) is cut there, with a warning."""
MAX_EVENTS_PER_SOURCE = 20_000
"""Events read from one calendar; the rest are left out, with a warning in the source's health."""

_TEXT_PROPS = frozenset({"DESCRIPTION", "SUMMARY", "LOCATION", "COMMENT", "CONTACT", "RESOURCES"})
_BARE_OFFSET_TZID_RE = re.compile(r";TZID=(\((?:UTC|GMT)[^)\":]*:[^)\"]*\)[^\";:]*)(?=[;:])", re.I)
_CONTENT_LINE_RE = re.compile(r"^(?P<name>[A-Za-z0-9-]+)(?P<params>;[^:]*)?:")


def parse(document: Document, source: Source, context: ParseContext) -> ParseResult:
    """Read an iCalendar document into events.

    Non-recurring VEVENTs that ended before `context.window` starts are dropped before
    icalendar reads them (the store keeps them as history); the others are all kept (the store
    filters by date). Recurring ones (RRULE, RDATE, RECURRENCE-ID) are expanded inside
    `context.window`, each occurrence identified as "UID/RECURRENCE-ID". A broken VEVENT is
    skipped with a warning; a document that is not an iCalendar file at all raises ParseError.
    """
    fast = ical_fast.parse(document, source, context)  # the same result, sooner (issue 13)
    if fast is not None:
        return fast
    text = _decode(document)
    result = ParseResult()
    if not re.search(r"^BEGIN:(VCALENDAR|VEVENT)", text, re.I | re.M):
        raise ParseError(source.id, _not_ical_message(text), url=document.url)
    repaired = _repair_lines(text)
    if repaired.open_at_end is not None:
        raise ParseError(source.id, _truncated_message(repaired.open_at_end), url=document.url)
    if repaired.after_end:
        result.warnings.append(
            f"{repaired.after_end} component(s) after END:VCALENDAR read as part of the calendar"
        )
    # Zones can shift a date by up to 26 hours: two days of margin keep the text test safe.
    cutoff = (context.window.start - timedelta(days=2)).date()
    lines, past = _drop_past_events(repaired.lines, cutoff)
    calendars, unreadable = _load("\r\n".join(lines) + "\r\n", result.warnings)
    result.items += unreadable + past
    builder = _Builder(document, source, context, result)
    for calendar in calendars:
        builder.add_calendar(calendar)
    return result


def _truncated_message(component: str) -> str:
    return (
        f"the calendar file is cut off: it ends inside {component} without END:{component}"
        + ("" if component == "VCALENDAR" else " and END:VCALENDAR")
        + " (an interrupted download?); the events stored for this source are kept"
    )


def _not_ical_message(text: str) -> str:
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype html", "<html")) or "<html" in head:
        return (
            "the address returned a web page, not an iCalendar file; check that the URL is the "
            "calendar's .ics export link, or set 'type: html' for this source"
        )
    if head.startswith("<?xml") or "<rss" in head or "<feed" in head:
        return "the address returned an XML feed, not an iCalendar file; set 'type: feed'"
    if not head:
        return "the calendar file is empty"
    return "not an iCalendar file: no BEGIN:VCALENDAR or BEGIN:VEVENT line was found"


def _decode(document: Document) -> str:
    """The document as text: UTF-8 (RFC 5545), else Windows-1252/Latin-1, BOM removed."""
    if document.content:
        raw = document.content
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if document.encoding == "utf-8" and document.text:
                # The fetcher found mostly-valid UTF-8 and replaced the few bad bytes (its
                # warning reaches the source's health): better than mojibake throughout.
                return document.text.lstrip("\ufeff")
            try:
                text = raw.decode("cp1252")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
    else:
        text = document.text
    return text.lstrip("\ufeff")


@dataclass(slots=True)
class _Repaired:
    """Content lines ready for icalendar, and what the repair found about the file's shape."""

    lines: list[str]
    # The component the body ends inside, when it ends before closing it: a cut download.
    open_at_end: str | None = None
    # Components found after END:VCALENDAR and read as part of the calendar.
    after_end: int = 0


# An iana-token property name (RFC 5545 §3.1) written in capitals: DRESSCODE, NON-SMOKING.
_IANA_NAME_RE = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*")


def _unfold(text: str) -> list[str]:
    """Logical content lines: CRLF, LF or CR endings, folds joined (RFC 5545 §3.1).

    Unfolding comes first, before any repair: producers fold anywhere, even before the colon
    or inside the parameters ("SUMMARY" CRLF " :value").
    """
    lines: list[str] = []
    for raw_line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw_line[:1] in (" ", "\t") and lines:
            lines[-1] += raw_line[1:]
        else:
            lines.append(raw_line)
    return lines


def _is_property(match: re.Match[str] | None) -> bool:
    """Whether a "NAME...:" line starts a property rather than continuing a raw multi-line value.

    Known names (any case), X- and IANA- names, and other names written in capitals (RFC 5545
    lets new IANA properties appear: DRESSCODE, NON-SMOKING); "Meeting ID: 123" is text.
    """
    if match is None:
        return False
    name = match["name"]
    upper = name.upper()
    return (
        upper in _KNOWN_NAMES
        or upper.startswith(("X-", "IANA-"))
        or (len(name) > 1 and _IANA_NAME_RE.fullmatch(name) is not None)
    )


def _repair_lines(text: str) -> _Repaired:
    """Fix the structural mistakes icalendar refuses, keeping everything else as written.

    - lines unfolded first (see `_unfold`); blank lines dropped;
    - a line that is not a property starts a new line of the previous text value (unescaped
      newline), or is dropped after other lines (stray text);
    - ";;" in parameters collapsed; VALARMs left out (not agenda content);
    - a missing BEGIN:VCALENDAR wrapper added; a component left open inside its parent closed;
    - components after END:VCALENDAR moved inside the calendar (and counted).
    The component a body ends inside (a cut download) is reported, not repaired.
    """
    lines: list[str] = []
    extendable = False
    in_alarm = False
    for line in _unfold(text):
        upper = line.strip().upper()
        if upper == "BEGIN:VALARM":
            # Alarms are not agenda content, and a broken TRIGGER must not sink its event.
            in_alarm, extendable = True, False
            continue
        if in_alarm:
            if upper == "END:VALARM":
                in_alarm = False
                continue
            if not upper.startswith(("END:", "BEGIN:")):
                continue
            in_alarm = False  # a VALARM left open, closed by its parent
        if not line.strip():
            if extendable and lines:
                lines[-1] += "\\n"
            continue
        # TZID=(GMT +01:00) unquoted: the colon inside would end the parameters early.
        line = _BARE_OFFSET_TZID_RE.sub(r';TZID="\1"', line, count=1)
        match = _CONTENT_LINE_RE.match(line)
        if match is not None and _is_property(match):
            name = match["name"].upper()
            if match["params"] and ";;" in match["params"]:
                params = re.sub(r";{2,}", ";", match["params"]).rstrip(";")
                line = match["name"] + params + line[match.end() - 1 :]
            if name in _DATE_PROPS:
                line = _value_type(line)
            elif name == "DURATION":
                line = _loose_duration(line)
            lines.append(line)
            # Only text values can have swallowed a raw newline; after a date, stray text is noise.
            extendable = name in _TEXT_PROPS or name.startswith("X-")
        elif extendable and lines:
            lines[-1] += "\\n" + line
        # else: stray text between components; nothing to attach it to.
    return _structure(lines)


_DATES_ONLY_RE = re.compile(r"\d{8}Z?(?:\s*,\s*\d{8}Z?)*", re.I)
_UTC_TIMES_RE = re.compile(r"\d{8}T\d{6}Z(?:\s*,\s*\d{8}T\d{6}Z)*", re.I)
_TZID_PARAM_RE = re.compile(r';TZID=(?:"[^"]*"|[^;:]*)', re.I)
_VALUE_PARAM_RE = re.compile(r";VALUE=[^;:]*", re.I)


def _value_type(line: str) -> str:
    """Make a date property's VALUE parameter say what its value's form says.

    "20130903" is a DATE, "20130903T100000" a DATE-TIME, whatever VALUE claims or omits
    (RFC 5545 §3.3.4/§3.3.5 forms cannot be confused): producers write DTSTART;TZID=...:20130903
    for all-day events and VALUE=DATE on timed ones. A stray "Z" after a date ("20131210Z",
    Google) is dropped; a TZID on a UTC value ("...T120000Z") is dropped too (§3.3.5: TZID
    MUST NOT be applied to UTC times; the value's own form says UTC).
    """
    match = re.match(r'((?:[^":]|"[^"]*")*):(.*)$', line)
    if match is None:
        return line
    head, value = match[1], match[2].strip()
    if "/" in value:
        return line  # a PERIOD: its own VALUE
    declared = re.search(r";VALUE=([^;:]*)", head, re.I)
    kind = declared[1].strip().upper() if declared else ""
    if _DATES_ONLY_RE.fullmatch(value):
        if kind == "DATE" and "Z" not in value.upper():
            return line
        return f"{_VALUE_PARAM_RE.sub('', head)};VALUE=DATE:{re.sub('[Zz]', '', value)}"
    if _UTC_TIMES_RE.fullmatch(value) and _TZID_PARAM_RE.search(head):
        head = _TZID_PARAM_RE.sub("", head)
    elif not ("T" in value.upper() and kind == "DATE"):
        return line
    if kind == "DATE":
        head = _VALUE_PARAM_RE.sub("", head)
    return f"{head}:{match[2]}"


_LOOSE_DURATION_RE = re.compile(
    r"([+-]?)P(T?)(?:(\d+)W)?(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", re.I
)
_DURATION_FORM_RE = re.compile(r"[+-]?P(?:\d+W|(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?)", re.I)


def _loose_duration(line: str) -> str:
    """Rewrite a DURATION written loosely ("PT1W", "P1W2D") in the RFC 5545 §3.3.6 form."""
    head, _colon, value = line.partition(":")
    value = value.strip()
    if _DURATION_FORM_RE.fullmatch(value) and not value.upper().endswith("T"):
        return line
    match = _LOOSE_DURATION_RE.fullmatch(value)
    if match is None or not any(match.groups()[2:]):
        return line
    sign, _t, weeks, days, hours, minutes, seconds = match.groups()
    total_days = 7 * int(weeks or 0) + int(days or 0)
    clock = "".join(
        f"{int(amount)}{unit}"
        for amount, unit in ((hours, "H"), (minutes, "M"), (seconds, "S"))
        if amount is not None
    )
    text = (f"{total_days}D" if total_days or not clock else "") + (f"T{clock}" if clock else "")
    return f"{head}:{sign}P{text}"


def _structure(lines: list[str]) -> _Repaired:
    """Balance BEGIN/END lines (see `_repair_lines`)."""
    out: list[str] = []
    stack: list[str] = []
    closed_calendar: int | None = None  # index in `out` of the END:VCALENDAR that closed last
    reopened = False
    after_end = 0
    for line in lines:
        head = line[:6].upper()
        if head == "BEGIN:":
            name = line[6:].strip().upper()
            if not stack and name != "VCALENDAR" and closed_calendar is not None:
                # ical.js and icalendar read such components; so do we, with a warning.
                del out[closed_calendar]
                closed_calendar, reopened = None, True
                stack.append("VCALENDAR")
            if reopened and stack == ["VCALENDAR"]:
                after_end += 1
            stack.append(name)
        elif head[:4] == "END:":
            name = line[4:].strip().upper()
            if name not in stack:
                continue  # an END without its BEGIN: nothing to close
            while (inner := stack.pop()) != name:
                out.append(f"END:{inner}")  # left open by the producer: closed by its parent
            if name == "VCALENDAR" and not stack:
                closed_calendar, reopened = len(out), False
        out.append(line)
    open_at_end = None if not stack or (reopened and stack == ["VCALENDAR"]) else stack[-1]
    if out and not out[0].upper().startswith("BEGIN:VCALENDAR"):
        out.insert(0, "BEGIN:VCALENDAR")
        stack.insert(0, "VCALENDAR")
    out.extend(f"END:{name}" for name in reversed(stack))
    return _Repaired(out, open_at_end, after_end)


_DATE_VALUE_RE = re.compile(r"[^:]*:\s*(\d{4})(\d{2})(\d{2})")
_DURATION_RE = re.compile(r"[^:]*:\s*\+?P(?:(\d+)W)?(?:(\d+)D)?(T[0-9HMS]*)?\s*$", re.I)
_RECURRENCE_NAMES = frozenset({"RRULE", "RDATE", "EXRULE", "RECURRENCE-ID"})
_NAME_RE = re.compile(r"[A-Za-z0-9-]+")


def _drop_past_events(lines: list[str], cutoff: date) -> tuple[list[str], int]:
    """Remove the non-recurring VEVENTs that surely ended before `cutoff`; count them.

    Years of past events make most of a long-lived calendar: reading them only to throw them
    away would cost more than the rest of the parse. The test works on the text, so it only
    drops what it can date for certain (DTSTART, DTEND or DTSTART + DURATION, day precision);
    anything unclear, recurring, or an override of a series is kept for icalendar to judge.
    """
    kept: list[str] = []
    dropped = 0
    block: list[str] | None = None
    depth = 0
    for line in lines:
        if block is None:
            if line[:12].upper() == "BEGIN:VEVENT":
                block, depth = [line], 1
            else:
                kept.append(line)
            continue
        block.append(line)
        head = line[:6].upper()
        if head.startswith("BEGIN:"):
            depth += 1
        elif head.startswith("END:"):
            depth -= 1
            if depth == 0:
                if _ended_before(block, cutoff):
                    dropped += 1
                else:
                    kept.extend(block)
                block = None
    if block is not None:
        kept.extend(block)
    return kept, dropped


def _ended_before(block: list[str], cutoff: date) -> bool:
    """Whether the VEVENT `block` (its lines) certainly ends before the day `cutoff`."""
    start: date | None = None
    end: date | None = None
    extra = timedelta(0)
    depth = 0
    for line in block[1:-1]:
        name = _NAME_RE.match(line)
        key = name[0].upper() if name else ""
        if key in ("BEGIN", "END"):
            depth += 1 if key == "BEGIN" else -1
        elif depth:
            continue  # a VALARM's properties are not the event's
        elif key in _RECURRENCE_NAMES:
            return False
        elif key in ("DTSTART", "DTEND"):
            value = _text_date(line)
            if value is None:
                return False
            if key == "DTSTART":
                start = value
            else:
                end = value
        elif key == "DURATION":
            match = _DURATION_RE.match(line)
            if match is None:
                return False
            weeks, days, clock = match.groups()
            # Hours and minutes are rounded up to a whole day: the test stays on the safe side.
            try:
                extra = timedelta(weeks=int(weeks or 0), days=int(days or 0) + (1 if clock else 0))
            except OverflowError:  # a DURATION of millions of years: not past, surely
                return False
    if start is None:
        return False
    try:
        return max(start + extra, end or start) < cutoff
    except OverflowError:
        return False


def _text_date(line: str) -> date | None:
    match = _DATE_VALUE_RE.match(line)
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _load(text: str, warnings_out: list[str]) -> tuple[list[icalendar.Calendar], int]:
    """Parse repaired text; if icalendar rejects it, parse each component on its own.

    Returns the calendars and the number of VEVENTs that could not be read at all.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            components = icalendar.Calendar.from_ical(text, multiple=True)
        return [c for c in components if isinstance(c, icalendar.Calendar)], 0
    # icalendar raises many kinds of errors on malformed input; any of them means "try harder".
    except Exception as exc:
        log.debug("whole-file parse failed (%s); parsing component by component", exc)
    calendar = icalendar.Calendar()
    timezones: list[str] = []
    events: list[tuple[str, str]] = []
    for kind, block in _blocks(text):
        if kind == "VTIMEZONE":
            timezones.append(block)
        else:
            events.append((kind, block))
    for block in timezones:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                component = icalendar.Calendar.from_ical(
                    f"BEGIN:VCALENDAR\r\n{block}END:VCALENDAR\r\n"
                )
                # Parsed only: the builder turns each into a zone (and skips unusable ones).
                tz_components = component.walk("VTIMEZONE")
        except Exception:  # a broken VTIMEZONE is dropped, events use their TZID
            warnings_out.append(f"time zone definition ignored (cannot be read): {block[:60]!r}")
            continue
        for tz_component in tz_components:
            calendar.add_component(tz_component)
    unreadable = 0
    for _kind, block in events:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed = icalendar.Calendar.from_ical(
                    # Alone: its TZIDs are read again from this file's zones (_fix_zones), so
                    # the calendar's VTIMEZONEs need not be parsed once per event.
                    f"BEGIN:VCALENDAR\r\n{block}END:VCALENDAR\r\n"
                )
        except Exception as exc:  # one unreadable VEVENT must not sink the rest
            summary = re.search(r"^SUMMARY[^:]*:(.*)$", block, re.M)
            name = summary.group(1).strip() if summary else "?"
            warnings_out.append(f"event {name!r}: cannot be read ({exc}), skipped")
            unreadable += block.upper().startswith("BEGIN:VEVENT")
            continue
        for component in parsed.subcomponents:
            if component.name != "VTIMEZONE":
                calendar.add_component(component)
    return [calendar], unreadable


def _blocks(text: str) -> Iterator[tuple[str, str]]:
    """Top-level components inside the calendar(s): (name, text including BEGIN/END)."""
    depth = 0
    current: list[str] = []
    kind = ""
    for line in text.split("\r\n"):
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            name = upper[6:].strip()
            if name == "VCALENDAR":
                continue
            if depth == 0:
                kind, current = name, []
            depth += 1
        if depth > 0:
            current.append(line)
        if upper.startswith("END:") and upper[4:].strip() != "VCALENDAR" and depth > 0:
            depth -= 1
            if depth == 0:
                yield kind, "\r\n".join(current) + "\r\n"


class _SkipEvent(Exception):
    """An item cannot become an event; the message says why."""


class _Builder:
    """Turns the VEVENTs of one document into Events, accumulating into one ParseResult."""

    def __init__(
        self, document: Document, source: Source, context: ParseContext, result: ParseResult
    ) -> None:
        self.document = document
        self.source = source
        self.context = context
        self.result = result
        self.seen_uids: set[str] = set()
        self.unknown_tzids: set[str] = set()
        self.vtimezones: dict[str, tzinfo] = {}
        self.capped_source = False

    def add_calendar(self, calendar: icalendar.Calendar) -> None:
        vevents = [c for c in calendar.subcomponents if c.name == "VEVENT"]
        self.result.items += len(vevents)
        if not vevents:
            return
        self._index_vtimezones(calendar)
        for vevent in vevents:
            self._keep_first_values(vevent)
            try:
                self._fix_zones(vevent)
            except (InvalidCalendar, ValueError, TypeError, AttributeError):
                continue  # a broken date property: reported when the event is built
        if "X-WR-TIMEZONE" in calendar:
            try:
                calendar = x_wr_timezone.to_standard(calendar)
            except (ZoneInfoNotFoundError, ValueError, KeyError) as exc:
                self.result.warnings.append(
                    f"X-WR-TIMEZONE {str(calendar.get('X-WR-TIMEZONE'))!r} ignored ({exc})"
                )
            vevents = [c for c in calendar.subcomponents if c.name == "VEVENT"]
        for vevent in vevents:
            try:
                self._localize_floating(vevent)
            except (InvalidCalendar, ValueError, TypeError, AttributeError):
                continue
        recurring: dict[str, list[icalendar.Event]] = {}
        singles: list[icalendar.Event] = []
        for position, vevent in enumerate(self._newest_versions(vevents)):
            uid = str(vevent.get("UID", "")).strip()
            if any(p in vevent for p in ("RRULE", "RDATE", "RECURRENCE-ID")):
                # Without a UID a series cannot have overrides: it is a group of its own.
                recurring.setdefault(uid or f"\x00{position}", []).append(vevent)
            else:
                singles.append(vevent)
        for vevent in singles:
            if str(vevent.get("UID", "")).strip() in recurring:
                recurring[str(vevent["UID"]).strip()].append(vevent)
            else:
                self._add_single(vevent)
        for key, group in recurring.items():
            self._add_recurring(key if not key.startswith("\x00") else "", group)

    def _keep_first_values(self, vevent: icalendar.Event) -> None:
        """Keep the first of a date property written twice, in place (RFC 5545 §3.6.1: DTSTART,
        DTEND, DURATION and RECURRENCE-ID MUST NOT occur more than once), with a warning."""
        for name in _SINGLE_DATE_PROPS:
            values = vevent.get(name)
            if isinstance(values, list) and values:
                vevent[name] = values[0]
                self.result.warnings.append(
                    f"{_describe(vevent)}: {name} written {len(values)} times, the first kept"
                )

    def _newest_versions(self, vevents: list[icalendar.Event]) -> list[icalendar.Event]:
        """Leave out the older copies of a component the file holds several versions of.

        Copies of a single event with the same UID are versions of one component (RFC 5545
        §3.8.4.7); the newest is the one with the highest SEQUENCE, then the latest DTSTAMP,
        then LAST-MODIFIED (RFC 5546 §2.1.5; iTIP mailboxes and merged exports hold older
        ones). Copies that say the same version are kept: nothing tells which is current, and
        producers that reuse one UID for different events write them that way. The copies of
        a series and its overrides are left to recurring_ical_events, which applies the same
        order and knows how an older override meets a newer series.
        """
        groups: dict[tuple[str, str], list[int]] = {}
        for index, vevent in enumerate(vevents):
            uid = str(vevent.get("UID", "")).strip()
            if uid and not any(p in vevent for p in ("RRULE", "RDATE", "RECURRENCE-ID")):
                groups.setdefault((uid, ""), []).append(index)
        series = {
            str(v.get("UID", "")).strip()
            for v in vevents
            if any(p in v for p in ("RRULE", "RDATE", "RECURRENCE-ID"))
        }
        older: set[int] = set()
        for (uid, _key), indexes in groups.items():
            if len(indexes) < 2 or uid in series:
                continue
            versions = {index: _version(vevents[index]) for index in indexes}
            newest = max(versions.values())
            stale = [index for index in indexes if versions[index] < newest]
            if stale:
                older.update(stale)
                self.result.warnings.append(
                    f"UID {uid}: {len(stale)} older version(s) left out (a newer SEQUENCE or "
                    "DTSTAMP is in the file)"
                )
        return [vevent for index, vevent in enumerate(vevents) if index not in older]

    # --- time zones -------------------------------------------------------------------------

    def _index_vtimezones(self, calendar: icalendar.Calendar) -> None:
        for component in calendar.walk("VTIMEZONE"):
            name = str(component.get("TZID", "")).strip().strip('"')
            if not name or name in self.vtimezones:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    # lookup_tzid=False: built from this file's definition, never taken from
                    # icalendar's process-wide cache (filled by earlier files).
                    self.vtimezones[name] = component.to_tz(lookup_tzid=False)
            except Exception:  # unusable definition: TZID resolved by name
                continue

    def _resolve(self, tzid: str) -> tzinfo | None:
        """An IANA (or fixed-offset) zone for a TZID, or None when nothing fits."""
        return _resolve_tzid(tzid, _zone_key(self.context.tz))

    def _fix_zones(self, vevent: icalendar.Event) -> None:
        """Give the date-times of a VEVENT their zones from this document alone, in place.

        icalendar attaches zones from a process-wide cache that earlier files' VTIMEZONEs fill
        (so a custom TZID would read differently depending on what was parsed before), leaves
        unknown TZIDs naive and builds ad-hoc zones for Windows names. Every TZID-qualified
        value is therefore read again from its wall-clock time, in the zone `_zone_for` picks.
        """
        for name in _DATE_PROPS:
            if name not in vevent:
                continue
            values = vevent[name]
            for container in values if isinstance(values, list) else [values]:
                params = getattr(container, "params", {})
                tzid = str(params.get("TZID", "") or "").strip().strip('"')
                is_date = str(params.get("VALUE", "")).upper() == "DATE"
                members = getattr(container, "dts", None) or [container]
                for member in members:
                    value = getattr(member, "dt", None)
                    if isinstance(value, tuple) and tzid:
                        # RDATE;VALUE=PERIOD;TZID=...: both ends (or the start) in that zone.
                        member.dt = tuple(
                            part.replace(tzinfo=self._zone_for(tzid))
                            if isinstance(part, datetime) and not _is_utc(part)
                            else part
                            for part in value
                        )
                        continue
                    if not isinstance(value, datetime):
                        continue
                    if is_date:
                        # DATE with a TZID: icalendar made it local midnight; it is a date.
                        member.dt = value.date()
                    elif tzid and not _is_utc(value):
                        member.dt = value.replace(tzinfo=self._zone_for(tzid))

    def _zone_for(self, tzid: str) -> tzinfo:
        """The zone of a TZID: the zone database's zone when the TZID names one exactly (an
        IANA or Windows name), else the file's own VTIMEZONE, else a zone guessed from the name
        (Outlook display names, cities, the offset it starts with), else (with a warning,
        once) the source's zone.

        The file's definition comes before guesses from the name: "(UTC-03:00)
        Saint-Pierre-et-Miquelon" has summer time, which a fixed -03:00 would lose, and a
        "Europe/lisbon" the file defines as UTC+1 is not Lisbon.
        """
        preferred = _zone_key(self.context.tz)
        zone = (
            _resolve_tzid(tzid, preferred, exact=True)
            or self.vtimezones.get(tzid)
            or _resolve_tzid(tzid, preferred)
        )
        if zone is not None:
            return zone
        if tzid not in self.unknown_tzids:
            self.unknown_tzids.add(tzid)
            self.result.warnings.append(
                f"unknown time zone {tzid!r}: times read in {_zone_key(self.context.tz)}"
            )
        return self.context.tz

    def _localize_floating(self, vevent: icalendar.Event) -> None:
        """Floating date-times are the source's local time (RFC 5545 §3.3.5), in place.

        Done before expansion so that a floating series and its UTC EXDATEs or overrides are
        compared as instants, not as a naive and an aware value.
        """
        start = getattr(vevent.get("DTSTART"), "dt", None)
        series_zone = start.tzinfo if isinstance(start, datetime) else None
        for name in _DATE_PROPS:
            if name not in vevent:
                continue
            values = vevent[name]
            for container in values if isinstance(values, list) else [values]:
                for member in getattr(container, "dts", None) or [container]:
                    value = getattr(member, "dt", None)
                    if isinstance(value, datetime) and value.tzinfo is None:
                        local = value.replace(tzinfo=self.context.tz)
                        if name in ("EXDATE", "RDATE") and series_zone is not None:
                            # The same instant in the series' zone: expansion follows the
                            # zone of DTSTART, not that of a floating EXDATE.
                            local = local.astimezone(series_zone)
                        member.dt = local
                    elif isinstance(value, tuple):  # a PERIOD: (start, end or duration)
                        member.dt = tuple(
                            part.replace(tzinfo=self.context.tz)
                            if isinstance(part, datetime) and part.tzinfo is None
                            else part
                            for part in value
                        )

    # --- events -----------------------------------------------------------------------------

    def _full(self) -> bool:
        """Whether the source reached MAX_EVENTS_PER_SOURCE (warned once)."""
        if len(self.result.events) < MAX_EVENTS_PER_SOURCE:
            return False
        if not self.capped_source:
            self.capped_source = True
            self.result.warnings.append(
                f"more than {MAX_EVENTS_PER_SOURCE} events in this calendar: only the first "
                f"{MAX_EVENTS_PER_SOURCE} were read"
            )
        return True

    def _drop_reversed_end(self, vevent: icalendar.Event) -> None:
        """A DTEND before its DTSTART is ignored (RFC 5545 §3.8.2.2: it must be later)."""
        try:
            start = getattr(vevent.get("DTSTART"), "dt", None)
            end = getattr(vevent.get("DTEND"), "dt", None)
        except (InvalidCalendar, ValueError):  # unreadable: reported when the event is built
            return
        if start is None or end is None or isinstance(start, datetime) != isinstance(end, datetime):
            return
        try:
            reversed_end = end < start
        except TypeError:  # naive against aware: not comparable, leave it to event_span
            return
        if reversed_end:
            del vevent["DTEND"]
            self.result.warnings.append(f"{_describe(vevent)}: DTEND before DTSTART, end ignored")

    def _add_single(self, vevent: icalendar.Event) -> None:
        if self._full():
            return
        self._drop_reversed_end(vevent)
        try:
            event = self._event(vevent, occurrence=None)
        except _SkipEvent as exc:
            self.result.warnings.append(f"{_describe(vevent)}: {exc}, skipped")
            return
        except Exception as exc:  # malformed values raise all sorts of errors
            self.result.warnings.append(f"{_describe(vevent)}: cannot be read ({exc}), skipped")
            return
        if event.source_uid in self.seen_uids:
            # The same UID twice (merged calendars): keep both, told apart by their start.
            event = event.with_changes(source_uid=f"{event.source_uid}/{utc_stamp(event.start)}")
        if event.source_uid in self.seen_uids:
            self.result.warnings.append(
                f"{_describe(vevent)}: duplicate of an earlier event, skipped"
            )
            return
        self.seen_uids.add(event.source_uid)
        self.result.events.append(event)

    def _add_recurring(self, uid: str, group: list[icalendar.Event]) -> None:
        if self._full():
            return
        if all("RECURRENCE-ID" in v for v in group):
            # Overrides without their series: each one carrying its own RRULE/RDATE is a series
            # of its own (as ical.js reads them), the others stay overrides of nothing.
            own = [v for v in group if "RRULE" in v or "RDATE" in v]
            if own:
                for vevent in own:
                    del vevent["RECURRENCE-ID"]
                    self._add_recurring(uid, [vevent])
                rest = [v for v in group if not ("RRULE" in v or "RDATE" in v)]
                if rest:
                    self._add_recurring(uid, rest)
                return
        calendar = icalendar.Calendar()
        for vevent in group:
            self._drop_reversed_end(vevent)
            self._clean_sequence(vevent)
            if "RRULE" in vevent:
                self._clean_rrules(vevent)
            with contextlib.suppress(InvalidCalendar, ValueError, TypeError, AttributeError):
                self._all_day_recurrence(vevent)
            if "RRULE" in vevent and "DTSTART" in vevent:
                # Left as written when unreadable: the expansion reports what it cannot read.
                with contextlib.suppress(InvalidCalendar, ValueError, TypeError, OverflowError):
                    _rebase_dense(vevent, self.context)
            calendar.add_component(vevent)
        master = next((v for v in group if "RECURRENCE-ID" not in v), group[0])
        if "RECURRENCE-ID" not in master:
            _align_recurrence_ids(master, group)
        shifts = _range_shifts(group)
        has_end = any(p in master for p in ("DTEND", "DURATION"))
        if not uid:
            # A series without UID: identify it by its first occurrence, as for single events.
            first = getattr(master.get("DTSTART"), "dt", None)
            uid = fingerprint(
                clean_title(_text(master.get("SUMMARY"))),
                first if isinstance(first, date) else date.min,
                _text(master.get("URL")).strip() or None,
            )
        limit = min(MAX_OCCURRENCES_PER_SERIES, MAX_EVENTS_PER_SOURCE - len(self.result.events))
        try:
            occurrences = _expand(calendar, self.context, limit)
        except Exception:
            # Often one unreadable EXDATE/RDATE line: drop those and try once more.
            for vevent in group:
                for name in ("EXDATE", "RDATE", "EXRULE"):
                    if name in vevent and not _readable(vevent[name]):
                        del vevent[name]
                        self.result.warnings.append(
                            f"{_describe(vevent)}: unreadable {name} ignored"
                        )
            occurrences = None
        if occurrences is None:
            try:
                occurrences = _expand(calendar, self.context, limit)
            except Exception as exc:  # a broken RRULE must not sink the calendar
                self.result.warnings.append(
                    f"{_describe(master)}: recurrence cannot be expanded ({exc}); "
                    "only the first date is kept"
                )
                for vevent in group:
                    self._add_single(vevent)
                return
        if len(occurrences) >= limit and _more_after(calendar, occurrences[-1], self.context):
            self.result.warnings.append(
                f"{_describe(master)}: more than {limit} occurrences in the agenda window; "
                f"only the first {limit} were read"
            )
        for occurrence in occurrences:
            try:
                event = self._event(occurrence, occurrence=uid, has_end=has_end, shifts=shifts)
            except _SkipEvent as exc:
                self.result.warnings.append(f"{_describe(occurrence)}: {exc}, skipped")
                continue
            except Exception as exc:
                self.result.warnings.append(
                    f"{_describe(occurrence)}: cannot be read ({exc}), skipped"
                )
                continue
            if event.source_uid in self.seen_uids:
                continue
            self.seen_uids.add(event.source_uid)
            self.result.events.append(event)

    def _all_day_recurrence(self, vevent: icalendar.Event) -> None:
        """Give an all-day series' UNTIL, EXDATEs and RDATEs the DATE type, in place.

        RFC 5545 §3.3.10 and §3.8.5.1: when DTSTART is a DATE, UNTIL, EXDATE and RDATE MUST be
        dates too; Exchange writes date-times (UNTIL and EXDATE at the local midnight of the
        day, in UTC or in its zone). Left so, recurring_ical_events moves the whole series
        into the zone of the first zoned EXDATE or RDATE and compares UNTIL there: the last
        day depended on whether an EXDATE had a zone, and which one. An all-day instance
        begins at the local midnight of its day (a DATE is floating: the source's zone), so
        UNTIL (inclusive) keeps the days that begin on or before it: its date in the source's
        zone. An EXDATE or RDATE date-time names the day of its wall time (in the zone it is
        written in; a UTC one in the source's zone).
        """
        start = getattr(vevent.get("DTSTART"), "dt", None)
        if not isinstance(start, date) or isinstance(start, datetime):
            return
        rules = vevent.get("RRULE")
        for rule in (rules if isinstance(rules, list) else [rules]) if rules else []:
            until = (rule.get("UNTIL") or [None])[0] if isinstance(rule, dict) else None
            if isinstance(until, datetime):
                rule["UNTIL"] = [self._wall_day(until)]
        for name in ("EXDATE", "RDATE"):
            values = vevent.get(name)
            for container in (values if isinstance(values, list) else [values]) if values else []:
                for member in getattr(container, "dts", None) or []:
                    if isinstance(member.dt, datetime):
                        member.dt = self._wall_day(member.dt)

    def _wall_day(self, value: datetime) -> date:
        """The day a date-time names: its date as written (floating or in its zone), a UTC
        one's date in the source's zone."""
        if value.tzinfo is not None and _is_utc(value):
            return value.astimezone(self.context.tz).date()
        return value.date()

    def _clean_sequence(self, vevent: icalendar.Event) -> None:
        """A SEQUENCE that is not an integer (base64-encoded, text) is read as 0, in place:
        the expansion compares versions by it."""
        if "SEQUENCE" in vevent and not isinstance(vevent["SEQUENCE"], int):
            vevent["SEQUENCE"] = _int(vevent["SEQUENCE"])

    def _clean_rrules(self, vevent: icalendar.Event) -> None:
        """Drop the RRULE parts RFC 5545 §3.3.10 does not define, and a COUNT that is not a
        positive integer, in place, with a warning: the rest of the rule still says when the
        event recurs (ical.js reads such rules the same way)."""
        rules = vevent["RRULE"]
        for rule in rules if isinstance(rules, list) else [rules]:
            if not isinstance(rule, dict):
                continue
            for part in list(rule):
                values = rule[part]
                if part.upper() not in _RRULE_PARTS:
                    problem = "unknown part"
                elif part.upper() == "COUNT" and not (
                    len(values) == 1 and isinstance(values[0], int) and values[0] > 0
                ):
                    problem = "COUNT not a positive integer"
                else:
                    continue
                del rule[part]
                self.result.warnings.append(
                    f"{_describe(vevent)}: RRULE {part}={','.join(map(str, values))} ignored "
                    f"({problem})"
                )

    def _event(
        self,
        vevent: icalendar.Event,
        *,
        occurrence: str | None,
        has_end: bool = True,
        shifts: dict[datetime | date, timedelta] | None = None,
    ) -> Event:
        """Build one Event; `occurrence` is the series UID when `vevent` is an occurrence."""
        tz = self.context.tz
        title = clean_title(_text(vevent.get("SUMMARY")))
        if not title:
            raise _SkipEvent("SUMMARY (title) missing")
        if "DTSTART" not in vevent:
            raise _SkipEvent("DTSTART missing")
        start_value = vevent["DTSTART"].dt
        if not isinstance(start_value, date):
            raise _SkipEvent(f"DTSTART {start_value!r} is not a date")
        end_value: date | None = None
        if "DTEND" in vevent:
            try:
                end_value = vevent["DTEND"].dt
            except (InvalidCalendar, ValueError) as exc:
                # A garbled end ("19970701T1100000Z") loses the end, not the event.
                self.result.warnings.append(
                    f"{_describe(vevent)}: DTEND cannot be read ({exc}), end ignored"
                )
        elif "DURATION" in vevent:
            duration = vevent["DURATION"].dt
            if isinstance(duration, timedelta) and duration < timedelta(0):
                # RFC 5545 §3.8.2.5: an event's duration is positive; read as "no end".
                self.result.warnings.append(
                    f"{_describe(vevent)}: DURATION negative (end before DTSTART), end ignored"
                )
            elif isinstance(duration, timedelta):
                try:
                    end_value = start_value + duration
                except OverflowError:
                    self.result.warnings.append(
                        f"{_describe(vevent)}: DURATION {duration.days} days ends after the "
                        "year 9999, end ignored"
                    )
        if occurrence and not has_end and end_value == start_value:
            end_value = None  # recurring_ical_events fills DTEND in; the source had none
        if end_value is not None and not isinstance(end_value, date):
            end_value = None
        start, end, all_day = event_span(start_value, end_value, tz, end_inclusive=False)
        if end is not None and end < start:
            self.result.warnings.append(f"{_describe(vevent)}: DTEND before DTSTART, end ignored")
            end = None

        uid = str(vevent.get("UID", "")).strip()
        url = _text(vevent.get("URL")).strip() or None
        if url:
            url = urljoin(self.document.url, url)
        if occurrence:
            recurrence_id = vevent.get("RECURRENCE-ID")
            original = recurrence_id.dt if recurrence_id is not None else start_value
            if recurrence_id is not None and shifts and original in shifts:
                # RANGE=THISANDFUTURE: every later instance carries the override's
                # RECURRENCE-ID; its own original date is its start before the shift.
                original = start_value - shifts[original]
            if isinstance(original, datetime):
                original = make_aware(original, tz)
            source_uid = f"{occurrence}/{utc_stamp(original)}"
        else:
            source_uid = uid or fingerprint(title, start, url)

        return Event(
            source_id=self.source.id,
            source_uid=source_uid,
            title=title,
            start=start,
            end=end,
            all_day=all_day,
            location=parse_location(_text(vevent.get("LOCATION")), self.source.city),
            url=url,
            description=clean_description(_text(vevent.get("DESCRIPTION"))),
            categories=clean_categories(list(_categories(vevent.get("CATEGORIES")))),
            status=CANCELLED
            if _text(vevent.get("STATUS")).strip().upper() == "CANCELLED"
            else CONFIRMED,
            last_modified=_stamp(vevent.get("LAST-MODIFIED"), tz),
            source_sequence=_int(vevent.get("SEQUENCE")),
            origin=ORIGIN_ICAL,
        )


# Occurrences per day of one instance per period, by FREQ (YEARLY and MONTHLY round up).
_PER_DAY = {"SECONDLY": 86400.0, "MINUTELY": 1440.0, "HOURLY": 24.0, "DAILY": 1.0}
_PERIOD = {"SECONDLY": timedelta(seconds=1), "MINUTELY": timedelta(minutes=1)}
_PERIOD["HOURLY"] = timedelta(hours=1)
# BY* parts that multiply the instances of a period coarser than themselves.
_FINER = {"BYSECOND": 86400.0, "BYMINUTE": 1440.0, "BYHOUR": 24.0}


def _density(vevent: icalendar.Event) -> float:
    """An upper estimate of a VEVENT's RRULE instances per day (0 without RRULE)."""
    rule = vevent.get("RRULE")
    if rule is None:
        return 0.0
    if isinstance(rule, list):
        rule = rule[0]
    freq = str((rule.get("FREQ") or [""])[0]).upper()
    interval = max(1, int((rule.get("INTERVAL") or [1])[0]))
    per_day = _PER_DAY.get(freq, 1.0) / interval
    for part, finest in _FINER.items():
        values = rule.get(part)
        if values and finest > _PER_DAY.get(freq, 1.0):
            per_day *= len(values)
    return per_day


def _rebase_dense(vevent: icalendar.Event, context: ParseContext) -> None:
    """Move the DTSTART of a dense unbounded series close to the window, in place.

    Expanding FREQ=MINUTELY from a DTSTART years back walks every instance since then; a
    whole number of periods later, the instances are the same ones. Only without COUNT (which
    counts from the first DTSTART) and BYSETPOS (which picks inside each period).
    """
    rule = vevent.get("RRULE")
    if rule is None or isinstance(rule, list) or "COUNT" in rule or "BYSETPOS" in rule:
        return
    freq = str((rule.get("FREQ") or [""])[0]).upper()
    if freq not in _PERIOD:
        return
    start = vevent["DTSTART"].dt
    if not isinstance(start, datetime) or start.tzinfo is None:
        return
    period = _PERIOD[freq] * max(1, int((rule.get("INTERVAL") or [1])[0]))
    # A day before the window: overrides and DST shifts stay inside what is expanded.
    skip = (context.window.start - timedelta(days=1) - start) // period
    if skip * period <= timedelta(days=2):
        return
    shift = skip * period
    vevent["DTSTART"].dt = start + shift
    if "DTEND" in vevent and isinstance(vevent["DTEND"].dt, datetime):
        vevent["DTEND"].dt = vevent["DTEND"].dt + shift


def _expand(
    calendar: icalendar.Calendar, context: ParseContext, limit: int
) -> list[icalendar.Event]:
    """The occurrences of one series in the window, in start order, at most `limit`.

    A series that may hold more than `limit` occurrences in the window (FREQ=SECONDLY without
    end, BYMINUTE lists...) is expanded over growing spans of the window and stops at `limit`,
    instead of building millions of occurrences first.
    """
    window = context.window
    days = max(1.0, (window.end - window.start).total_seconds() / 86400)
    density = max((_density(c) for c in calendar.walk("VEVENT")), default=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        query = recurring_ical_events.of(calendar)
        if density * days <= limit:
            found = query.between(window.start, window.end)
            found.sort(key=lambda c: _start_of(c, context.tz))
            return found[:limit]
        found = []
        seen: set[tuple[str, str]] = set()
        # Spans expected to hold `limit` occurrences, from the series' first start (overrides
        # included); widened, up to 16 times, only while empty (a sparse stretch).
        base = max(timedelta(days=limit / density), timedelta(minutes=1))
        first = min(_start_of(c, context.tz) for c in calendar.walk("VEVENT"))
        span_start, span = max(window.start, first), base
        while span_start < window.end and len(found) < limit:
            span_end = min(window.end, span_start + span)
            batch = query.between(span_start, span_end)
            batch.sort(key=lambda c: _start_of(c, context.tz))
            for component in batch:
                key = (str(component.get("RECURRENCE-ID", "")), str(component["DTSTART"].dt))
                if key not in seen:
                    seen.add(key)
                    found.append(component)
            span_start, span = span_end, (min(span * 2, base * 16) if not batch else base)
    return found[:limit]


def _more_after(calendar: icalendar.Calendar, last: icalendar.Event, context: ParseContext) -> bool:
    """Whether the series has another occurrence in the window after `last` (cap reached)."""
    after = _start_of(last, context.tz) + timedelta(seconds=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        query = recurring_ical_events.of(calendar)
        span = timedelta(minutes=1)
        while after < context.window.end:
            end = min(context.window.end, after + span)
            if any(_start_of(c, context.tz) >= after for c in query.between(after, end)):
                return True
            after, span = end, span * 2
    return False


def _start_of(component: icalendar.Event, tz: tzinfo) -> datetime:
    value = component["DTSTART"].dt
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    return make_aware(value, tz)


def _is_utc(value: datetime) -> bool:
    return value.tzinfo is UTC or getattr(value.tzinfo, "key", None) == "UTC"


_SINGLE_DATE_PROPS = ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID")
_RRULE_PARTS = frozenset(
    [
        "FREQ",
        "UNTIL",
        "COUNT",
        "INTERVAL",
        "BYSECOND",
        "BYMINUTE",
        "BYHOUR",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
        "RSCALE",
        "SKIP",
    ]
)
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def _version(vevent: icalendar.Event) -> tuple[int, datetime, datetime]:
    """(SEQUENCE, DTSTAMP, LAST-MODIFIED): the larger, the newer (RFC 5546 §2.1.5)."""

    def moment(name: str) -> datetime:
        try:
            value = getattr(vevent.get(name), "dt", None)
        except (InvalidCalendar, ValueError):
            return _EPOCH
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return _EPOCH

    return (_int(vevent.get("SEQUENCE")), moment("DTSTAMP"), moment("LAST-MODIFIED"))


def _align_recurrence_ids(master: icalendar.Event, group: list[icalendar.Event]) -> None:
    """Give each override's RECURRENCE-ID the value type of the series' DTSTART, in place.

    RFC 5545 §3.8.4.4: they MUST match. Producers still write RECURRENCE-ID;VALUE=DATE on a
    timed series (it names the instance of that day, at the series' time) or a midnight
    date-time on an all-day series (it names that day); unmatched, the override would be
    published next to the instance it replaces.
    """
    try:
        first = getattr(master.get("DTSTART"), "dt", None)
    except (InvalidCalendar, ValueError):
        return
    if not isinstance(first, date):
        return
    for vevent in group:
        prop = vevent.get("RECURRENCE-ID")
        if isinstance(prop, list):
            continue  # several RECURRENCE-IDs: no single instance to align
        try:
            value = getattr(prop, "dt", None)
        except (InvalidCalendar, ValueError):
            continue
        if vevent is master or not isinstance(value, date):
            continue
        if isinstance(first, datetime) and not isinstance(value, datetime):
            prop.dt = datetime.combine(value, first.timetz())
            prop.params.pop("VALUE", None)
        elif not isinstance(first, datetime) and isinstance(value, datetime):
            prop.dt = value.date()
            prop.params.pop("TZID", None)
            prop.params["VALUE"] = "DATE"


def _range_shifts(group: list[icalendar.Event]) -> dict[datetime | date, timedelta]:
    """RECURRENCE-ID → how far a RANGE=THISANDFUTURE override moves its instances."""
    shifts: dict[datetime | date, timedelta] = {}
    for vevent in group:
        prop = vevent.get("RECURRENCE-ID")
        if prop is None or isinstance(prop, list):
            continue
        if str(prop.params.get("RANGE", "")).upper() != "THISANDFUTURE":
            continue
        try:
            shifts[prop.dt] = vevent["DTSTART"].dt - prop.dt
        except (KeyError, TypeError, InvalidCalendar, ValueError):
            continue  # no start, or a date against a date-time: no shift to speak of
    return shifts


def _readable(value: Any) -> bool:
    """Whether every date in an EXDATE/RDATE property (or list of them) can be read."""
    try:
        for container in value if isinstance(value, list) else [value]:
            for member in container.dts:
                _ = member.dt
    except (InvalidCalendar, AttributeError, ValueError, TypeError):
        return False
    return True


def _describe(vevent: icalendar.Event) -> str:
    title = clean_title(_text(vevent.get("SUMMARY"))) or "(no title)"
    uid = str(vevent.get("UID", "")).strip()
    return f"event {title!r}" + (f" (UID {uid})" if uid else "")


def _text(value: Any) -> str:
    """A text property as str; a repeated property gives its first value."""
    if value is None:
        return ""
    if isinstance(value, list):
        return _text(value[0]) if value else ""
    return str(value)


def _categories(value: Any) -> Iterable[str]:
    if value is None:
        return
    for item in value if isinstance(value, list) else [value]:
        cats = getattr(item, "cats", None)
        if cats is not None:
            for cat in cats:
                yield from str(cat).split(",")
        else:
            yield from str(item).split(",")


def _stamp(value: Any, tz: tzinfo) -> datetime | None:
    moment = getattr(value, "dt", None)
    if isinstance(moment, datetime):
        return make_aware(moment, tz)
    if isinstance(moment, date):
        return datetime(moment.year, moment.month, moment.day, tzinfo=tz)
    return None


def _int(value: Any) -> int:
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def _zone_key(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)


@lru_cache(maxsize=1)
def _city_index() -> dict[str, str]:
    """'paris' → 'Europe/Paris', 'new york' → 'America/New_York' (built once, on first use)."""
    index: dict[str, str] = {}
    for name in sorted(available_timezones()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/", "US/")):
            continue
        city = name.rsplit("/", 1)[1].replace("_", " ").casefold()
        index.setdefault(city, name)
    return index


@lru_cache(maxsize=256)
def _resolve_tzid(
    tzid: str, preferred: str, *, guess_offset: bool = True, exact: bool = False
) -> tzinfo | None:
    """Map a TZID as producers write it to a zone; None when nothing fits.

    Tried in order: IANA names and Windows names (icalendar's own table, e.g.
    "Romance Standard Time" → Europe/Paris), Outlook display names ("(UTC+01:00) Brussels,
    Copenhagen, Madrid, Paris" → the listed city, the agenda's own zone preferred when listed),
    then (with `guess_offset`) a bare offset ("(GMT +01:00)", "UTC+11") as a fixed-offset zone.
    With `exact`, only the names of the first step.
    """
    name = tzid.strip().strip('"').strip()
    if not name:
        return None
    for candidate in _iana_candidates(name):
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    if exact:
        return None
    match = _OFFSET_NAME_RE.match(name)
    rest = (match["rest"] if match else name).strip().casefold()
    if rest in _DISPLAY_NAMES:
        return ZoneInfo(_DISPLAY_NAMES[rest])
    candidates = [
        _city_index()[city.strip()]
        for city in re.split(r"[,/;]| - ", rest)
        if city.strip() in _city_index()
    ]
    if candidates:
        return ZoneInfo(preferred if preferred in candidates else candidates[0])
    if guess_offset and match and match["sign"]:
        delta = timedelta(hours=int(match["h"]), minutes=int(match["m"] or 0))
        if delta <= timedelta(hours=14):
            return timezone(delta if match["sign"] == "+" else -delta)
    return None


def _iana_candidates(name: str) -> Iterator[str]:
    """IANA names worth trying for a TZID: itself, its Windows mapping, a vendor-prefixed tail.

    icalendar's global zone cache is not used on purpose: it also holds zones built from earlier
    files' VTIMEZONEs, which would make the result depend on what was parsed before.
    """
    if ".." in name or (name.startswith("/") and name.count("/") < 2):
        return
    if not name.startswith("/"):
        yield name
    if name in WINDOWS_TO_OLSON:
        yield WINDOWS_TO_OLSON[name]
    if name.startswith("/"):
        # "/freeassociation.sourceforge.net/Europe/Paris" (libical, Evolution, Lightning)
        parts = name.strip("/").split("/")
        for first in range(1, len(parts)):
            yield "/".join(parts[first:])
