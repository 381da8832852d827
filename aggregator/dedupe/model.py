"""The match model: per-field comparisons whose levels carry weights, read as data.

A Fellegi–Sunter model in the way splink writes one. Each comparison (`COMPARISONS`) sorts a
pair of records into one of its levels; a level's weight is log2(m/u) in bits: how much more
often true pairs than unrelated pairs of the same day land in it. Title words get splink's
term-frequency adjustment: a shared word adds log2(1/u) with u its frequency among the stored
records' titles ("atelier", "market": little; a band's or a speaker's name: a lot). The match
weight is `PRIOR` plus every field's weight; the match probability 2^w / (1 + 2^w) is compared
with the agenda's `dedupe_threshold`.

Real contradictions (`contradiction`) are kept apart whatever the weights say: different days,
starts hours apart that no clock error explains, different towns, different street addresses,
different numbers in the titles (session 1 / session 2).

Why not splink or dedupe themselves: both train their weights on a batch of records (EM or
active learning) with pandas/DuckDB or scikit-learn behind them, and score batches. The
aggregator matches a few changed records per run, needs every decision explained field by field
(`aggregator events --explain`), and has no labelled training set per deployment; weights set
by hand from the meaning of each level, in one table, keep it small, fast and readable.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz

from aggregator.dedupe.text import (
    GENERIC_WORDS,
    HostNames,
    Place,
    base_uid,
    first_word,
    normalize_title,
    normalize_url,
    parse_place,
    title_numbers,
    title_terms,
    title_tokens,
    title_words,
    venue_in_title,
    words_of,
)
from aggregator.dedupe.text import clear_caches as text_clear_caches

DEFAULT_THRESHOLD: Final = 0.75
# A multi-day event is blocked on at most this many days (a 3-month exhibition would otherwise be
# compared with everything); overlap is still found through its first weeks.
MAX_BLOCK_DAYS: Final = 14
STEM: Final = 4
# Starts further apart than this, on one day, are two happenings unless a clock error explains
# the gap (doors vs show, a stale schedule: up to an hour and a half).
NEAR_MINUTES: Final = 90
# An event running longer than this many days is a season or programme, not one happening.
LONG_RUN_DAYS: Final = 3
# The log-odds that two same-day records sharing a title word are one event, before any field.
PRIOR: Final = -4.0
TITLE_CAP: Final = 10.0


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a comparison: its name, weight in bits, and what lands in it."""

    name: str
    weight: float
    meaning: str


def _levels(*levels: Level) -> Mapping[str, Level]:
    return {level.name: level for level in levels}


# THE match model. Title weights are the level's base plus the term-frequency adjustment
# computed per pair (see `compare_titles`); the others are fixed.
COMPARISONS: Final[Mapping[str, Mapping[str, Level]]] = {
    "title": _levels(
        Level("same words", 4.5, "the same words; at least this, more for rare words (TF)"),
        Level("shared words", 0.0, "0.6 × bits of the shared words (TF), less what is unshared"),
        Level(
            "shared rare word, same time and place",
            -1.0,
            "start and place agree exactly and one title adds nothing distinctive: 0.6 × bits "
            "of the shared distinctive words, plus this",
        ),
        Level("no shared word", -5.0, "no word in common"),
        Level("different numbers", -5.0, "numbers that differ: session 1 / session 2"),
    ),
    "time": _levels(
        Level("same start", 3.0, "the same instant"),
        Level("within 15 min", 2.0, "starts 1–15 min apart (rounding)"),
        Level("within 30 min", 1.0, "starts 16–30 min apart"),
        Level("within 90 min", -1.5, "31–90 min apart: doors vs show, a stale schedule"),
        Level("clock error", -8.0, "exactly 12 h or the zone's offset apart: needs other proof"),
        Level("both date-only", 1.5, "both give only the date, same first day"),
        Level("date only", 0.0, "one side gives only the date (or a 00:00 placeholder)"),
        Level("spans", 0.5, "an event of 2–3 days holding the other's day"),
        Level("long run", -2.0, "a run of 4 days or more: a season holds many happenings"),
        Level("different days", -10.0, "no day in common"),
        Level("hours apart", -10.0, "starts more than 90 min apart"),
    ),
    "place": _levels(
        Level("same address", 3.0, "same street number and street"),
        Level("same venue", 3.0, "venue names alike"),
        Level("names overlap", 2.0, "venue or street names share words"),
        Level("same town", 0.5, "only the town (or postcode) agrees"),
        Level("unknown", 0.0, "one side gives no place, or nothing comparable"),
        Level("different postcodes", -1.0, "postcodes differ (one town may have several)"),
        Level("different venues", -1.5, "both name a venue, nothing in common"),
        Level("different towns", -10.0, "towns differ"),
        Level("different addresses", -10.0, "street addresses differ"),
    ),
    "url": _levels(
        Level("same page", 6.0, "the same event page (linked by at most 4 records)"),
        Level("shared page", 0.0, "the same page, linked by many records: a listing"),
        Level("no evidence", 0.0, "different pages or none"),
    ),
    "source": _levels(
        Level("same VEVENT twice", 12.0, "one source repeats a UID with the same start"),
        Level("same source", -4.0, "one source's records are distinct events unless twins"),
        Level("two sources", 0.0, "records from two sources"),
    ),
}


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """What the matcher needs from the configuration: the agenda zone and the threshold."""

    tz: tzinfo = field(default_factory=lambda: ZoneInfo("Europe/Paris"))
    threshold: float = DEFAULT_THRESHOLD


# -- records -------------------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: a frozen __init__ costs twice as much, ×100,000 records
class MatchRecord:
    """The matcher's view of one source's record: normalized once, compared many times.
    Treat it as immutable."""

    key: str
    source_id: str
    title: str  # as published, for explanations
    norm_title: str
    tokens: frozenset[str]
    numbers: frozenset[str]
    stems: frozenset[str]  # first letters of every title word
    keys: frozenset[str]  # stems of the distinctive (not generic) words, else all stems
    start: datetime
    start_ts: float
    zone_hours: float  # the agenda zone's UTC offset at the start, in hours
    date_only: bool  # all-day, or a 00:00 placeholder start
    multi_day: bool
    days: tuple[date, ...]
    place: Place
    place_tokens: frozenset[str]  # the venue's and town's words, as title tokens
    url: str
    uid: str  # the source's UID, without a repeat's "/<start>"
    blocks: tuple[str, ...]  # blocking keys beside the title's: the page, the venue


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
    url: str | None = None,
    uid: str = "",
    strip: Iterable[str] = (),
    hosts: HostNames | None = None,
    memo: dict[tuple[str, tuple[str, ...]], TitleFeatures] | None = None,
) -> MatchRecord:
    """Normalize one record for matching; `strip` lists phrases to cut from the title (the
    source's own name); the record's town and venue are cut too, since places are compared
    separately. A timed start at local midnight with no real duration is a listing's
    placeholder for "time unknown": the record counts as date-only. `memo` (one dict per run,
    with one `hosts`) keeps the title's features for the next record with the same title."""
    name = name or venue_in_title(title)
    # Only the phrases whose first word is in the title can be cut: the others stay out of the
    # memo's key, so one title read for many towns and venues is normalized once.
    words = title_words(title)
    cut = tuple(p for p in (*strip, city, name) if p and first_word(p) in words)
    features = memo.get((title, cut)) if memo is not None else None
    if features is None:
        features = title_features(title, cut, hosts)
        if memo is not None:
            memo[(title, cut)] = features
    norm, tokens, numbers, stems, keys = features
    local = start.astimezone(tz)
    first = local.date()
    last = first
    if end is not None and end > start:
        # An end at local midnight belongs to the day before (iCalendar's exclusive end).
        last = (end.astimezone(tz) - timedelta(microseconds=1)).date()
    date_only = all_day or (
        local.hour == 0
        and local.minute == 0
        and (end is None or end <= start or (last == first and end - start >= timedelta(hours=23)))
    )
    span = min((last - first).days, MAX_BLOCK_DAYS - 1)
    place = parse_place(name, address, postcode, city)
    page = normalize_url(url)
    days = tuple(first + timedelta(days=i) for i in range(span + 1)) if span > 0 else (first,)
    return MatchRecord(
        key=key,
        source_id=source_id,
        title=title,
        norm_title=norm,
        tokens=tokens,
        numbers=numbers,
        stems=stems,
        keys=keys,
        start=start,
        start_ts=start.timestamp(),
        zone_hours=abs(offset.total_seconds()) / 3600 if (offset := local.utcoffset()) else 0.0,
        date_only=date_only,
        multi_day=span > 0,
        days=days,
        place=place,
        place_tokens=_place_tokens(place.venue, place.town),
        url=page,
        uid=base_uid(uid),
        blocks=_blocks(page, place),
    )


TitleFeatures = tuple[str, frozenset[str], frozenset[str], frozenset[str], frozenset[str]]


def title_features(title: str, cut: tuple[str, ...], hosts: HostNames | None) -> TitleFeatures:
    """A title's normalized text, comparable words, numbers, blocking stems and keys (stems of
    the distinctive words, else of all)."""
    norm = normalize_title(title, strip=cut, hosts=hosts)
    tokens = title_tokens(norm)
    stems = frozenset(sys.intern(w[:STEM]) for w in tokens)
    distinctive = frozenset(sys.intern(w[:STEM]) for w in tokens - GENERIC_WORDS)
    return norm, tokens, title_numbers(tokens), stems, distinctive or stems


def _blocks(page: str, place: Place) -> tuple[str, ...]:
    venue = next(
        (w for w in place.venue.split() if w not in VENUE_WORDS and len(w) > 2 and not w.isdigit()),
        None,
    )
    return tuple(k for k in (page, sys.intern(f"venue:{venue}") if venue else "") if k)


@lru_cache(maxsize=65536)
def _place_tokens(venue: str, town: str) -> frozenset[str]:
    return title_tokens(f"{venue} {town}")


def clear_caches() -> None:
    """Empty the caches of records' features (this module's and text.py's), once a matching
    is done (see text.clear_caches)."""
    _place_tokens.cache_clear()
    text_clear_caches()


# -- term frequencies --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TermFrequencies:
    """How many stored records' titles hold each word: the u-probabilities of title words."""

    counts: Mapping[str, int]
    total: int
    urls: Mapping[str, int] = field(default_factory=dict)  # records linking each page
    bits: _Bits = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bits", _Bits(self.counts, self.total))

    def info(self, token: str) -> float:
        """Bits of evidence that a shared `token` gives: log2(1/u) (see `_Bits`)."""
        return self.bits[token]


class _Bits(dict[str, float]):
    """token -> log2(1/u), computed on first use. u is smoothed towards 1/1000 with 200
    pseudo-records, so that a young store with few records does not call every word common;
    generic words ("atelier", "night") stay cheap however rare."""

    def __init__(self, counts: Mapping[str, int], total: int) -> None:
        super().__init__()
        self.counts = counts
        self.total = total

    def __missing__(self, token: str) -> float:
        u = (self.counts.get(token, 0) + 0.2) / (self.total + 200)
        bits = min(-math.log2(u), 12.0)
        bits = min(bits, 1.5) if token in GENERIC_WORDS else bits
        self[token] = bits
        return bits


def term_frequencies(records: Iterable[MatchRecord]) -> TermFrequencies:
    """Count title words and pages over `records` (every active stored record, in
    practice)."""
    counts: dict[str, int] = {}
    urls: dict[str, int] = {}
    total = 0
    for record in records:
        total += 1
        for token in record.tokens:
            counts[token] = counts.get(token, 0) + 1
        if record.url:
            urls[record.url] = urls.get(record.url, 0) + 1
    return TermFrequencies(counts, total, urls)


def stored_frequencies(
    rows: Iterable[tuple[str | None, str | None, str, str | None]],
) -> TermFrequencies:
    """The same from the store's (terms, page, title, url) of records, for the records a run
    does not otherwise read: their `title_terms` and `normalize_url`, as stored (made here
    for a row without them, which another program wrote)."""
    counts: dict[str, int] = {}
    urls: dict[str, int] = {}
    total = 0
    for terms, page, title, url in rows:
        total += 1
        if terms is None:
            terms = title_terms(title)
        for token in terms.split():
            counts[token] = counts.get(token, 0) + 1
        if page is None:
            page = normalize_url(url)
        if page:
            urls[page] = urls.get(page, 0) + 1
    return TermFrequencies(counts, total, urls)


NO_FREQUENCIES: Final = TermFrequencies({}, 0)


# -- comparisons -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contribution:
    """One comparison's verdict on a pair: its level, weight (bits) and what it saw."""

    field: str
    level: str
    weight: float
    detail: str


def _level(comparison: str, name: str, detail: str, weight: float | None = None) -> Contribution:
    level = COMPARISONS[comparison][name]
    return Contribution(comparison, name, level.weight if weight is None else weight, detail)


AUDIENCE_PENALTY: Final = 6.0
AUDIENCE_WORDS: Final = title_tokens(
    "enfants adultes ados adolescents familles seniors debutants avances confirmes juniors "
    "kids adults teens families beginners advanced intermediate"
)
# A shared word is distinctive from this many bits (u below 1/8), unless generic.
DISTINCTIVE_BITS: Final = 3.0


def compare_titles(
    a: MatchRecord,
    b: MatchRecord,
    tf: TermFrequencies,
    pinned: bool = False,
    explain: bool = True,
) -> Contribution:
    """Shared words weighted by rarity; each title's unshared words lower the weight in
    proportion to the information they carry (a subset title loses little). `pinned`: start
    and place agree exactly, so the titles need only share distinctive words ("Soirée jeux" /
    "Jeux de société au bar")."""
    if a.numbers and b.numbers and a.numbers != b.numbers:
        shown = f"{'/'.join(sorted(a.numbers))} vs {'/'.join(sorted(b.numbers))}" if explain else ""
        return _level("title", "different numbers", f"numbers {shown}")
    # Words naming a record's venue or town are the place's evidence, counted by the place
    # comparison: shared, they do not make titles alike ("… in Downtown Santa Rosa"); in one
    # title and in the other record's place, they are not missing from the other title
    # ("Permanence Linux – Infothèque" / "Permanence GNU/Linux" at the Infothèque).
    shared = (a.tokens & b.tokens) - a.place_tokens - b.place_tokens
    extra_a = a.tokens - b.tokens - b.place_tokens
    extra_b = b.tokens - a.tokens - a.place_tokens
    fuzzy = _fuzzy_shared(extra_a, extra_b)
    if fuzzy:
        shared |= fuzzy
        extra_a -= fuzzy
        extra_b -= {y for y in extra_b if any(_alike(x, y) for x in fuzzy)}
    if not shared:
        return _level("title", "no shared word", "no word in common")
    info = tf.bits.__getitem__
    shared_bits = sum(map(info, shared))
    bits_a = shared_bits + sum(map(info, extra_a))
    bits_b = shared_bits + sum(map(info, extra_b))
    words = (
        ", ".join(f"{t} {info(t):.1f}" for t in sorted(shared, key=info, reverse=True)[:4])
        if explain
        else ""
    )
    if not extra_a and not extra_b:
        weight = min(max(COMPARISONS["title"]["same words"].weight, 0.6 * shared_bits), TITLE_CAP)
        return _level("title", "same words", f"{shared_bits:.1f} bits ({words})", weight)
    cover_small = shared_bits / min(bits_a, bits_b)
    cover_large = shared_bits / max(bits_a, bits_b)
    # Each title adding its own words ("enfants" / "adultes") tells two sessions apart more
    # than one title adding a subtitle does.
    both_add = min(len(extra_a), len(extra_b), 2)
    # Generic words, but not when each side names another audience: "enfants" / "adultes",
    # "débutants" / "avancés" are two sessions.
    audiences = bool(extra_a & AUDIENCE_WORDS and extra_b & AUDIENCE_WORDS)
    weight = (
        min(0.6 * shared_bits, TITLE_CAP)
        - 6.0 * (1 - cover_small)
        - 1.0 * (1 - cover_large)
        - 2.0 * both_add
        - (AUDIENCE_PENALTY if audiences else 0.0)
    )
    distinctive = sum(
        bits for t in shared if (bits := info(t)) >= DISTINCTIVE_BITS and t not in GENERIC_WORDS
    )

    def adds_distinctive(extra: frozenset[str]) -> bool:
        return any(info(t) >= DISTINCTIVE_BITS and t not in GENERIC_WORDS for t in extra)

    # Only when one title says nothing distinctive beyond the shared words: two titles each
    # naming their own subject at one venue and hour are two events (two exhibitions).
    if pinned and distinctive and not (adds_distinctive(extra_a) and adds_distinctive(extra_b)):
        level = COMPARISONS["title"]["shared rare word, same time and place"]
        relaxed = min(0.6 * distinctive, TITLE_CAP) + level.weight
        if relaxed > weight:
            detail = f"{distinctive:.1f} bits of distinctive shared words ({words})"
            return _level("title", level.name, detail, round(relaxed, 2))
    detail = (
        f"{shared_bits:.1f} bits shared ({words}); covers {cover_small:.0%} of the shorter, "
        f"{cover_large:.0%} of the longer"
        + (f"; each adds {both_add}+ words" if both_add else "")
        + ("; two audiences" if audiences else "")
        if explain
        else ""
    )
    return _level("title", "shared words", detail, round(weight, 2))


def _alike(x: str, y: str) -> bool:
    return len(x) >= 5 and len(y) >= 5 and x[:2] == y[:2] and fuzz.ratio(x, y) >= 80


def _fuzzy_shared(left: frozenset[str], right: frozenset[str]) -> frozenset[str]:
    # Typos and variants ("laser" / "lazer", "cartopartie" / "cartoparty"): long words 80 %
    # alike count as shared (under the left spelling).
    return frozenset(x for x in left for y in right if _alike(x, y))


def _clock_error(delta_minutes: float, a: MatchRecord) -> bool:
    """12 h apart (a.m./p.m.), or by the zone's own offset (a time published in the wrong
    zone: the same wall time read in UTC)."""
    if delta_minutes % 60:
        return False
    hours = delta_minutes / 60
    return hours == 12 or (a.zone_hours >= 1 and hours == a.zone_hours)


def _time_level(a: MatchRecord, b: MatchRecord) -> tuple[str, float]:
    """The time comparison's level, with the minutes between the starts (timed records; -1: a
    multi-day event's same start) or the longest run's days (a long run)."""
    if not set(a.days).intersection(b.days):
        return "different days", 0.0
    if a.multi_day or b.multi_day:
        if a.days[0] == b.days[0] and not a.date_only and a.start_ts == b.start_ts:
            return "same start", -1.0
        longest = max(len(a.days), len(b.days))
        if longest > LONG_RUN_DAYS:
            return "long run", longest
        return "spans", 0.0
    if a.date_only and b.date_only:
        return "both date-only", 0.0
    if a.date_only or b.date_only:
        return "date only", 0.0
    delta = abs(a.start_ts - b.start_ts) / 60
    if delta == 0:
        return "same start", delta
    if delta <= 15:
        return "within 15 min", delta
    if delta <= 30:
        return "within 30 min", delta
    if delta <= NEAR_MINUTES:
        return "within 90 min", delta
    if _clock_error(delta, a):
        return "clock error", delta
    return "hours apart", delta


_TIME_DETAILS: Final = {
    "different days": lambda _: "no day in common",
    "same start": lambda delta: "same start, multi-day" if delta < 0 else "same start",
    "long run": lambda days: f"one runs {days:.0f}+ days",
    "spans": lambda _: "a multi-day event holds the other's day",
    "both date-only": lambda _: "both give only the date",
    "date only": lambda _: "one side gives only the date",
    "within 15 min": lambda delta: f"starts {delta:.0f} min apart",
    "within 30 min": lambda delta: f"starts {delta:.0f} min apart",
    "within 90 min": lambda delta: f"starts {delta:.0f} min apart",
    "clock error": lambda delta: f"starts exactly {delta / 60:.0f} h apart",
    "hours apart": lambda delta: f"starts {delta / 60:.1f} h apart",
}


def compare_times(a: MatchRecord, b: MatchRecord) -> Contribution:
    name, measure = _time_level(a, b)
    return _level("time", name, _TIME_DETAILS[name](measure))


def _different_towns(pa: Place, pb: Place) -> bool:
    """Both towns known and different, and no shared postcode saying they are one place."""
    return bool(
        pa.town
        and pb.town
        and pa.town != pb.town
        and not (pa.postcode and pa.postcode == pb.postcode)
    )


def compare_places(a: MatchRecord, b: MatchRecord) -> Contribution:
    pa, pb = a.place, b.place
    if _different_towns(pa, pb):
        return _level("place", "different towns", f"{pa.town} / {pb.town}")
    if pa.number and pb.number and pa.street and pb.street:
        same_street = _street_alike(pa.street, pb.street)
        if pa.number == pb.number and same_street:
            return _level("place", "same address", f"{pa.number} {pa.street}")
        if same_street or not (pa.venue and pb.venue and _venue_alike(pa.venue, pb.venue)):
            shown = f"{pa.number} {pa.street} / {pb.number} {pb.street}"
            return _level("place", "different addresses", shown)
    if pa.venue and pb.venue and _venue_alike(pa.venue, pb.venue):
        return _level("place", "same venue", pa.venue)
    common = (pa.words & pb.words) - VENUE_WORDS
    if common and len(common) * 2 >= min(len(pa.words), len(pb.words)):
        return _level("place", "names overlap", ", ".join(sorted(common)))
    same_town = bool(
        (pa.town and pa.town == pb.town) or (pa.postcode and pa.postcode == pb.postcode)
    )
    if pa.venue and pb.venue and not common:
        return _level("place", "different venues", f"{pa.venue} / {pb.venue}")
    if same_town:
        return _level("place", "same town", pa.town or pa.postcode)
    if pa.postcode and pb.postcode and pa.postcode != pb.postcode:
        return _level("place", "different postcodes", f"{pa.postcode} / {pb.postcode}")
    return _level("place", "unknown", "not comparable" if pa.known and pb.known else "missing")


# Kinds of places: two venues sharing only these ("… Library", "… Lounge") are two venues.
VENUE_WORDS: Final = words_of(
    """
    salle salles maison centre center library bibliotheque mediatheque hall lounge bar cafe
    park parc room theatre theater church eglise chapelle school ecole college lycee hotel
    restaurant pub club winery vineyard vineyards brewery market marche plaza square community
    espace tiers lieu house regional county municipal municipale communale public publique
    auditorium amphi amphitheatre gallery galerie museum musee studio garden gardens jardin
    association associations quartier jeunes culture mjc polyvalente fetes omnisports
    """
)


def _street_alike(x: str, y: str) -> bool:
    return fuzz.token_set_ratio(x, y) >= 85


def _venue_alike(x: str, y: str) -> bool:
    return fuzz.token_set_ratio(x, y) >= 85


SHARED_PAGE: Final = 4


def compare_urls(a: MatchRecord, b: MatchRecord, tf: TermFrequencies) -> Contribution:
    if a.url and a.url == b.url:
        linked = tf.urls.get(a.url, 0)
        if linked > SHARED_PAGE:
            return _level("url", "shared page", f"{a.url} ({linked} records)")
        return _level("url", "same page", a.url)
    return _level("url", "no evidence", "different pages" if a.url and b.url else "missing")


def compare_sources(a: MatchRecord, b: MatchRecord) -> Contribution:
    if a.source_id != b.source_id:
        return _level("source", "two sources", f"{a.source_id} / {b.source_id}")
    if a.uid and a.uid == b.uid and a.start_ts == b.start_ts:
        return _level("source", "same VEVENT twice", a.uid)
    return _level("source", "same source", a.source_id)


def _one_source_two_places(a: MatchRecord, b: MatchRecord, place: Contribution) -> str | None:
    # A source writes one place one way: two venue names from one source are two places,
    # where two sources may well name one venue differently.
    if a.source_id == b.source_id and place.level in ("different venues", "different postcodes"):
        return f"one source, two places ({place.detail})"
    return None


# Levels that are contradictions: a pair in one of them is never one event, and two clusters
# holding such a pair never merge.
CONTRADICTIONS: Final = frozenset(
    {
        ("time", "different days"),
        ("time", "hours apart"),
        ("place", "different towns"),
        ("place", "different addresses"),
        ("title", "different numbers"),
    }
)


@dataclass(frozen=True, slots=True)
class Decision:
    """Why two records are, or are not, one event: each field's contribution to the weight."""

    a: str
    b: str
    weight: float
    probability: float
    same: bool
    contributions: tuple[Contribution, ...]
    contradiction: str | None = None

    @property
    def score(self) -> float:
        return self.probability

    def part(self, name: str) -> Contribution:
        return next(c for c in self.contributions if c.field == name)

    def describe(self) -> str:
        verdict = "same event" if self.same else "kept apart"
        parts = "; ".join(
            f"{c.field} {c.weight:+.1f} ({c.level}: {c.detail})" for c in self.contributions
        )
        why = f" — contradiction: {self.contradiction}" if self.contradiction else ""
        return (
            f"{verdict}: score {self.probability:.2f} (match probability; weight "
            f"{self.weight:+.1f} bits = prior {PRIOR:+.1f}; {parts}){why}"
        )


def probability(weight: float) -> float:
    return 1.0 / (1.0 + 2.0 ** (-weight))


def compare(
    a: MatchRecord,
    b: MatchRecord,
    tf: TermFrequencies = NO_FREQUENCIES,
    threshold: float = DEFAULT_THRESHOLD,
    explain: bool = True,
) -> Decision:
    """Score one pair; `same` when its probability reaches `threshold` and no field
    contradicts. `explain=False` leaves the titles' detail text out (bulk matching)."""
    place = compare_places(a, b)
    time = compare_times(a, b)
    pinned = time.level == "same start" and place.level in ("same address", "same venue")
    parts = (
        compare_titles(a, b, tf, pinned, explain),
        time,
        place,
        compare_urls(a, b, tf),
        compare_sources(a, b),
    )
    weight = PRIOR + sum(p.weight for p in parts)
    contradiction = next(
        (
            f"{p.field}: {p.level} ({p.detail})"
            for p in parts
            if (p.field, p.level) in CONTRADICTIONS
        ),
        None,
    ) or _one_source_two_places(a, b, place)
    chance = probability(weight)
    return Decision(
        a=a.key,
        b=b.key,
        weight=round(weight, 2),
        probability=round(chance, 4),
        same=contradiction is None and chance >= threshold,
        contributions=parts,
        contradiction=contradiction,
    )


def contradiction(a: MatchRecord, b: MatchRecord) -> str | None:
    """The cheap part of `compare`: the contradiction between two records, if any."""
    place = compare_places(a, b)
    for part in (compare_times(a, b), place):
        if (part.field, part.level) in CONTRADICTIONS:
            return f"{part.field}: {part.level} ({part.detail})"
    if a.numbers and b.numbers and a.numbers != b.numbers:
        return "title: different numbers"
    return _one_source_two_places(a, b, place)


# The most that each comparison but the titles' and the times' can add: a place (same address
# or venue), a page (the same event page) and a source (one VEVENT twice) at their best.
_BEST_PLACE: Final = max(level.weight for level in COMPARISONS["place"].values())
_BEST_PAGE: Final = max(level.weight for level in COMPARISONS["url"].values())
_BEST_SOURCE: Final = max(level.weight for level in COMPARISONS["source"].values())
_TWO_SOURCES: Final = COMPARISONS["source"]["two sources"].weight
_TIME_WEIGHTS: Final = {name: level.weight for name, level in COMPARISONS["time"].items()}


def cannot_match(
    a: MatchRecord, b: MatchRecord, tf: TermFrequencies, threshold: float = DEFAULT_THRESHOLD
) -> bool:
    """Whether the pair stays below `threshold` whatever its places, pages and sources say:
    its titles' weight (at its highest, as if start and place agreed exactly) and its times'
    plus the best the other comparisons can give. Exact, so that bulk matching scores in full
    only the pairs that may match (most pairs of a busy day's block differ in their titles)."""
    page = _BEST_PAGE if a.url and a.url == b.url else 0.0
    source = _BEST_SOURCE if a.source_id == b.source_id else _TWO_SOURCES
    best = (
        PRIOR
        + compare_titles(a, b, tf, pinned=True, explain=False).weight
        + _TIME_WEIGHTS[_time_level(a, b)[0]]
        + _BEST_PLACE
        + page
        + source
    )
    # A hair of margin against the float sums' order: never skip a pair at the boundary.
    return probability(best + 1e-9) < threshold


def certainly_apart(a: MatchRecord, b: MatchRecord) -> bool:
    """A cheaper subset of `contradiction` (hours apart, different towns), so that bulk
    matching skips the full scoring of pairs that can never match."""
    if _different_towns(a.place, b.place):
        return True
    if a.date_only or b.date_only or a.multi_day or b.multi_day:
        return False
    delta = abs(a.start_ts - b.start_ts) / 60
    return delta > NEAR_MINUTES and not _clock_error(delta, a)
