"""Render the bundled demo sources with dates relative to a given day.

The templates in `files/` describe four fictional Breton collectives, one per format (iCalendar,
RSS with the event module, Atom with xCal, HTML with schema.org JSON-LD). Their dates are written
as placeholders so the demo agenda is never empty, whatever day it runs:

    @@KIND(+DAYS)@@          a day, DAYS after (or before, with -) the given day
    @@KIND(+DAYS,HH:MM)@@    a local time in Europe/Paris on that day

KIND says how the value is written, as each format needs it:

    ICAL      20260330T183000            iCalendar local time (used with TZID=Europe/Paris)
    ICALDATE  20260330                   iCalendar date (all-day events)
    ICALUTC   20260330T163000Z           iCalendar UTC time (DTSTAMP, LAST-MODIFIED)
    BYDAY     MO                         iCalendar weekday of that day (for weekly RRULEs)
    ISO       2026-03-30T18:30:00+02:00  ISO 8601 with the zone's offset on that day
    DATE      2026-03-30                 ISO 8601 date
    RFC822    Mon, 30 Mar 2026 18:30:00 +0200   RSS pubDate
    FR        lundi 30 mars 2026 à 18 h 30       French text for people (day only without time)

Offsets come from zoneinfo, so a template time stays the same wall-clock time across a change
between winter (+01:00) and summer (+02:00) time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from aggregator.parsers.french import MONTH_NAMES, WEEKDAYS

DEMO_TIMEZONE = ZoneInfo("Europe/Paris")
FILES_DIR = Path(__file__).parent / "files"

PLACEHOLDER_RE = re.compile(
    r"@@(?P<kind>[A-Z0-9]+)\((?P<days>[+-]?\d{1,3})(?:,(?P<time>\d{2}:\d{2}))?\)@@"
)
LEFTOVER_RE = re.compile(r"@@[^@\s]*@@")

_WEEKDAYS_ICAL = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# The demo sources: file name, then the fields of its sources.yaml entry. `type` is left out of
# two entries on purpose, so that the demo also exercises detection from the response.
DEMO_SOURCES: tuple[dict[str, Any], ...] = (
    {
        "file": "bidouille.ics",
        "id": "vilaine-bidouille",
        "name": "La Vilaine Bidouille",
        "type": "ical",
        "city": "Redon",
        "tags": ["fablab", "bidouille"],
    },
    {
        "file": "cantine.rss",
        "id": "cantine-plouzane",
        "name": "Cantine numérique de Plouzané",
        "city": "Plouzané",
        "tags": ["cantine numérique", "médiation"],
    },
    {
        "file": "libristes.atom",
        "id": "libristes-creach-gwen",
        "name": "Les Libristes de Creac'h Gwen",
        "type": "feed",
        "city": "Quimper",
        "tags": ["logiciel libre", "GULL"],
    },
    {
        "file": "repaircafe.html",
        "id": "repair-cafe-landerneau",
        "name": "Repair Café de Landerneau",
        "city": "Landerneau",
        "tags": ["repair café", "réemploi"],
    },
)


def _local(day: dt.date, time: str | None) -> dt.datetime:
    hour, minute = (int(part) for part in (time or "00:00").split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=DEMO_TIMEZONE)


def _offset(moment: dt.datetime, separator: str) -> str:
    offset = moment.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{separator}{rest:02d}"


def _french(day: dt.date, time: str | None) -> str:
    text = f"{WEEKDAYS[day.weekday()]} {day.day} {MONTH_NAMES[day.month - 1]} {day.year}"
    if time is None:
        return text
    moment = _local(day, time)
    clock = f"{moment.hour} h" if moment.minute == 0 else f"{moment.hour} h {moment.minute:02d}"
    return f"{text} à {clock}"


def _rfc822(moment: dt.datetime) -> str:
    return (
        f"{_WEEKDAYS_EN[moment.weekday()]}, {moment.day:02d} {_MONTHS_EN[moment.month - 1]} "
        f"{moment.year} {moment:%H:%M:%S} {_offset(moment, '')}"
    )


_FORMATTERS: dict[str, Callable[[dt.date, str | None], str]] = {
    "ICAL": lambda day, time: _local(day, time).strftime("%Y%m%dT%H%M%S"),
    "ICALDATE": lambda day, time: day.strftime("%Y%m%d"),
    "ICALUTC": lambda day, time: _local(day, time).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ"),
    "BYDAY": lambda day, time: _WEEKDAYS_ICAL[day.weekday()],
    "ISO": lambda day, time: _local(day, time).isoformat(timespec="seconds"),
    "DATE": lambda day, time: day.isoformat(),
    "RFC822": lambda day, time: _rfc822(_local(day, time)),
    "FR": _french,
}


def render_template(text: str, today: dt.date) -> str:
    """Replace every date placeholder in `text`; raise `ValueError` for an unknown or bad one."""

    def substitute(match: re.Match[str]) -> str:
        kind = match["kind"]
        formatter = _FORMATTERS.get(kind)
        if formatter is None:
            raise ValueError(f"unknown demo placeholder kind {kind!r} in {match[0]!r}")
        time = match["time"]
        if time is not None:
            hour, minute = (int(part) for part in time.split(":"))
            if hour > 23 or minute > 59:
                raise ValueError(f"bad time in demo placeholder {match[0]!r}")
        return formatter(today + dt.timedelta(days=int(match["days"])), time)

    rendered = PLACEHOLDER_RE.sub(substitute, text)
    leftover = LEFTOVER_RE.search(rendered)
    if leftover:
        raise ValueError(f"malformed demo placeholder {leftover[0]!r}")
    return rendered


def template_paths() -> list[Path]:
    """The demo templates shipped with the package, sorted by name."""
    return sorted(path for path in FILES_DIR.iterdir() if path.is_file())


def demo_config(base_url: str) -> dict[str, Any]:
    """The demo's sources.yaml as data: one entry per demo file, served under `base_url`."""
    prefix = base_url.rstrip("/") + "/"
    sources = []
    for spec in DEMO_SOURCES:
        entry = {key: value for key, value in spec.items() if key != "file"}
        entry["url"] = prefix + spec["file"]
        sources.append(entry)
    return {
        "agenda": {
            "title": "Agenda du numérique en Bretagne (démo)",
            "description": "Démonstration avec des collectifs fictifs",
            "timezone": "Europe/Paris",
            "past_days": 1,
            "future_days": 60,
        },
        "sources": sources,
    }


def render_demo_site(today: dt.date, dest: Path, base_url: str) -> Path:
    """Render every demo template into `dest` for `today`, write `dest/sources.yaml`, return it.

    `base_url` is where `dest` is served (the loopback server's address); each demo source's
    URL is that address plus the file name.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for template in template_paths():
        text = render_template(template.read_text(encoding="utf-8"), today)
        if template.suffix == ".ics":
            # RFC 5545 lines end with CRLF; templates are kept with plain newlines.
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        (dest / template.name).write_bytes(text.encode("utf-8"))
    config_path = dest / "sources.yaml"
    header = (
        "# Demo configuration written by `aggregator demo`: four fictional collectives served\n"
        "# from a loopback server. The real registry is sources.yaml at the project root.\n"
    )
    body = yaml.safe_dump(demo_config(base_url), allow_unicode=True, sort_keys=False)
    config_path.write_text(header + body, encoding="utf-8")
    return config_path
