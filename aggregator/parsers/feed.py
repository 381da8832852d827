"""RSS 1.0/2.0 and Atom adapter: the items of a feed that announce a dated event.

A feed item is only an event when the feed says *when the event happens*: the RSS event module
(`ev:startdate`), xCal elements (`xCal:dtstart`), custom date fields some CMSs add (WordPress
`date_from`/`hour_from`, `c:date_debut`), or schema.org/microformats markup inside the item's
HTML. The publication date (pubDate, updated, dc:date) says when a post was written, never when
an event takes place, so items with nothing else are counted but give no event.

feedparser reads the feed (encodings, RSS/Atom differences, ill-formed XML); a second, lenient
lxml pass collects each item's raw child elements, because feedparser drops the text of
unknown elements that carry attributes (`<c:date_debut type="date">2015-10-16</c:date_debut>`).
Neither parser loads DTDs or external entities, so nothing is fetched while parsing.
"""

from __future__ import annotations

import calendar
import logging
import re
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urljoin

import feedparser
from lxml import etree

from aggregator.config import Source
from aggregator.errors import ParseError
from aggregator.models import (
    CANCELLED,
    CONFIRMED,
    ORIGIN_FEED,
    ORIGIN_PROSE,
    ORIGIN_STRUCTURED,
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
    parse_clock,
    parse_datetime_text,
    parse_location,
    strip_title_prefix,
)
from aggregator.parsers import html as html_parser
from aggregator.parsers import notices, prose

log = logging.getLogger(__name__)

# Child elements (local names, lowercase) that hold an event's own dates, best first:
# RSS event module and xCal, then the custom fields seen in French CMS feeds.
_START_FIELDS = (
    "startdate",
    "dtstart",
    "start_date",
    "date_from",
    "date_debut",
    "datedebut",
    "date_start",
    "event_start",
    "event_date",
    "begin",
)
_END_FIELDS = (
    "enddate",
    "dtend",
    "end_date",
    "date_to",
    "date_fin",
    "datefin",
    "date_end",
    "event_end",
)
_START_HOUR_FIELDS = ("hour_from", "heure_debut", "start_time", "time_from", "time_start")
_END_HOUR_FIELDS = ("hour_to", "heure_fin", "end_time", "time_to", "time_end")
_LOCATION_FIELDS = ("location", "lieu", "venue")


_LISTING_TITLE_RE = re.compile(
    r"lettre|newsletter|agenda|programme|prochains|prochaines|nos\s+rendez-vous|du\s+mois|"
    r"de\s+la\s+semaine|cette\s+semaine|à\s+venir",
    re.I,
)


class _SkipItem(Exception):
    """An item cannot become an event; the message says why."""


def parse(document: Document, source: Source, context: ParseContext) -> ParseResult:
    """Read the dated events of an RSS or Atom feed.

    Raises ParseError when the document is not a feed at all; an ill-formed feed whose items
    can still be read gives them plus a warning.
    """
    headers = {"content-type": document.content_type} if document.content_type else {}
    content = document.content or document.text.encode("utf-8")
    parsed = feedparser.parse(content, response_headers=headers)
    entries: list[Any] = list(parsed.get("entries", []))
    result = ParseResult()
    problem = parsed.get("bozo_exception")
    if parsed.get("bozo") and _cut_off(document.text or content.decode("utf-8", "replace")):
        # Items read from a cut-off download would replace the full list with a part of it.
        raise ParseError(
            source.id,
            "the feed ends before its root element is closed: the download was cut off or the "
            "server failed while writing it; the events it gave before are kept",
            url=document.url,
        )
    if not entries:
        if parsed.get("version") and not parsed.get("bozo"):
            return result  # a well-formed feed with no items
        # Nothing readable: a cut-off download or not a feed at all. Reporting it keeps the
        # source's earlier events instead of silently replacing them with nothing.
        raise ParseError(source.id, _not_a_feed_message(content, problem), url=document.url)
    if parsed.get("bozo") and problem is not None:
        result.warnings.append(
            f"the feed is not well-formed XML ({_short(problem)}); read leniently, "
            "some text may be missing"
        )
    raw_items = _raw_items(content)
    if len(raw_items) != len(entries):
        raw_items = _match_raw_items(entries, raw_items)
    result.items = len(entries)
    seen: set[str] = set()
    dated_without_event = 0
    without_event = 0
    status_notices: list[notices.Notice] = []
    for entry, raw in zip(entries, raw_items, strict=True):
        try:
            events = _event(entry, raw, document, source, context, result.warnings)
            if events is None:
                events, had_dates = _prose_events(entry, document, source, context, status_notices)
                without_event += not events
                dated_without_event += had_dates and not events
        except _SkipItem as exc:
            title = clean_title(entry.get("title")) or "(no title)"
            result.warnings.append(f"item {title!r}: {exc}, skipped")
            continue
        for event in events:
            if event.source_uid in seen:
                continue
            seen.add(event.source_uid)
            result.events.append(event)
    if status_notices:
        # "Les activités de cette semaine sont annulées": the feed's own events, not new ones.
        result.events = notices.apply_notices(result.events, status_notices, context.tz)
    if dated_without_event:
        # One line for the source's health, not one per blog post.
        result.warnings.append(
            f"{without_event} of {len(entries)} items: no event found "
            f"({dated_without_event} mention dates that do not announce an event)"
        )
    return result


def _prose_events(
    entry: Any,
    document: Document,
    source: Source,
    context: ParseContext,
    status_notices: list[notices.Notice],
) -> tuple[list[Event], bool]:
    """Events an item announces in words; (events, whether the text had dates at all).

    The item's publication date is the reference for dates written without a year, never an
    event date itself.
    """
    title = strip_title_prefix(clean_title(entry.get("title")))
    body = _body_html(entry)
    text = clean_description(body)  # also the description: the body is flattened once
    reading = _prose_text(entry, body, text)
    published = _published(entry) or context.now
    if not (prose.has_date_hint(title) or prose.has_date_hint(reading)):
        found = prose.ProseResult()
    else:
        found = prose.extract_events(
            reading, title=title, published=published, tz=context.tz, default_city=source.city
        )
    if not found.events:
        # A notice that cancels this week's events by name is no event of its own.
        notice = notices.read_notice(reading, title, published, context.tz)
        if notice is not None:
            status_notices.append(notice)
        return [], found.dates_found > 0
    # A newsletter or "programme du mois" announcing several events does not name each of them:
    # each event is then named by the sentence that announces it.
    own_titles = (
        not title
        or prose.is_generic_title(title)
        or (len(found.events) > 1 and _LISTING_TITLE_RE.search(title) is not None)
        or found.kind == prose.PROGRAMME  # each dated line names its own session
    )
    link = entry.get("link")
    url = urljoin(document.url, link) if link else None
    own_id = str(entry.get("id") or "").strip()
    events: list[Event] = []
    for event in found.events:
        # One item may announce several dates: each gets its own identity.
        suffix = f"#{event.start.date().isoformat()}" if len(found.events) > 1 else ""
        if sum(e.start.date() == event.start.date() for e in found.events) > 1:
            suffix += event.start.strftime("T%H%M")  # two sessions on one day
        name = (event.label or prose.title_from_evidence(reading, event)) if own_titles else title
        events.append(
            Event(
                source_id=source.id,
                source_uid=(own_id + suffix) if own_id else fingerprint(name, event.start, url),
                title=name,
                start=event.start,
                end=event.end,
                all_day=event.all_day,
                location=event.location,
                url=url,
                description=text,
                categories=clean_categories([t.get("term") or "" for t in entry.get("tags", [])]),
                last_modified=_updated(entry),
                status=event.status,
                origin=ORIGIN_PROSE,
            )
        )
    return events, True


def _not_a_feed_message(content: bytes, problem: Any) -> str:
    head = content.lstrip(b"\xef\xbb\xbf \r\n\t")[:300].lower()
    if head.startswith(b"begin:vcalendar"):
        return "the address returned an iCalendar file, not a feed; set 'type: ical'"
    if b"<html" in head or head.startswith(b"<!doctype html"):
        return (
            "the address returned a web page, not an RSS or Atom feed; use the feed's own "
            "address, or set 'type: html' to read events from the page"
        )
    if not head:
        return "the feed is empty"
    detail = f" ({_short(problem)})" if problem is not None else ""
    return (
        f"not a readable RSS or Atom feed: no item could be read{detail}; the download may be "
        "cut off, or the address may not point to a feed"
    )


_ROOT_RE = re.compile(r"<([A-Za-z_][\w.:-]*)")


def _cut_off(text: str) -> bool:
    """Whether the XML document stops before the end tag of its root element.

    Trailing white space, comments and processing instructions may follow the end tag; a
    self-closed root (`<rss/>`) is complete.
    """
    index = 0
    while True:
        start = text.find("<", index)
        if start < 0:
            return False
        if text.startswith(("<?", "<!"), start):
            end = text.find("-->", start) + 3 if text.startswith("<!--", start) else 0
            index = end if end > 2 else text.find(">", start) + 1
            if index <= 0:
                return True  # the prolog itself is unfinished
            continue
        break
    root = _ROOT_RE.match(text, start)
    if root is None:
        return False
    name = root.group(1)
    head_end = text.find(">", start)
    if head_end > 0 and text[head_end - 1] == "/":
        return False
    body = text.rstrip()
    while body.endswith(("-->", "?>")):  # one trailing comment or instruction at a time
        cut = body.rfind("<!--" if body.endswith("-->") else "<?")
        if cut < 0:
            break
        body = body[:cut].rstrip()
    return not re.search(rf"</{re.escape(name)}\s*>\Z", body[-len(name) - 64 :])


def _short(problem: Any) -> str:
    text = str(problem).strip() or type(problem).__name__
    return text if len(text) < 160 else text[:157] + "..."


# --- raw child elements -------------------------------------------------------------------------


def _raw_items(content: bytes) -> list[dict[str, str]]:
    """Each item's/entry's direct children as {local name: text}, in document order."""
    parser = etree.XMLParser(
        recover=True,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    try:
        root = etree.fromstring(content, parser=parser)
    except (etree.XMLSyntaxError, ValueError):
        return []
    if root is None:
        return []
    items: list[dict[str, str]] = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if _local_name(element.tag) not in ("item", "entry"):
            continue
        fields: dict[str, str] = {}
        for child in element:
            if not isinstance(child.tag, str):
                continue
            name = _local_name(child.tag)
            fields.setdefault(name, " ".join("".join(child.itertext()).split()))
        items.append(fields)
    return items


def _local_name(tag: str) -> str:
    """'{ns}startdate' → 'startdate'; undeclared prefixes survive recovery as 'atom:link'."""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _match_raw_items(entries: list[Any], raw_items: list[dict[str, str]]) -> list[dict[str, str]]:
    """Pair entries with raw items by guid/id or link when the counts differ."""
    by_key: dict[str, dict[str, str]] = {}
    for raw in raw_items:
        for key in ("guid", "id", "link"):
            if raw.get(key):
                by_key.setdefault(raw[key], raw)
    matched = []
    for entry in entries:
        raw = by_key.get(entry.get("id", "")) or by_key.get(entry.get("link", "")) or {}
        matched.append(raw)
    return matched


# --- items --------------------------------------------------------------------------------------


def _event(
    entry: Any,
    raw: dict[str, str],
    document: Document,
    source: Source,
    context: ParseContext,
    warnings: list[str],
) -> list[Event] | None:
    """The event an item's own date fields or markup announce, None when they give no date."""
    fields = dict(raw)
    # feedparser's names for namespaced elements, e.g. ev_startdate, xcal_dtstart.
    for key, value in entry.items():
        if isinstance(value, str) and "_" in key:
            fields.setdefault(key.split("_", 1)[1].lower(), value.strip())
    body = _body_html(entry)
    candidate: dict[str, Any] | None = None
    start_value, end_value = _structured_dates(fields)
    if start_value is None and body:
        found = html_parser.extract_candidates(body, document.url, [])
        candidate = next((c for c in found if c.get("startDate")), None)
        if candidate is not None:
            start_value, end_value = html_parser.candidate_dates(candidate)
    if start_value is None:
        return None
    title = strip_title_prefix(clean_title(entry.get("title")))
    if not title:
        raise _SkipItem("title missing")
    start, end, all_day = event_span(start_value, end_value, context.tz, end_inclusive=True)
    if end is not None and end < start:
        warnings.append(f"item {title!r}: end before start, end ignored")
        end = None
    link = entry.get("link")
    url = urljoin(document.url, link) if link else None
    location_text = next((fields[k] for k in _LOCATION_FIELDS if fields.get(k)), None)
    if location_text:
        location = parse_location(location_text, source.city)
    elif candidate is not None:
        location = html_parser.candidate_location(candidate, source.city)
    else:
        location = parse_location(None, source.city)
    status_text = (fields.get("status") or fields.get("eventstatus") or "").lower()
    cancelled = "cancel" in status_text or "annul" in status_text
    if candidate is not None and html_parser.candidate_status(candidate) == CANCELLED:
        cancelled = True
    own_id = str(entry.get("id") or "").strip()
    event = Event(
        source_id=source.id,
        source_uid=own_id or fingerprint(title, start, url),
        title=title,
        start=start,
        end=end,
        all_day=all_day,
        location=location,
        url=url,
        description=clean_description(body),
        categories=clean_categories([t.get("term") or "" for t in entry.get("tags", [])]),
        status=CANCELLED if cancelled else CONFIRMED,
        last_modified=_updated(entry),
        origin=ORIGIN_STRUCTURED if candidate is not None else ORIGIN_FEED,
    )
    return [event]


def _structured_dates(
    fields: dict[str, str],
) -> tuple[datetime | date | None, datetime | date | None]:
    """Start and end from the item's own date fields, with separate hour fields applied."""
    start = _first_date(fields, _START_FIELDS)
    if start is None:
        return None, None
    end = _first_date(fields, _END_FIELDS)
    start_hour = _first_clock(fields, _START_HOUR_FIELDS)
    end_hour = _first_clock(fields, _END_HOUR_FIELDS)
    if isinstance(start, datetime) and _is_midnight(start) and (end is None or _is_midnight(end)):
        # CMSs write "2022-02-27T00:00:00Z" for a day with no time: treat it as a date.
        start = start.date()
        end = end.date() if isinstance(end, datetime) else end
    if not isinstance(start, datetime) and start_hour is not None:
        start = datetime.combine(start, start_hour)
        if end is None:
            end = start.date()
        if not isinstance(end, datetime) and end_hour is not None:
            end = datetime.combine(end, end_hour)
        elif not isinstance(end, datetime):
            end = None if end == start.date() else end
    return start, end


def _first_date(fields: dict[str, str], names: tuple[str, ...]) -> datetime | date | None:
    for name in names:
        value = parse_datetime_text(fields.get(name))
        if value is not None:
            return value
    return None


def _first_clock(fields: dict[str, str], names: tuple[str, ...]) -> time | None:
    for name in names:
        value = parse_clock(fields.get(name))
        if value is not None:
            return value
    return None


def _is_midnight(value: datetime | date) -> bool:
    return isinstance(value, datetime) and value.time() == time(0)


_STRUCK_RE = re.compile(r"<(del|s|strike)\b[^>]*>(.*?)</\1\s*>", re.I | re.S)


def _prose_text(entry: Any, body: str, text: str) -> str:
    """What prose reads: the body with struck-through text marked "~~…~~" (a date replaced by
    another), then the Atom summary when it says something the content does not (some blogs
    put the date and place only there)."""
    reading = text
    if _STRUCK_RE.search(body):
        reading = clean_description(
            _STRUCK_RE.sub(lambda m: f"~~{m[2]}~~" if m[2].strip() else "", body)
        )
    if entry.get("content") and entry.get("summary"):
        summary = clean_description(str(entry["summary"]))
        if summary and summary.rstrip(" .…")[:200] not in text:
            reading = f"{reading}\n\n{summary}"
    return reading


def _body_html(entry: Any) -> str:
    """The item's richest body: content:encoded / Atom content, else the summary."""
    for content in entry.get("content", []):
        value = content.get("value")
        if value:
            return str(value)
    return str(entry.get("summary") or "")


def _published(entry: Any) -> datetime | None:
    """When the item was published (else updated): the reference for years left out."""
    parsed = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _updated(entry: Any) -> datetime | None:
    # dict.get skips feedparser's deprecated updated→published key mapping; the publication
    # time is an honest "last modified" when the feed gives no update time.
    parsed = dict.get(entry, "updated_parsed") or dict.get(entry, "published_parsed")
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None
