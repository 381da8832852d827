"""index.html: the agenda as a static French page, plus the wording every output shares.

The page needs no JavaScript: events grouped under French day headings, links to subscribe to the
calendar and the feed. Jinja2 autoescaping is on, and only http(s) links become `href`s, so a title
or a source cannot inject markup or a `javascript:` link.

The French wording helpers (`french_date`, `french_time`, `when_text`...) live here because this
is where events are shown to people; the feed reuses them so both say the same thing.
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import jinja2
from babel.dates import format_date
from markupsafe import Markup

from aggregator.config import Config
from aggregator.errors import PublishError
from aggregator.models import CANCELLED, Event
from aggregator.publish.atomic import write_if_changed

log = logging.getLogger(__name__)

LOCALE = "fr_FR"
CALENDAR_FILE = "calendar.ics"
FEED_FILE = "feed.xml"
HTML_FILE = "index.html"
JSON_FILE = "events.json"
EMPTY_MESSAGE = "Aucun événement à venir pour le moment."


# --- shared helpers -------------------------------------------------------------------------


def sort_events(events: Iterable[Event]) -> list[Event]:
    """Events in publication order: (start, title, uid), so output never depends on input order."""
    return sorted(events, key=lambda e: (e.start, e.title, e.uid or ""))


def public_uid(event: Event) -> str:
    """The event's public UID; the store always sets it, the fallback only keeps output valid."""
    if event.uid:
        return event.uid
    log.warning("event %r from %r has no public uid", event.source_uid, event.source_id)
    return f"{event.source_uid}@{event.source_id}"


def http_url(value: str | None) -> str | None:
    """`value` if it is an absolute http(s) URL, else None.

    Everything we publish may end up in an `href` or be clicked in a calendar client, so other
    schemes (javascript:, data:, file:...) are dropped rather than escaped.
    """
    if not value:
        return None
    value = value.strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ch.isspace() or ord(ch) < 0x20 for ch in value):
        return None
    return value


def event_link(event: Event) -> str | None:
    """The event's own page, or else the page of the first source that has a usable one."""
    own = http_url(event.url)
    if own:
        return own
    return next((url for s in event.sources if (url := http_url(s.url))), None)


def french_date(day: date, *, year: bool = True) -> str:
    """A day as "samedi 16 mai 2026"; the first of the month is "1er", as in French usage."""
    number = "1er" if day.day == 1 else str(day.day)
    month = format_date(day, "MMMM y" if year else "MMMM", locale=LOCALE)
    return f"{format_date(day, 'EEEE', locale=LOCALE)} {number} {month}"


def french_time(moment: time | datetime) -> str:
    """A time as "18 h 30", or "20 h" on the hour (the usual French way of writing it)."""
    return f"{moment.hour} h" if moment.minute == 0 else f"{moment.hour} h {moment.minute:02d}"


def all_day_span(event: Event, tz: tzinfo) -> tuple[date, date]:
    """First and last day (inclusive) of an all-day event, in the agenda zone."""
    first = event.start.astimezone(tz).date()
    end = event.effective_end.astimezone(tz)
    # The end is exclusive: midnight after the last day.
    last = end.date() - timedelta(days=1) if end.time() == time(0) else end.date()
    return first, max(first, last)


def _date_range(first: date, last: date) -> str:
    start = french_date(first, year=first.year != last.year)
    return f"du {start} au {french_date(last)}"


def when_text(event: Event, tz: tzinfo) -> str:
    """When the event happens, for a line under its day heading.

    "18 h 30 – 20 h", "18 h 30", "toute la journée", or for events spanning several days
    "du samedi 16 mai au lundi 18 mai 2026" / "du samedi 16 mai 2026, 20 h au dimanche 17 mai
    2026, 2 h".
    """
    if event.all_day:
        first, last = all_day_span(event, tz)
        return "toute la journée" if first == last else _date_range(first, last)
    start = event.start.astimezone(tz)
    end = event.effective_end.astimezone(tz)
    if end == start:
        return french_time(start)
    if end.date() == start.date():
        return f"{french_time(start)} – {french_time(end)}"
    return (
        f"du {french_date(start.date())}, {french_time(start)}"
        f" au {french_date(end.date())}, {french_time(end)}"
    )


def headline_when(event: Event, tz: tzinfo) -> str:
    """The date (and start time) that opens a feed item title: "samedi 16 mai 2026, 18 h 30"."""
    if event.all_day:
        first, last = all_day_span(event, tz)
        return french_date(first) if first == last else _date_range(first, last)
    start = event.start.astimezone(tz)
    return f"{french_date(start.date())}, {french_time(start)}"


def french_datetime(moment: datetime, tz: tzinfo) -> str:
    """A moment as "samedi 16 mai 2026 à 18 h 30", in the agenda zone."""
    local = moment.astimezone(tz)
    return f"{french_date(local.date())} à {french_time(local)}"


def webcal_url(base_url: str, name: str) -> str:
    """webcal:// address of a file under base_url: one click subscribes in most calendar apps."""
    parts = urlsplit(base_url.rstrip("/") + "/" + name)
    return urlunsplit(("webcal", parts.netloc, parts.path, parts.query, ""))


def public_url(base_url: str, name: str) -> str:
    """Absolute https address of a published file."""
    return base_url.rstrip("/") + "/" + name


# --- the page -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Link:
    text: str
    href: str | None


@dataclass(frozen=True, slots=True)
class _Item:
    title: str
    href: str | None
    when: str
    start_iso: str
    place: str
    sources: tuple[_Link, ...]
    categories: tuple[str, ...]
    cancelled: bool
    description: str


@dataclass(frozen=True, slots=True)
class _Day:
    heading: str
    iso: str
    items: tuple[_Item, ...]


def _item(event: Event, tz: tzinfo) -> _Item:
    return _Item(
        title=event.title,
        href=event_link(event),
        when=when_text(event, tz),
        start_iso=event.start.astimezone(tz).isoformat(),
        place=event.location.one_line(),
        sources=tuple(_Link(s.name, http_url(s.url)) for s in event.sources),
        categories=event.categories,
        cancelled=event.status == CANCELLED,
        description=event.description,
    )


def _days(events: Sequence[Event], tz: tzinfo) -> list[_Day]:
    def local_day(event: Event) -> date:
        return event.start.astimezone(tz).date()

    return [
        _Day(french_date(day), day.isoformat(), tuple(_item(e, tz) for e in group))
        for day, group in itertools.groupby(sort_events(events), key=local_day)
    ]


@functools.cache
def _environment() -> jinja2.Environment:
    # Built on first use, not at import time; autoescape for every template, whatever its name.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("aggregator.publish", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@functools.cache
def _stylesheet() -> Markup:
    css = (importlib.resources.files("aggregator.publish") / "static" / "style.css").read_text(
        encoding="utf-8"
    )
    # Our own file, inlined in <style> where HTML escaping would break it; refuse to close the tag.
    if "</" in css:
        raise PublishError("static/style.css must not contain '</'")
    return Markup(css)


def render_html(events: Sequence[Event], config: Config, now: datetime) -> bytes:
    """The page as UTF-8 bytes; `now` only fills the "generated on" footer."""
    agenda = config.agenda
    tz = agenda.tz
    base = agenda.base_url
    try:
        template = _environment().get_template("index.html.j2")
        text = template.render(
            title=agenda.title,
            description=agenda.description,
            days=_days(events, tz),
            empty_message=EMPTY_MESSAGE,
            calendar_href=webcal_url(base, CALENDAR_FILE) if base else CALENDAR_FILE,
            calendar_file=CALENDAR_FILE,
            feed_href=FEED_FILE,
            json_href=JSON_FILE,
            generated=french_datetime(now, tz),
            generated_iso=now.astimezone(tz).isoformat(timespec="seconds"),
            stylesheet=_stylesheet(),
        )
    except jinja2.TemplateError as exc:
        raise PublishError(f"cannot render {HTML_FILE}: template error: {exc}") from exc
    except OSError as exc:
        raise PublishError(f"cannot render {HTML_FILE}: {exc}") from exc
    return text.encode("utf-8")


def write_html(events: Sequence[Event], config: Config, path: Path, now: datetime) -> Path:
    """Render the page and write it atomically to `path`; return `path`."""
    write_if_changed(path, render_html(events, config, now))
    return path
