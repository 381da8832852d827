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
import codecs
import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
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
    result = ParseResult()
    simple = read_simple_rss(content, headers)
    if simple is not None:
        # A well-formed RSS 2.0 feed of plain items: read as feedparser would, without it.
        entries, raw_items = simple
        if not entries:
            return result  # a well-formed feed with no items
    else:
        entries, raw_items = _read_with_feedparser(document, source, content, headers, result)
        if not entries:
            return result
    return _read_entries(entries, raw_items, document, source, context, result)


def _read_with_feedparser(
    document: Document,
    source: Source,
    content: bytes,
    headers: dict[str, str],
    result: ParseResult,
) -> tuple[list[Any], list[dict[str, str]]]:
    """The entries and raw items of any feed, read by feedparser (ill-formed ones too)."""
    parsed = feedparser.parse(content, response_headers=headers)
    entries: list[Any] = list(parsed.get("entries", []))
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
            return [], []  # a well-formed feed with no items
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
    return entries, raw_items


def _read_entries(
    entries: list[Any],
    raw_items: list[dict[str, str]],
    document: Document,
    source: Source,
    context: ParseContext,
    result: ParseResult,
) -> ParseResult:
    """The events of the feed's entries (feedparser's, or the fast path's equivalents)."""
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


# --- fast path: well-formed RSS 2.0 with plain items --------------------------------------------
#
# feedparser costs most of a feed's parse: a SAX pass in Python calling a handler per element,
# an HTML sanitizer run over every description. For the common feed (RSS 2.0, well-formed UTF-8,
# items of plain text elements and event-module fields) lxml reads the same tree in C and the
# entries are built here as feedparser builds them: its own helpers (encoding, date parsing,
# URI joining, sanitizing) on the same text, in the same order. Anything this reader does not
# know (Atom, attributes that change how an element is read, nested markup, xml:base, a DTD,
# an element feedparser treats specially) sends the whole feed to feedparser.

_FP_RESERVED = frozenset(
    {
        "title",
        "link",
        "links",
        "id",
        "guidislink",
        "summary",
        "content",
        "tags",
        "published",
        "updated",
        "author",
        "authors",
    }
)
_FP_SPECIAL = frozenset(
    {"title", "link", "description", "guid", "pubdate", "dc_date", "category", "content_encoded"}
)
_FP_IGNORED = frozenset({"author", "dc_creator", "enclosure"})
_HTMLISH = frozenset({"application/xhtml+xml", "text/html"})
_XML_BASE_RE = re.compile(rb"[\s:]base\s*=")


class _NotSimple(Exception):
    """The feed needs feedparser."""


@dataclass(frozen=True, slots=True)
class _FeedparserRules:
    """What feedparser's strict parser decides by name: handlers, namespaces, URI elements."""

    handled: frozenset[str]
    namespaces: dict[str, str]
    relative_uri: frozenset[str]
    relative_uris_inside: frozenset[str]
    dangerous_markup: frozenset[str]
    keymap: frozenset[str]


@lru_cache(maxsize=1)
def _rules() -> _FeedparserRules:
    from feedparser.api import StrictFeedParser

    probe = StrictFeedParser("", None, "utf-8")
    handled = frozenset(
        name.split("_", 2)[2]
        for name in dir(probe)
        if name.startswith(("_start_", "_end_")) and name.count("_") >= 2
    )
    return _FeedparserRules(
        handled=handled,
        namespaces=dict(probe._matchnamespaces),
        relative_uri=frozenset(probe.can_be_relative_uri),
        relative_uris_inside=frozenset(probe.can_contain_relative_uris),
        dangerous_markup=frozenset(probe.can_contain_dangerous_markup),
        keymap=frozenset(feedparser.FeedParserDict.keymap),
    )


def read_simple_rss(
    content: bytes, headers: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]] | None:
    """The entries feedparser would give (the keys this adapter reads) and the raw items, for a
    well-formed RSS 2.0 feed of plain items; None when the feed needs feedparser."""
    try:
        return _read_simple_rss(content, headers)
    except _NotSimple as exc:
        log.debug("feed read by feedparser: %s", exc)
        return None


def simple_rss_refusal(content: bytes, headers: dict[str, str]) -> str | None:
    """Why the fast path leaves a feed to feedparser; None when it reads it (for tests)."""
    try:
        _read_simple_rss(content, headers)
    except _NotSimple as exc:
        return str(exc)
    return None


def _read_simple_rss(
    content: bytes, headers: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    from feedparser.encodings import RE_XML_PI_ENCODING, convert_to_utf8
    from feedparser.sanitizer import replace_doctype

    if not content.startswith(b"<") or _XML_BASE_RE.search(content):
        raise _NotSimple("a BOM or text before the XML, or xml:base")
    checked: dict[str, Any] = {}
    data = convert_to_utf8(headers, content, checked)
    declared = RE_XML_PI_ENCODING.match(content)
    if (
        checked.get("bozo")
        or not _is_utf8(checked.get("encoding"))
        or (declared is not None and not _is_utf8(declared[1].decode("ascii", "replace")))
    ):
        # Not UTF-8 throughout: the raw pass (lxml on the bytes) could read other text.
        raise _NotSimple("an encoding or media type feedparser warns about, or not UTF-8")
    version, stripped, entities = replace_doctype(data)
    if version is not None or entities or stripped != data or b"<!DOCTYPE" in data[:4096].upper():
        raise _NotSimple("a DOCTYPE")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise _NotSimple(f"not well-formed XML ({exc})") from exc
    if root.tag != "rss" or root.attrib.get("version", "").strip() != "2.0":
        raise _NotSimple("not RSS 2.0")
    rules = _rules()
    prefixes = _prefixes(root, data, rules)
    channels = [c for c in root if c.tag == "channel"]
    if len(channels) != 1:
        raise _NotSimple("not one channel")
    items = [c for c in channels[0] if c.tag == "item"]
    # Every item/entry anywhere must be one of those (feedparser and the raw pass read all).
    found = sum(
        1
        for element in root.iter(etree.Element)
        if element.tag.rpartition("}")[2].lower() in ("item", "entry")
    )
    if found != len(items):
        raise _NotSimple("items outside the channel")
    entries: list[dict[str, Any]] = []
    raw_items: list[dict[str, str]] = []
    for item in items:
        if item.attrib:
            raise _NotSimple("attributes on an item")
        entry, raw = _simple_entry(item, prefixes, rules)
        entries.append(entry)
        raw_items.append(raw)
    return entries, raw_items


def _is_utf8(name: str | None) -> bool:
    try:
        return name is not None and codecs.lookup(name).name == "utf-8"
    except LookupError:
        return False


def _prefixes(root: Any, data: bytes, rules: _FeedparserRules) -> dict[str, str]:
    """Namespace URI → the key prefix feedparser gives its elements ('' for none)."""
    if data.count(b"xmlns") != len(root.nsmap):
        raise _NotSimple("namespaces declared below the root")
    out: dict[str, str] = {}
    for prefix, uri in root.nsmap.items():
        if prefix is None or uri in out:
            raise _NotSimple("a default namespace, or two prefixes for one URI")
        canonical = rules.namespaces.get(uri.lower())
        if canonical is None:
            out[uri] = prefix.lower()
        elif canonical == prefix.lower():
            out[uri] = canonical
        elif not canonical:
            out[uri] = ""  # Atom's <atom:link rel="self"> in the channel: not in items
        else:
            raise _NotSimple(f"namespace {uri} under the prefix {prefix}")
    return out


def _simple_entry(
    item: Any, prefixes: dict[str, str], rules: _FeedparserRules
) -> tuple[dict[str, Any], dict[str, str]]:
    """One item as feedparser's entry (the keys read by this adapter) and its raw fields."""
    from feedparser.datetimes import _parse_date

    entry: dict[str, Any] = {}
    extra: dict[str, str | None] = {}
    raw: dict[str, str] = {}
    seen: set[str] = set()
    guid_is_link = False
    for child in item:
        tag = child.tag
        if not isinstance(tag, str):
            continue  # a comment or processing instruction between elements
        if len(child):
            raise _NotSimple(f"markup inside <{tag}>")
        text = child.text or ""
        raw.setdefault(_local_name(tag), " ".join(text.split()))
        if tag[0] == "{":
            uri, local = tag[1:].split("}", 1)
            if not prefixes[uri]:
                raise _NotSimple(f"<{tag}> in an item")
            key = f"{prefixes[uri]}_{local.lower()}"
        else:
            key = tag.lower()
        if key in _FP_IGNORED:
            if child.attrib if key != "enclosure" else text.strip():
                raise _NotSimple(f"<{tag}> with attributes or text")
            continue  # the author, an enclosure's link: nothing this adapter reads
        if key in _FP_SPECIAL:
            if key != "category" and key in seen:
                raise _NotSimple(f"<{tag}> repeated in an item")
            seen.add(key)
            attributes = dict(child.attrib)
            if key == "guid":
                permalink = attributes.pop("isPermaLink", None)
                guid_is_link = (permalink if permalink is not None else "true") == "true"
            if attributes:
                raise _NotSimple(f"attributes on <{tag}>")
            if key == "title":
                entry["title"] = _fp_text("title", text, "text/plain", rules)
            elif key == "description":
                entry["summary"] = _fp_text("description", text, "text/html", rules)
            elif key == "content_encoded":
                value = _fp_text("content", text, "text/html", rules)
                entry["content"] = [{"type": "text/html", "value": value}]
                entry.setdefault("summary", value)
            elif key == "guid":
                value = _fp_text("id", text, None, rules, resolve=guid_is_link)
                entry["id"] = value
                if guid_is_link:
                    entry.setdefault("link", value)
            elif key == "link":
                value = _fp_text("link", text, None, rules)
                value = re.sub("&([A-Za-z0-9_]+);", r"&\g<1>", value.replace("&amp;", "&"))
                entry["link"] = value
            elif key == "pubdate":
                value = _fp_text("published", text, None, rules)
                entry["published"] = value
                entry["published_parsed"] = _parse_date(value)
            elif key == "dc_date":
                value = _fp_text("updated", text, None, rules)
                entry["updated"] = value
                entry["updated_parsed"] = _parse_date(value)
            else:  # category
                value = _fp_text("category", text, None, rules)
                tags = entry.setdefault("tags", [])
                tag_value = {"term": value, "scheme": None, "label": None}
                if value and tag_value not in tags:
                    tags.append(tag_value)
            continue
        if (
            key in rules.handled
            or key in rules.keymap
            or key in _FP_RESERVED
            or key.endswith(("_detail", "_parsed"))
        ):
            raise _NotSimple(f"<{tag}>, which feedparser reads in its own way")
        # feedparser keeps an unknown element's text, or its attributes instead of its text.
        extra[key] = None if child.attrib else _fp_text(key, text, None, rules)
    for key, value in extra.items():
        if value is not None:
            entry[key] = value
    return entry, raw


def _fp_text(
    element: str,
    text: str,
    content_type: str | None,
    rules: _FeedparserRules,
    *,
    resolve: bool = True,
) -> str:
    """An element's text as feedparser's `pop` leaves it (strict parser, no xml:base)."""
    from feedparser.mixin import _FeedParserMixin
    from feedparser.sanitizer import _sanitize_html
    from feedparser.urls import _urljoin, resolve_relative_uris

    output = text.strip()
    if element in rules.relative_uri and output and resolve:
        output = _urljoin("", output)
    if content_type == "text/plain" and _FeedParserMixin.looks_like_html(output):
        content_type = "text/html"
    htmlish = (content_type or "text/html") in _HTMLISH
    # The HTML passes change nothing in text without markup, references or CR (tested).
    markup = "<" in output or "&" in output or "\r" in output
    if htmlish and markup and element in rules.relative_uris_inside:
        output = resolve_relative_uris(output, "", "utf-8", content_type or "text/html")
    if htmlish and markup and element in rules.dangerous_markup:
        output = _sanitize_html(output, "utf-8", content_type or "text/html")
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        # feedparser's repair of UTF-8 read as Latin-1 ("CafÃ©").
        output = output.encode("iso-8859-1").decode("utf-8")
    table, pattern = _cp1252_table()
    return output.translate(table) if pattern.search(output) else output


@lru_cache(maxsize=1)
def _cp1252_table() -> tuple[dict[int, str], re.Pattern[str]]:
    """feedparser's Windows-1252 table, and a pattern finding its keys (translate is slow)."""
    from feedparser.html import _cp1252

    table = {ord(k) if isinstance(k, str) else k: v for k, v in _cp1252.items()}
    return table, re.compile("[" + "".join(re.escape(chr(k)) for k in table) + "]")
