"""sources.html: every registered collective, its link and the health of its source.

Collectives come here to see why their events are missing: when we last read their calendar,
how many events we found, and the last error in plain French (the technical message stays
available under "Détail technique" for whoever fixes it).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aggregator.clashes import Clash, find_clashes
from aggregator.config import Config
from aggregator.models import FETCH_FAILED, Event
from aggregator.publish.atomic import write_if_changed
from aggregator.publish.html import (
    SOURCES_FILE,
    all_day_span,
    common_context,
    french_date,
    french_datetime,
    http_url,
    place_line,
    render_template,
    sort_events,
    when_text,
)
from aggregator.publish.ical import published_events

if TYPE_CHECKING:
    from aggregator.store import SourceHealth

# (pattern on the English reason, French explanation); the first match wins.
_FRENCH_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), text)
    for pattern, text in (
        (r"HTTP (404|410)", "l’adresse n’existe plus sur le site (erreur {0}) : a-t-elle changé ?"),
        (r"HTTP (401|403)", "le site refuse de nous donner la page (erreur {0})"),
        (r"HTTP (429)", "le site nous demande de revenir plus tard (erreur {0})"),
        (r"HTTP (5\d\d)", "le serveur du site a eu un problème (erreur {0}), sans doute passager"),
        (r"HTTP (\d{3})", "le site a répondu par une erreur (code {0})"),
        (r"timed out", "le site n’a pas répondu à temps"),
        (r"could not resolve host", "le nom du site est introuvable (nom de domaine expiré ?)"),
        (r"connection refused", "personne ne répond à cette adresse : le site semble arrêté"),
        (r"secure connection|certificate", "la connexion sécurisée a échoué (certificat ?)"),
        (r"too many redirects", "le site renvoie d’adresse en adresse sans fin"),
        (r"larger than", "le document est trop volumineux pour être lu"),
        (r"closed the connection", "le site a coupé la connexion"),
        (r"invalid address", "l’adresse enregistrée n’est pas valide"),
        (r"compress", "le site envoie un document mal compressé"),
        (r"not (an? )?(valid )?(ical|icalendar|calendar)", "le document n’est pas un calendrier"),
        (r"not (an? )?(rss|atom|feed)", "le document n’est pas un flux RSS ou Atom"),
        (r"empty", "le document reçu est vide"),
        (r"network error|request failed", "erreur réseau en lisant le site"),
    )
)


def french_error(reason: str | None) -> str | None:
    """A fetch or parse failure said in plain French for the collective."""
    if not reason:
        return None
    for pattern, text in _FRENCH_ERRORS:
        match = pattern.search(reason)
        if match:
            return text.format(*match.groups()) if match.groups() else text
    return "le document n’a pas pu être lu"


def french_notice(notice: str | None) -> str | None:
    """The store's remark about a source (held-back removals, unstable UIDs) in French."""
    if not notice:
        return None
    parts = []
    if "UID" in notice:
        parts.append(
            "la source change les identifiants de ses événements à chaque lecture : nous les "
            "reconnaissons à leur titre, leur date et leur lieu"
        )
    if held := re.search(r"kept (\d+) of (\d+) upcoming events", notice):
        parts.append(
            f"nous gardons encore {held[1]} des {held[2]} événements à venir que la source "
            "n’annonce plus (page cassée ou export vide ?) ; ils seront retirés si cela dure"
        )
    return " ; ".join(parts) or "la lecture de cette source demande une attention particulière"


@dataclass(frozen=True, slots=True)
class _Row:
    id: str
    name: str
    href: str | None
    source_url: str
    city: str | None
    state: str
    state_class: str
    last_success: str | None
    last_success_iso: str | None
    events_found: int | None
    upcoming: int
    error: str | None
    detail: str | None
    notice: str | None
    feed: str | None


CLASH_DAYS = 60
"""How far ahead the page lists clashes: a planning aid for the coming weeks."""


@dataclass(frozen=True, slots=True)
class _ClashEvent:
    title: str
    when: str
    where: str
    collectives: str
    url: str | None


@dataclass(frozen=True, slots=True)
class _ClashRow:
    day: str
    area: str
    tags: str
    first: _ClashEvent
    second: _ClashEvent


def _clash_event(event: Event, config: Config) -> _ClashEvent:
    tz = config.agenda.tz
    day = all_day_span(event, tz)[0] if event.all_day else event.start.astimezone(tz).date()
    when = when_text(event, tz)
    names = {s.id: s.name for s in config.sources}
    refs = [ref.name or names.get(ref.id, ref.id) for ref in event.sources]
    return _ClashEvent(
        title=event.title,
        when=when if when.startswith("du ") else f"{french_date(day)}, {when}",
        where=place_line(event.location),
        collectives=", ".join(refs or [names.get(event.source_id, event.source_id)]),
        url=http_url(event.url),
    )


def _clash_rows(clashes: Sequence[Clash], config: Config) -> list[_ClashRow]:
    tz = config.agenda.tz
    return [
        _ClashRow(
            day=french_date(c.first.start.astimezone(tz).date()),
            area=c.area,
            tags=", ".join(c.tags),
            first=_clash_event(c.first, config),
            second=_clash_event(c.second, config),
        )
        for c in clashes
    ]


def shown_health(health: Sequence[SourceHealth] | None) -> tuple[object, ...]:
    """What sources.html shows of the sources' health, and nothing else: a run where only other
    fields changed (HTTP 304 instead of 200, the validators) leaves the page as it was.

    `render_sources_page` reads exactly these fields; keep the two together.
    """
    if health is None:
        return (None,)
    rows = tuple(
        (
            h.id,
            h.last_attempt is None,
            h.last_outcome == FETCH_FAILED,
            h.last_success,
            h.events_found,
            h.last_error,
            getattr(h, "notice", None),
        )
        for h in health
    )
    return (*rows, _last_checked(health))


def _last_checked(health: Sequence[SourceHealth] | None) -> datetime | None:
    """When we last asked any source for its events (the page says it)."""
    attempts = [h.last_attempt for h in health or () if h.last_attempt is not None]
    return max(attempts) if attempts else None


def render_sources_page(
    config: Config,
    events: Sequence[Event],
    health: Sequence[SourceHealth] | None,
    now: datetime,
) -> bytes:
    """The page as UTF-8 bytes; `health` is the store's view of each source (None: unknown)."""
    tz = config.agenda.tz
    by_id = {h.id: h for h in health or ()}
    upcoming = Counter(ref.id for e in events for ref in e.sources)
    rows = []
    for source in config.sources:
        h = by_id.get(source.id)
        failed = h is not None and h.last_outcome == FETCH_FAILED
        if not source.enabled:
            state, css = "désactivé", "health-off"
        elif h is None or h.last_attempt is None:
            state, css = "pas encore consulté", "health-unknown"
        elif failed:
            state, css = "en échec", "health-failed"
        else:
            state, css = "à jour", "health-ok"
        error = h.last_error if h is not None and failed else None
        rows.append(
            _Row(
                id=source.id,
                name=source.name,
                href=http_url(source.website) or http_url(source.url),
                source_url=source.url,
                city=source.city,
                state=state,
                state_class=css,
                last_success=french_datetime(h.last_success, tz)
                if h is not None and h.last_success
                else None,
                last_success_iso=h.last_success.astimezone(tz).isoformat(timespec="seconds")
                if h is not None and h.last_success
                else None,
                events_found=h.events_found if h is not None else None,
                upcoming=upcoming.get(source.id, 0),
                error=french_error(error),
                detail="\n".join(p for p in (error, getattr(h, "notice", None)) if p) or None,
                # What the store holds back or works around for this source, when it says so.
                notice=french_notice(getattr(h, "notice", None)),
                feed=f"collectifs/{source.id}.ics" if source.enabled else None,
            )
        )
    failing = sum(1 for r in rows if r.state_class == "health-failed")
    checked = _last_checked(health)
    return render_template(
        "sources.html.j2",
        SOURCES_FILE,
        **common_context(config, ""),
        page_title=f"Les collectifs – {config.agenda.title}",
        rows=rows,
        failing=failing,
        clashes=_clash_rows(find_clashes(events, config, now, days=CLASH_DAYS), config),
        clash_days=CLASH_DAYS,
        # In place of a "generated on" time: the page changes when the sources were read again.
        last_checked=french_datetime(checked, tz) if checked else None,
        last_checked_iso=checked.astimezone(tz).isoformat(timespec="seconds") if checked else None,
    )


def write_sources_page(
    config: Config,
    events: Sequence[Event],
    health: Sequence[SourceHealth] | None,
    now: datetime,
    out_dir: Path,
) -> Path:
    """Write sources.html alone, as `publish_all` would from the same upcoming `events` (a
    publication where only the sources' health changed); return its path."""
    shown = sort_events(published_events(events, config.agenda))
    path = Path(out_dir) / SOURCES_FILE
    write_if_changed(path, render_sources_page(config, shown, health, now))
    return path
