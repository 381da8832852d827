"""Parsers: one adapter per format, all with the same signature.

    parse(document: Document, source: Source, context: ParseContext) -> ParseResult

`parse_document` picks the adapter from the source's configured `type`, or detects it from the
response's Content-Type and the first bytes of the body.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from aggregator.config import Source
from aggregator.models import FEED, HTML, ICAL, Document, ParseContext, ParseResult

Parser = Callable[[Document, Source, ParseContext], ParseResult]

_ICAL_TYPES = ("text/calendar", "application/ics", "text/x-vcalendar", "application/x-ical")
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "rss", "atom")
_FEED_ROOT_RE = re.compile(rb"<(?:[\w-]+:)?(rss|feed|RDF)\b")

__all__ = ["detect_type", "get_parser", "parse_document"]


def detect_type(document: Document) -> str:
    """Guess the format of a document: "ical", "feed" or "html".

    The body wins over the Content-Type, because servers often label .ics files text/plain and
    feeds text/html or application/octet-stream; the Content-Type decides only when the first
    bytes say nothing. Anything unrecognised is treated as an HTML page.
    """
    head = (document.content or document.text.encode("utf-8"))[:2048]
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:15].upper().startswith((b"BEGIN:VCALENDAR", b"BEGIN:VEVENT")):
        return ICAL
    lowered = stripped.lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return HTML
    if _FEED_ROOT_RE.search(head) and not re.search(rb"<html\b", lowered):
        return FEED
    content_type = (document.content_type or "").split(";", 1)[0].strip().lower()
    if content_type in _ICAL_TYPES:
        return ICAL
    if content_type.endswith("xml") or any(kind in content_type for kind in _FEED_TYPES):
        return FEED
    return HTML


def get_parser(kind: str) -> Parser:
    """The `parse` function of the adapter for a source type ("ical", "feed", "html")."""
    # Imported here so that importing the package does not load every parsing library.
    if kind == ICAL:
        from aggregator.parsers import ical

        return ical.parse
    if kind == FEED:
        from aggregator.parsers import feed

        return feed.parse
    if kind == HTML:
        from aggregator.parsers import html

        return html.parse
    raise ValueError(f"unknown source type {kind!r}")


def parse_document(document: Document, source: Source, context: ParseContext) -> ParseResult:
    """Parse a document with the adapter for the source's `type`, or the detected one."""
    if source.type is None:
        # JSON exports of event platforms (Gancio, OpenAgenda, The Events Calendar).
        from aggregator import platforms

        if platforms.looks_like_json(document):
            return platforms.parse_json(document, source, context)
    return get_parser(source.type or detect_type(document))(document, source, context)
