"""Pure functions that turn what producers write into clean event fields.

Every parser goes through these helpers so that titles, descriptions, places and times look the
same whichever format an event came from. Nothing here does I/O or keeps state.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

import nh3

from aggregator.models import Event, Location

# Tags that end a paragraph or a line when HTML is flattened to text.
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "pre",
        "ul",
        "ol",
        "table",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
    }
)
_LINE_TAGS = frozenset({"br", "li", "tr", "dt", "dd"})
# nh3 keeps these (without attributes); everything else is unwrapped, scripts and styles dropped.
_KEPT_TAGS = _BLOCK_TAGS | _LINE_TAGS
# Configured once: nh3.clean builds its cleaner again at each call (a third of its cost).
_CLEANER = nh3.Cleaner(tags=set(_KEPT_TAGS), attributes={}, strip_comments=True)

_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>")
_HTML_HINT_RE = re.compile(
    r"<(?:/?[a-zA-Z][a-zA-Z0-9]*\b[^>]*|!--.*?--)>|&(?:#\d+|#x[0-9a-f]+|\w+);", re.I
)
_SPACES_RE = re.compile(r"[^\S\n]+")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")
# C0 control characters other than tab and newline: they break XML/iCal output downstream.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# C1 characters in text are almost always Windows-1252 bytes decoded as Latin-1 ("don\x92t"):
# map them to what the author typed (’ “ ” € …); the undefined ones are dropped below.
_C1_TO_CP1252 = {
    code: bytes([code]).decode("cp1252")
    for code in range(0x80, 0xA0)
    if code not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}
_C1_RE = re.compile("[\x80-\x9f]")  # str.translate is slow: only called when there is work

# "12 rue de la Gare, 35600 Redon" -> postcode 35600, city Redon. A French postcode is five
# digits; the city is what follows it up to the next comma or line break.
_POSTCODE_CITY_RE = re.compile(r"(?<!\d)(?P<postcode>\d{5})(?!\d)[ \t]+(?P<city>[^,\n;()]+)")
# Unrendered template placeholders (WordPress Events Manager writes "#_LOCATIONNAME").
_PLACEHOLDER_RE = re.compile(r"#_[A-Z0-9_]+")
_CEDEX_RE = re.compile(r"\s+cedex(\s+\d+)?$", re.I)


def looks_like_html(text: str) -> bool:
    """True when `text` contains tags or character entities, i.e. should go through html_to_text."""
    return bool(_HTML_HINT_RE.search(text))


def html_to_text(markup: str) -> str:
    """Convert an HTML fragment into plain text, keeping paragraph breaks.

    The markup is first sanitized with nh3 (scripts, styles and comments are removed with their
    content), then block tags become blank lines and <br>/<li> single line breaks, the other tags
    are dropped, entities are decoded and runs of spaces collapsed.
    """
    if not markup:
        return ""
    safe = _CLEANER.clean(markup)

    def _tag(match: re.Match[str]) -> str:
        name = match.group(2).lower()
        if name in _BLOCK_TAGS:
            return "\n\n"
        if name in _LINE_TAGS:
            # A closing </li> or </tr> adds nothing: the next opening tag already breaks.
            return "" if match.group(1) else "\n"
        return ""

    text = _TAG_RE.sub(_tag, safe)
    # nh3 escapes the text it keeps, so entities are decoded once, after the tags are gone.
    return clean_text(html.unescape(text))


def clean_text(text: str) -> str:
    """Tidy plain text: unify line endings, drop control characters, collapse spaces.

    Single line breaks are kept, two or more become one blank line (a paragraph break), and
    each line is stripped. Letters are never changed, so accents and Breton names survive.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    if _C1_RE.search(text):
        text = text.translate(_C1_TO_CP1252)
    text = _CONTROL_RE.sub("", text)
    lines = [_SPACES_RE.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_NEWLINES_RE.sub("\n\n", "\n".join(lines)).strip()


MAX_DESCRIPTION = 20_000
"""Characters of description kept per event: a whole page pasted into one event (or a hostile
10 MB one) would otherwise be copied into every output that shows the event."""
# Markup around the text: how much raw input is read to fill MAX_DESCRIPTION characters.
_RAW_PER_CHAR = 20


def clean_description(text: str | None) -> str:
    """A description as plain text, whether the producer wrote text or HTML, at most
    MAX_DESCRIPTION characters (cut at a word, ending with "…")."""
    if not text:
        return ""
    text = text[: MAX_DESCRIPTION * _RAW_PER_CHAR]
    cleaned = html_to_text(text) if looks_like_html(text) else clean_text(text)
    return truncate_text(cleaned, MAX_DESCRIPTION)


def truncate_text(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its start cut at a word plus "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ", limit // 2)
    return (cut[:space] if space > 0 else cut).rstrip() + "…"


def clean_title(text: str | None) -> str:
    """A title on one line: tags and entities removed, all whitespace collapsed to single spaces."""
    if not text:
        return ""
    if looks_like_html(text):
        text = html_to_text(text)
    if _C1_RE.search(text):
        text = text.translate(_C1_TO_CP1252)
    return " ".join(_CONTROL_RE.sub("", text).split())


_TAG_SEPARATORS_RE = re.compile(r"[\s_-]+")


@functools.lru_cache(maxsize=4096)  # an agenda has few tags, on every one of its events
def tag_key(name: str) -> str:
    """What makes two tags the same: 'Repair café', 'repair-cafe' and 'REPAIR_CAFÉ' are one."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _TAG_SEPARATORS_RE.sub(" ", bare).strip()


def clean_categories(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Deduplicate categories (first spelling wins, case- and accent-insensitively) and drop
    empty ones."""
    seen: set[str] = set()
    result: list[str] = []
    for value in values:
        name = clean_title(value)
        key = tag_key(name)
        if key and key not in seen:
            seen.add(key)
            result.append(name)
    return tuple(result)


def with_source_tags(event: Event, tags: tuple[str, ...]) -> Event:
    """The event carrying its source's tags too (the registry's spelling first)."""
    if not tags:
        return event
    categories = clean_categories((*tags, *event.categories))
    return event if categories == event.categories else event.with_changes(categories=categories)


def unify_tags(events: list[Event], preferred: tuple[str, ...] = ()) -> list[Event]:
    """One display form per tag across the agenda: the registry's spelling (`preferred`, the
    sources' tags), else the first one met in `events`."""
    forms: dict[str, str] = {}
    for name in preferred:
        forms.setdefault(tag_key(name), clean_title(name))
    for event in events:
        for name in event.categories:
            forms.setdefault(tag_key(name), name)
    unified = []
    for event in events:
        categories = clean_categories([forms.get(tag_key(c), c) for c in event.categories])
        unified.append(
            event if categories == event.categories else event.with_changes(categories=categories)
        )
    return unified


def parse_location(
    text: str | None,
    default_city: str | None = None,
    *,
    name: str | None = None,
    address: str | None = None,
    postcode: str | None = None,
    city: str | None = None,
) -> Location:
    """Build a Location from a free-text place and/or structured parts.

    A French postcode and city found in the text ("12 rue de la Gare, 35600 Redon") are moved to
    `postcode`/`city`; what comes before is split into a name and a street address. When the
    event names no city at all, `default_city` (the source's town) is used.
    """
    name = clean_title(name) or None
    address = clean_title(address) or None
    postcode = clean_title(postcode) or None
    city = clean_title(city) or None
    text = clean_text(_PLACEHOLDER_RE.sub("", text or "")).replace("\n", ", ")
    if text:
        match = _POSTCODE_CITY_RE.search(text)
        if match:
            postcode = postcode or match["postcode"]
            city = city or _CEDEX_RE.sub("", match["city"]).strip(" .-") or None
            before = text[: match.start()].strip(" ,;-")
            after = text[match.end() :].strip(" ,;-")
        else:
            before, after = text, ""
        parts = [part.strip() for part in before.split(",") if part.strip()]
        if parts and not name and not _looks_like_street(parts[0]):
            name = parts.pop(0)
        if parts and not address:
            address = ", ".join(parts)
        if after and not name:
            # "35600 Redon, Salle X": a place named after the town line.
            name = after
        if name and address and name == address:
            address = None
    if not city and default_city:
        city = default_city
    return Location(name=name, address=address, postcode=postcode, city=city)


_STREET_WORDS = re.compile(
    r"^\d|^(rue|avenue|av\.|boulevard|bd|place|chemin|route|impasse|allée|allee|quai|cours|"
    r"square|rond-point|lieu-dit|hent|straed|karrek)\b",
    re.I,
)


def _looks_like_street(text: str) -> bool:
    return bool(_STREET_WORDS.match(text))


def fingerprint(title: str, start: datetime | date, url: str | None) -> str:
    """A stable identity for an item that has none: sha1 of title, start and URL.

    The title is case- and space-normalized so that cosmetic edits do not change it; raw bytes
    and volatile fields (publication dates, ids generated per request) are never hashed.
    """
    normalized = " ".join(title.casefold().split())
    key = "\x1f".join((normalized, start.isoformat(), (url or "").strip()))
    return "sha1:" + hashlib.sha1(key.encode("utf-8")).hexdigest()


def utc_stamp(value: datetime | date) -> str:
    """The RECURRENCE-ID-like stamp of an occurrence: 'YYYYMMDDTHHMMSSZ' in UTC or 'YYYYMMDD'."""
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d")


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """Midnight at the start of `day` in `tz` (aware)."""
    return datetime.combine(day, time(0), tzinfo=tz)


def make_aware(value: datetime, tz: tzinfo) -> datetime:
    """Attach `tz` to a floating datetime; leave aware datetimes alone."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=tz)
    return value


def event_span(
    start: datetime | date,
    end: datetime | date | None,
    tz: tzinfo,
    *,
    end_inclusive: bool,
) -> tuple[datetime, datetime | None, bool]:
    """Turn a start/end pair into (aware start, aware end or None, all_day).

    Dates make an all-day event from local midnight of the first day to local midnight after the
    last day. `end_inclusive` says whether a date-only end is the last day (schema.org, RSS) or
    already the day after (iCalendar DTEND). A missing all-day end means one day. A date end with
    a datetime start (or the reverse) is read as the end of that day.
    """
    if not isinstance(start, datetime):
        first = start
        if end is None:
            last_exclusive = first + timedelta(days=1)
        else:
            end_day = end.date() if isinstance(end, datetime) else end
            last_exclusive = end_day + timedelta(days=1) if end_inclusive else end_day
            if last_exclusive <= first:
                last_exclusive = first + timedelta(days=1)
        return local_midnight(first, tz), local_midnight(last_exclusive, tz), True
    aware_start = make_aware(start, tz)
    if end is None:
        return aware_start, None, False
    if isinstance(end, datetime):
        aware_end = make_aware(end, tz)
    else:
        aware_end = local_midnight(end + timedelta(days=1) if end_inclusive else end, tz)
    return aware_start, aware_end, False


# ISO 8601 as written in feeds and pages: "2017-03-10T20:00:00+0100", "2017-03-10 20:00",
# "19970324T123000Z", "2010-02-10t20:30-08", date-only "2017-03-10".
_ISO_RE = re.compile(
    r"^\s*(?P<y>\d{4})(?:-(?P<m>\d{1,2})-(?P<d>\d{1,2})|(?P<m2>\d{2})(?P<d2>\d{2}))"
    r"(?:[Tt ]+(?P<H>\d{1,2}):?(?P<M>\d{2})(?::?(?P<S>\d{2})(?:[.,]\d+)?)?"
    r"\s*(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?)?\s*$"
)
# French and day-first numeric dates: "01/05/2022", "1.5.2022", "01-05-2022".
_DMY_RE = re.compile(r"^\s*(?P<d>\d{1,2})[/.\-](?P<m>\d{1,2})[/.\-](?P<y>\d{4})\s*$")
_HOUR_RE = re.compile(r"^\s*(?P<H>\d{1,2})\s*(?:[:hH]\s*(?P<M>\d{2})?)?\s*$")


def parse_datetime_text(text: str | None) -> datetime | date | None:
    """Read an ISO 8601 (or dd/mm/yyyy) date or date-time; None when it is not one.

    Returns a `date` for date-only values, a floating `datetime` when no offset is written and an
    aware one otherwise. Impossible values ("2019-9-13T10-10-00-00", month 13) give None.
    """
    if not text:
        return None
    match = _ISO_RE.match(text)
    try:
        if match:
            month, day_of_month = match["m"] or match["m2"], match["d"] or match["d2"]
            day = date(int(match["y"]), int(month), int(day_of_month))
            if match["H"] is None:
                return day
            clock = time(int(match["H"]), int(match["M"]), int(match["S"] or 0))
            value = datetime.combine(day, clock)
            offset = match["tz"]
            if offset:
                value = value.replace(tzinfo=_parse_offset(offset))
            return value
        match = _DMY_RE.match(text)
        if match:
            return date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        return None
    return None


def parse_clock(text: str | None) -> time | None:
    """Read an hour such as "20:00", "20h", "20h30" or "9"; None when absent or invalid."""
    if not text:
        return None
    match = _HOUR_RE.match(text)
    if not match:
        return None
    try:
        return time(int(match["H"]), int(match["M"] or 0))
    except ValueError:
        return None


def _parse_offset(text: str) -> timezone:
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 14 or minutes > 59:
        raise ValueError(f"bad UTC offset {text!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


# "[Agenda] Apéro", "(Annonce) …", "Agenda : Apéro", "RDV - Apéro": labels, not the event's name.
_TITLE_PREFIX_RE = re.compile(
    r"^\s*(?:[\[(【{][^\])】}]{1,30}[\])】}]\s*[:\-–—|]?\s*"
    r"|(?:agenda|annonce|événement|evenement|évènement|rendez-vous|rdv|à\s+venir|a\s+venir|"
    r"save\s+the\s+date|info|infos|actu|actualité)\s*[:\-–—|]\s+)",
    re.I,
)


def strip_title_prefix(title: str) -> str:
    """Remove "[Agenda]"-style labels in front of a title; a title made only of one is kept."""
    stripped = title
    for _ in range(3):  # "[Agenda] [Brest] Apéro"
        shorter = _TITLE_PREFIX_RE.sub("", stripped, count=1)
        if shorter == stripped or not shorter.strip():
            break
        stripped = shorter
    return stripped.strip()
