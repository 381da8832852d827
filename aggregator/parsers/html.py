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
from copy import deepcopy
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin

import extruct
import lxml.html
import mf2py
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
    # Markup whose every event was unreadable (dates like "2025-9-13T10-00-00") says no more
    # than no markup at all: the page's own text is read then too.
    unreadable = bool(candidates) and not result.events
    read_text = not candidates or unreadable
    tree = _tree(markup) if (source.selectors or source.follow or read_text) else None
    if tree is not None and source.follow:
        result.links = linked_documents(tree, document.url, source.follow)
    if tree is not None and source.selectors is not None:
        for event in selector_events(tree, source.selectors, source, context, document.url, result):
            if event.source_uid not in seen:
                seen.add(event.source_uid)
                result.events.append(event)
    elif tree is not None and read_text:
        # Neither event markup nor selectors: read the page's own text, and only keep a single
        # clearly announced event, with a time (a page listing several dates needs selectors).
        _prose_event(tree, source, context, document.url, result)
    if not result.events and TOO_DEEP in result.warnings:
        # Pathological markup we did not read cannot tell that the source has no events.
        raise ParseError(
            source.id,
            f"the page nests elements more than {MAX_NESTING} deep, so its events could not be "
            "read; the events it gave before are kept",
            url=document.url,
        )
    return result


def extract_candidates(markup: str, base_url: str, warnings: list[str]) -> list[Candidate]:
    """Every event described in `markup`, as schema.org-like dicts, duplicates removed.

    Broken JSON-LD blocks and extractor failures add a message to `warnings`; nothing raises.
    """
    found: list[Candidate] = []
    found.extend(_jsonld_candidates(markup, warnings))
    lowered = markup.lower()
    if "itemtype" in lowered:
        found.extend(_microdata_candidates(markup, base_url, warnings))
    if "typeof" in lowered:
        found.extend(_rdfa_candidates(markup, base_url, warnings))
    if re.search(r"class\s*=\s*[\"'][^\"']*\b(h-event|vevent)\b", markup, re.I):
        if _nested_deeper_than(markup, MAX_NESTING):
            # html5lib, under mf2py, takes quadratic time on deep nesting (and mf2py then
            # overflows the stack anyway); lxml-based readers above cap depth themselves.
            warnings.append(TOO_DEEP)
        else:
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
        # Some pages put the visible words in startDate ("jeudi 2 avril à 18h"); read them as
        # French prose, a missing year being the next occurrence from now.
        span = prose.parse_prose_datetime(start_text, reference=context.now, tz=context.tz)
        if span is None:
            raise _SkipEvent(f"startDate {start_text!r} is not a date")
        start, end, all_day = span
    else:
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


def _rdfa_candidates(markup: str, base_url: str, warnings: list[str]) -> list[Candidate]:
    """schema.org events written in RDFa (`typeof="Event"`), brought to the JSON-LD shape."""
    try:
        data = extruct.extract(markup, base_url=base_url, syntaxes=["rdfa"], uniform=True)
    # extruct's RDFa reader (pyRdfa) raises many kinds of errors on odd markup.
    except Exception as exc:
        warnings.append(f"RDFa could not be read ({exc})")
        return []
    nodes = {n.get("@id"): n for n in data.get("rdfa", []) if isinstance(n, dict)}
    events = [
        _compact_rdfa(node, nodes, 0)
        for node in nodes.values()
        if _is_event_type([_local(t) for t in node.get("@type", [])])
    ]
    return [event for event in events if isinstance(event, dict)]


def _local(iri: Any) -> str:
    """'https://schema.org/startDate' → 'startDate'."""
    return re.split(r"[/#]", str(iri).rstrip("/"))[-1]


def _compact_rdfa(node: dict[str, Any], nodes: dict[Any, Any], depth: int) -> Any:
    """An expanded RDFa node as a compact schema.org dict, blank-node references resolved."""
    if depth > 5:
        return None
    compact: dict[str, Any] = {"@type": [_local(t) for t in node.get("@type", [])]}
    for key, values in node.items():
        if key.startswith("@") or not isinstance(values, list):
            continue
        converted: list[Any] = []
        for value in values:
            if not isinstance(value, dict):
                continue
            if "@value" in value:
                converted.append(value["@value"])
            elif "@id" in value:
                target = nodes.get(value["@id"])
                ref = str(value["@id"])
                converted.append(
                    _compact_rdfa(target, nodes, depth + 1) if target is not None else ref
                )
        if converted:
            compact[_local(key)] = converted[0] if len(converted) == 1 else converted
    if "@id" in node and not str(node["@id"]).startswith("_:"):
        compact["@id"] = node["@id"]
    return compact


MAX_NESTING = 256
"""Deepest element nesting read for microformats (libxml2, under lxml, stops at the same)."""
TOO_DEEP = f"elements are nested more than {MAX_NESTING} deep; microformats not read"
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^>]*?(/?)>")
# Elements that never hold children, or whose end tag is implied by the next sibling: they do
# not deepen the tree however many of them stay open in the markup.
_FLAT_TAGS = frozenset(
    re.findall(
        r"\w+",
        "area base br col embed hr img input link meta param source track wbr "
        "p li dt dd tr td th option optgroup rb rt rp thead tbody tfoot colgroup caption",
    )
)


def _nested_deeper_than(markup: str, limit: int) -> bool:
    """Whether the tags of `markup` open more than `limit` levels (an upper estimate, linear)."""
    depth = 0
    for match in _TAG_RE.finditer(markup):
        closing, name, self_closing = match.groups()
        if self_closing or name.lower() in _FLAT_TAGS:
            continue
        if closing:
            depth = max(depth - 1, 0)
        else:
            depth += 1
            if depth > limit:
                return True
    return False


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


# --- pages without event markup: selectors, prose, linked feeds ---------------------------------

# Parts of a page that are never its main content.
_BOILERPLATE_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form")
_BOILERPLATE_RE = re.compile(
    r"(?:^|[\s_-])(?:menu|nav|navbar|sidebar|widget|comments?|footer|header|breadcrumbs?|share|"
    r"sharing|social|related|cookies?|banner|skip|pagination|meta|byline|newsletter)(?:$|[\s_-])",
    re.I,
)
_MAIN_SELECTORS = (
    "main",
    "[role=main]",
    "article",
    ".entry-content",
    ".post-content",
    ".article-content",
    "#content",
    ".content",
)
_FEED_LINK_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")
_TITLE_SUFFIX_RE = re.compile(r"\s+[|–—·»-]\s+[^|–—·»]{2,60}$")


def _tree(markup: str) -> Any | None:
    """The page as an lxml tree; None when lxml cannot read it at all."""
    try:
        # Bytes with an explicit encoding: lxml refuses str input that declares one, and would
        # read undeclared bytes as Latin-1.
        parser = lxml.html.HTMLParser(encoding="utf-8")
        return lxml.html.document_fromstring(markup.encode("utf-8"), parser=parser)
    except (etree.ParserError, ValueError):
        return None


def linked_documents(tree: Any, base_url: str, follow: tuple[str, ...]) -> list[str]:
    """The feeds (`<link rel="alternate">`) and .ics calendars a page links to, absolute, once."""
    links: list[str] = []

    def add(href: str | None) -> None:
        if not href or not href.strip():
            return
        href = href.strip()
        if href.lower().startswith("webcal://"):
            href = "https://" + href[len("webcal://") :]
        url = urljoin(base_url, href)
        if url.startswith(("http://", "https://")) and url not in links and url != base_url:
            links.append(url)

    if "feeds" in follow:
        for element in tree.iter("link"):
            rel = (element.get("rel") or "").lower().split()
            kind = (element.get("type") or "").lower().split(";")[0].strip()
            if "alternate" in rel and kind in _FEED_LINK_TYPES:
                add(element.get("href"))
    if "ical" in follow:
        for element in tree.iter("a", "link"):
            href = element.get("href") or ""
            kind = (element.get("type") or "").lower()
            path = href.split("?", 1)[0].split("#", 1)[0].lower()
            if (
                path.endswith((".ics", ".ical", ".ifb"))
                or href.lower().startswith("webcal:")
                or kind.startswith("text/calendar")
            ):
                add(href)
    return links


def _select(node: Any, selector: str) -> tuple[bool, str]:
    """(matched, value) of a `css` or `css@attribute` selector inside `node`."""
    css, attribute = split_selector(selector)
    found = node.cssselect(css)
    if not found:
        return False, ""
    element = found[0]
    if attribute is not None:
        return True, (element.get(attribute) or "").strip()
    return True, clean_text(_element_text(element))


_BLOCKS = frozenset(
    (
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "dd",
        "dt",
        "blockquote",
        "ul",
        "ol",
        "table",
        "header",
        "footer",
        "main",
        "aside",
        "figure",
    )
)
_LINES = frozenset(("br", "li", "tr"))


def _element_text(element: Any) -> str:
    """Text of an element with line breaks between blocks (br, p, li, div...)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in ("script", "style", "template"):
            return
        if tag in _BLOCKS:
            parts.append("\n\n")
        elif tag in _LINES:
            parts.append("\n")
        if isinstance(node.tag, str) and node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if tag in _BLOCKS:
            parts.append("\n\n")

    walk(element)
    return "".join(parts)


def selector_events(
    tree: Any,
    selectors: Selectors,
    source: Source,
    context: ParseContext,
    base_url: str,
    result: ParseResult,
) -> list[Event]:
    """Events read with the source's CSS selectors; unmatched selectors are warned about."""
    nodes = tree.cssselect(split_selector(selectors.event)[0])
    result.items += len(nodes)
    if not nodes:
        result.warnings.append(f"selector {selectors.event!r} matched nothing")
        return []
    matched: dict[str, int] = {}
    events: list[Event] = []
    fields = ("title", "start", "end", "location", "link", "description")
    for position, node in enumerate(nodes, start=1):
        values: dict[str, str] = {}
        for name in fields:
            selector = getattr(selectors, name)
            if selector is None:
                continue
            hit, value = _select(node, selector)
            matched[name] = matched.get(name, 0) + hit
            values[name] = value
        title = strip_title_prefix(clean_title(values.get("title"))) or _fallback_title(node)
        label = repr(title) if title else f"{position}"
        if not values.get("start"):
            result.warnings.append(f"event {label}: no start date ({selectors.start!r}), skipped")
            continue
        if not title:
            result.warnings.append(f"event {label}: no title, skipped")
            continue
        span = _selected_span(values["start"], values.get("end", ""), context)
        if span is None:
            result.warnings.append(
                f"event {label}: start {values['start']!r} is not a date, skipped"
            )
            continue
        start, end, all_day = span
        url = _url(values.get("link"), base_url) if values.get("link") else None
        if url is None and selectors.link is None:
            anchor = node if node.tag == "a" else next(iter(node.iter("a")), None)
            if anchor is not None and anchor.get("href"):
                url = _url(anchor.get("href"), base_url)
        events.append(
            Event(
                source_id=source.id,
                source_uid=fingerprint(title, start, url),
                title=title,
                start=start,
                end=end,
                all_day=all_day,
                location=_selected_location(values.get("location") or "", source.city),
                url=url,
                description=clean_description(values.get("description")),
                origin=ORIGIN_SELECTOR,
            )
        )
    for name in fields:
        selector = getattr(selectors, name)
        if selector is not None and not matched.get(name):
            result.warnings.append(f"selector {selector!r} ({name}) matched nothing")
    return events


def _selected_location(text: str, default_city: str | None) -> Location:
    """A selected place: "Bar Le Ty Coz, Morlaix" ends with its town even without a postcode."""
    text = " ".join(text.split())
    head, _, last = text.rpartition(",")
    last = last.strip()
    if (
        head
        and last
        and not any(ch.isdigit() for ch in text)
        and len(last.split()) <= 4
        and last[0].isupper()
    ):
        return parse_location(head, default_city, city=last)
    return parse_location(text or None, default_city)


def _fallback_title(node: Any) -> str:
    for tag in ("h1", "h2", "h3", "h4", "h5", "h6", "strong", "a"):
        element = next(iter(node.iter(tag)), None)
        if element is not None:
            title = clean_title(element.text_content())
            if title:
                return strip_title_prefix(title)
    return ""


def _selected_span(
    start_text: str, end_text: str, context: ParseContext
) -> tuple[datetime, datetime | None, bool] | None:
    """Start/end from selected text: ISO values first, then French prose ("jeudi 3 avril à 14h")."""
    start_value = parse_datetime_text(start_text)
    end_value = parse_datetime_text(end_text) if end_text else None
    if start_value is not None:
        if end_value is None and end_text and isinstance(start_value, datetime):
            clock = parse_clock(end_text)  # "20h" or "20:00" alone: the same day
            if clock is not None:
                end_value = datetime.combine(start_value.date(), clock, tzinfo=start_value.tzinfo)
        start, end, all_day = event_span(start_value, end_value, context.tz, end_inclusive=True)
        return start, end if end is None or end >= start else None, all_day
    span = prose.parse_prose_datetime(start_text, reference=context.now, tz=context.tz)
    if span is None:
        return None
    start, end, all_day = span
    if end_text:
        end_span = prose.parse_prose_datetime(end_text, reference=start, tz=context.tz)
        clock = parse_clock(end_text)
        if end_span is not None:
            end = end_span[1] if end_span[2] else end_span[0]
        elif clock is not None and not all_day:
            end = start.replace(hour=clock.hour, minute=clock.minute)
        if end is not None and end < start:
            end = None
    return start, end, all_day


def page_content(tree: Any) -> tuple[str, str, datetime | None]:
    """(title, main text, publication date) of an article or announcement page."""
    title = ""
    for xpath in ('//meta[@property="og:title"]/@content', "//h1", "//title"):
        found = tree.xpath(xpath)
        if found:
            value = found[0] if isinstance(found[0], str) else found[0].text_content()
            title = clean_title(value)
            if title and xpath == "//title":
                # "Atelier GIMP | Lamballe Informatique": the site's name is not the event's.
                title = _TITLE_SUFFIX_RE.sub("", title)
            if title:
                break
    published = _page_published(tree)
    main = None
    for css in _MAIN_SELECTORS:
        found = tree.cssselect(css)
        if found:
            main = found[0]
            break
    main = main if main is not None else tree
    hero = _hero_text(tree, main)
    _drop_boilerplate(main)
    _mark_struck(main)
    return title, clean_text(f"{hero}\n\n{_element_text(main)}"), published


def _mark_struck(main: Any) -> None:
    """Struck-through text as "~~…~~", as prose reads it: a date replaced by another."""
    for element in list(main.iter("del", "s", "strike")):
        words = element.text_content()
        for child in list(element):
            element.remove(child)
        element.text = f"~~{words}~~" if words.strip() else ""


def _drop_boilerplate(main: Any) -> None:
    for element in list(main.iter(*_BOILERPLATE_TAGS)):
        if element is not main and element.getparent() is not None:
            element.drop_tree()
    for element in list(main.iter()):
        if not isinstance(element.tag, str) or element is main or element.getparent() is None:
            continue
        marker = f"{element.get('class') or ''} {element.get('id') or ''}"
        if _BOILERPLATE_RE.search(marker) or (element.tag == "time" and _is_pub_time(element)):
            element.drop_tree()


_HERO_XPATH = '//header | //*[contains(@class, "hero") or contains(@id, "hero")]'
_HERO_MAX = 600


def _hero_text(tree: Any, main: Any) -> str:
    """The text of the page's header or hero blocks that hold no navigation.

    Event pages often put the date, the hours and the place in a hero block above the article,
    or in the article's own <header>; both are dropped as boilerplate from the main text, so
    they are read here, first. A site header (with its menu) or a block holding the article
    itself is not one.
    """
    parts: list[str] = []
    for element in tree.xpath(_HERO_XPATH):
        if main is tree or element is main or main in element.iterdescendants():
            continue
        if element.xpath(".//nav | .//form | .//ul[count(li) > 4]"):
            continue
        copy = deepcopy(element)
        _drop_boilerplate(copy)
        text = clean_text(_element_text(copy))
        if text and len(text) <= _HERO_MAX and not any(text in part for part in parts):
            parts.append(text)
    return "\n\n".join(parts)


def _is_pub_time(element: Any) -> bool:
    marker = f"{element.get('class') or ''} {element.get('itemprop') or ''}".lower()
    words = ("publish", "posted", "entry-date", "modified", "updated", "datepublished")
    return any(word in marker for word in words)


_DATE_PUBLISHED_RE = re.compile(r'"datePublished"\s*:\s*"(?P<value>[^"]{8,40})"')


def _page_published(tree: Any) -> datetime | None:
    """When the page was published: meta tags, <time> in the byline, or JSON-LD (Yoast)."""
    for script in tree.xpath('//script[contains(@type, "ld+json")]/text()'):
        match = _DATE_PUBLISHED_RE.search(script)
        parsed = parse_datetime_text(match["value"]) if match else None
        if isinstance(parsed, datetime):
            return parsed
    for xpath in (
        '//meta[@property="article:published_time"]/@content',
        '//meta[@name="date" or @name="DC.date" or @itemprop="datePublished"]/@content',
        '//time[contains(@class, "published") or contains(@class, "entry-date")]/@datetime',
        '//*[@itemprop="datePublished"]/@datetime',
    ):
        for value in tree.xpath(xpath):
            parsed = parse_datetime_text(str(value))
            if isinstance(parsed, datetime):
                return parsed
            if parsed is not None:
                return datetime.combine(parsed, datetime.min.time())
    return None


def _prose_event(
    tree: Any, source: Source, context: ParseContext, base_url: str, result: ParseResult
) -> None:
    title, text, published = page_content(tree)
    if not (prose.has_date_hint(text) or prose.has_date_hint(title)):
        return  # nothing that looks like a date: not even an item worth reporting
    reference = published or context.now
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=context.tz)
    title = strip_title_prefix(title)
    found = prose.extract_events(
        text,
        title=title,
        published=reference,
        tz=context.tz,
        default_city=source.city,
        max_events=3,  # more only when prose reads the page as a programme of dated lines
        require_time=True,
    )
    result.items += 1
    if not found.events:
        result.warnings.append(f"page text: no event found ({found.reason})")
        return
    # One event, or each dated line of a programme (an agenda page) as its own event.
    for event in found.events:
        name = title
        if not name or prose.is_generic_title(name) or len(found.events) > 1:
            name = event.label or prose.title_from_evidence(text, event)
        result.events.append(
            Event(
                source_id=source.id,
                source_uid=fingerprint(name, event.start, base_url),
                title=name,
                start=event.start,
                end=event.end,
                all_day=event.all_day,
                location=event.location,
                url=base_url,
                description=clean_description(text[:2000]),
                status=event.status,
                origin=ORIGIN_PROSE,
            )
        )
