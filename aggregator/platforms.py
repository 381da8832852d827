"""Event platforms: recognise them and read their richest public export.

Collectives publish through a handful of platforms whose generic feed loses information (a
Mobilizon Atom feed has no event dates, a WordPress news feed has none either). For each one
this module knows how to recognise it and which public export carries the most:

    platform                 recognised from                         best public export
    Mobilizon                nodeinfo, ICS PRODID, /@group/feed/…    /@group/feed/ics
    Gancio                   nodeinfo, /api/events, /feed/…          /api/events (JSON)
    OpenAgenda               the host                                /agendas/UID/events.v2.json
    Agenda du Libre          the host, ICS PRODID                    /events.ics?region=…&tag=…
    The Events Calendar      <link …?ical=1>, tec-api meta, PRODID   /wp-json/tribe/events/v1/events
    Events Manager           its plugin's assets, PRODID             /events.ics
    Nextcloud / Framagenda   /remote.php/dav/public-calendars/TOKEN  …/TOKEN?export
    Meetup                   the host                                /GROUP/events/ical/

`detect_url` works offline (what `sources check` names); `detect_document` reads a fetched
response (what `doctor` names); `exports_for` lists the addresses `sources add` probes. The JSON
exports are read by `parse_json`, which `aggregator.parsers.parse_document` calls for JSON bodies.
The formats are those of the platforms' own code and documentation; the tests' captures say where
each one comes from (tests/fixtures/platforms/MANIFEST.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aggregator.config import Source
from aggregator.errors import ParseError
from aggregator.models import (
    CANCELLED,
    CONFIRMED,
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
    fingerprint,
    parse_datetime_text,
    parse_location,
)

__all__ = [
    "PLATFORMS",
    "Detection",
    "Export",
    "Platform",
    "agenda_du_libre_url",
    "detect_document",
    "detect_url",
    "exports_for",
    "looks_like_json",
    "parse_json",
    "platform",
]


@dataclass(frozen=True, slots=True)
class Platform:
    """One publishing platform; `label` is its name, `french` says what it is to a volunteer."""

    key: str
    label: str
    french: str


PLATFORMS: Final = {
    p.key: p
    for p in (
        Platform("mobilizon", "Mobilizon", "une instance Mobilizon (groupe ou profil)"),
        Platform("gancio", "Gancio", "une instance Gancio (agenda partagé)"),
        Platform("openagenda", "OpenAgenda", "un agenda OpenAgenda"),
        Platform("agendadulibre", "Agenda du Libre", "l’Agenda du Libre"),
        Platform(
            "tribe-events",
            "The Events Calendar",
            "un site WordPress avec l’extension « The Events Calendar »",
        ),
        Platform(
            "events-manager",
            "Events Manager",
            "un site WordPress avec l’extension « Events Manager »",
        ),
        Platform("nextcloud", "Nextcloud", "un agenda public Nextcloud (ou Framagenda)"),
        Platform("meetup", "Meetup", "un groupe Meetup"),
    )
}


def platform(key: str) -> Platform:
    return PLATFORMS[key]


@dataclass(frozen=True, slots=True)
class Export:
    """A public export of a platform: its address, its format ("ical", "json", "feed")."""

    url: str
    kind: str
    french: str


@dataclass(frozen=True, slots=True)
class Detection:
    """A platform recognised, how (`how`, in English for logs and `sources check`)."""

    platform: Platform
    how: str

    def describe(self) -> str:
        return f"{self.platform.label} ({self.how})"


# ---------------------------------------------------------------------------------------------
# Recognising a platform


def _parts(url: str) -> tuple[str, str, str, str]:
    parts = urlsplit(url)
    return parts.scheme or "https", (parts.hostname or "").lower(), parts.path or "/", parts.query


_NEXTCLOUD_PATH = re.compile(
    r"/(?:index\.php/)?(?:remote\.php/dav/public-calendars|apps/calendar/p)/(?P<token>[A-Za-z0-9]+)"
)
_MOBILIZON_FEED = re.compile(r"^/@(?P<name>[\w.@-]+)/feed/(?:ics|atom)$")
_MOBILIZON_INSTANCE_FEED = re.compile(r"^/feed/instance/(?:ics|atom)$")
_GANCIO_FEED = re.compile(r"^/feed/(?:rss|ics|atom|json)(?:/(?:tag|place|collection)/[^/]+)?$")
_OPENAGENDA_UID = re.compile(r"/agendas/(?P<uid>\d+)")
_MEETUP_GROUP = re.compile(r"^/(?:[a-z]{2}(?:-[A-Z]{2})?/)?(?P<group>[A-Za-z0-9_-]+)")
_MEETUP_RESERVED = frozenset({"find", "topics", "cities", "apps", "help", "login", "api"})


def detect_url(url: str) -> Detection | None:
    """The platform an address belongs to, from the address alone (no network)."""
    _scheme, host, path, query = _parts(url)
    bare = host.removeprefix("www.")
    if bare == "openagenda.com" or bare.endswith(".openagenda.com"):
        return Detection(PLATFORMS["openagenda"], "address on openagenda.com")
    if bare == "agendadulibre.org":
        return Detection(PLATFORMS["agendadulibre"], "address on agendadulibre.org")
    if bare == "meetup.com" or bare.endswith(".meetup.com"):
        return Detection(PLATFORMS["meetup"], "address on meetup.com")
    if _NEXTCLOUD_PATH.search(path):
        return Detection(PLATFORMS["nextcloud"], "public calendar address")
    if _MOBILIZON_FEED.match(path) or _MOBILIZON_INSTANCE_FEED.match(path):
        return Detection(PLATFORMS["mobilizon"], "feed address /@…/feed/…")
    if "/wp-json/tribe/events/" in path or re.search(r"(?:^|&)ical=1(?:&|$)", query):
        return Detection(PLATFORMS["tribe-events"], "export address")
    if path.rstrip("/") == "/api/events" or _GANCIO_FEED.match(path):
        return Detection(PLATFORMS["gancio"], "export address")
    if "mobilizon" in host:
        return Detection(PLATFORMS["mobilizon"], "host name")
    if "gancio" in host:
        return Detection(PLATFORMS["gancio"], "host name")
    return None


# ICS PRODIDs of the platforms' exporters (their own code, and the captures in the tests).
_PRODIDS: Final = (
    (re.compile(r"//Mobilizon", re.I), "mobilizon"),
    (re.compile(r"adamgibbons/ics", re.I), "gancio"),
    (re.compile(r"AgendaDuLibre", re.I), "agendadulibre"),
    (re.compile(r"ECPv\d", re.I), "tribe-events"),
    (re.compile(r"Events Manager|wp-events-plugin\.com", re.I), "events-manager"),
    (re.compile(r"nextcloud|SabreDAV|Sabre//Sabre VObject", re.I), "nextcloud"),
    (re.compile(r"Meetup", re.I), "meetup"),
)
_PRODID_RE = re.compile(r"^PRODID:(.*)$", re.M | re.I)
_HEAD_BYTES: Final = 65536


def detect_document(document: Document) -> Detection | None:
    """The platform that produced a fetched document: PRODID, page markup, JSON shape, address."""
    text = document.text[:_HEAD_BYTES]
    prodid = _PRODID_RE.search(text)
    if prodid:
        for pattern, key in _PRODIDS:
            if pattern.search(prodid.group(1)):
                return Detection(PLATFORMS[key], f"PRODID {prodid.group(1).strip()}")
    lowered = text.lower()
    if "<html" in lowered or "<!doctype html" in lowered:
        found = _detect_page(lowered)
        if found is not None:
            return found
    if looks_like_json(document):
        shape = _json_shape(_load_json(document.text))
        if shape is not None:
            return Detection(PLATFORMS[shape], "shape of the JSON answer")
    return detect_url(document.url)


_TEC_MARKERS = ('name="tec-api-version"', "/wp-content/plugins/the-events-calendar/", "ical=1")
_EM_MARKERS = ("/wp-content/plugins/events-manager/",)


def _detect_page(lowered: str) -> Detection | None:
    if any(marker in lowered for marker in _TEC_MARKERS[:2]) or re.search(
        r"<link[^>]+type=[\"']text/calendar[\"'][^>]+ical=1", lowered
    ):
        return Detection(PLATFORMS["tribe-events"], "page markup of the plugin")
    if any(marker in lowered for marker in _EM_MARKERS):
        return Detection(PLATFORMS["events-manager"], "page markup of the plugin")
    generator = re.search(r"<meta[^>]+name=[\"']generator[\"'][^>]+content=[\"']([^\"']+)", lowered)
    if generator:
        content = generator.group(1)
        for key in ("mobilizon", "gancio"):
            if key in content:
                return Detection(PLATFORMS[key], f"generator {content}")
    return None


def nodeinfo_software(document: Document) -> str | None:
    """The `software.name` of a nodeinfo document (Mobilizon and Gancio both publish one)."""
    data = _load_json(document.text)
    if isinstance(data, dict):
        software = data.get("software")
        if isinstance(software, dict) and isinstance(software.get("name"), str):
            return software["name"].strip().lower()
    return None


def nodeinfo_links(document: Document) -> list[str]:
    """The schema links of /.well-known/nodeinfo, newest schema first."""
    data = _load_json(document.text)
    links = data.get("links") if isinstance(data, dict) else None
    found = [
        link["href"]
        for link in links or ()
        if isinstance(link, dict)
        and isinstance(link.get("href"), str)
        and "nodeinfo.diaspora.software/ns/schema" in str(link.get("rel", ""))
    ]
    return sorted(found, reverse=True)


# ---------------------------------------------------------------------------------------------
# The exports of each platform


def agenda_du_libre_url(
    *,
    region: int | str | None = None,
    tag: str | None = None,
    near_location: str | None = None,
    near_distance: int | None = None,
    fmt: str = "ics",
) -> str:
    """An Agenda du Libre export with its documented filters (`region`, `tag`, `near[...]`)."""
    params: list[tuple[str, str]] = []
    if region is not None:
        params.append(("region", str(region)))
    if tag:
        params.append(("tag", tag))
    if near_location:
        params.append(("near[location]", near_location))
        if near_distance is not None:
            params.append(("near[distance]", str(near_distance)))
    query = urlencode(params, quote_via=quote)
    return f"https://www.agendadulibre.org/events.{fmt}" + (f"?{query}" if query else "")


def exports_for(url: str, detection: Detection | None = None) -> list[Export]:
    """The public exports of a platform address, richest first (nothing for other addresses).

    `detection` may come from the page (`detect_document`) or a nodeinfo probe; without it the
    address alone decides.
    """
    detection = detection or detect_url(url)
    if detection is None:
        return []
    builder = _EXPORTS.get(detection.platform.key)
    return builder(url) if builder else []


def _origin(url: str) -> str:
    scheme, host, _path, _query = _parts(url)
    port = urlsplit(url).port
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def _mobilizon_exports(url: str) -> list[Export]:
    _s, _h, path, _q = _parts(url)
    match = re.match(r"^/@(?P<name>[\w.@-]+)", path)
    base = _origin(url)
    if match:
        name = match["name"]
        return [
            Export(f"{base}/@{name}/feed/ics", "ical", "export iCal du groupe Mobilizon"),
            Export(f"{base}/@{name}/feed/atom", "feed", "flux Atom du groupe (sans dates)"),
        ]
    return [Export(f"{base}/feed/instance/ics", "ical", "export iCal de toute l’instance")]


def _gancio_exports(url: str) -> list[Export]:
    base = _origin(url)
    _s, _h, path, query = _parts(url)
    filters = dict(parse_qsl(query))
    tagged = re.match(r"^/feed/\w+/(?P<what>tag|place|collection)/(?P<name>[^/]+)$", path)
    if tagged:
        suffix = f"/{tagged['what']}/{tagged['name']}"
        return [Export(f"{base}/feed/ics{suffix}", "ical", "export iCal filtré de Gancio")]
    api = f"{base}/api/events"
    if filters.get("tags") or filters.get("places"):
        api += "?" + urlencode({k: v for k, v in filters.items() if k in ("tags", "places")})
    return [
        Export(api, "json", "API publique JSON de Gancio"),
        Export(f"{base}/feed/ics", "ical", "export iCal de Gancio"),
        Export(f"{base}/feed/rss", "feed", "flux RSS de Gancio"),
    ]


def _on_host(url: str, domain: str) -> bool:
    host = _parts(url)[1].removeprefix("www.")
    return host == domain or host.endswith("." + domain)


def _openagenda_exports(url: str) -> list[Export]:
    if not _on_host(url, "openagenda.com"):
        return []
    match = _OPENAGENDA_UID.search(urlsplit(url).path)
    if not match:
        return []
    base = f"https://openagenda.com/agendas/{match['uid']}"
    upcoming = "relative%5B0%5D=current&relative%5B1%5D=upcoming"
    return [
        Export(f"{base}/events.v2.json?{upcoming}", "json", "export JSON d’OpenAgenda"),
        Export(f"{base}/events.v2.ics?{upcoming}", "ical", "export iCal d’OpenAgenda"),
    ]


def _agenda_du_libre_exports(url: str) -> list[Export]:
    if not _on_host(url, "agendadulibre.org"):
        return []
    _s, _h, _path, query = _parts(url)
    kept = [
        (k, v)
        for k, v in parse_qsl(query)
        if k in ("region", "tag", "near[location]", "near[distance]")
    ]
    suffix = ("?" + urlencode(kept, quote_via=quote)) if kept else ""
    return [
        Export(f"https://www.agendadulibre.org/events.ics{suffix}", "ical", "export iCal"),
        Export(f"https://www.agendadulibre.org/events.rss{suffix}", "feed", "flux RSS"),
    ]


def _tribe_exports(url: str) -> list[Export]:
    base = _origin(url)
    _s, _h, path, _q = _parts(url)
    # The events slug is configurable (/events/, /event/, /agenda/…): keep the one in the address.
    slug = re.match(r"^(/[^/?#]+)/", path if path != "/" else "")
    listing = slug.group(1) if slug and "wp-json" not in slug.group(1) else "/events"
    return [
        Export(f"{base}/wp-json/tribe/events/v1/events", "json", "API REST de The Events Calendar"),
        Export(f"{base}{listing}/?ical=1", "ical", "export iCal de The Events Calendar"),
    ]


def _events_manager_exports(url: str) -> list[Export]:
    return [Export(f"{_origin(url)}/events.ics", "ical", "export iCal d’Events Manager")]


def _nextcloud_exports(url: str) -> list[Export]:
    _s, _h, path, _q = _parts(url)
    match = _NEXTCLOUD_PATH.search(path)
    if not match:
        return []
    prefix = path[: match.start()]
    trailing = "/" if path.endswith(match["token"] + "/") else ""
    export = f"{_origin(url)}{prefix}/remote.php/dav/public-calendars/{match['token']}{trailing}"
    return [Export(export + "?export", "ical", "export iCal de l’agenda public")]


def _meetup_exports(url: str) -> list[Export]:
    if not _on_host(url, "meetup.com"):
        return []
    _s, _h, path, _q = _parts(url)
    match = _MEETUP_GROUP.match(path)
    if not match or match["group"].lower() in _MEETUP_RESERVED:
        return []
    group = match["group"]
    return [Export(f"https://www.meetup.com/{group}/events/ical/", "ical", "export iCal Meetup")]


_EXPORTS: Final[dict[str, Callable[[str], list[Export]]]] = {
    "mobilizon": _mobilizon_exports,
    "gancio": _gancio_exports,
    "openagenda": _openagenda_exports,
    "agendadulibre": _agenda_du_libre_exports,
    "tribe-events": _tribe_exports,
    "events-manager": _events_manager_exports,
    "nextcloud": _nextcloud_exports,
    "meetup": _meetup_exports,
}


# ---------------------------------------------------------------------------------------------
# Reading the JSON exports


def looks_like_json(document: Document) -> bool:
    """A JSON body: announced as JSON, or starting with { or [ and not markup."""
    content_type = (document.content_type or "").split(";", 1)[0].strip().lower()
    if content_type.endswith("json"):
        return True
    head = document.text.lstrip("\ufeff \t\r\n")[:1]
    return head in ("{", "[")


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _json_shape(data: Any) -> str | None:
    """Which platform's JSON this is, from the fields its exporter writes."""
    if isinstance(data, list):
        first = next((item for item in data if isinstance(item, dict)), None)
        if first is not None and "start_datetime" in first:
            return "gancio"
        return None
    if not isinstance(data, dict):
        return None
    events = data.get("events")
    if isinstance(events, list):
        first = next((item for item in events if isinstance(item, dict)), None)
        if first is None:
            return "tribe-events" if "rest_url" in data else "openagenda"
        if "timings" in first or "firstTiming" in first:
            return "openagenda"
        if "utc_start_date" in first or "start_date_details" in first:
            return "tribe-events"
    if isinstance(data.get("event"), dict) and "timings" in data["event"]:
        return "openagenda"
    return None


def parse_json(document: Document, source: Source, context: ParseContext) -> ParseResult:
    """Read a platform's JSON export (Gancio, OpenAgenda, The Events Calendar)."""
    data = _load_json(document.text)
    if data is None:
        raise ParseError(
            source.id,
            "the answer is not valid JSON; check the url in sources.yaml",
            url=document.url,
        )
    if isinstance(data, dict) and "jsonfeed.org" in str(data.get("version", "")):
        from aggregator.parsers import feed  # a JSON Feed is a feed, feedparser reads it

        return feed.parse(document, source, context)
    shape = _json_shape(data)
    if shape is None:
        raise ParseError(
            source.id,
            "JSON of an unknown kind: aggregator reads the JSON of Gancio, OpenAgenda and "
            "The Events Calendar; use the site's iCal export instead",
            url=document.url,
        )
    reader = _READERS[shape]
    items = _items(data, shape)
    result = ParseResult(items=len(items))
    for index, item in enumerate(items):
        try:
            event = reader(item, document, source, context)
        except (KeyError, TypeError, ValueError) as exc:
            result.warnings.append(f"item {index + 1} skipped: {exc}")
            continue
        if event is None:
            result.warnings.append(f"item {index + 1} skipped: no start date")
            continue
        result.events.append(event)
    return result


def _items(data: Any, shape: str) -> list[dict[str, Any]]:
    if shape == "gancio":
        raw: Iterable[Any] = data
    elif isinstance(data, dict) and isinstance(data.get("events"), list):
        raw = data["events"]
    else:
        raw = [data.get("event")]
    return [item for item in raw if isinstance(item, dict)]


def _zone(name: Any, fallback: Any) -> Any:
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return fallback


def _gancio_event(
    item: dict[str, Any], document: Document, source: Source, context: ParseContext
) -> Event | None:
    start_ts = item.get("start_datetime")
    if not isinstance(start_ts, int | float) or isinstance(start_ts, bool):
        return None
    # Gancio stores UNIX seconds; people read them in the instance's zone, ours by default.
    start = datetime.fromtimestamp(start_ts, UTC).astimezone(context.tz)
    end_ts = item.get("end_datetime")
    end = (
        datetime.fromtimestamp(end_ts, UTC).astimezone(context.tz)
        if isinstance(end_ts, int | float) and not isinstance(end_ts, bool) and end_ts >= start_ts
        else None
    )
    title = clean_title(item.get("title"))
    base = _origin(document.url)
    slug = item.get("slug") or item.get("id")
    url = f"{base}/event/{slug}" if slug else None
    place = item.get("place") if isinstance(item.get("place"), dict) else {}
    tags = [t.get("tag") if isinstance(t, dict) else t for t in item.get("tags") or ()]
    location = parse_location(place.get("address"), source.city, name=place.get("name") or None)
    uid = f"{item['id']}@{urlsplit(document.url).hostname}" if "id" in item else None
    return Event(
        source_id=source.id,
        source_uid=uid or fingerprint(title, start, url),
        title=title or "(sans titre)",
        start=start,
        end=end,
        location=location,
        url=url,
        description=clean_description(item.get("description")),
        categories=clean_categories([t for t in tags if isinstance(t, str)]),
        last_modified=_stamp(item.get("updatedAt")),
        origin=ORIGIN_STRUCTURED,
    )


def _localized(value: Any) -> str:
    """OpenAgenda's multilingual fields: {"fr": "…", "en": "…"}; French first."""
    if isinstance(value, dict):
        for lang in ("fr", "br", "en"):
            if isinstance(value.get(lang), str) and value[lang].strip():
                return value[lang]
        return next((v for v in value.values() if isinstance(v, str) and v.strip()), "")
    return value if isinstance(value, str) else ""


# OpenAgenda's event status codes (6: cancelled); the others are kept as confirmed.
_OPENAGENDA_CANCELLED: Final = 6


def _openagenda_event(
    item: dict[str, Any], document: Document, source: Source, context: ParseContext
) -> Event | None:
    timings = [t for t in item.get("timings") or () if isinstance(t, dict)]
    if not timings and isinstance(item.get("firstTiming"), dict):
        timings = [item["firstTiming"]]
    dated = [
        (parse_datetime_text(t.get("begin")), parse_datetime_text(t.get("end"))) for t in timings
    ]
    dated = [(b, e) for b, e in dated if isinstance(b, datetime)]
    if not dated:
        return None
    tz = _zone(item.get("timezone"), context.tz)
    # An agenda lists every session of an event; the next one (or the last) is what is upcoming.
    upcoming = [(b, e) for b, e in dated if (e or b) >= context.now] or dated[-1:]
    begin, end = upcoming[0]
    start = begin if begin.tzinfo else begin.replace(tzinfo=tz)
    finish = end if isinstance(end, datetime) else None
    if finish is not None and finish.tzinfo is None:
        finish = finish.replace(tzinfo=tz)
    title = clean_title(_localized(item.get("title")))
    place = item.get("location") if isinstance(item.get("location"), dict) else {}
    location = parse_location(
        None,
        source.city,
        name=place.get("name"),
        address=place.get("address"),
        postcode=place.get("postalCode"),
        city=place.get("city"),
    )
    keywords = item.get("keywords")
    words = keywords.get("fr") if isinstance(keywords, dict) else keywords
    slug = item.get("slug")
    agenda = (
        (item.get("originAgenda") or {}).get("slug")
        if isinstance(item.get("originAgenda"), dict)
        else None
    )
    url = item.get("onlineAccessLink") or None
    if slug and agenda:
        url = f"https://openagenda.com/{agenda}/events/{slug}"
    description = _localized(item.get("longDescription")) or _localized(item.get("description"))
    uid = f"openagenda:{item['uid']}" if "uid" in item else fingerprint(title, start, url)
    return Event(
        source_id=source.id,
        source_uid=uid,
        title=title or "(sans titre)",
        start=start,
        end=finish if finish and finish >= start else None,
        location=location,
        url=url,
        description=clean_description(description),
        categories=clean_categories([w for w in words or () if isinstance(w, str)]),
        status=CANCELLED if item.get("status") == _OPENAGENDA_CANCELLED else CONFIRMED,
        last_modified=_stamp(item.get("updatedAt")),
        origin=ORIGIN_STRUCTURED,
    )


def _tribe_event(
    item: dict[str, Any], document: Document, source: Source, context: ParseContext
) -> Event | None:
    tz = _zone(item.get("timezone"), context.tz)
    all_day = bool(item.get("all_day"))
    # utc_start_date is unambiguous; start_date is wall time in the event's zone.
    utc_start = parse_datetime_text(item.get("utc_start_date"))
    local_start = parse_datetime_text(item.get("start_date"))
    if isinstance(utc_start, datetime) and not all_day:
        start = utc_start.replace(tzinfo=UTC).astimezone(tz)
        utc_end = parse_datetime_text(item.get("utc_end_date"))
        end = utc_end.replace(tzinfo=UTC).astimezone(tz) if isinstance(utc_end, datetime) else None
    elif isinstance(local_start, datetime):
        start = local_start.replace(tzinfo=tz)
        local_end = parse_datetime_text(item.get("end_date"))
        end = local_end.replace(tzinfo=tz) if isinstance(local_end, datetime) else None
    else:
        return None
    if all_day:
        start = start.replace(hour=0, minute=0, second=0)
        end = None if end is None else end.replace(hour=0, minute=0, second=0)
    title = clean_title(item.get("title"))
    venue = item.get("venue") if isinstance(item.get("venue"), dict) else {}
    location = parse_location(
        None,
        source.city,
        name=venue.get("venue"),
        address=venue.get("address"),
        postcode=venue.get("zip"),
        city=venue.get("city"),
    )
    names = [
        c.get("name")
        for key in ("categories", "tags")
        for c in item.get(key) or ()
        if isinstance(c, dict)
    ]
    url = item.get("url") or None
    return Event(
        source_id=source.id,
        source_uid=f"tribe:{item['id']}" if "id" in item else fingerprint(title, start, url),
        title=title or "(sans titre)",
        start=start,
        end=end if end is not None and end > start else None,
        all_day=all_day,
        location=location,
        url=url,
        description=clean_description(item.get("description")),
        categories=clean_categories([n for n in names if isinstance(n, str)]),
        last_modified=_stamp(item.get("modified_utc"), utc=True),
        origin=ORIGIN_STRUCTURED,
    )


def _stamp(value: Any, *, utc: bool = False) -> datetime | None:
    parsed = parse_datetime_text(value) if isinstance(value, str) else None
    if not isinstance(parsed, datetime):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC) if utc else None


_READERS: Final[
    dict[str, Callable[[dict[str, Any], Document, Source, ParseContext], Event | None]]
] = {
    "gancio": _gancio_event,
    "openagenda": _openagenda_event,
    "tribe-events": _tribe_event,
}
