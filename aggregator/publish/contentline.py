"""RFC 5545 content lines written directly: TEXT escaping, DATE / DATE-TIME values, folding.

icalendar builds an object per property and folds every line one character at a time, which
made calendar.ics and the per-event files the slowest part of publishing (20,000 events: about a
minute). The VEVENTs we publish use a handful of value types, so we write their lines here with
the very same rules icalendar applies, and keep icalendar for everything else (calendar header,
VTIMEZONE) and for reading. tests/test_ical_serializer.py checks the bytes against icalendar's.

- TEXT (§3.3.11): backslash, ';' and ',' are escaped; CRLF, LF and a lone CR become the two
  characters "\\n", so no value can ever end its line and start a property of its own.
- Folding (§3.1): a line longer than 74 octets is cut into pieces of at most 74 octets, each
  continuation starting with a space (75 octets with it), never inside a UTF-8 character and, like
  icalendar (its issue #1501), never right after a backslash or '^' so an escape stays on one line.

The one deliberate difference from icalendar: it first turns the two characters "\\N" into a
line break, so a title such as "C:\\Nouveau" would lose its backslash; we keep text as it is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo

from icalendar.timezone import tzid_from_tzinfo

# Longest piece of a folded line, in octets, without the CRLF (and without the leading space).
_PIECE = 74
_CONTINUATION = 0xC0  # mask of a UTF-8 byte's two high bits
_CONTINUATION_BITS = 0x80  # ...which are 10 for a continuation byte
_ESCAPES = (ord("\\"), ord("^"))


def escape_text(text: str) -> str:
    """`text` as an RFC 5545 TEXT value (escaped, on one line)."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: bytes) -> bytes:
    """One content line (UTF-8, no CRLF) folded at 75 octets, as icalendar folds it."""
    size = len(line)
    if size <= _PIECE:
        return line
    pieces = []
    start = 0
    while size - start > _PIECE:
        end = start + _PIECE
        # Back up to the first byte of the character that would cross the limit.
        while line[end] & _CONTINUATION == _CONTINUATION_BITS:
            end -= 1
        if line[end - 1] in _ESCAPES:
            end -= 1
        pieces.append(line[start:end])
        start = end
    pieces.append(line[start:])
    return b"\r\n ".join(pieces)


def text_line(name: str, value: str) -> bytes:
    """A folded TEXT property line, without its CRLF."""
    return fold(f"{name}:{escape_text(value)}".encode())


def utc_stamp(moment: datetime) -> str:
    """A DATE-TIME value in UTC form ("20261124T090000Z")."""
    moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04}{moment.month:02}{moment.day:02}"
        f"T{moment.hour:02}{moment.minute:02}{moment.second:02}Z"
    )


def date_value(day: date) -> str:
    """A DATE value ("20261124")."""
    return f"{day.year:04}{day.month:02}{day.day:02}"


class DateTimeWriter:
    """Writes DATE-TIME properties of one time zone: `;TZID=<zone>:` local form, or UTC.

    The TZID is the name icalendar gives the zone (its key, or UTC for the UTC aliases), so the
    lines are the ones icalendar would write and match the calendar's VTIMEZONE.
    """

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        tzid = tzid_from_tzinfo(tz) or str(tz)
        self.utc = tzid == "UTC"
        # Zone names are letters, digits and "/_+-": nothing to quote in a parameter value.
        self.param = "" if self.utc or not tzid else f";TZID={tzid}"

    def line(self, name: str, moment: datetime) -> str:
        """`name` with `moment` as is when it is in UTC, else in the writer's zone."""
        if moment.tzinfo is UTC or self.utc:
            return f"{name}:{utc_stamp(moment)}"
        moment = moment.astimezone(self.tz)
        return (
            f"{name}{self.param}:{moment.year:04}{moment.month:02}{moment.day:02}"
            f"T{moment.hour:02}{moment.minute:02}{moment.second:02}"
        )


__all__ = ["DateTimeWriter", "date_value", "escape_text", "fold", "text_line", "utc_stamp"]
