"""What a list page shows: the quick spans (« Aujourd'hui », « Ce week-end »…) and series folding.

Both are pure functions over sorted events, shared by the pre-rendered pages (no JavaScript) and by
the data the page's script filters on, so the two always agree:

- A *span* is a run of whole days in the agenda's zone; an event belongs to it when one of its days
  does (`event_days`), so a festival that started yesterday is still "aujourd'hui".
- A *series* is a set of occurrences from one source with the same title and place, at the same
  time of day and lasting as long, every one, two… or four weeks (`find_series`). The list shows it
  once (« chaque mercredi · prochaines dates : … »); the calendar and the feeds keep every date.
  Occurrences before today and cancelled ones are never folded: each keeps its own card.
"""

from __future__ import annotations

import functools
import itertools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta, tzinfo

from babel.dates import format_date

from aggregator.models import CANCELLED, Event, Location

LOCALE = "fr_FR"

# Key (also the page name under quand/ and the URL fragment), label.
QUICK_SPANS: tuple[tuple[str, str], ...] = (
    ("aujourdhui", "Aujourd’hui"),
    ("ce-week-end", "Ce week-end"),
    ("cette-semaine", "Cette semaine"),
    ("ce-mois-ci", "Ce mois-ci"),
)
QUICK_DIR = "quand"
# A weekly series every 1 to MAX_WEEKS weeks, with at least MIN_OCCURRENCES dates.
MAX_WEEKS = 4
MIN_OCCURRENCES = 3


@functools.lru_cache(maxsize=65536)
def place_line(location: Location) -> str:
    """`location.one_line()`, made once per place: every output says where each event is."""
    return location.one_line()


def span_days(key: str, today: date) -> tuple[date, date]:
    """First and last day (inclusive) of a quick span seen from `today`.

    Weeks start on Monday, as in France. "Ce week-end" is the coming Saturday and Sunday (today
    and tomorrow on a Saturday, today on a Sunday); "cette semaine" and "ce mois-ci" run from
    today to the end of the week or month.
    """
    weekday = today.weekday()  # Monday 0 … Sunday 6
    sunday = today + timedelta(days=6 - weekday)
    if key == "aujourdhui":
        return today, today
    if key == "ce-week-end":
        return max(today, sunday - timedelta(days=1)), sunday
    if key == "cette-semaine":
        return today, sunday
    if key == "ce-mois-ci":
        following = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
        return today, following - timedelta(days=1)
    raise ValueError(f"unknown span {key!r}")


def event_days(event: Event, tz: tzinfo) -> tuple[date, date]:
    """First and last local day an event covers; an end at midnight belongs to the day before."""
    start = event.start.astimezone(tz)
    end = event.effective_end.astimezone(tz)
    last = end.date()
    if end.time() == time(0) and end > start:
        last -= timedelta(days=1)
    return start.date(), max(start.date(), last)


def in_span(event: Event, tz: tzinfo, first: date, last: date) -> bool:
    start, end = event_days(event, tz)
    return start <= last and end >= first


@dataclass(frozen=True, slots=True)
class Series:
    """Occurrences shown as one card: `rule` says how often ("chaque mercredi")."""

    rule: str
    events: tuple[Event, ...]  # sorted, the first is the card's own date


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _weekday(day: date) -> str:
    return format_date(day, "EEEE", locale=LOCALE)


def _rule(weeks: int, day: date) -> str:
    name = _weekday(day)
    if weeks == 1:
        return f"chaque {name}"
    if weeks == 2:
        return f"un {name} sur deux"
    return f"un {name} toutes les {weeks} semaines"


def find_series(events: Sequence[Event], tz: tzinfo, today: date) -> dict[int, Series]:
    """Every series among `events` (sorted), by `id()` of each of its occurrences."""
    groups: dict[tuple[str, str, str, time, timedelta, bool], list[Event]] = {}
    for event in events:
        if event.status == CANCELLED:
            continue
        local = event.start.astimezone(tz)
        if local.date() < today:
            continue
        key = (
            event.source_id,
            _fold(event.title),
            _fold(place_line(event.location)),
            local.time(),
            event.effective_end - event.start,
            event.all_day,
        )
        groups.setdefault(key, []).append(event)
    found: dict[int, Series] = {}
    for members in groups.values():
        if len(members) < MIN_OCCURRENCES:
            continue
        days = [m.start.astimezone(tz).date() for m in members]
        gaps = [(b - a).days for a, b in itertools.pairwise(days)]
        if any(g <= 0 or g % 7 or g > 7 * MAX_WEEKS for g in gaps):
            continue
        series = Series(_rule(min(gaps) // 7, days[0]), tuple(members))
        for member in members:
            found[id(member)] = series
    return found
