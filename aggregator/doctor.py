"""`aggregator doctor URL`: what an address is, what we read from it, and what is wrong.

Written for the volunteer of a collective who pastes the address of their site or calendar: it is
fetched twice with the same limits and politeness as a run (aggregator.fetch), read with the same
parsers, and every finding is a sentence in French saying what to change. Problems carry a stable
`code` (for scripts, with `--json`) and a severity: an "error" means the agenda would show
nothing from this address, a "warning" that it would show something wrong or incomplete.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, tzinfo
from email.message import Message
from typing import Any, Final
from urllib.parse import urlsplit

from aggregator.config import Config, Source
from aggregator.fetch import FetchSettings, fetch_sources
from aggregator.models import (
    CANCELLED,
    FEED,
    FETCH_OK,
    HTML,
    ICAL,
    ORIGIN_PROSE,
    Event,
    FetchResult,
    ParseResult,
)
from aggregator.parsers import detect_type
from aggregator.pipeline import parse_fetched
from aggregator.platforms import (
    PLATFORMS,
    Detection,
    Export,
    detect_document,
    exports_for,
    looks_like_json,
    nodeinfo_links,
    nodeinfo_software,
)
from aggregator.publish.html import all_day_span, french_date, when_text
from aggregator.publish.sources_page import french_error

__all__ = ["ERROR", "WARNING", "Diagnosis", "Preview", "Problem", "diagnose", "inspect"]

ERROR: Final = "error"
WARNING: Final = "warning"
JSON: Final = "json"
PREVIEW_COUNT: Final = 5

_KIND_FRENCH: Final = {
    ICAL: "un calendrier iCal (.ics)",
    FEED: "un flux RSS ou Atom",
    HTML: "une page web",
    JSON: "un export JSON",
}
_EXPECTED_TYPES: Final = {
    ICAL: ("text/calendar",),
    FEED: ("application/rss+xml", "application/atom+xml", "application/xml", "text/xml"),
    JSON: ("application/json", "application/ld+json"),
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: a stable code, its severity and what to do, in French."""

    code: str
    severity: str
    message: str


@dataclass(frozen=True, slots=True)
class Preview:
    """An event as the agenda would show it."""

    when: str
    title: str
    where: str
    start: str
    url: str | None


@dataclass(slots=True)
class Diagnosis:
    """Everything `doctor` found about one address."""

    url: str
    final_url: str | None = None
    http_status: int | None = None
    content_type: str | None = None
    kind: str | None = None
    platform: str | None = None
    what: str = ""
    items: int = 0
    events_found: int = 0
    upcoming_count: int = 0
    upcoming: list[Preview] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing stops the agenda from reading this address."""
        return not any(p.severity == ERROR for p in self.problems)

    def add(self, code: str, severity: str, message: str) -> None:
        self.problems.append(Problem(code, severity, message))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def diagnose(
    url: str,
    now: datetime,
    *,
    config: Config | None = None,
    settings: FetchSettings | None = None,
    source: Source | None = None,
) -> Diagnosis:
    """Fetch `url` twice (as a run would) and report on it; never raises for a bad address."""
    config = config or Config()
    source = source or Source(id="doctor", name="doctor", url=url)
    settings = settings or FetchSettings()
    first = fetch_sources([source], None, settings)[0]
    second = fetch_sources([source], None, settings)[0] if first.status == FETCH_OK else None
    probed = None
    page = first.document
    if page is not None and detect_type(page) == HTML and not looks_like_json(page):
        probed = None if detect_document(page) else probe_platform(page.url, settings)
    return inspect(source, first, second, now, config, probed)


def probe_platform(url: str, settings: FetchSettings) -> Detection | None:
    """Ask the host which software it runs (Mobilizon and Gancio publish nodeinfo)."""
    parts = urlsplit(url)
    index_url = f"{parts.scheme}://{parts.netloc}/.well-known/nodeinfo"
    index = fetch_sources([Source(id="nodeinfo", name="nodeinfo", url=index_url)], None, settings)
    if index[0].status != FETCH_OK or index[0].document is None:
        return None
    links = nodeinfo_links(index[0].document)[:1]
    if not links:
        return None
    info = fetch_sources([Source(id="nodeinfo", name="nodeinfo", url=links[0])], None, settings)
    if info[0].status != FETCH_OK or info[0].document is None:
        return None
    software = nodeinfo_software(info[0].document)
    if software in PLATFORMS:
        return Detection(PLATFORMS[software], f"nodeinfo says {software}")
    return None


def inspect(
    source: Source,
    first: FetchResult,
    second: FetchResult | None,
    now: datetime,
    config: Config,
    probed: Detection | None = None,
) -> Diagnosis:
    """Report on fetched results (the second fetch, if any, checks that UIDs are stable).

    `probed` is the platform a nodeinfo probe found, for pages that do not say it themselves.
    """
    report = Diagnosis(url=source.url, http_status=first.http_status)
    if first.status != FETCH_OK or first.document is None:
        reason = first.error or "not fetched"
        report.add(
            "http-error" if first.http_status else "fetch-failed",
            ERROR,
            f"Impossible de lire l’adresse : {french_error(reason)}. (Détail : {reason})",
        )
        report.exports = exports_for(source.url)
        return report
    document = first.document
    report.final_url = document.url
    report.content_type = document.content_type
    kind = JSON if looks_like_json(document) and source.type is None else detect_type(document)
    report.kind = kind
    detection = detect_document(document) or probed
    report.platform = detection.platform.label if detection else None
    report.what = _what(kind, detection)
    report.exports = [e for e in exports_for(document.url, detection) if e.url != document.url]

    _check_redirect(report, source.url, document.url)
    _check_content_type(report, kind, document.content_type)
    _check_bytes(report, document.content, document.content_type)

    parsed, error = parse_fetched(config, source, first, now)
    if parsed is None:
        report.add(
            "unreadable",
            ERROR,
            f"Le document n’a pas pu être lu comme {_KIND_FRENCH.get(kind, kind)} : {error}",
        )
        return report
    report.items = parsed.items
    report.events_found = len(parsed.events)
    if kind == HTML and parsed.events:
        structured = any(e.origin != ORIGIN_PROSE for e in parsed.events)
        report.what = _what(kind, detection) + (
            " avec des événements balisés (schema.org, h-event)"
            if structured
            else " sans balisage d’événements (dates lues dans le texte)"
        )
    tz = config.source_timezone(source)
    upcoming = sorted(
        (e for e in parsed.events if e.effective_end >= now), key=lambda e: (e.start, e.title)
    )
    report.upcoming_count = len(upcoming)
    report.upcoming = [_preview(e, config.agenda.tz) for e in upcoming[:PREVIEW_COUNT]]

    if kind == ICAL:
        _check_ical(report, document.text, tz)
    _check_dates(report, kind, parsed, detection)
    _check_utc_as_local(report, parsed.events, tz)
    if second is not None:
        _check_uids(report, parsed, parse_fetched(config, source, second, now)[0])
    past_only = any(p.code == "past-only" for p in report.problems)
    if (
        not parsed.events
        and not past_only
        and not any(p.severity == ERROR for p in report.problems)
    ):
        report.add(
            "no-events",
            ERROR,
            "Nous n’avons trouvé aucun événement daté à cette adresse"
            + (
                " ; essayez plutôt l’une des adresses proposées ci-dessous."
                if report.exports
                else " : publiez un calendrier (.ics) ou des événements schema.org sur la page."
            ),
        )
    elif parsed.events and not upcoming and kind != ICAL:
        report.add(
            "no-upcoming",
            WARNING,
            "Tous les événements trouvés sont passés : rien ne paraîtrait dans l’agenda.",
        )
    return report


def _what(kind: str, detection: Detection | None) -> str:
    text = _KIND_FRENCH.get(kind, kind)
    if detection is not None:
        return f"{text}, publié par {detection.platform.french}"
    return text


def _preview(event: Event, tz: tzinfo) -> Preview:
    """The day heading and the line under it, as on the agenda page."""
    day = all_day_span(event, tz)[0] if event.all_day else event.start.astimezone(tz).date()
    when = when_text(event, tz)
    if not when.startswith("du "):
        when = f"{french_date(day)}, {when}"
    title = f"ANNULÉ – {event.title}" if event.status == CANCELLED else event.title
    return Preview(
        when=when,
        title=title,
        where=event.location.one_line(),
        start=event.start.isoformat(),
        url=event.url,
    )


def _check_redirect(report: Diagnosis, asked: str, final: str) -> None:
    if final.rstrip("/") != asked.rstrip("/"):
        report.add(
            "redirect",
            WARNING,
            f"L’adresse redirige vers {final} : enregistrez directement cette adresse finale "
            "(chaque redirection coûte une requête et casse le jour où elle disparaît).",
        )


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _check_content_type(report: Diagnosis, kind: str, content_type: str | None) -> None:
    expected = _EXPECTED_TYPES.get(kind)
    media = _media_type(content_type)
    if expected is None or media in expected or (kind == FEED and media.endswith("+xml")):
        return
    report.add(
        "content-type",
        WARNING,
        f"Le serveur annonce « {media or 'aucun type'} » alors que le document est "
        f"{_KIND_FRENCH[kind]} ; le bon type est « {expected[0]} ». Certains agendas et "
        "lecteurs refuseront le document : demandez à l’hébergeur de corriger le type.",
    )


_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)


def _declared_charset(content: bytes, content_type: str | None) -> str | None:
    if content_type:
        message = Message()
        message["content-type"] = content_type
        charset = message.get_param("charset")
        if isinstance(charset, str) and charset.strip():
            return charset.strip()
    head = content[:8192]
    match = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    return match.group(1).decode("ascii") if match else None


def _check_bytes(report: Diagnosis, content: bytes, content_type: str | None) -> None:
    """Bytes that do not decode in the encoding the document declares (or UTF-8 by default)."""
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return  # UTF-16/32 with a byte order mark: the BOM says the encoding
    declared = _declared_charset(content, content_type)
    body = content.removeprefix(b"\xef\xbb\xbf")
    encoding = declared or "utf-8"
    try:
        body.decode(encoding)
    except LookupError:
        report.add(
            "invalid-bytes",
            WARNING,
            f"Le document annonce un encodage inconnu (« {declared} ») : déclarez UTF-8.",
        )
    except UnicodeDecodeError as exc:
        said = f"annonce « {declared} »" if declared else "n’annonce pas son encodage"
        report.add(
            "invalid-bytes",
            WARNING,
            f"Le document {said} mais contient des octets invalides dans cet encodage (à "
            f"l’octet {exc.start}) : des lettres accentuées risquent d’être mal lues. "
            "Enregistrez-le en UTF-8 et déclarez charset=utf-8.",
        )


_DTSTART_RE = re.compile(r"^DTSTART(?P<params>;[^:]*)?:(?P<value>[0-9TZ]+)", re.M | re.I)


def _check_ical(report: Diagnosis, text: str, tz: tzinfo) -> None:
    """Floating times without any zone, VEVENTs without a start, a calendar of the past only."""
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    blocks = re.findall(r"^BEGIN:VEVENT\s*$(.*?)^END:VEVENT\s*$", unfolded, re.M | re.S | re.I)
    starts = [_DTSTART_RE.search(block) for block in blocks]
    undated = sum(1 for s in starts if s is None)
    if undated:
        report.add(
            "undated-events",
            WARNING,
            f"{undated} événement(s) du calendrier n’ont pas de date de début (DTSTART) : "
            "ils sont ignorés.",
        )
    floating = [
        s
        for s in starts
        if s is not None
        and "VALUE=DATE" not in (s["params"] or "").upper().replace(" ", "")
        and "TZID" not in (s["params"] or "").upper()
        and not s["value"].upper().endswith("Z")
        and "T" in s["value"].upper()
    ]
    if floating and not re.search(r"^X-WR-TIMEZONE:", unfolded, re.M | re.I):
        zone = getattr(tz, "key", str(tz))
        report.add(
            "no-timezone",
            WARNING,
            f"{len(floating)} horaire(s) sont écrits sans fuseau horaire : nous les lisons dans le "
            f"fuseau {zone}. Si ce n’est pas le bon, réglez le fuseau de votre agenda "
            "(ou ajoutez « timezone: » à la source).",
        )
    if blocks and report.upcoming_count == 0:
        dates = sorted(s["value"][:8] for s in starts if s is not None)
        last = (
            f" (le dernier date du {dates[-1][6:8]}/{dates[-1][4:6]}/{dates[-1][:4]})"
            if dates
            else ""
        )
        report.add(
            "past-only",
            WARNING,
            f"Le calendrier ne contient que des événements passés{last} : rien ne "
            "paraîtrait dans l’agenda. Est-ce le bon calendrier, ou l’export est-il limité au "
            "passé ?",
        )


def _check_dates(
    report: Diagnosis, kind: str, parsed: ParseResult, detection: Detection | None
) -> None:
    """Entries without an event date, and news feeds whose dates are only guessed from prose."""
    if kind not in (FEED, HTML, JSON):
        return
    undated = max(parsed.items - len(parsed.events), 0)
    if undated and kind != HTML:
        report.add(
            "undated-events",
            WARNING,
            f"{undated} élément(s) sur {parsed.items} n’ont pas de date d’événement lisible : "
            "ils ne paraîtront pas dans l’agenda.",
        )
    if kind == FEED and parsed.items:
        structured = [e for e in parsed.events if e.origin != ORIGIN_PROSE]
        if not structured:
            better = (
                " Cette plateforme publie un export iCal : utilisez-le." if (report.exports) else ""
            )
            report.add(
                "news-feed",
                WARNING,
                "C’est un flux d’actualités : ses articles n’ont pas de date d’événement, nous "
                "ne pouvons que deviner les dates écrites dans le texte. Un calendrier (.ics) "
                "ou un module d’événements serait bien plus fiable." + better,
            )


_CLOCK_RE = re.compile(r"(?<![\d:])(?P<h>[01]?\d|2[0-3])\s*(?:h|:)\s*(?P<m>[0-5]\d)?(?!\d)", re.I)


def _check_utc_as_local(report: Diagnosis, events: Sequence[Event], tz: tzinfo) -> None:
    """Times written in UTC that are really local wall times (the text says "18h", the time 20:00).

    Seen when a publisher appends "Z" (or +00:00) to local times: each event then shows one or
    two hours late. The evidence is the event's own text naming the UTC wall time, not the local.
    """
    shifted = 0
    checked = 0
    for event in events:
        if event.all_day:
            continue
        local = event.start.astimezone(tz)
        utc = event.start.astimezone(UTC)
        if (local.hour, local.minute) == (utc.hour, utc.minute):
            continue
        clocks = {
            (int(m["h"]), int(m["m"] or 0))
            for m in _CLOCK_RE.finditer(f"{event.title}\n{event.description}")
        }
        if not clocks:
            continue
        checked += 1
        if (utc.hour, utc.minute) in clocks and (local.hour, local.minute) not in clocks:
            shifted += 1
    if shifted and shifted * 2 >= checked:
        report.add(
            "utc-as-local",
            WARNING,
            f"{shifted} événement(s) ont une heure en UTC qui correspond à l’heure écrite dans "
            "leur texte : l’heure locale a sans doute été publiée comme de l’UTC, et ils "
            "paraîtraient décalés d’une ou deux heures. Réglez le fuseau horaire de votre agenda "
            "(Europe/Paris).",
        )


def _check_uids(report: Diagnosis, first: ParseResult, second: ParseResult | None) -> None:
    if second is None:
        return
    before = {(e.title, e.start): e.source_uid for e in first.events}
    changed = sum(
        1
        for e in second.events
        if (e.title, e.start) in before and before[(e.title, e.start)] != e.source_uid
    )
    if changed:
        report.add(
            "unstable-uids",
            WARNING,
            f"{changed} événement(s) ont changé d’identifiant (UID) entre deux lectures : les "
            "agendas abonnés les verraient comme de nouveaux événements. Le logiciel qui publie "
            "le calendrier doit garder le même UID pour un même événement.",
        )
