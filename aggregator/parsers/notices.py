"""Status notices: a post that cancels events announced elsewhere in the same feed.

"En raison du confinement, les activités de cette semaine (Musique, Cuisine et Soirée
Halloween) sont annulées." names no date: it refers to a period ("cette semaine", "ce
week-end", "demain") and to events by their names. Such a post is not a new event; it marks the
events of its feed that fall in that period and carry one of those names (or, when it speaks of
the events collectively — "les activités", "les ateliers" — every event of the period, or when it
names nothing, the only event of the period) as cancelled. Matching across sources is the
deduplicator's work, not this module's.

A notice that gives its dates ("L'atelier du 12 mai est annulé") is read by `prose` itself: those
dates become events published as cancelled.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Final

from aggregator.models import CANCELLED, Event

_CANCEL_RE: Final = re.compile(
    # Not "supprimé": "les frais sont aujourd'hui supprimés" cancels nothing.
    r"(?<![\w])(?:annulée?s?|annulation|n['’]aura\s+pas\s+lieu|"
    r"n['’]auront\s+pas\s+lieu|cancelled|canceled)(?![\w])"
)
_PERIOD_RE: Final = re.compile(
    r"(?<![\w])(?P<period>cette\s+semaine|ce\s+week-?end|ce\s+soir|aujourd['’]hui|demain|"
    r"ce\s+mois-ci|ce\s+mois)(?![\w])"
)
# Words that speak of events collectively: with no name matching, they mean every event.
_COLLECTIVE_WORDS: Final = (
    "activités ateliers événements séances animations rendez-vous permanences cours "
    "rencontres sorties manifestations"
)
# Words too common to identify an event by name.
_COMMON_WORDS: Final = (
    "activité atelier événement séance animation soirée rendez-vous permanence cours rencontre "
    "sortie cette semaine week-end raison annulée annulé annulation sont nous vous avec pour "
    "dans leur notre votre plus tous toutes tout toute prévu prévue mois soir demain "
    "aujourd'hui suite"
)
_WORD_RE: Final = re.compile(r"[^\W\d_][\w'’-]{3,}")


@dataclass(frozen=True, slots=True)
class Notice:
    """A cancellation that names a period and, maybe, the events it cancels."""

    first: date
    last: date
    names: frozenset[str]
    collective: bool
    evidence: str


def read_notice(text: str, title: str, published: datetime | None, tz: tzinfo) -> Notice | None:
    """The notice in a post's text, when one of its sentences cancels a period's events."""
    if published is None or not (
        _CANCEL_RE.search(text.lower()) or _CANCEL_RE.search(title.lower())
    ):
        return None  # the cheap test first: most posts cancel nothing
    reference = published.astimezone(tz).date()
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", f"{title}\n{text}"):
        low = sentence.lower()
        cancel = _CANCEL_RE.search(low)
        period = _PERIOD_RE.search(low)
        if cancel is None or period is None:
            continue
        first, last = _period(period["period"], reference)
        words = _words(low)
        return Notice(
            first=first,
            last=last,
            names=frozenset(words - _words(_COMMON_WORDS)),
            collective=bool(words & _words(_COLLECTIVE_WORDS)),
            evidence=sentence.strip(),
        )
    return None


def apply_notices(events: list[Event], notices: list[Notice], tz: tzinfo) -> list[Event]:
    """`events` with those the notices cancel marked cancelled (same order)."""
    result = list(events)
    for notice in notices:
        inside = [
            index
            for index, event in enumerate(result)
            if notice.first <= event.start.astimezone(tz).date() <= notice.last
        ]
        named = [index for index in inside if notice.names & _words(result[index].title)]
        if named:
            chosen = named
        elif notice.collective or len(inside) == 1:
            chosen = inside
        else:
            chosen = []
        for index in chosen:
            result[index] = replace(result[index], status=CANCELLED)
    return result


def _period(word: str, reference: date) -> tuple[date, date]:
    word = " ".join(word.split())
    if word == "demain":
        day = reference + timedelta(days=1)
        return day, day
    if word in ("ce soir", "aujourd'hui", "aujourd’hui"):
        return reference, reference
    if word.startswith("ce week"):
        saturday = reference + timedelta(days=(5 - reference.weekday()) % 7)
        if reference.weekday() == 6:
            saturday = reference - timedelta(days=1)
        return max(saturday, reference), saturday + timedelta(days=1)
    if word.startswith("ce mois"):
        following = date(reference.year + reference.month // 12, reference.month % 12 + 1, 1)
        return reference, following - timedelta(days=1)
    # "cette semaine": from the notice's day to Sunday; what is already past is not cancelled.
    return reference, reference + timedelta(days=6 - reference.weekday())


@functools.lru_cache(maxsize=256)
def _words(text: str) -> frozenset[str]:
    return frozenset(_fold(word) for word in _WORD_RE.findall(text.lower()))


def _fold(word: str) -> str:
    """A word without accents or a plural "s": "Activités" and "activite" are one word."""
    plain = unicodedata.normalize("NFKD", word)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).replace("’", "'")
    return plain[:-1] if plain.endswith("s") and len(plain) > 4 else plain
