"""Clash warnings: upcoming events of different collectives, same town, same time, same theme.

Collectives ask "is anything else on that evening?". A clash is two upcoming events, announced by
disjoint sets of collectives, in the same town (or, with `postcode_digits`, in the same postcode
area: "29" is the Finistère, "292" the Brest area), overlapping in time and sharing a tag (their
own categories or their collectives' tags). It is a planning aid only: nothing is merged.

Without coordinates for every event, a distance in kilometres cannot be computed honestly; the
postcode prefix is the configurable "distance" (fewer digits, wider area).
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from aggregator.config import Config
from aggregator.models import CANCELLED, Event

__all__ = ["DEFAULT_DURATION", "Clash", "find_clashes"]

DEFAULT_DURATION: Final = timedelta(hours=2)
"""How long an event without an end is taken to last."""


@dataclass(frozen=True, slots=True)
class Clash:
    """Two events that overlap: where (town or postcode area) and the tags they share."""

    first: Event
    second: Event
    area: str
    tags: tuple[str, ...]


def _fold(text: str) -> str:
    """Town names compared without case, accents, hyphens or apostrophes (Plouzané, plouzane)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(ascii_text.casefold().replace("-", " ").replace("'", " ").split())


def _collectives(event: Event) -> frozenset[str]:
    return frozenset(ref.id for ref in event.sources) or frozenset({event.source_id})


def _tags(event: Event, source_tags: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Folded tag → as written, from the event's categories and its collectives' tags."""
    names: list[str] = list(event.categories)
    for source_id in _collectives(event):
        names.extend(source_tags.get(source_id, ()))
    return {_fold(name): name for name in names if name.strip()}


def _end(event: Event) -> datetime:
    end = event.effective_end
    return end if end > event.start else event.start + DEFAULT_DURATION


def find_clashes(
    events: Iterable[Event],
    config: Config,
    now: datetime,
    *,
    postcode_digits: int | None = None,
    days: int | None = None,
) -> list[Clash]:
    """Every clash among the upcoming events (within `days` when given), soonest first."""
    source_city = {s.id: s.city for s in config.sources}
    source_tags = {s.id: s.tags for s in config.sources}
    horizon = now + timedelta(days=days) if days is not None else None
    areas: dict[str, list[Event]] = defaultdict(list)
    labels: dict[str, str] = {}
    for event in events:
        if event.status == CANCELLED or _end(event) < now:
            continue
        if horizon is not None and event.start > horizon:
            continue
        key, label = _area(event, source_city, postcode_digits)
        if key:
            areas[key].append(event)
            labels.setdefault(key, label)
    clashes: list[Clash] = []
    for key, members in areas.items():
        clashes.extend(_sweep(members, labels[key], source_tags))
    clashes.sort(key=lambda c: (c.first.start, c.second.start, c.area, c.first.title))
    return clashes


def _area(
    event: Event, source_city: dict[str, str | None], postcode_digits: int | None
) -> tuple[str, str]:
    if postcode_digits:
        postcode = (event.location.postcode or "").strip()
        if len(postcode) >= postcode_digits and postcode[:postcode_digits].isdigit():
            prefix = postcode[:postcode_digits]
            return f"cp:{prefix}", f"{prefix}…"
    city = event.location.city or next(
        (source_city.get(i) for i in sorted(_collectives(event)) if source_city.get(i)), None
    )
    return (f"town:{_fold(city)}", city) if city else ("", "")


def _sweep(
    members: Sequence[Event], area: str, source_tags: dict[str, tuple[str, ...]]
) -> list[Clash]:
    """Pairs that overlap in time, by a sweep over the events sorted by start."""
    ordered = sorted(members, key=lambda e: (e.start, e.title))
    found: list[Clash] = []
    active: list[Event] = []
    for event in ordered:
        active = [other for other in active if _end(other) > event.start]
        for other in active:
            if _collectives(other) & _collectives(event):
                continue
            mine, theirs = _tags(other, source_tags), _tags(event, source_tags)
            shared = sorted(set(mine) & set(theirs))
            if shared:
                where = area if area.endswith("…") else other.location.city or area
                found.append(Clash(other, event, where, tuple(mine[t] for t in shared)))
        active.append(event)
    return found
