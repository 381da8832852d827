"""Recognise the same event announced by several sources, and merge what they say.

Pure functions, no I/O; the store calls them for a fetched source's new or changed records
(incremental path, `match_pairs(queries, pool)`) and for every record at once (bulk path,
`match_pairs(records)`): both go through the same blocking and the same `compare`.

Matching:
  1. Blocking: two records are compared only when their LOCAL days (agenda zone) overlap — same
     day, or overlapping spans for multi-day events — and their titles share the stem (first 4
     letters) of a distinctive word: one that is not generic like "atelier" or "apéro", unless a
     title has only generic words. Cost grows with the events per day, not n².
  2. `compare` scores a pair: title similarity (rapidfuzz on normalized titles), start-time
     agreement and place agreement, weighted into one score. Hard vetoes keep apart what cannot
     be one event whatever the titles say: same source, starts more than 30 min apart, different
     towns, different street addresses.
  3. `cluster` joins pairs above the threshold, best first, never putting two records of one
     source or two vetoed records in the same cluster (no transitive chaining through a
     date-only record).

Merging: `merge` builds the canonical fields of a cluster with the precedence table `MERGE_RULES`.
Cancellation: the status is that of the first record in precedence order (the organizer's own
calendar, in practice); a secondary listing saying "cancelled" does not cancel the event.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz

from aggregator.models import (
    CANCELLED,
    ORIGIN_FEED,
    ORIGIN_ICAL,
    ORIGIN_PROSE,
    ORIGIN_SELECTOR,
    ORIGIN_STRUCTURED,
)

DEFAULT_THRESHOLD: Final = 0.75
# Weights of the three agreements in the score; the title dominates.
TITLE_WEIGHT: Final = 0.6
TIME_WEIGHT: Final = 0.2
PLACE_WEIGHT: Final = 0.2
# Below this title similarity nothing is merged, however well time and place agree: two
# different events at the same place and time are common (parallel workshops, kids' and adults'
# sessions), so time and place alone must never carry a weak title over the threshold.
MIN_TITLE: Final = 0.7
NEAR_MINUTES: Final = 30
# A multi-day event is blocked on at most this many days (a 3-month exhibition would otherwise be
# compared with everything); overlap is still found through its first weeks.
MAX_BLOCK_DAYS: Final = 14
STEM: Final = 4


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """What the matcher needs from the configuration: the agenda zone and the threshold."""

    tz: tzinfo = field(default_factory=lambda: ZoneInfo("Europe/Paris"))
    threshold: float = DEFAULT_THRESHOLD


# -- normalization -------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_BRACKET_PREFIX = re.compile(r"^\s*(?:\[[^\]]{0,40}\]|\{[^}]{0,40}\})\s*")
_CLOCK = re.compile(r"\b\d{1,2}\s*h\s*\d{0,2}\b")
_NUMERIC_DATE = re.compile(r"\b\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?\b")
_MONTHS = "janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre|decembre"
# On folded text: "samedi 13 juin 2026", "1er mai", a year.
_WORDY_DATE = re.compile(rf"\b(?:\d{{1,2}}(?:er)? (?:{_MONTHS})(?: \d{{4}})?|20\d\d)\b")
_STOP_WORDS: Final = _words(
    """
    a au aux avec ce ces chez d dans de des du en et l la le les leur n ou par pour qu que
    s sa se ses son sur un une vos votre nos notre y qui est
    the of and at in on for with to by
    agenda evenement event rdv rendez vous annule annulee annulation complet reporte
    lundi mardi mercredi jeudi vendredi samedi dimanche
    janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre
    """
)
# Words shared by many different events: sharing only these does not make two titles alike.
GENERIC_WORDS: Final = _words(
    """
    atelier ateliers apero aperitif soiree soirees rencontre rencontres permanence permanences
    conference conferences formation formations reunion session seance club cafe repair
    initiation initiations decouverte numerique numeriques libre libres logiciel logiciels
    journee journees fete festival stage stages animation animations mensuel mensuelle
    hebdomadaire groupe collectif fablab fab lab cantine tiers lieu
    enfants enfant famille familles ados adultes debutant debutants debutantes avance avances
    seniors tous public gratuit ouvert ouverte
    """
)


_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


_DIGIT = re.compile(r"\d")


def fold(text: str) -> str:
    """Casefold, strip accents, turn punctuation and emoji into spaces: "Apéro !" → "apero"."""
    text = text.casefold()
    without_marks = (
        text if text.isascii() else _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    )
    return " ".join(_NON_WORD.sub(" ", without_marks).split())


@lru_cache(maxsize=4096)
def _fold_cached(text: str) -> str:
    # Source names, towns and venues repeat across thousands of records.
    return fold(text)


def normalize_title(
    title: str, *, strip: Iterable[str] = (), hosts: HostNames | None = None
) -> str:
    """Title words that identify an event, e.g. "[Agenda] 12/05 Apéro numérique – 18h30" →
    "apero numerique": bracketed prefixes, dates, clock times, French stop words, weekdays and
    months removed, and each phrase of `strip` (the collective's own name, the town) cut out,
    then any other collective's name found in `hosts` ("… – La Vilaine Bidouille" in Agenda du
    Libre's listing). Other numbers stay ("niveau 2", "#13"). Never empty when the title had
    words: stripping stops short of erasing it.
    """
    words = list(_title_words(title))
    for phrase in strip:
        phrase_words = _fold_cached(phrase).split()
        if phrase_words and phrase_words[0] in words:
            cut = _cut_phrase(words, phrase_words)
            if cut:
                words = cut
    if hosts:
        for word in set(words) & hosts.keys():
            for phrase in hosts[word]:
                cut = _cut_phrase(words, list(phrase))
                if cut:
                    words = cut
    kept = [w for w in words if w not in _STOP_WORDS]
    return " ".join(kept) if kept else fold(title)


@lru_cache(maxsize=65536)
def _title_words(title: str) -> tuple[str, ...]:
    # Cached: recurring events repeat their titles all year, in every source.
    text = _BRACKET_PREFIX.sub("", title) if title.lstrip()[:1] in ("[", "{") else title
    has_digits = _DIGIT.search(text) is not None
    if has_digits:
        text = _NUMERIC_DATE.sub(" ", _CLOCK.sub(" ", text))
    folded = fold(text)
    return tuple((_WORDY_DATE.sub(" ", folded) if has_digits else folded).split())


HostNames = Mapping[str, tuple[tuple[str, ...], ...]]


@dataclass(frozen=True, slots=True)
class SourceNames:
    """The registered sources' names: each record's own (cut from its titles) and every
    distinctive one, indexed by its first distinctive word, to cut a host's name from another
    source's title."""

    by_id: Mapping[str, str]
    hosts: HostNames

    def get(self, source_id: str) -> str | None:
        return self.by_id.get(source_id)


def source_names(by_id: Mapping[str, str]) -> SourceNames:
    """Index names; generic ones ("Repair Café", "Fablab") are left out of `hosts`, since they
    are also what events are called."""
    hosts: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for name in sorted(set(by_id.values())):
        words = tuple(fold(name).split())
        # Indexed by the first distinctive word ("vilaine" for "La Vilaine Bidouille"): titles
        # are full of "la" and "atelier", rarely of "vilaine".
        key = next((w for w in words if w not in GENERIC_WORDS and w not in _STOP_WORDS), None)
        if key is not None:
            hosts[key].append(words)
    return SourceNames(dict(by_id), {k: tuple(v) for k, v in hosts.items()})


def _cut_phrase(words: list[str], phrase: list[str]) -> list[str] | None:
    n = len(phrase)
    if not n or n >= len(words):
        return None  # never cut a title down to nothing
    for i in range(len(words) - n + 1):
        if words[i : i + n] == phrase:
            return words[:i] + words[i + n :]
    return None


_CITY_WORDS = {"st": "saint", "ste": "sainte"}
_STREET_WORDS = {
    "r": "rue",
    "av": "avenue",
    "ave": "avenue",
    "bd": "boulevard",
    "bld": "boulevard",
    "boul": "boulevard",
    "pl": "place",
    "imp": "impasse",
    "all": "allee",
    "ch": "chemin",
    "che": "chemin",
    "rte": "route",
    "sq": "square",
    "fg": "faubourg",
    "bis": "",
    "ter": "",
}
_ONLINE = frozenset({"en ligne", "online", "visio", "visioconference", "internet", "web"})


@lru_cache(maxsize=8192)
def normalize_city(city: str | None) -> str:
    """ "Saint-Brieuc Cedex 1" → "saint brieuc"; online pseudo-places give ""."""
    if not city:
        return ""
    words = [_CITY_WORDS.get(w, w) for w in fold(city).split()]
    if "cedex" in words:
        words = words[: words.index("cedex")]
    text = " ".join(w for w in words if not w.isdigit())
    return "" if text in _ONLINE else text


@lru_cache(maxsize=8192)
def normalize_street(address: str | None) -> str:
    """ "12, r. de la Gare" → "12 rue gare": abbreviations expanded, stop words dropped."""
    if not address:
        return ""
    words = [_STREET_WORDS.get(w, w) for w in fold(address).split()]
    return " ".join(w for w in words if w and w not in _STOP_WORDS)


@lru_cache(maxsize=8192)
def normalize_venue(name: str | None) -> str:
    if not name:
        return ""
    text = " ".join(w for w in fold(name).split() if w not in _STOP_WORDS)
    return "" if text in _ONLINE else text


# -- records -------------------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: a frozen __init__ costs twice as much, ×100,000 records
class MatchRecord:
    """The matcher's view of one source's record: normalized once, compared many times.
    Treat it as immutable."""

    key: str
    source_id: str
    title: str  # as published, for explanations
    norm_title: str
    words: frozenset[str]
    stems: frozenset[str]  # first letters of every title word
    keys: frozenset[str]  # stems of the distinctive (not generic) words, else all stems
    start: datetime
    start_ts: float
    all_day: bool
    days: tuple[date, ...]
    postcode: str
    city: str
    venue: str
    street: str


def make_record(
    key: str,
    source_id: str,
    title: str,
    start: datetime,
    end: datetime | None,
    all_day: bool,
    *,
    name: str | None,
    address: str | None,
    postcode: str | None,
    city: str | None,
    tz: tzinfo,
    strip: Iterable[str] = (),
    hosts: HostNames | None = None,
) -> MatchRecord:
    """Normalize one record for matching; `strip` lists phrases to cut from the title (the
    source's own name); the record's town and venue are cut too, since places are compared
    separately."""
    norm = normalize_title(title, strip=(*strip, *(p for p in (city, name) if p)), hosts=hosts)
    words = frozenset(norm.split())
    stems = frozenset(w[:STEM] for w in words if len(w) >= 2)
    distinctive = frozenset(w[:STEM] for w in words - GENERIC_WORDS if len(w) >= 2)
    first = start.astimezone(tz).date()
    days: tuple[date, ...] = (first,)
    if end is not None and end > start:
        # An end at local midnight belongs to the day before (iCalendar's exclusive end).
        last = (end.astimezone(tz) - timedelta(microseconds=1)).date()
        span = min((last - first).days, MAX_BLOCK_DAYS - 1)
        if span > 0:
            days = tuple(first + timedelta(days=i) for i in range(span + 1))
    return MatchRecord(
        key=key,
        source_id=source_id,
        title=title,
        norm_title=norm,
        words=words,
        stems=stems,
        keys=distinctive or stems,
        start=start,
        start_ts=start.timestamp(),
        all_day=all_day,
        days=days,
        postcode=(postcode or "").strip()[:5],
        city=normalize_city(city),
        venue=normalize_venue(name),
        street=normalize_street(address),
    )


def content_fingerprint(
    title: str, start: datetime, *, name: str | None, postcode: str | None, city: str | None
) -> str:
    """Identity from content for sources whose UIDs cannot be trusted: normalized title + start
    instant + place. Volatile fields (UIDs, DTSTAMP, descriptions) are left out."""
    place = normalize_city(city) or (postcode or "").strip() or normalize_venue(name)
    key = "\x1f".join((normalize_title(title), start.astimezone(UTC).isoformat(), place))
    return "fp:" + hashlib.sha1(key.encode("utf-8")).hexdigest()


# -- scoring -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """Why two records are, or are not, one event."""

    a: str
    b: str
    score: float
    title: float
    time: float
    place: float
    same: bool
    reasons: tuple[str, ...]
    veto: str | None = None

    def describe(self) -> str:
        verdict = "same event" if self.same else "kept apart"
        detail = "; ".join(self.reasons)
        return (
            f"{verdict}: score {self.score:.2f} (title {self.title:.2f}, time {self.time:.2f}, "
            f"place {self.place:.2f}) — {detail}"
        )


def title_similarity(a: MatchRecord, b: MatchRecord) -> tuple[float, str]:
    """rapidfuzz on normalized titles: token-set ratio (one title may add words, e.g. the host's
    name), unless the words in common are only generic ones ("atelier"), then token-sort."""
    if not comparable(a, b):
        return 0.0, "titles share no distinctive word"
    common = a.words & b.words
    extra_a, extra_b = a.words - b.words, b.words - a.words
    if common and common <= GENERIC_WORDS and a.words != b.words:
        value = fuzz.token_sort_ratio(a.norm_title, b.norm_title) / 100
        return value, f"titles share only generic words ({', '.join(sorted(common))})"
    if extra_a and extra_b:
        # Each title says something the other does not ("enfants" / "adultes"): the subset
        # forgiveness of token-set does not apply.
        numbers_a = {w for w in extra_a if w.isdigit()}
        numbers_b = {w for w in extra_b if w.isdigit()}
        if numbers_a and numbers_b:
            shown = f"{'/'.join(sorted(numbers_a))} vs {'/'.join(sorted(numbers_b))}"
            return 0.0, f"titles differ by their numbers ({shown})"
        value = fuzz.token_sort_ratio(a.norm_title, b.norm_title) / 100
        return value, f"titles {value:.0%} alike (each adds its own words)"
    value = fuzz.token_set_ratio(a.norm_title, b.norm_title) / 100
    return value, f"titles {value:.0%} alike"


def time_agreement(a: MatchRecord, b: MatchRecord) -> tuple[float, str, str | None]:
    """(score, reason, veto): exact start 1, within 30 min 0.7, one side date-only 0.6."""
    if a.all_day and b.all_day:
        same_first = a.days[0] == b.days[0]
        return (1.0 if same_first else 0.6), "both all-day, days overlap", None
    if a.all_day or b.all_day:
        timed, dated = (b, a) if a.all_day else (a, b)
        if timed.days[0] in dated.days:
            return 0.6, "one side gives only the date", None
        return 0.0, "date-only day does not contain the start", "different days"
    delta = abs(a.start_ts - b.start_ts) / 60
    if delta == 0:
        return 1.0, "same start", None
    if delta <= NEAR_MINUTES:
        return 0.7, f"starts {delta:.0f} min apart", None
    hours = delta / 60
    return 0.0, f"starts {hours:.1f} h apart", f"starts {hours:.1f} h apart"


def place_agreement(a: MatchRecord, b: MatchRecord) -> tuple[float, str, str | None]:
    """(score, reason, veto): same venue or street 1, same town 0.8, one side unknown 0.5."""
    if a.city and b.city and a.city != b.city and not (a.postcode and a.postcode == b.postcode):
        return 0.0, f"towns differ ({a.city} / {b.city})", f"different towns ({a.city} / {b.city})"
    if a.postcode and b.postcode and a.postcode != b.postcode and not (a.city and a.city == b.city):
        veto = f"different postcodes ({a.postcode} / {b.postcode})"
        return 0.0, veto, veto
    same_town = bool((a.city and a.city == b.city) or (a.postcode and a.postcode == b.postcode))
    streets = bool(a.street and b.street)
    same_street = streets and fuzz.token_sort_ratio(a.street, b.street) >= 90
    if streets and not same_street and _numbers(a.street) != _numbers(b.street):
        veto = f"different addresses ({a.street} / {b.street})"
        return 0.0, veto, veto
    venues = bool(a.venue and b.venue)
    same_venue = venues and fuzz.token_set_ratio(a.venue, b.venue) >= 80
    if same_street or same_venue:
        return 1.0, "same venue" if same_venue else "same street address", None
    if same_town:
        if venues:
            return 0.6, "same town, venues named differently", None
        return 0.8, "same town", None
    return 0.5, "place unknown on one side", None


def _numbers(street: str) -> tuple[str, ...]:
    return tuple(w for w in street.split() if w.isdigit())


def certainly_apart(a: MatchRecord, b: MatchRecord) -> bool:
    """A cheap subset of `compare`'s vetoes (same source, starts too far apart, different
    towns), so the bulk path skips the full scoring of pairs that can never match."""
    if a.source_id == b.source_id:
        return True
    if not a.all_day and not b.all_day and abs(a.start_ts - b.start_ts) > NEAR_MINUTES * 60:
        return True
    if a.city and b.city and a.city != b.city:
        return not (a.postcode and a.postcode == b.postcode)
    return False


def compare(a: MatchRecord, b: MatchRecord, threshold: float = DEFAULT_THRESHOLD) -> Decision:
    """Score one pair; `same` when the score reaches `threshold` and nothing vetoes it."""
    title, title_reason = title_similarity(a, b)
    time, time_reason, time_veto = time_agreement(a, b)
    place, place_reason, place_veto = place_agreement(a, b)
    score = TITLE_WEIGHT * title + TIME_WEIGHT * time + PLACE_WEIGHT * place
    veto: str | None = None
    if a.source_id == b.source_id:
        veto = "same source (a source's own records are distinct events)"
    else:
        veto = time_veto or place_veto
        if veto is None and title < MIN_TITLE:
            veto = f"titles too different ({title:.0%} < {MIN_TITLE:.0%})"
    reasons = (title_reason, time_reason, place_reason) + ((f"vetoed: {veto}",) if veto else ())
    return Decision(
        a=a.key,
        b=b.key,
        score=round(score, 4),
        title=round(title, 4),
        time=time,
        place=place,
        same=veto is None and score >= threshold,
        reasons=reasons,
        veto=veto,
    )


# -- blocking and clustering ---------------------------------------------------------------------


@dataclass(slots=True)
class MatchStats:
    """How much work a matching run did (the benchmark and the incremental test read it)."""

    compared: int = 0
    matched: int = 0


def comparable(a: MatchRecord, b: MatchRecord) -> bool:
    """The blocking rule on titles: one title's distinctive words (all its words when it has
    only generic ones, e.g. "Apéro numérique") share a stem with the other's words."""
    return not a.keys.isdisjoint(b.stems) or not b.keys.isdisjoint(a.stems)


Block = dict[tuple[date, str], list[int]]


def _block(records: Sequence[MatchRecord]) -> tuple[Block, Block]:
    """Two indexes by (local day, stem): of every word, and of the distinctive words."""
    by_stem: Block = defaultdict(list)
    by_key: Block = defaultdict(list)
    for i, rec in enumerate(records):
        for day in rec.days:
            for stem in rec.stems:
                by_stem[(day, stem)].append(i)
            for key in rec.keys:
                by_key[(day, key)].append(i)
    return by_stem, by_key


def match_pairs(
    queries: Sequence[MatchRecord],
    pool: Sequence[MatchRecord] | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    stats: MatchStats | None = None,
    keep: Callable[[Decision], bool] | None = None,
) -> list[Decision]:
    """Compare every query with every record of `pool` sharing a local day and a word stem
    (bulk path: no pool, the queries are compared among themselves). Returns the decisions that
    `keep` accepts (default: the matches), each pair once."""
    stats = stats if stats is not None else MatchStats()
    only_matches = keep is None
    keep = keep or (lambda d: d.same)
    bulk = pool is None
    others: Sequence[MatchRecord] = queries if pool is None else pool
    by_stem, by_key = _block(others)
    result: list[Decision] = []
    for qi, query in enumerate(queries):
        # `comparable` is symmetric: look a query's keys up among all stems, and its stems up
        # among the keys; in the bulk path each unordered pair is taken once (oi > qi).
        found: set[int] = set()
        for day in query.days:
            for key in query.keys:
                found.update(by_stem.get((day, key), ()))
            for stem in query.stems:
                found.update(by_key.get((day, stem), ()))
        for oi in found:
            if bulk and oi <= qi:
                continue
            other = others[oi]
            if other.key == query.key or other.source_id == query.source_id:
                continue
            stats.compared += 1
            if only_matches and certainly_apart(query, other):
                continue
            decision = compare(query, other, threshold)
            if decision.same:
                stats.matched += 1
            if keep(decision):
                result.append(decision)
    return result


def cluster(
    records: Sequence[MatchRecord], decisions: Iterable[Decision], threshold: float
) -> list[list[str]]:
    """Group records into events: accept matching pairs best-first, refusing a join that would
    put two records of one source, or two records that veto each other, in one cluster."""
    by_key = {r.key: r for r in records}
    members: dict[str, list[str]] = {r.key: [r.key] for r in records}
    owner: dict[str, str] = {r.key: r.key for r in records}
    ordered = sorted(
        (d for d in decisions if d.same), key=lambda d: (-d.score, min(d.a, d.b), max(d.a, d.b))
    )
    matched = {(d.a, d.b) for d in ordered} | {(d.b, d.a) for d in ordered}
    for d in ordered:
        ra, rb = owner[d.a], owner[d.b]
        if ra == rb:
            continue
        left, right = members[ra], members[rb]
        if not _compatible(left, right, by_key, matched, threshold):
            continue
        if len(left) < len(right):
            ra, rb, left, right = rb, ra, right, left
        left.extend(right)
        for key in right:
            owner[key] = ra
        del members[rb]
    return sorted((sorted(group) for group in members.values()), key=lambda g: g[0])


def _compatible(
    left: list[str],
    right: list[str],
    by_key: Mapping[str, MatchRecord],
    matched: set[tuple[str, str]],
    threshold: float,
) -> bool:
    if {by_key[k].source_id for k in left} & {by_key[k].source_id for k in right}:
        return False
    return all(
        (x, y) in matched or compare(by_key[x], by_key[y], threshold).veto is None
        for x in left
        for y in right
    )


# -- merging -------------------------------------------------------------------------------------

# Which source's word wins, from the most to the least trusted way of finding an event.
ORIGIN_RANK: Final[Mapping[str, int]] = {
    ORIGIN_ICAL: 0,
    ORIGIN_STRUCTURED: 1,
    ORIGIN_FEED: 2,
    ORIGIN_SELECTOR: 2,
    ORIGIN_PROSE: 3,
    "": 4,  # records stored before origins were recorded
}

# THE field precedence table: how each canonical field is chosen among a cluster's records,
# all of which are first ordered by `precedence_key` (origin rank, then who announced it first).
MERGE_RULES: Final[Mapping[str, str]] = {
    "title": "first record in precedence order, skipping titles with a "
    "bracketed prefix ('[Agenda] …') while another of the same origin rank has none",
    "start, end, all_day": "an explicit time over date-only, then precedence order",
    "location": "the most specific place (most parts filled), then precedence order",
    "description": "the longest description (already cleaned by the parsers)",
    "url": "first record in precedence order that has one",
    "categories": "union, in precedence order, first spelling wins",
    "status": "the primary (first in precedence order) record's status: the organizer's word",
}

_PLACE_PARTS = ("location_name", "address", "postcode", "city")


def precedence_key(row: Mapping[str, Any]) -> tuple[int, str, str]:
    """Order of trust between records: origin (iCal first), then first seen, then source id."""
    return (ORIGIN_RANK.get(row.get("origin") or "", 4), row["first_seen"], row["source_id"])


def merge(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The canonical columns of one cluster from its active records (see MERGE_RULES)."""
    ordered = sorted(rows, key=precedence_key)
    primary = ordered[0]
    best_rank = ORIGIN_RANK.get(primary.get("origin") or "", 4)
    titled = next(
        (
            r
            for r in ordered
            if ORIGIN_RANK.get(r.get("origin") or "", 4) == best_rank
            and not _BRACKET_PREFIX.match(r["title"])
        ),
        primary,
    )
    timed = [r for r in ordered if not r["all_day"]]
    when = timed[0] if timed else primary
    place = max(ordered, key=lambda r: sum(1 for p in _PLACE_PARTS if r[p]))  # first max wins
    description = max((r["description"] or "" for r in ordered), key=len)
    url = next((r["url"] for r in ordered if r["url"]), None)
    categories: list[str] = []
    folded: set[str] = set()
    for row in ordered:
        for name in json.loads(row["categories"] or "[]"):
            if name.casefold() not in folded:
                folded.add(name.casefold())
                categories.append(name)
    return {
        "title": titled["title"],
        "start": when["start"],
        "end": when["end"],
        "effective_end": when["effective_end"],
        "tz": when["tz"],
        "all_day": when["all_day"],
        "location_name": place["location_name"],
        "address": place["address"],
        "postcode": place["postcode"],
        "city": place["city"],
        "url": url,
        "description": description,
        "categories": json.dumps(categories, ensure_ascii=False),
        "status": CANCELLED if primary["status"] == CANCELLED else "confirmed",
    }
