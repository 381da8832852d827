"""The data every stage exchanges: one `Event` shape from parsers to publishers.

Times are always timezone-aware. An all-day event starts at local midnight of its first day in the
agenda's zone and ends at local midnight after its last day (exclusive, as in iCalendar).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Final

CONFIRMED: Final = "confirmed"
CANCELLED: Final = "cancelled"
STATUSES: Final = (CONFIRMED, CANCELLED)

ICAL: Final = "ical"
FEED: Final = "feed"
HTML: Final = "html"
SOURCE_TYPES: Final = (ICAL, FEED, HTML)

# How an event was found, from the most to the least trustworthy (the merge precedence).
ORIGIN_ICAL: Final = "ical"
ORIGIN_STRUCTURED: Final = "structured"  # schema.org JSON-LD / microdata, h-event microformats
ORIGIN_FEED: Final = "feed"  # RSS event module, xCal, custom date fields of a feed item
ORIGIN_SELECTOR: Final = "selector"  # CSS selectors configured for the source
ORIGIN_PROSE: Final = "prose"  # dates and places read from French text
ORIGINS: Final = (ORIGIN_ICAL, ORIGIN_STRUCTURED, ORIGIN_FEED, ORIGIN_SELECTOR, ORIGIN_PROSE)

# Outcome of one source in one run.
FETCH_OK: Final = "ok"
FETCH_NOT_MODIFIED: Final = "not_modified"
FETCH_FAILED: Final = "failed"


@dataclass(frozen=True, slots=True)
class Location:
    """Where an event happens; every part is optional."""

    name: str | None = None
    address: str | None = None
    postcode: str | None = None
    city: str | None = None

    def is_empty(self) -> bool:
        return not (self.name or self.address or self.postcode or self.city)

    def one_line(self) -> str:
        """Human-readable single line, e.g. "Cantine, 2 rue de la Gare, 35600 Redon"."""
        town = " ".join(p for p in (self.postcode, self.city) if p)
        parts: list[str] = []
        for part in (self.name, self.address, town):
            if part and part not in parts and not any(part in p for p in parts):
                parts.append(part)
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class SourceRef:
    """A source that announced an event, as shown to residents (provenance)."""

    id: str
    name: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One event, as produced by every parser and consumed by every publisher.

    Parsers fill the descriptive fields plus `source_id` and `source_uid` (the identity of the
    event inside its source). The store assigns `uid` (the stable public identity), `sequence`
    and `sources` (everyone who announced it) before publishing.
    """

    source_id: str
    source_uid: str
    title: str
    start: datetime
    end: datetime | None = None
    all_day: bool = False
    location: Location = field(default_factory=Location)
    url: str | None = None
    description: str = ""
    categories: tuple[str, ...] = ()
    status: str = CONFIRMED
    last_modified: datetime | None = None
    source_sequence: int = 0
    origin: str = ""
    uid: str | None = None
    sequence: int = 0
    sources: tuple[SourceRef, ...] = ()

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError(f"event {self.source_uid!r}: start {self.start} is not timezone-aware")
        if self.end is not None and (self.end.tzinfo is None or self.end.utcoffset() is None):
            raise ValueError(f"event {self.source_uid!r}: end {self.end} is not timezone-aware")
        if self.status not in STATUSES:
            raise ValueError(f"event {self.source_uid!r}: unknown status {self.status!r}")

    @property
    def effective_end(self) -> datetime:
        """The end, or a sensible default: a day for all-day events, the start otherwise."""
        if self.end is not None and self.end >= self.start:
            return self.end
        return self.start + (timedelta(days=1) if self.all_day else timedelta(0))

    def with_changes(self, **changes: object) -> Event:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Document:
    """A downloaded source document: raw bytes plus the best decoding of them."""

    url: str
    content: bytes
    text: str
    content_type: str | None = None
    encoding: str | None = None
    # Problems met while decoding (e.g. invalid UTF-8 bytes replaced), for the source's health.
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Window:
    """The span of time the agenda cares about; recurring events are expanded inside it."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What a parser needs besides the document and its source.

    `tz` reads floating times and all-day dates (the source's zone, default the agenda's);
    `window` bounds recurrence expansion; `now` is the run's reference time.
    """

    tz: tzinfo
    window: Window
    now: datetime


@dataclass(slots=True)
class ParseResult:
    """What a parser found in one document.

    `warnings` are per-item problems (an event skipped, an ambiguous date) recorded in the
    source's health; `items` counts the entries looked at, so "12 items, no event found" can be
    reported for a feed that announces nothing we can date.
    """

    events: list[Event] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    items: int = 0
    # Feeds and calendars a page links to (`<link rel="alternate">`, .ics links), collected only
    # when the source's `follow` asks for them; the pipeline fetches and reads them too.
    links: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FetchResult:
    """The outcome of fetching one source.

    `status` is FETCH_OK (a document to parse), FETCH_NOT_MODIFIED (a 304: nothing to parse) or
    FETCH_FAILED (`error` says why, in words for the person running the tool). `etag` and
    `last_modified` are the validators to send next time.
    """

    source_id: str
    url: str
    status: str
    document: Document | None = None
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    elapsed: float = 0.0
    size: int = 0
