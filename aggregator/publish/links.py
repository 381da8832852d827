"""Which address to offer a resident for an event or a collective: a page, never a machine file.

Sources are calendars and feeds: an event's URL, or the URL a collective is known by, is often the
`.ics` or RSS file we read it from. Clicking « Page de l'événement » and getting a calendar file
(or a screen of XML) is a dead end, so every link we publish goes through `page_url`:

- the address must be absolute http(s) (`http_url`);
- it must not be a *machine document*: a URL equal to a registered source's URL (the file or page
  we read, which is never one event's own page), or whose path or query names a calendar or feed
  (`is_machine_document`: `.ics`, `.xml`, `/feed/`, `?ical=1`, `?format=rss`…).

Then `event_link` is the event's own page, else the page of another collective that announced it,
else the collective's `website` (or its registered page when that is a web page), else nothing.
The Content-Type of an event's address is not known when publishing (we never fetch it), so
recognizing machine documents relies on the URL; the source URLs cover the common case exactly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from aggregator.config import Config
from aggregator.models import Event, SourceRef

_URL_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")
# File extensions of calendars, feeds and data, in the last path segment.
MACHINE_SUFFIXES = frozenset(
    {".ics", ".ical", ".ifb", ".vcs", ".rss", ".atom", ".rdf", ".xml", ".json", ".jsonld"}
)
# Path segments (or file stems, as in "rss.php") that name a feed or calendar export.
MACHINE_WORDS = frozenset(
    {"feed", "feeds", "rss", "rss2", "atom", "ical", "ics", "webcal", "icalendar"}
)
# Query keys that alone ask for an export (WordPress `?feed=rss2`, The Events Calendar `?ical=1`).
MACHINE_QUERY_KEYS = frozenset({"feed", "ical", "ics", "rss", "atom", "webcal", "icalendar"})
# Query keys whose value picks an export format (`?format=ical`, `?outputformat=rss`).
FORMAT_QUERY_KEYS = frozenset({"format", "output", "outputformat", "type", "export", "view"})
FORMAT_VALUES = frozenset(
    {"ical", "ics", "icalendar", "rss", "rss2", "atom", "xml", "json", "feed"}
)


@functools.lru_cache(maxsize=65536)
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
    if _URL_BAD_CHARS.search(value):
        return None
    return value


@functools.lru_cache(maxsize=65536)
def is_machine_document(url: str) -> bool:
    """Whether `url` names a calendar, feed or data file rather than a page for people."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    segments = [s for s in parts.path.lower().split("/") if s]
    for segment in segments:
        if segment in MACHINE_WORDS:
            return True
    if segments:
        last = segments[-1]
        stem, dot, suffix = last.rpartition(".")
        if dot and ("." + suffix in MACHINE_SUFFIXES or stem in MACHINE_WORDS):
            return True
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        key = key.lower()
        if key in MACHINE_QUERY_KEYS:
            return True
        if key in FORMAT_QUERY_KEYS and value.lower() in FORMAT_VALUES:
            return True
    return False


@functools.lru_cache(maxsize=65536)
def _same_address(url: str) -> str:
    """A URL reduced for comparison: host case, default port, fragment and final slash ignored."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.port and parts.port not in (80, 443):
        host += f":{parts.port}"
    return f"{host}{parts.path.rstrip('/')}?{parts.query}"


@dataclass(frozen=True, slots=True)
class _Registry:
    source_addresses: frozenset[str]
    websites: dict[str, str]  # source id → the collective's page for people
    pages: dict[str | None, str | None] = field(default_factory=dict)  # `page_url`'s answers


def _build_registry(config: Config) -> _Registry:
    addresses = set()
    websites: dict[str, str] = {}
    for source in config.sources:
        if url := http_url(source.url):
            addresses.add(_same_address(url))
    for source in config.sources:
        website = http_url(source.website)
        if website and not is_machine_document(website):
            websites[source.id] = website
        elif (
            source.type in (None, "html")
            and (url := http_url(source.url))
            and not is_machine_document(url)
        ):
            # A page we read events from is the collective's page for people, when no website
            # is given; a calendar or feed never is.
            websites[source.id] = url
    return _Registry(frozenset(addresses), websites)


# One-slot cache: every renderer of one publication gets the same Config object.
_last: list[tuple[Config, _Registry]] = []


def _registry(config: Config) -> _Registry:
    if _last and _last[0][0] is config:
        return _last[0][1]
    registry = _build_registry(config)
    _last[:] = [(config, registry)]
    return registry


def page_url(value: str | None, config: Config | None = None) -> str | None:
    """`value` if it is a page for people: absolute http(s), no calendar or feed file, and (with
    `config`) not one of the registered sources' own addresses."""
    if config is None:
        return _page_url(value, None)
    # Every output asks for every event's links: answered once per configuration.
    pages = _registry(config).pages
    try:
        return pages[value]
    except KeyError:
        found = pages[value] = _page_url(value, config)
        return found


def _page_url(value: str | None, config: Config | None) -> str | None:
    url = http_url(value)
    if url is None or is_machine_document(url):
        return None
    if config is not None and _same_address(url) in _registry(config).source_addresses:
        return None
    return url


def remember_pages(events: Iterable[Event], config: Config) -> None:
    """Answer `page_url` for every event's address and every announcement's, now: the child
    processes that render the pages and feeds are forked after this and inherit the answers,
    instead of each working them out again (a quarter of a second per process for 20,000
    events)."""
    for event in events:
        page_url(event.url, config)
        for ref in event.sources:
            page_url(ref.url, config)


def collective_link(ref: SourceRef, config: Config | None = None) -> str | None:
    """Where to read about `ref`'s announcement: its page for the event, else its website."""
    own = page_url(ref.url, config)
    if own:
        return own
    if config is None:
        return None
    return _registry(config).websites.get(ref.id)


def event_link(event: Event, config: Config | None = None) -> str | None:
    """The event's own page, else a collective's page for it or its website; never a file."""
    own = page_url(event.url, config)
    if own:
        return own
    return first(collective_link(ref, config) for ref in event.sources)


def first(values: Iterable[str | None]) -> str | None:
    return next((v for v in values if v), None)
