"""Find the best source of a collective's site, and register it in sources.yaml.

`discover(url)` fetches the address, lists every candidate source it points to — the address
itself when it is already a calendar or feed, the page's `<link rel="alternate">` feeds and
calendars, its .ics / webcal links, the page's own schema.org events, and the exports of the
platform it runs on (recognised from the address, the page, or a nodeinfo probe) — fetches each
candidate once, and ranks them: structured calendars (iCal, platform JSON, schema.org) before
feeds with event dates, before news feeds read as prose; then the more upcoming events.

`add_source` appends the chosen address to sources.yaml as a commented entry, round-tripping the
file with ruamel.yaml so its comments and order stay as they were, and validates the result with
`aggregator.config.parse_config` before writing: it never writes what `sources check` refuses.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from io import StringIO
from pathlib import Path
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from aggregator.config import Config, Source, parse_config
from aggregator.doctor import JSON, Diagnosis, probe_platform
from aggregator.errors import ConfigError, ConfigProblem
from aggregator.fetch import FetchSettings, fetch_sources
from aggregator.models import FETCH_OK, HTML, ICAL, ORIGIN_PROSE, Document, FetchResult
from aggregator.parsers import detect_type
from aggregator.pipeline import parse_fetched
from aggregator.platforms import (
    detect_document,
    exports_for,
    looks_like_json,
)

__all__ = ["Candidate", "Discovery", "add_source", "discover", "new_entry", "slug_for"]

MAX_CANDIDATES: Final = 12
_CALENDAR_TYPES: Final = ("text/calendar",)
_FEED_TYPES: Final = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
)


@dataclass(slots=True)
class Candidate:
    """One address that could be registered, with what reading it gave."""

    url: str
    how: str
    kind: str | None = None
    events: int = 0
    upcoming: int = 0
    structured: bool = False
    error: str | None = None
    order: int = 0

    @property
    def usable(self) -> bool:
        return self.error is None and self.upcoming > 0

    def rank(self) -> tuple[int, int, int, int]:
        """Higher is better: usable, structured, then discovery order (richest first), count."""
        return (int(self.usable), int(self.structured), -self.order, self.upcoming)


@dataclass(slots=True)
class Discovery:
    """What `discover` found for one site."""

    url: str
    title: str | None = None
    platform: str | None = None
    candidates: list[Candidate] = field(default_factory=list)
    error: str | None = None

    @property
    def best(self) -> Candidate | None:
        usable = [c for c in self.candidates if c.usable]
        return max(usable, key=Candidate.rank) if usable else None


def discover(
    url: str, now: datetime, *, config: Config | None = None, settings: FetchSettings | None = None
) -> Discovery:
    """Fetch `url`, list and read every candidate source, ranked (see the module docstring)."""
    config = config or Config()
    settings = settings or FetchSettings()
    page_source = Source(id="discover", name="discover", url=url)
    page = fetch_sources([page_source], None, settings)[0]
    found = Discovery(url=url)
    if page.status != FETCH_OK or page.document is None:
        found.error = page.error or "not fetched"
        return found
    document = page.document
    detection = detect_document(document) or probe_platform(document.url, settings)
    found.platform = detection.platform.label if detection else None
    found.title = _title(document)

    addresses: list[tuple[str, str]] = []
    kind = JSON if looks_like_json(document) else detect_type(document)
    if kind != HTML:
        addresses.append((document.url, f"the address itself ({kind})"))
    for export in exports_for(document.url, detection):
        addresses.append(
            (
                export.url,
                f"{detection.platform.label if detection else ''} export: {export.french}".strip(),
            )
        )
    if kind == HTML:
        addresses.extend(_page_links(document))
    unique: list[tuple[str, str]] = []
    for address, how in addresses:
        if address not in {a for a, _ in unique}:
            unique.append((address, how))
    unique = unique[:MAX_CANDIDATES]

    others = [a for a, _ in unique if a != document.url]
    results = {document.url: page}
    if others:
        sources = [Source(id="discover", name="discover", url=a) for a in others]
        results.update(zip(others, fetch_sources(sources, None, settings), strict=True))
    for order, (address, how) in enumerate(unique):
        found.candidates.append(_read(address, how, results[address], now, config, order))
    if kind == HTML:
        # The page itself, last: its schema.org events count, its prose does not.
        page_candidate = _read(document.url, "the page itself", page, now, config, len(unique))
        if page_candidate.structured:
            found.candidates.append(page_candidate)
    return found


def _read(
    url: str, how: str, result: FetchResult, now: datetime, config: Config, order: int
) -> Candidate:
    candidate = Candidate(url=url, how=how, order=order)
    if result.status != FETCH_OK or result.document is None:
        candidate.error = result.error or "not fetched"
        return candidate
    source = Source(id="discover", name="discover", url=url)
    document = result.document
    candidate.kind = JSON if looks_like_json(document) else detect_type(document)
    parsed, error = parse_fetched(config, source, result, now)
    if parsed is None:
        candidate.error = error or "unreadable"
        return candidate
    candidate.events = len(parsed.events)
    candidate.upcoming = sum(1 for e in parsed.events if e.effective_end >= now)
    prose = sum(1 for e in parsed.events if e.origin == ORIGIN_PROSE)
    candidate.structured = bool(parsed.events) and prose * 2 < len(parsed.events)
    return candidate


def _tree(document: Document) -> Any | None:
    try:
        parser = lxml.html.HTMLParser(encoding="utf-8")
        return lxml.html.document_fromstring(document.text.encode("utf-8"), parser=parser)
    except (etree.ParserError, ValueError):
        return None


def _title(document: Document) -> str | None:
    if looks_like_json(document):
        return None
    if detect_type(document) == ICAL:
        match = re.search(r"^X-WR-CALNAME:(.+)$", document.text, re.M)
        return match.group(1).strip().replace("\\,", ",") if match else None
    tree = _tree(document)
    if tree is None:
        return None
    for path in ("//meta[@property='og:site_name']/@content", "//title/text()", "//h1//text()"):
        values = [v.strip() for v in tree.xpath(path) if v and v.strip()]
        if values:
            return " ".join(values[0].split())
    return None


def _page_links(document: Document) -> list[tuple[str, str]]:
    """Calendars and feeds a page links to: calendars first, then feeds, in page order."""
    tree = _tree(document)
    if tree is None:
        return []
    calendars: list[tuple[str, str]] = []
    feeds: list[tuple[str, str]] = []

    def absolute(href: str) -> str | None:
        href = href.strip()
        if href.lower().startswith("webcal://"):
            href = "https://" + href[len("webcal://") :]
        url = urljoin(document.url, href)
        return url if url.startswith(("http://", "https://")) else None

    for element in tree.iter("link"):
        rel = (element.get("rel") or "").lower().split()
        kind = (element.get("type") or "").lower().split(";")[0].strip()
        href = absolute(element.get("href") or "")
        if "alternate" not in rel or href is None:
            continue
        if kind in _CALENDAR_TYPES:
            calendars.append((href, f"<link rel=alternate type={kind}>"))
        elif kind in _FEED_TYPES:
            feeds.append((href, f"<link rel=alternate type={kind}>"))
    for element in tree.iter("a"):
        raw = element.get("href") or ""
        href = absolute(raw)
        if href is None:
            continue
        path = urlsplit(href).path.lower()
        query = urlsplit(href).query.lower()
        if (
            path.endswith((".ics", ".ical"))
            or raw.lower().startswith("webcal:")
            or re.search(r"(^|&)(ical=1|export)(&|$)", query)
        ):
            calendars.append((href, "calendar link on the page"))
    return calendars + feeds


# ---------------------------------------------------------------------------------------------
# Writing sources.yaml


def slug_for(text: str) -> str:
    """A source id from a name or host: "Konk Ar Lab" → "konk-ar-lab" (ASCII, hyphens)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:64].strip("-") or "source"


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, order and quoting are kept
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.preserve_quotes = True
    return yaml


def new_entry(
    text: str,
    entry: dict[str, Any],
    comment: str,
    file: str = "sources.yaml",
) -> str:
    """The file's text with `entry` appended to `sources:` under `comment`; validated.

    Raises ConfigError (with every problem) when the result would not pass `sources check`, so
    nothing invalid is ever written.
    """
    yaml = _yaml()
    try:
        data = yaml.load(text) if text.strip() else CommentedMap()
    except YAMLError as exc:
        raise ConfigError(
            [ConfigProblem(file, None, "(syntax)", f"not valid YAML: {exc}", "fix it first")]
        ) from exc
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise ConfigError([ConfigProblem(file, 1, "(file)", "must be a mapping", "")])
    sources = data.get("sources")
    if sources is None:
        sources = CommentedSeq()
        data["sources"] = sources
    if not isinstance(sources, CommentedSeq):
        raise ConfigError([ConfigProblem(file, None, "sources", "must be a list", "")])
    item = CommentedMap()
    for key in ("id", "name", "url", "city", "tags", "website", "enabled"):
        value = entry.get(key)
        if value is None or value == [] or value == ():
            continue
        if key == "tags":
            seq = CommentedSeq(list(value))
            seq.fa.set_flow_style()
            value = seq
        item[key] = value
    sources.append(item)
    lines = [line.rstrip() for line in comment.strip().splitlines()]
    sources.yaml_set_comment_before_after_key(len(sources) - 1, before="\n".join(lines), indent=2)
    out = StringIO()
    yaml.dump(data, out)
    result = out.getvalue()
    if len(sources) > 1 and not re.search(r"\n\s*\n\s*# " + re.escape(lines[0][:20]), result):
        # A blank line between entries, as the rest of the file has.
        result = result.replace("  # " + lines[0], "\n  # " + lines[0], 1)
    parse_config(result, file)  # raises ConfigError: never write what `sources check` refuses
    return result


def add_source(
    path: Path,
    entry: dict[str, Any],
    comment: str,
) -> str:
    """Append `entry` to the sources file at `path` (atomically); return the new text."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    result = new_entry(text, entry, comment, str(path))
    descriptor, temporary = tempfile.mkstemp(dir=path.parent or Path("."), prefix=".sources-")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(result)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return result


def entry_comment(
    name: str, page_url: str, chosen: Candidate, diagnosis: Diagnosis | None, day: str
) -> str:
    """The evidence comment written above a new entry, so reviewers can check it."""
    lines = [
        f"{name}: added with `aggregator sources add {page_url}` on {day}.",
        f"Found: {chosen.how} → {chosen.url}",
    ]
    if diagnosis is not None:
        summary = f"doctor: {diagnosis.what}, {diagnosis.upcoming_count} upcoming events"
        codes = sorted({p.code for p in diagnosis.problems})
        if codes:
            summary += " (to check: " + ", ".join(codes) + ")"
        lines.append(summary)
    return "\n".join(lines)


def choose_id(name: str | None, url: str, taken: Sequence[str]) -> str:
    """A free id from the name, or the host when there is no name."""
    base = slug_for(name) if name else slug_for((urlsplit(url).hostname or "source").split(".")[0])
    candidate, counter = base, 2
    while candidate in taken:
        candidate = f"{base}-{counter}"
        counter += 1
    return candidate
