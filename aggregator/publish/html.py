"""index.html, the month and quick-span pages: the agenda as static French pages, plus the wording.

The pages need no JavaScript: events grouped under French day headings, quick links to
pre-rendered pages (`quand/aujourdhui.html`, `quand/ce-week-end.html`…), each event linked to its
own page (`evenements/…`, see event_pages.py), a « S'abonner » panel per calendar app and every
per-city / per-tag / per-collective feed. Our own script (static/agenda.js, progressive
enhancement, no framework) makes the quick links and filters instant, marks today and greys what
is over. Jinja2 autoescaping is on, only http(s) links become `href`s, descriptions go through nh3
with a small allow-list, the JSON-LD block is escaped so that no "</script>" can close it, and a
Content-Security-Policy lets the pages run no script but ours: nothing a source sends can run.

Beyond `PAGE_EVENTS` events the agenda is split: index.html shows the next events (whole days) and
`mois/AAAA-MM.html` every month, so no page grows past a couple of megabytes.

The French wording helpers (`french_date`, `french_time`, `when_text`...) live here because this
is where events are shown to people; the feed reuses them so both say the same thing.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import itertools
import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit
from xml.sax.saxutils import escape as xml_escape

import jinja2
import nh3
from babel.dates import format_date
from markupsafe import Markup

from aggregator.config import Config
from aggregator.errors import PublishError
from aggregator.models import CANCELLED, Event
from aggregator.publish.atomic import write_if_changed
from aggregator.publish.fragments import Fragments, keys_of
from aggregator.publish.links import collective_link, event_link, http_url
from aggregator.publish.views import (
    QUICK_DIR,
    QUICK_SPANS,
    Series,
    event_days,
    find_series,
    in_span,
    place_line,
    span_days,
)

log = logging.getLogger(__name__)

LOCALE = "fr_FR"
CALENDAR_FILE = "calendar.ics"
FEED_FILE = "feed.xml"
HTML_FILE = "index.html"
JSON_FILE = "events.json"
SOURCES_FILE = "sources.html"
FEEDS_FILE = "feeds.json"
CHANGES_FILE = "changes.xml"
MONTHS_DIR = "mois"
# Events per page: ~3 kB each with their JSON-LD, so a page stays well under 2 MB.
PAGE_EVENTS = 300
# Longer descriptions are cut on the page (the event's own page and the .ics keep them whole).
DESCRIPTION_CHARS = 600
EMPTY_MESSAGE = "Aucun événement à venir pour le moment."
SPAN_EMPTY = "Rien de prévu sur ces dates pour le moment."
EVENTS_PAGES_DIR = "evenements"
STATIC_FILES = ("style.css", "agenda.js", "favicon.svg")
ROBOTS_FILE = "robots.txt"
SITEMAP_FILE = "sitemap.xml"
# Pages load only our own stylesheet, script and icon: no inline script or style, no other site.
# connect-src 'self' lets tools read the site's own files from the page (Lighthouse fetches
# robots.txt that way); our script itself fetches nothing.
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'"
)


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


@functools.lru_cache(maxsize=65536)
def slugify(text: str) -> str:
    """A stable, ASCII, URL-safe name for a city or tag: "Pont-l'Abbé" → "pont-l-abbe".

    Text with no letter or digit at all gets a short hash, so it still has a distinct path.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-")
    if slug:
        return slug
    return "x-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


@functools.lru_cache(maxsize=4096)
def french_date(day: date, *, year: bool = True) -> str:
    """A day as "samedi 16 mai 2026"; the first of the month is "1er", as in French usage.

    Cached: babel's formatting is slow and an agenda has a few hundred distinct days.
    """
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


# --- the pages ------------------------------------------------------------------------------

_URL_RE = re.compile(r"https?://[^\s<>\"'\]\[{}|\\^`]+")
# Trailing punctuation belongs to the sentence, not to the address.
_URL_TAIL = ".,;:!?)»"
DESCRIPTION_TAGS = {"p", "br", "a"}


def description_html(text: str, limit: int = DESCRIPTION_CHARS) -> Markup:
    """A plain-text description as safe HTML: paragraphs, line breaks and linked addresses.

    Descriptions are plain text by the time they reach us (the parsers turn HTML into text), so
    everything is escaped first and only our own <p>, <br> and <a> are added; nh3 then enforces
    the allow-list (http/https links only, rel="noopener nofollow") as a second line of defence.
    Made once per text while it is in use (a description shorter than both limits reads the
    same on the list and on the event's own page).
    """
    text = text.strip()
    return _description_html(text, limit if len(text) > limit else -1)


# The list pages are rendered in the events' order and show an event on a few of them (the
# first page, its month's, the next days'): a few thousand descriptions cover that.
@functools.lru_cache(maxsize=4096)
def _description_html(text: str, limit: int) -> Markup:
    if limit >= 0:
        cut = text[:limit]
        text = (cut[: cut.rfind(" ")] if " " in cut[limit // 2 :] else cut).rstrip() + " …"
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    html = "".join(
        "<p>" + "<br>".join(_linkify(line) for line in p.strip().split("\n")) + "</p>"
        for p in paragraphs
    )
    return Markup(_DESCRIPTION_CLEANER.clean(html))


# Configured once: nh3.clean builds its cleaner again at each call (a third of its cost).
_DESCRIPTION_CLEANER = nh3.Cleaner(
    tags=DESCRIPTION_TAGS,
    attributes={"a": {"href"}},
    url_schemes={"http", "https"},
    link_rel="noopener nofollow",
)


def _linkify(line: str) -> str:
    if "http" not in line:  # most lines: no address to link
        return _esc(line)
    parts: list[str] = []
    position = 0
    for match in _URL_RE.finditer(line):
        url = match.group().rstrip(_URL_TAIL)
        end = match.start() + len(url)
        parts.append(_esc(line[position : match.start()]))
        href = http_url(url)
        parts.append(f'<a href="{_esc(href)}">{_esc(url)}</a>' if href else _esc(url))
        position = end
    parts.append(_esc(line[position:]))
    return "".join(parts)


def json_for_script(value: Any) -> Markup:
    """JSON to put inside <script>: "<", ">" and "&" are \\u-escaped, so no text can close the
    element or open a comment, whatever a source wrote; JSON readers see the same strings."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def event_jsonld(event: Event, tz: tzinfo, config: Config | None = None) -> dict[str, Any]:
    """One event as a schema.org Event, for search engines and other aggregators.

    `url` is the event's own page, else a collective's page for it (`links.event_link`): never
    the calendar or feed file it was read from.
    """
    item: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Event",
        "@id": "urn:uid:" + public_uid(event),
        "name": event.title,
        "eventStatus": "https://schema.org/"
        + ("EventCancelled" if event.status == CANCELLED else "EventScheduled"),
        "eventAttendanceMode": "https://schema.org/OfflineEventAttendanceMode",
    }
    if event.all_day:
        first, last = all_day_span(event, tz)
        item["startDate"] = first.isoformat()
        item["endDate"] = last.isoformat()
    else:
        item["startDate"] = event.start.astimezone(tz).isoformat()
        if event.end is not None and event.end > event.start:
            item["endDate"] = event.end.astimezone(tz).isoformat()
    location = event.location
    if not location.is_empty():
        address = {
            "@type": "PostalAddress",
            "streetAddress": location.address,
            "postalCode": location.postcode,
            "addressLocality": location.city,
            "addressCountry": "FR",
        }
        item["location"] = {
            "@type": "Place",
            "name": location.name or place_line(location),
            "address": {k: v for k, v in address.items() if v},
        }
    link = event_link(event, config)
    if link:
        item["url"] = link
    if event.description:
        item["description"] = event.description
    organizers = []
    for source in event.sources:
        organizer: dict[str, Any] = {"@type": "Organization", "name": source.name}
        if url := collective_link(source, config):
            organizer["url"] = url
        organizers.append(organizer)
    if organizers:
        item["organizer"] = organizers
    if event.categories:
        item["keywords"] = ", ".join(event.categories)
    return item


def event_page_path(event: Event) -> str:
    """The event's own page, relative to the output folder: "evenements/<title>-<hash>.html".

    Readable from the title, unique and stable from the public UID: the address survives a
    change of date (a rescheduled event keeps its page).
    """
    return _event_page_path(public_uid(event), event.title)


@functools.lru_cache(maxsize=65536)
def _event_page_path(uid: str, title: str) -> str:
    digest = hashlib.sha1(uid.encode("utf-8")).hexdigest()[:10]
    slug = slugify(title)[:50].strip("-")
    name = digest if slug.startswith("x-") else f"{slug}-{digest}"
    return f"{EVENTS_PAGES_DIR}/{name}.html"


def osm_url(event: Event) -> str | None:
    """An OpenStreetMap search for the event's place (a link: no map tiles are loaded)."""
    location = event.location
    if location.is_empty():
        return None
    return "https://www.openstreetmap.org/search?query=" + quote_plus(place_line(location))


def google_subscribe_url(calendar_url: str) -> str:
    """Google Agenda's "add by URL" link: the calendar's webcal:// address in `cid`, encoded."""
    return "https://calendar.google.com/calendar/r?cid=" + quote(calendar_url, safe="")


def outlook_subscribe_url(calendar_url: str, name: str) -> str:
    """Outlook.com's "subscribe from the web" link for an https calendar address."""
    return (
        "https://outlook.live.com/calendar/0/addfromweb?url="
        + quote(calendar_url, safe="")
        + "&name="
        + quote(name, safe="")
    )


@dataclass(frozen=True, slots=True)
class FeedLink:
    """A per-filter feed as the pages list it: "Brest" → villes/brest.ics and villes/brest.xml."""

    kind: str  # one of FEED_KINDS
    slug: str
    label: str
    ics: str  # path relative to the output folder
    rss: str
    count: int


# Kind of feed → (folder, heading on the page).
FEED_KINDS: dict[str, tuple[str, str]] = {
    "ville": ("villes", "Par ville"),
    "theme": ("themes", "Par thème"),
    "collectif": ("collectifs", "Par collectif"),
}


@dataclass(frozen=True, slots=True)
class _Link:
    text: str
    href: str | None


@dataclass(frozen=True, slots=True)
class _Item:
    title: str
    page: str | None  # our page for the event
    link: str | None  # the event's own page elsewhere, or a collective's
    when: str
    start_iso: str
    end_iso: str
    days: str  # "first/last" local days of each date the card stands for
    place: str
    sources: tuple[_Link, ...]
    tags: tuple[str, ...]
    cancelled: bool
    past: bool
    description: Markup
    ics: str | None
    city: str
    tag_slugs: str
    collectives: str
    rule: str | None
    next_dates: tuple[_Link, ...]
    more_dates: int


@dataclass(frozen=True, slots=True)
class _Day:
    heading: str
    iso: str
    today: bool
    cards: Markup  # the day's <article>s, one per line


@dataclass(frozen=True, slots=True)
class _Option:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class _Quick:
    key: str
    label: str
    href: str
    current: bool


@dataclass(frozen=True, slots=True)
class _FeedRow:
    label: str
    count: int
    subscribe: str
    google: str | None
    ics: str
    rss: str


@dataclass(frozen=True, slots=True)
class _Subscribe:
    """The « S'abonner » panel: the calendar's address and one link per app that takes one."""

    address: str  # absolute with base_url, else relative (the script completes it)
    absolute: bool
    webcal: str | None
    google: str | None
    outlook: str | None
    ics: str
    rss: str
    groups: tuple[tuple[str, tuple[_FeedRow, ...]], ...]


@dataclass(slots=True)
class _Page:
    """One agenda page: its path, its events (sorted) and its place in the navigation."""

    path: str
    title: str
    events: list[Event]
    month: str | None = None
    span: str | None = None  # the quick span this page shows
    prev: _Link | None = None
    next: _Link | None = None
    children: list[str] = field(default_factory=list)


# Dates listed under a folded series.
NEXT_DATES = 5


def day_heading(day: date, today: date) -> str:
    """ "jeudi 16 mai" this year, "jeudi 16 mai 2027" for another year."""
    return french_date(day, year=day.year != today.year)


def _days_attr(events: Iterable[Event], tz: tzinfo) -> str:
    return " ".join(
        f"{a.isoformat()}/{b.isoformat()}" for a, b in (event_days(e, tz) for e in events)
    )


@dataclass(frozen=True, slots=True)
class _Context:
    """What building one card needs besides its event."""

    config: Config
    tz: tzinfo
    now: datetime
    today: date
    root: str
    tag_labels: dict[str, str]
    ics_href: Callable[[Event], str | None] | None
    series: dict[int, Series]


def _item(event: Event, ctx: _Context, folded: Sequence[Event] = ()) -> _Item:
    tz = ctx.tz
    cancelled = event.status == CANCELLED
    ics = ctx.ics_href(event) if ctx.ics_href and not cancelled else None
    series = ctx.series.get(id(event)) if folded else None
    later: list[Event] = []
    if series is not None:
        later = [e for e in series.events if e.start > event.start]
    tags = tuple(dict.fromkeys(slugify(c) for c in event.categories))
    return _Item(
        title=event.title,
        page=ctx.root + event_page_path(event),
        link=event_link(event, ctx.config),
        when=when_text(event, tz),
        start_iso=event.start.astimezone(tz).isoformat(),
        end_iso=event.effective_end.astimezone(tz).isoformat(),
        days=_days_attr([event, *folded], tz),
        place=place_line(event.location),
        sources=tuple(_Link(s.name, collective_link(s, ctx.config)) for s in event.sources),
        tags=tuple(ctx.tag_labels.get(t, t) for t in tags),
        cancelled=cancelled,
        past=event.effective_end <= ctx.now,
        description=description_html(event.description) if event.description else Markup(""),
        ics=(ctx.root + ics) if ics else None,
        city=slugify(event.location.city) if event.location.city else "",
        tag_slugs=" ".join(tags),
        collectives=" ".join(s.id for s in event.sources),
        rule=series.rule if series is not None else None,
        next_dates=tuple(
            _Link(
                day_heading(e.start.astimezone(tz).date(), ctx.today), ctx.root + event_page_path(e)
            )
            for e in later[:NEXT_DATES]
        ),
        more_dates=max(0, len(later) - NEXT_DATES),
    )


def _cards(events: Sequence[Event], ctx: _Context) -> list[tuple[Event, tuple[Event, ...]]]:
    """One card per event, except that a series shows once, at its first date on the page: each
    card's event with the other dates it stands for on this page."""
    members: dict[int, list[Event]] = {}
    for event in events:
        series = ctx.series.get(id(event))
        if series is not None:
            members.setdefault(id(series.events[0]), []).append(event)
    cards: list[tuple[Event, tuple[Event, ...]]] = []
    seen: set[int] = set()
    for event in events:
        series = ctx.series.get(id(event))
        if series is None:
            cards.append((event, ()))
            continue
        key = id(series.events[0])
        if key in seen:
            continue
        seen.add(key)
        cards.append((event, tuple(members[key][1:])))
    return cards


def _card_key(event: Event, folded: Sequence[Event], ctx: _Context, fragments: Fragments) -> bytes:
    """Everything a card shows besides its event: the page depth, whether it is over, the year
    (day headings omit the current one), the tags' display forms, its calendar file and, for a
    series, the other dates it stands for and those after it."""
    tags = dict.fromkeys(slugify(c) for c in event.categories)
    extra: list[bytes | str | int | None] = [
        ctx.root,
        int(event.effective_end <= ctx.now),
        ctx.today.year,
        "\0".join(ctx.tag_labels.get(t, t) for t in tags),
        ctx.ics_href(event) if ctx.ics_href else None,
    ]
    series = ctx.series.get(id(event)) if folded else None
    if series is not None:
        extra.append(series.rule)
        extra.extend(fragments.key(e) for e in folded)
        extra.append(b"later")
        extra.extend(fragments.key(e) for e in series.events if e.start > event.start)
    return fragments.piece_key("card", event, *extra)


def _esc(value: str) -> str:
    """markupsafe's `escape`, for str, without building a Markup (the same five entities)."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def _card_html(item: _Item) -> str:
    """One card, as index.html.j2 wrote it when it rendered each card itself (the same bytes),
    built here: a list page holds hundreds of them, and Jinja's per-value cost dominated."""
    classes = "event"
    if item.cancelled:
        classes += " cancelled"
    if item.past:
        classes += " past"
    if item.rule:
        classes += " series"
    title = _esc(item.title)
    when = f'<time datetime="{_esc(item.start_iso)}">{_esc(item.when)}</time>'
    if item.rule:
        when += f' · <span class="rule">{_esc(item.rule)}</span>'
    if item.past:
        when += '<span class="ended"> · terminé</span>'
    heading = f'<a href="{_esc(item.page or "")}">{title}</a>'
    if item.cancelled:
        heading = f'<del>{heading}</del> <strong class="status">annulé</strong>'
    out = [
        f'<article class="{classes}" data-city="{_esc(item.city)}"'
        f' data-tags="{_esc(item.tag_slugs)}" data-collectives="{_esc(item.collectives)}"'
        f' data-days="{_esc(item.days)}" data-end="{_esc(item.end_iso)}">',
        f'<p class="when">{when}</p>',
        f"<h3>{heading}</h3>",
    ]
    if item.place:
        out.append(f'<p class="place">{_esc(item.place)}</p>')
    if item.next_dates:
        dates = ", ".join(
            f'<a href="{_esc(d.href or "")}">{_esc(d.text)}</a>' for d in item.next_dates
        )
        if item.more_dates:
            plural = "s" if item.more_dates > 1 else ""
            dates += f" et {item.more_dates} autre{plural}"
        out.append(f'<p class="next-dates">Prochaines dates : {dates}</p>')
    if item.description:
        out.append(f'<div class="description">{item.description}</div>')
    if item.sources:
        names = ", ".join(
            f'<a href="{_esc(s.href)}" rel="noopener nofollow">{_esc(s.text)}</a>'
            if s.href
            else _esc(s.text)
            for s in item.sources
        )
        out.append(f'<p class="sources">Par {names}</p>')
    if item.tags:
        tags = "".join(f"<li>{_esc(tag)}</li>" for tag in item.tags)
        out.append(f'<ul class="tags" aria-label="Thèmes">{tags}</ul>')
    if item.ics or item.link:
        actions = ""
        if item.ics:
            actions += (
                f'<a class="add" href="{_esc(item.ics)}" type="text/calendar">Ajouter à mon agenda'
                f'<span class="visually-hidden"> : {title}</span></a>'
            )
        if item.link:
            actions += (
                f' <a class="page" href="{_esc(item.link)}" rel="noopener nofollow">'
                f'Page de l’événement<span class="visually-hidden"> : {title}</span></a>'
            )
        out.append(f'<p class="actions">{actions}</p>')
    out.append("</article>")
    return "\n".join(out)


def _days(cards: Sequence[tuple[Event, str]], tz: tzinfo, today: date) -> list[_Day]:
    def local_day(pair: tuple[Event, str]) -> date:
        return pair[0].start.astimezone(tz).date()

    return [
        _Day(
            day_heading(day, today),
            day.isoformat(),
            day == today,
            Markup("\n".join(html for _, html in group)),
        )
        for day, group in itertools.groupby(cards, key=local_day)
    ]


def _chunk_by_day(events: Sequence[Event], tz: tzinfo, limit: int) -> list[list[Event]]:
    """Split sorted events into pages of at most `limit`, cutting between days when possible."""
    pages: list[list[Event]] = [[]]
    for _, group in itertools.groupby(events, key=lambda e: e.start.astimezone(tz).date()):
        day = list(group)
        if pages[-1] and len(pages[-1]) + len(day) > limit:
            pages.append([])
        while len(day) > limit:  # one day busier than a page: split inside it
            pages[-1].extend(day[:limit])
            pages.append([])
            day = day[limit:]
        pages[-1].extend(day)
    return [p for p in pages if p] or [[]]


def month_label(day: date) -> str:
    """ "mai 2026" """
    return format_date(day, "LLLL y", locale=LOCALE)


def _parts(
    events: list[Event], tz: tzinfo, limit: int, stem: str, label: str, **fields: Any
) -> list[_Page]:
    """`events` cut into pages `<stem>.html`, `<stem>-2.html`… linked to each other."""
    chunks = _chunk_by_day(events, tz, limit)
    paths = [f"{stem}.html" if n == 0 else f"{stem}-{n + 1}.html" for n in range(len(chunks))]
    pages = []
    for n, chunk in enumerate(chunks):
        title = label if len(chunks) == 1 else f"{label} ({n + 1}/{len(chunks)})"
        page = _Page(paths[n], title, chunk, **fields)
        if n:
            page.prev = _Link(f"{label} ({n}/{len(chunks)})", paths[n - 1])
        if n + 1 < len(chunks):
            page.next = _Link(f"{label} ({n + 2}/{len(chunks)})", paths[n + 1])
        pages.append(page)
    return pages


def page_layout(
    events: Sequence[Event], tz: tzinfo, limit: int = PAGE_EVENTS, today: date | None = None
) -> list[_Page]:
    """index.html (the next `limit` events, whole days), one or more pages per month, and with
    `today` the pre-rendered quick spans (quand/aujourdhui.html…) for readers without script."""
    ordered = sort_events(events)
    pages = [_Page(HTML_FILE, "", _chunk_by_day(ordered, tz, limit)[0])]

    def month_of(event: Event) -> date:
        return event.start.astimezone(tz).date().replace(day=1)

    for first, group in itertools.groupby(ordered, key=month_of):
        stem = f"{MONTHS_DIR}/{first:%Y-%m}"
        pages += _parts(list(group), tz, limit, stem, month_label(first), month=f"{first:%Y-%m}")
    if today is not None:
        for key, label in QUICK_SPANS:
            first_day, last_day = span_days(key, today)
            chosen = [e for e in ordered if in_span(e, tz, first_day, last_day)]
            pages += _parts(chosen, tz, limit, f"{QUICK_DIR}/{key}", label, span=key)
    return pages


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


def static_files() -> dict[str, bytes]:
    """The stylesheet, script and icon every page links to, by name in the output folder.

    Served from our own site rather than inlined, so the pages' Content-Security-Policy allows
    no inline script or style at all, and the browser caches them across pages.
    """
    folder = importlib.resources.files("aggregator.publish") / "static"
    return {name: (folder / name).read_bytes() for name in STATIC_FILES}


def _subscribe_href(base: str | None, path: str, root: str) -> str:
    return webcal_url(base, path) if base else root + path


def _options(pairs: Iterable[tuple[str, str]]) -> list[_Option]:
    seen: dict[str, str] = {}
    for value, label in pairs:
        if value and value not in seen:
            seen[value] = label
    return sorted((_Option(v, label) for v, label in seen.items()), key=lambda o: o.label.lower())


def render_template(template: str, name: str, **context: Any) -> bytes:
    try:
        text = _environment().get_template(template).render(**context)
    except jinja2.TemplateError as exc:
        raise PublishError(f"cannot render {name}: template error: {exc}") from exc
    except OSError as exc:
        raise PublishError(f"cannot render {name}: {exc}") from exc
    return text.encode("utf-8")


def common_context(config: Config, root: str) -> dict[str, Any]:
    """What every page's header and footer need.

    No "generated on" time: a page then changes only when what it shows does, so an unchanged
    page keeps its bytes (and its Last-Modified) from one publication to the next.
    """
    agenda = config.agenda
    base = agenda.base_url
    return {
        "site_title": agenda.title,
        "description": agenda.description,
        "root": root,
        "csp": CSP,
        "calendar_href": _subscribe_href(base, CALENDAR_FILE, root),
        "calendar_file": root + CALENDAR_FILE,
        "feed_href": root + FEED_FILE,
        "json_href": root + JSON_FILE,
        "feeds_json_href": root + FEEDS_FILE,
        "changes_href": root + CHANGES_FILE,
        "sources_href": root + SOURCES_FILE,
        "home_href": root + HTML_FILE,
    }


def tag_labels(events: Iterable[Event]) -> dict[str, str]:
    """One display form per tag slug: the spelling most events use (ties: alphabetical first)."""
    spellings: dict[str, Counter[str]] = {}
    for event in events:
        for category in event.categories:
            spellings.setdefault(slugify(category), Counter())[" ".join(category.split())] += 1
    return {slug: min(c, key=lambda s: (-c[s], s)) for slug, c in spellings.items()}


def _subscribe(config: Config, feeds: Sequence[FeedLink], root: str) -> _Subscribe:
    agenda = config.agenda
    base = agenda.base_url
    groups = []
    for kind, (_, heading) in FEED_KINDS.items():
        rows = tuple(
            _FeedRow(
                label=f.label,
                count=f.count,
                subscribe=_subscribe_href(base, f.ics, root),
                google=google_subscribe_url(webcal_url(base, f.ics)) if base else None,
                ics=root + f.ics,
                rss=root + f.rss,
            )
            for f in feeds
            if f.kind == kind
        )
        if rows:
            groups.append((heading, rows))
    return _Subscribe(
        address=public_url(base, CALENDAR_FILE) if base else root + CALENDAR_FILE,
        absolute=bool(base),
        webcal=webcal_url(base, CALENDAR_FILE) if base else None,
        google=google_subscribe_url(webcal_url(base, CALENDAR_FILE)) if base else None,
        outlook=outlook_subscribe_url(public_url(base, CALENDAR_FILE), agenda.title)
        if base
        else None,
        ics=root + CALENDAR_FILE,
        rss=root + FEED_FILE,
        groups=tuple(groups),
    )


def _render_subscribe(panel: _Subscribe) -> Markup:
    try:
        text = _environment().get_template("_subscribe.html.j2").render(subscribe=panel)
    except jinja2.TemplateError as exc:
        raise PublishError(f"cannot render the subscribe panel: template error: {exc}") from exc
    return Markup(text)


def _span_text(key: str, today: date) -> str:
    first, last = span_days(key, today)
    if first == last:
        return french_date(first)
    return _date_range(first, last)


@dataclass(frozen=True, slots=True)
class Planned:
    """An output to publish: its path (relative to the output folder), the hash of everything it
    shows (`fragments.key_of`; None: not known, always render), how to render it (its bytes,
    or its parts in order: see `joined`) and the kinds of per-event pieces it is joined from
    (`Fragments.release`: when they can go)."""

    path: str
    key: bytes | None
    render: Callable[[], bytes | list[bytes]]
    pieces: tuple[str, ...] = ()


def joined(data: bytes | list[bytes]) -> bytes:
    """A rendered output's bytes (`Planned.render` may give the parts of a big one)."""
    return data if isinstance(data, bytes) else b"".join(data)


def plan_pages(
    events: Sequence[Event],
    config: Config,
    now: datetime,
    *,
    feeds: Sequence[FeedLink] = (),
    ics_href: Callable[[Event], str | None] | None = None,
    limit: int = PAGE_EVENTS,
    fragments: Fragments | None = None,
    series: dict[int, Series] | None = None,
    labels: dict[str, str] | None = None,
) -> list[Planned]:
    """index.html, the month pages and the quick-span pages, each with its key, not rendered yet.

    A page's key hashes what its template is given (navigation, subscribe panel, filters, day
    headings) and its cards' and JSON-LD objects' keys; each card is made once per publication
    (or taken from the fragments' store) and joined into every page that shows it.
    """
    fragments = fragments if fragments is not None else Fragments(config)
    agenda = config.agenda
    tz = agenda.tz
    today = now.astimezone(tz).date()
    ordered = sort_events(events)
    pages = page_layout(ordered, tz, limit, today)
    months = [(p.month, p.path, p.title) for p in pages if p.month and p.path.count("-") == 1]
    if labels is None:
        labels = tag_labels(ordered)
    if series is None:
        series = find_series(ordered, tz, today)
    base = agenda.base_url
    index_complete = len(pages[0].events) == len(ordered)
    panels: dict[str, Markup] = {}
    planned: list[Planned] = []
    # By how many pages each card, and each event's JSON-LD (by the event's id), is shown.
    card_uses: Counter[bytes] = Counter()
    event_uses: Counter[int] = Counter(id(e) for page in pages for e in page.events)
    for page in pages:
        root = "../" * page.path.count("/")
        ctx = _Context(config, tz, now, today, root, labels, ics_href, series)
        is_index = page.path == HTML_FILE
        if is_index and not index_complete and page.events:
            until = event_days(page.events[-1], tz)[0].isoformat()
        else:
            until = "9999-12-31" if is_index else ""
        quick = [_Quick("tout", "Toutes les dates", root + HTML_FILE, is_index)] + [
            _Quick(key, label, f"{root}{QUICK_DIR}/{key}.html", page.span == key)
            for key, label in QUICK_SPANS
        ]
        if root not in panels:
            # The same panel on every page of a depth: rendered once (hundreds of feed rows).
            panels[root] = _render_subscribe(_subscribe(config, feeds, root))
        heading = page.title
        context: dict[str, Any] = {
            **common_context(config, root),
            "page_title": f"{heading} – {agenda.title}" if heading else agenda.title,
            "page_heading": heading,
            "canonical": public_url(base, page.path) if base else None,
            "span_text": _span_text(page.span, today) if page.span else "",
            # key/first/last: the script sees when a pre-rendered span page is out of date.
            "span_days": "/".join(
                [page.span, *(d.isoformat() for d in span_days(page.span, today))]
            )
            if page.span
            else "",
            "empty_message": SPAN_EMPTY if page.span else EMPTY_MESSAGE,
            "is_index": is_index,
            "tz_name": agenda.timezone,
            "until": until,
            "quick": quick,
            "months": [
                _Link(label, None if p == page.path or page.month == m else root + p)
                for m, p, label in months
            ],
            "more": is_index and not index_complete,
            "prev": _Link(page.prev.text, root + (page.prev.href or "")) if page.prev else None,
            "next": _Link(page.next.text, root + (page.next.href or "")) if page.next else None,
            "subscribe_html": panels[root],
            "cities": _options(
                (slugify(e.location.city), e.location.city) for e in page.events if e.location.city
            ),
            "tags": _options(
                (slugify(c), labels[slugify(c)]) for e in page.events for c in e.categories
            ),
            "collectives": _options((s.id, s.name) for e in page.events for s in e.sources),
        }
        key: bytes | None = None
        if fragments.keyed:
            cards = [
                (event, folded, _card_key(event, folded, ctx, fragments))
                for event, folded in _cards(page.events, ctx)
            ]
            card_uses.update(k for _, _, k in cards)
            headings = [
                (day.isoformat(), day_heading(day, today), day == today)
                for day in dict.fromkeys(e.start.astimezone(tz).date() for e in page.events)
            ]
            # The panel (hundreds of feed rows, the same on every page of a depth) by its hash.
            shown = {k: v for k, v in context.items() if k != "subscribe_html"}
            key = keys_of(
                (
                    fragments.scope,
                    "page",
                    page.path,
                    repr(sorted(shown.items())),
                    repr(headings),
                    hashlib.blake2b(panels[root].encode(), digest_size=16).digest(),
                ),
                # The JSON-LD objects are the events' own (their pieces depend on nothing else).
                [*(k or b"" for _, _, k in cards), *(fragments.key(e) for e in page.events)],
            )
        else:  # nothing to compare with: no keys, every piece rendered once
            cards = [(event, folded, None) for event, folded in _cards(page.events, ctx)]
        render = functools.partial(
            _render_page, page, context, cards, ctx, fragments, config, card_uses, event_uses
        )
        planned.append(Planned(page.path, key, render, ("card", "jsonld")))
    return planned


def _render_page(
    page: _Page,
    context: dict[str, Any],
    cards: Sequence[tuple[Event, tuple[Event, ...], bytes | None]],
    ctx: _Context,
    fragments: Fragments,
    config: Config,
    card_uses: Counter[bytes],
    event_uses: Counter[int],
) -> bytes:
    tz = ctx.tz
    html = []
    for event, folded, key in cards:
        if key is None:
            html.append((event, _card_html(_item(event, ctx, folded))))
        else:
            render = functools.partial(_card_bytes, event, ctx, folded)
            # Held only if another page shows it (a card is its page depth's: most are shown
            # by their month's page only).
            data = fragments.get(key, render, hold=card_uses[key] > 1)
            html.append((event, data.decode("utf-8")))
    # Held, as the cards, only if another list page shows it (its own page, when rendered in
    # this process, came first and held it).
    objects = [
        fragments.piece(
            "jsonld",
            e,
            functools.partial(_jsonld_bytes, e, tz, config),
            hold=event_uses[id(e)] > 1,
        )
        for e in page.events
    ]
    return render_template(
        "index.html.j2",
        page.path,
        **context,
        days=_days(html, tz, ctx.today),
        jsonld=Markup(b"".join([b"[", b",".join(objects), b"]"]).decode("utf-8")),
    )


def _card_bytes(event: Event, ctx: _Context, folded: Sequence[Event]) -> bytes:
    return _card_html(_item(event, ctx, folded)).encode("utf-8")


def _jsonld_bytes(event: Event, tz: tzinfo, config: Config) -> bytes:
    return str(json_for_script(event_jsonld(event, tz, config))).encode("utf-8")


def jsonld_piece(event: Event, config: Config, fragments: Fragments) -> Markup:
    """The event's JSON-LD object as it goes in a <script> (made once for the list page and the
    event's own page)."""
    tz = config.agenda.tz
    data = fragments.piece("jsonld", event, functools.partial(_jsonld_bytes, event, tz, config))
    return Markup(data.decode("utf-8"))


def render_pages(
    events: Sequence[Event],
    config: Config,
    now: datetime,
    *,
    feeds: Sequence[FeedLink] = (),
    ics_href: Callable[[Event], str | None] | None = None,
    limit: int = PAGE_EVENTS,
    fragments: Fragments | None = None,
) -> dict[str, bytes]:
    """index.html, the month pages and the quick-span pages, by path relative to the output.

    `feeds` are the per-filter feeds to offer; `ics_href` gives each event's own .ics (relative
    to the output folder) for its "Ajouter à mon agenda" link.
    """
    planned = plan_pages(
        events, config, now, feeds=feeds, ics_href=ics_href, limit=limit, fragments=fragments
    )
    return {page.path: joined(page.render()) for page in planned}


def render_robots(config: Config) -> bytes:
    """robots.txt: everything may be indexed; the sitemap is named when the site has an address."""
    base = config.agenda.base_url
    lines = ["User-agent: *", "Allow: /"]
    if base:
        lines.append(f"Sitemap: {public_url(base, SITEMAP_FILE)}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def render_sitemap(config: Config, paths: Iterable[str]) -> bytes | None:
    """sitemap.xml listing `paths` (relative to the output folder), or None without base_url:
    a sitemap needs absolute addresses."""
    base = config.agenda.base_url
    if not base:
        return None
    urls = "".join(
        f"<url><loc>{xml_escape(public_url(base, path))}</loc></url>\n" for path in paths
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{urls}</urlset>\n"
    ).encode()


def render_html(
    events: Sequence[Event],
    config: Config,
    now: datetime,
    *,
    feeds: Sequence[FeedLink] = (),
    ics_href: Callable[[Event], str | None] | None = None,
) -> bytes:
    """index.html as UTF-8 bytes; `now` says which day is today (marked on the page) and which
    year is the current one (day headings omit it)."""
    return render_pages(events, config, now, feeds=feeds, ics_href=ics_href)[HTML_FILE]


def write_html(events: Sequence[Event], config: Config, path: Path, now: datetime) -> Path:
    """Render index.html and write it atomically to `path`; return `path`."""
    write_if_changed(path, render_html(events, config, now))
    return path
