"""A faster road to the same events for the common iCalendar file (issue 13).

`aggregator.parsers.ical` reads a calendar in three steps: it repairs the text, icalendar turns
the text into components, and its builder turns the components into events. The middle step
costs most of a parse: icalendar splits every content line with a character loop in Python and
parses its parameters through several layers, and it rebuilds each VTIMEZONE's rules (dateutil)
in every file that carries the same definition. This module replaces only that step, for a file
holding one VCALENDAR:

- content lines of the common shapes ("NAME:value", "NAME;TZID=zone:value",
  "NAME;VALUE=DATE:value") are split with one regular expression and their value built by
  icalendar's own value classes, as icalendar's parser builds them (the same factory, the same
  `from_ical`, the same parameters); every other line goes through icalendar's parser code;
- a VTIMEZONE definition already read in this process (the same text) is not parsed again: the
  zone the builder made of it is reused (a zone depends only on its definition).

The repair before and the builder after are `ical`'s own, so events, warnings and errors are
those of the full path. Anything else (several VCALENDARs, a line or a definition icalendar
rejects, nested time zones) returns None, and `ical.parse` reads the file the full way.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from datetime import timedelta, tzinfo
from functools import lru_cache
from typing import Any

import icalendar
from icalendar.parser.content_line import Contentline
from icalendar.parser.ical.calendar import CalendarIcalParser
from icalendar.parser.parameter import Parameters
from icalendar.parser.property import split_on_unescaped_comma, unescape_backslash
from icalendar.prop import vDDDTypes, vText, vUri

from aggregator.config import Source
from aggregator.models import Document, ParseContext, ParseResult

log = logging.getLogger(__name__)

__all__ = ["parse"]

# "NAME:value", "NAME;TZID=Europe/Paris:value", "NAME;VALUE=DATE:value": icalendar's line
# splitter gives the same name, parameters and value for these (no quotes, no backslash before
# the value, nothing its parameter grammar would unescape).
_PLAIN_RE = re.compile(r"([A-Za-z0-9-]+)(?:;(TZID|VALUE)=([A-Za-z0-9_+./-]+))?:(.*)", re.S)
_DATE_NAMES = frozenset(CalendarIcalParser.datetime_names) | {
    "DTSTAMP",
    "LAST-MODIFIED",
    "CREATED",
    "COMPLETED",
}


class _NotSimple(Exception):
    """The file is read the full way."""


def parse(document: Document, source: Source, context: ParseContext) -> ParseResult | None:
    """The ParseResult `ical.parse` gives, read faster; None when the file needs the full path
    (which also raises the errors and gives the warnings of odd files)."""
    from aggregator.parsers import ical

    text = ical._decode(document)
    if not re.search(r"^BEGIN:(VCALENDAR|VEVENT)", text, re.I | re.M):
        return None
    repaired = ical._repair_lines(text)
    if repaired.open_at_end is not None or repaired.after_end:
        return None
    cutoff = (context.window.start - timedelta(days=2)).date()
    lines, past = ical._drop_past_events(repaired.lines, cutoff)
    try:
        body, zones = _split_zones(lines, document, source, context)
        calendar = _calendar(body)
    except _NotSimple as exc:
        log.debug("%s: calendar read the full way: %s", source.id, exc)
        return None
    result = ParseResult()
    result.items += past
    builder = ical._Builder(document, source, context, result)
    for found in zones:
        for name, zone in found.items():
            builder.vtimezones.setdefault(name, zone)
    builder.add_calendar(calendar)
    return result


# --- time zones -----------------------------------------------------------------------------


def _split_zones(
    lines: list[str], document: Document, source: Source, context: ParseContext
) -> tuple[list[str], list[dict[str, tzinfo]]]:
    """The lines without their VTIMEZONE blocks, and the zones of those blocks, in order."""
    body: list[str] = []
    zones: list[dict[str, tzinfo]] = []
    block: list[str] | None = None
    depth = 0
    for line in lines:
        head = line[:16].upper()
        if block is None:
            if head.startswith("BEGIN:VTIMEZONE"):
                if depth != 1:
                    raise _NotSimple("a VTIMEZONE inside another component")
                block = [line]
                continue
            if head.startswith("BEGIN:"):
                depth += 1
            elif head.startswith("END:"):
                depth -= 1
            body.append(line)
            continue
        block.append(line)
        if head.startswith("END:VTIMEZONE"):
            zones.append(_zones_of("\r\n".join(block) + "\r\n", document, source, context))
            block = None
    if block is not None:
        raise _NotSimple("a VTIMEZONE left open")
    return body, zones


def _zones_of(
    block: str, document: Document, source: Source, context: ParseContext
) -> dict[str, tzinfo]:
    found = _cached_zones(block)
    if found is None:
        found = _read_zones(block, document, source, context)
        _ZONES[block] = found
        while len(_ZONES) > _ZONES_KEPT:
            del _ZONES[next(iter(_ZONES))]
    if isinstance(found, str):
        raise _NotSimple(found)
    return found


_ZONES: dict[str, dict[str, tzinfo] | str] = {}
_ZONES_KEPT = 64


def _cached_zones(block: str) -> dict[str, tzinfo] | str | None:
    return _ZONES.get(block)


def _read_zones(
    block: str, document: Document, source: Source, context: ParseContext
) -> dict[str, tzinfo] | str:
    """The zones the builder makes of one VTIMEZONE (its own code), or why it cannot be read."""
    from aggregator.parsers import ical

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            calendar = icalendar.Calendar.from_ical(f"BEGIN:VCALENDAR\r\n{block}END:VCALENDAR\r\n")
    except Exception as exc:  # icalendar rejects it: the whole file would be read per component
        return f"a VTIMEZONE icalendar rejects ({exc})"
    builder = ical._Builder(document, source, context, ParseResult())
    builder._index_vtimezones(calendar)
    return dict(builder.vtimezones)


# --- components -----------------------------------------------------------------------------


def _calendar(lines: list[str]) -> icalendar.Calendar:
    """The one VCALENDAR of `lines`, as icalendar.Calendar.from_ical builds it."""
    parser = _Parser(
        lines, icalendar.Calendar._get_component_factory(), icalendar.Calendar.types_factory
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            components = parser.parse()
    except Exception as exc:  # icalendar's own error: the full path reads per component
        raise _NotSimple(f"icalendar rejects the file ({exc})") from exc
    if len(components) != 1 or not isinstance(components[0], icalendar.Calendar):
        raise _NotSimple("not one VCALENDAR")
    calendar: icalendar.Calendar = components[0]
    return calendar


@lru_cache(maxsize=512)
def _factory(name: str, value: str | None) -> Any:
    return icalendar.Calendar.types_factory.for_property(name, value)


class _Parser(CalendarIcalParser):
    """icalendar's component parser, with the common content lines split by a regex."""

    def initialize_parsing(self) -> None:
        self._stack = []
        self._components = []
        self._content_lines_iterator: Iterator[str] = iter(self._data)  # type: ignore[arg-type]

    def parse_content_lines(self) -> None:
        for raw in self._content_lines_iterator:
            if not raw:
                continue
            match = _PLAIN_RE.fullmatch(raw)
            if match is None or not self._fast_line(match, raw):
                self._line(Contentline(raw))

    def _line(self, line: Contentline) -> None:
        """One content line the way ComponentIcalParser.parse_content_lines reads it."""
        try:
            name, params, vals = line.parts()
        except ValueError as e:
            self.handle_line_parse_error(e)
            return
        uname = name.upper()
        if uname == "BEGIN":
            self.handle_begin_component(vals)
        elif uname == "END":
            self.handle_end_component(vals)
        else:
            self.handle_property(uname, params, vals, line)

    def _fast_line(self, match: re.Match[str], raw: str) -> bool:
        """Read a plain line as icalendar would; False to leave it to icalendar's code."""
        name, param, param_value, value = match.groups()
        uname = name.upper()
        component = self.component
        if uname in ("BEGIN", "END"):
            if param:
                return False
            if uname == "BEGIN":
                self.handle_begin_component(unescape_backslash(value))
            else:
                self.handle_end_component(unescape_backslash(value))
            return True
        if component is None:
            return False
        if uname == "CATEGORIES":
            return not param and self._categories(component, value)
        kind = param.upper() if param else None
        value_param = param_value if kind == "VALUE" else None
        factory = _factory(uname, value_param)
        if uname in _DATE_NAMES:
            if factory is not vDDDTypes:
                return False
            tzid = param_value if kind == "TZID" and uname in self.datetime_names else None
            try:
                parsed = (
                    factory.from_ical(unescape_backslash(value), tzid)
                    if tzid
                    else (factory.from_ical(unescape_backslash(value)))
                )
            except (ValueError, TypeError):
                return False  # icalendar's error handling (vBroken) decides
            instance = factory(parsed)
        elif factory is vText or factory is vUri:
            if param:
                return False
            try:
                instance = factory(factory.from_ical(unescape_backslash(value)))
            except (ValueError, TypeError):
                return False
            # Its own parameters are already empty, as the parsed ones would be.
            component.add(uname, instance, encode=False)
            return True
        else:
            return False
        instance.params = Parameters({param: param_value}) if param else Parameters()
        component.add(uname, instance, encode=False)
        return True

    def _categories(self, component: Any, value: str) -> bool:
        """CATEGORIES without parameters, as `handle_categories` reads it."""
        factory = _factory("CATEGORIES", None)
        try:
            instance = factory(split_on_unescaped_comma(value))
        except ValueError:
            return False
        instance.params = Parameters()
        component.add("CATEGORIES", instance, encode=0)
        return True
