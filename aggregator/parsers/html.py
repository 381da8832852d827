"""HTML page adapter: events described with schema.org (JSON-LD, microdata) or microformats.

Three syntaxes are read, in order of trust: schema.org JSON-LD (`<script
type="application/ld+json">`, tolerant of the broken JSON found on real sites), schema.org
microdata (extruct) and microformats h-event / legacy hCalendar (mf2py). They are brought to
one shape, a schema.org-like dict, then to Events; the same event described twice on a page
(JSON-LD and microdata) is kept once. `extract_candidates` is also used by the feed adapter to
find the event inside an item's HTML body.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin

import extruct
import mf2py

import lxml.html
from lxml import etree

from aggregator.config import Selectors, Source, split_selector
from aggregator.errors import ParseError
from aggregator.models import (
    CANCELLED,
    CONFIRMED,
    ORIGIN_PROSE,
    ORIGIN_SELECTOR,
    ORIGIN_STRUCTURED,
    Document,
    Event,
    Location,
    ParseContext,
    ParseResult,
)
from aggregator.normalize import (
    clean_categories,
    clean_description,
    clean_text,
    clean_title,
    event_span,
    fingerprint,
    parse_clock,
    parse_datetime_text,
    parse_location,
    strip_title_prefix,
)
from aggregator.parsers import prose

log = logging.getLogger(__name__)

Candidate = dict[str, Any]
"""A schema.org-like Event dict: name, startDate, endDate, location, url, description, ..."""

_JSONLD_RE = re.compile(
    r"<script\b[^>]*\btype\s*=\s*[\"']?application/ld\+json[\"']?[^>]*>(?P<body>.*?)</script\s*>",
    re.I | re.S,
)
_TRAILING_COMMA_RE = re.compile(r",(\s*[}\]])")


ONLINE = "En ligne"
"""The place of an event that happens online (schema.org OnlineEventAttendanceMode)."""


class _SkipEvent(Exception):
    """A candidate cannot become an event; the message says why."""


def parse(document: Document, source: Source, context: ParseContext) -> ParseResult:
    """Read the events an HTML page describes with schema.org or microformats markup.

    A page with no event markup gives an empty result (not an error); a broken JSON-LD block
    or an event without a usable date is skipped with a warning.
    """
    markup = document.text or document.content.decode("utf-8", "replace")
    if not markup.strip():
        raise ParseError(source.id, "the page is empty", url=document.url)
    head = markup.lstrip("\ufeff \r\n\t")[:100].upper()
    if head.startswith(("BEGIN:VCALENDAR", "BEGIN:VEVENT")):
        raise ParseError(
            source.id,
            "the address returned an iCalendar file, not a web page; set 'type: ical'",
            url=document.url,
        )
    result = ParseResult()
    candidates = extract_candidates(markup, document.url, result.warnings)
    result.items = len(candidates)
    seen: set[str] = set()
    for candidate in candidates:
        try:
            event = candidate_to_event(candidate, source, context, document.url)
        except _SkipEvent as exc:
            result.warnings.append(f"event {_name(candidate)!r}: {exc}, skipped")
            continue
        if event.source_uid in seen:
            continue
        seen.add(event.source_uid)
        result.events.append(event)
    tree = _tree(markup) if (source.selectors or source.follow or not candidates) else None
    if tree is not None and source.follow:
        result.links = linked_documents(tree, document.url, source.follow)
    if tree is not None and source.selectors is not None:
        for event in selector_events(tree, source.selectors, source, context, document.url, result):
            if event.source_uid not in seen:
                seen.add(event.source_uid)
                result.events.append(event)
    elif tree is not None and not candidates:
        # Neither event markup nor selectors: read the page's own text, and only keep a single
        # clearly announced event (a page listing several dates needs selectors).
        _prose_event(tree, source, context, document.url, result)
    return result


def extract_candidates(markup: str, base_url: str, warnings: list[str]) -> list[Candidate]:
    """Every event described in `markup`, as schema.org-like dicts, duplicates removed.

    Broken JSON-LD blocks and extractor failures add a message to `warnings`; nothing raises.
    """
    found: list[Candidate] = []
    found.extend(_jsonld_candidates(markup, warnings))
    if "itemtype" in markup.lower():
        found.extend(_microdata_candidates(markup, base_url, warnings))
    if re.search(r"class\s*=\s*[\"'][^\"']*\b(h-event|vevent)\b", markup, re.I):
        found.extend(_microformat_candidates(markup, base_url, warnings))
    unique: list[Candidate] = []
    keys: set[tuple[str, str]] = set()
    for candidate in found:
        key = (_name(candidate).casefold(), str(_first(candidate.get("startDate")) or ""))
        if key in keys:
            continue
        keys.add(key)
        unique.append(candidate)
    return unique


def candidate_to_event(
    candidate: Candidate, source: Source, context: ParseContext, base_url: str
) -> Event:
    """Turn one schema.org-like dict into an Event, or raise _SkipEvent saying why not."""
    title = _name(candidate)
    if not title:
        raise _SkipEvent("name (title) missing")
    start_text = _text(candidate.get("startDate"))
    if not start_text:
        raise _SkipEvent("startDate missing")
    start_value, end_value = candidate_dates(candidate)
    if start_value is None:
        raise _SkipEvent(f"startDate {start_text!r} is not a date")
    start, end, all_day = event_span(start_value, end_value, context.tz, end_inclusive=True)
    if end is not None and end < start:
        end = None
    url = _url(candidate.get("url"), base_url)
    own_id = _text(candidate.get("@id")) or _text(candidate.get("identifier"))
    keywords = candidate.get("keywords")
    categories: list[str] = []
    for keyword in keywords if isinstance(keywords, list) else [keywords]:
        if isinstance(keyword, str):
            categories.extend(keyword.split(","))
    return Event(
        source_id=source.id,
        source_uid=own_id or fingerprint(title, start, url),
        title=title,
        start=start,
        end=end,
        all_day=all_day,
        location=candidate_location(candidate, source.city),
        url=url,
        description=clean_description(_text(candidate.get("description"))),
        categories=clean_categories(categories),
        status=candidate_status(candidate),
        origin=ORIGIN_STRUCTURED,
    )


def candidate_dates(
    candidate: Candidate,
) -> tuple[datetime | date | None, datetime | date | None]:
    """startDate and endDate as dates or (possibly floating) datetimes; None when unreadable."""
    end_text = _text(candidate.get("endDate"))
    return (
        parse_datetime_text(_text(candidate.get("startDate"))),
        parse_datetime_text(end_text) if end_text else None,
    )


def candidate_status(candidate: Candidate) -> str:
    """CANCELLED when eventStatus is EventCancelled or EventPostponed, else CONFIRMED.

    A postponed event no longer happens at its announced date and has no new one yet; a
    rescheduled event already carries its new date in startDate, so it stays confirmed.
    """
    status = _text(candidate.get("eventStatus")).rstrip("/")
    return CANCELLED if status.endswith(("EventCancelled", "EventPostponed")) else CONFIRMED


def _is_virtual(place: Any) -> bool:
    """A schema.org VirtualLocation, or a bare web address given as the place."""
    if isinstance(place, dict):
        return "VirtualLocation" in str(place.get("@type", ""))
    return isinstance(place, str) and place.strip().startswith(("http://", "https://"))


# --- JSON-LD ------------------------------------------------------------------------------------


def _jsonld_candidates(markup: str, warnings: list[str]) -> Iterator[Candidate]:
    for position, match in enumerate(_JSONLD_RE.finditer(markup), start=1):
        if not match["body"].strip():
            continue  # an empty placeholder block (Yoast writes one): nothing to read
        data = load_lenient_json(match["body"])
        if data is None:
            warnings.append(
                f"JSON-LD block {position} is not valid JSON even after repair, skipped"
            )
            continue
        yield from _walk_events(data)


def load_lenient_json(text: str) -> Any:
    """Parse JSON as websites write it; None when it cannot be read.

    Tried in turn: strict JSON allowing raw control characters in strings, then the same after
    removing HTML comment/CDATA wrappers, // and /* */ comments and trailing commas.
    """
    text = text.strip()
    try:
        return json.loads(text, strict=False)
    except ValueError:
        pass
    text = re.sub(r"^\s*(<!--|//\s*<!\[CDATA\[|<!\[CDATA\[)", "", text)
    text = re.sub(r"(-->|//\s*\]\]>|\]\]>)\s*$", "", text)
    text = _TRAILING_COMMA_RE.sub(r"\1", _strip_js_comments(text))
    try:
        return json.loads(text, strict=False)
    except ValueError:
        return None


def _strip_js_comments(text: str) -> str:
    """Remove // and /* */ comments that are outside JSON strings."""
    out: list[str] = []
    i, length, in_string = 0, len(text), False
    while i < length:
        char = text[i]
        if in_string:
            out.append(char)
            if char == "\\" and i + 1 < length:
                out.append(text[i + 1])
                i += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = length if end < 0 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = length if end < 0 else end + 2
            continue
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _is_event_type(value: Any) -> bool:
    types = value if isinstance(value, list) else [value]
    # "Event", "MusicEvent", "http://schema.org/SocialEvent", ...
    return any(isinstance(t, str) and t.rstrip("/").endswith("Event") for t in types)


def _walk_events(data: Any, depth: int = 0) -> Iterator[Candidate]:
    """Event objects anywhere in a JSON-LD document (arrays, @graph, nested properties)."""
    if depth > 20:
        return
    if isinstance(data, list):
        for item in data:
            yield from _walk_events(item, depth + 1)
    elif isinstance(data, dict):
        if _is_event_type(data.get("@type")):
            yield data
        for key, value in data.items():
            if key != "location" and isinstance(value, (dict, list)):
                yield from _walk_events(value, depth + 1)


# --- microdata and microformats -----------------------------------------------------------------


def _microdata_candidates(markup: str, base_url: str, warnings: list[str]) -> list[Candidate]:
    try:
        data = extruct.extract(markup, base_url=base_url, syntaxes=["microdata"], uniform=True)
    # extruct parses with lxml and raises its errors (and others) on odd markup.
    except Exception as exc:
        warnings.append(f"microdata could not be read ({exc})")
        return []
    return list(_walk_events(data.get("microdata", [])))


def _microformat_candidates(markup: str, base_url: str, warnings: list[str]) -> list[Candidate]:
    try:
        parsed = mf2py.parse(doc=markup, url=base_url or None)
    # mf2py raises from its parser dependencies on odd markup; microformats are a bonus.
    except Exception as exc:
        warnings.append(f"microformats could not be read ({exc})")
        return []
    return [_from_hevent(item) for item in _walk_mf2(parsed.get("items", []))]


def _walk_mf2(items: list[Any]) -> Iterator[dict[str, Any]]:
    for item in items:
        if not isinstance(item, dict):
            continue
        if "h-event" in item.get("type", []):
            yield item
        yield from _walk_mf2(item.get("children", []))


def _from_hevent(item: dict[str, Any]) -> Candidate:
    props = item.get("properties", {})

    def first(name: str) -> Any:
        values = props.get(name) or []
        return values[0] if values else None

    location = first("location")
    if isinstance(location, dict):
        card = location.get("properties", {})

        def part(name: str) -> str | None:
            values = card.get(name) or []
            return values[0] if values and isinstance(values[0], str) else None

        location = {
            "name": part("name") or part("org") or location.get("value"),
            "address": {
                "streetAddress": part("street-address"),
                "postalCode": part("postal-code"),
                "addressLocality": part("locality"),
            },
        }
    description = first("description") or first("summary")
    if isinstance(description, dict):
        description = description.get("html") or description.get("value")
    name = first("name")
    return {
        "@type": "Event",
        "name": name if isinstance(name, str) else None,
        "startDate": first("start"),
        "endDate": first("end"),
        "location": location,
        "url": first("url"),
        "description": description if description != name else None,
        "keywords": [c for c in props.get("category", []) if isinstance(c, str)],
    }


# --- field helpers ------------------------------------------------------------------------------


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _text(value: Any) -> str:
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("@value") or value.get("@id") or value.get("name")
    return str(value).strip() if value is not None else ""


def _name(candidate: Candidate) -> str:
    return clean_title(_text(candidate.get("name")))


def _url(value: Any, base_url: str) -> str | None:
    text = _text(value)
    if not text or text.startswith(("javascript:", "mailto:", "data:")):
        return None
    return urljoin(base_url, text)


def candidate_location(candidate: Candidate, default_city: str | None) -> Location:
    """The Location of a candidate: a string, a Place with a PostalAddress or a plain address."""
    places = candidate.get("location")
    places = places if isinstance(places, list) else [places]
    physical = [place for place in places if place and not _is_virtual(place)]
    mode = _text(candidate.get("eventAttendanceMode")).rstrip("/")
    if mode.endswith("OnlineEventAttendanceMode") or (any(places) and not physical):
        # An online event happens nowhere in town: no default city either.
        return Location(name=ONLINE)
    value = physical[0] if physical else None
    if isinstance(value, str):
        return parse_location(value, default_city)
    if not isinstance(value, dict):
        return parse_location(None, default_city)
    address = _first(value.get("address"))
    name = _text(value.get("name"))
    if isinstance(address, dict):
        return parse_location(
            None,
            default_city,
            name=name,
            address=_text(address.get("streetAddress")),
            postcode=_text(address.get("postalCode")),
            city=_text(address.get("addressLocality")),
        )
    address_text = _text(address)
    if name and address_text:
        return parse_location(f"{name}, {address_text}", default_city)
    return parse_location(name or address_text, default_city)
