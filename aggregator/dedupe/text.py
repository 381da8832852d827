"""Normalization for matching: titles, places (French, US and other conventions) and URLs.

Pure functions; every result is cached where records repeat values (recurring titles, venues),
for one matching: `clear_caches` empties the caches once it is done.
"""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit


def words_of(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_BRACKET_PREFIX = re.compile(r"^\s*(?:\[[^\]]{0,40}\]|\{[^}]{0,40}\})\s*")
_CLOCK = re.compile(r"\b\d{1,2}\s*h\s*\d{0,2}\b|\b\d{1,2}(?::\d\d)?\s*[ap]\.?m\b", re.I)
_NUMERIC_DATE = re.compile(r"\b\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?\b")
_MONTHS = "janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre|decembre"
# On folded text: "samedi 13 juin 2026", "1er mai", a year.
_WORDY_DATE = re.compile(rf"\b(?:\d{{1,2}}(?:er)? (?:{_MONTHS})(?: \d{{4}})?|20\d\d)\b")
_ENTITY = re.compile(r"&(?:#\d{1,6}|#x[0-9a-f]{1,5}|[a-z]{2,8});", re.I)
STOP_WORDS: Final = words_of(
    """
    a au aux avec ce ces chez d dans de des du en et l la le les leur n ou par pour qu que
    s sa se ses son sur un une vos votre nos notre y qui est
    the of and at in on for with to by an from
    agenda evenement event events rdv rendez vous annule annulee annulation complet reporte
    cancelled canceled postponed
    lundi mardi mercredi jeudi vendredi samedi dimanche
    monday tuesday wednesday thursday friday saturday sunday
    janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre
    """
)
# Words shared by many different events: sharing only these does not make two titles alike.
# Term frequencies find such words in a big store; this list says it for small ones.
_GENERIC: Final = words_of(
    """
    atelier ateliers apero aperitif soiree soirees rencontre rencontres permanence permanences
    conference conferences formation formations reunion session seance club cafe repair
    initiation initiations decouverte numerique numeriques libre libres logiciel logiciels
    journee journees fete festival stage stages animation animations mensuel mensuelle
    hebdomadaire groupe collectif fablab fab lab cantine tiers lieu
    enfants enfant famille familles ados adultes debutant debutants debutantes avance avances
    seniors tous public gratuit ouvert ouverte
    night live music show workshop class meeting party market concert series
    """
)
# Spellings of one word: "feat." and "featuring" say the same thing.
_SYNONYMS: Final[Mapping[str, str]] = {
    "feat": "featuring",
    "ft": "featuring",
    "w": "with",
    "vs": "versus",
    "st": "saint",
    "ste": "sainte",
}

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


HostNames = Mapping[str, tuple[tuple[str, ...], ...]]


def normalize_title(
    title: str, *, strip: Iterable[str] = (), hosts: HostNames | None = None
) -> str:
    """Title words that identify an event, e.g. "[Agenda] 12/05 Apéro numérique – 18h30" →
    "apero numerique": bracketed prefixes, HTML entities, dates, clock times, stop words,
    weekdays and months removed, and each phrase of `strip` (the collective's own name, the
    town) cut out, then any other collective's name found in `hosts` ("… – La Vilaine
    Bidouille" in Agenda du Libre's listing). Other numbers stay ("niveau 2", "#13"). Never
    empty when the title had words: stripping stops short of erasing it.
    """
    words = [_SYNONYMS.get(w, w) for w in _title_words(title)]
    for phrase in strip:
        phrase_words = [_SYNONYMS.get(w, w) for w in _fold_cached(phrase).split()]
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
    kept = [w for w in words if (w not in STOP_WORDS and len(w) > 1) or w.isdigit()]
    return " ".join(kept) if kept else fold(title)


@lru_cache(maxsize=8192)
def first_word(phrase: str) -> str:
    """The first word of a phrase as `normalize_title` compares it ("" when none)."""
    words = _fold_cached(phrase).split()
    return _SYNONYMS.get(words[0], words[0]) if words else ""


def title_words(title: str) -> frozenset[str]:
    """The set of a title's words before stop words go (what `strip` phrases are looked for
    in)."""
    return _title_word_set(title)


# Per title and per link: a series' dates and the sources that repeat an event come near each
# other in a pool, which is read day by day; a bound keeps a large pool's distinct titles (one
# per record, mostly) from holding memory for the whole matching.
_PER_RECORD: Final = 8192


@lru_cache(maxsize=_PER_RECORD)
def _title_word_set(title: str) -> frozenset[str]:
    return frozenset(_SYNONYMS.get(w, w) for w in _title_words(title))


@lru_cache(maxsize=_PER_RECORD)
def _title_words(title: str) -> tuple[str, ...]:
    # Cached: recurring events repeat their titles all year, in every source, and one record's
    # title is read several times while it is made.
    text = _BRACKET_PREFIX.sub("", title) if title.lstrip()[:1] in ("[", "{") else title
    if "&" in text:
        text = _ENTITY.sub(" ", text)
    has_digits = _DIGIT.search(text) is not None
    if has_digits:
        text = _NUMERIC_DATE.sub(" ", _CLOCK.sub(" ", text))
    folded = fold(text)
    return tuple((_WORDY_DATE.sub(" ", folded) if has_digits else folded).split())


def title_tokens(norm_title: str) -> frozenset[str]:
    """The comparable words of a normalized title: a plural "s" dropped ("concerts"), so that
    word forms agree."""
    # Interned: a pool's records share a small vocabulary, each word is then held once.
    return frozenset(sys.intern(_stem(w)) for w in norm_title.split())


def title_terms(title: str) -> str:
    """`title_tokens(normalize_title(title))` as one string, sorted and space-separated (words
    hold no space): what the store keeps of each record for the term frequencies."""
    return " ".join(sorted(title_tokens(normalize_title(title))))


@cache  # read once per process: every Store opened asks
def terms_code() -> str:
    """A hash of what `title_terms` and `normalize_url` depend on (this module's code, the
    Unicode tables): the store makes its records' stored terms again when it changes."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(unicodedata.unidata_version.encode())
    return digest.hexdigest()


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.isdigit() else word


# Compared as title tokens are: "seniors" and "senior" alike.
GENERIC_WORDS: Final = _GENERIC | {_stem(w) for w in _GENERIC}


def title_numbers(tokens: frozenset[str]) -> frozenset[str]:
    """Numbers that tell events apart ("session 2", "#13"); years are left out, since listings
    keep stale ones ("2025 Santa Rosa Marathon")."""
    numbers = frozenset(
        t for t in tokens if t.isdigit() and not (len(t) == 4 and t[:2] in ("19", "20"))
    )
    return numbers or NO_WORDS


# Shared by the features that are mostly empty (a title's numbers): one empty set takes as much
# memory as a set of five words.
NO_WORDS: Final[frozenset[str]] = frozenset()


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
        key = next((w for w in words if w not in GENERIC_WORDS and w not in STOP_WORDS), None)
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


# -- places ----------------------------------------------------------------------------------

_CITY_WORDS = {"st": "saint", "ste": "sainte"}
# Street words to one canonical spelling, French and English: "bd" = "boulevard", "St" =
# "Street", "N" = "North". Both sides go through the same table, so the canonical form need
# not be a real word.
_STREET_WORDS: Final[Mapping[str, str]] = {
    "r": "rue",
    "av": "avenue",
    "ave": "avenue",
    "bd": "boulevard",
    "bld": "boulevard",
    "blvd": "boulevard",
    "boul": "boulevard",
    "pl": "place",
    "plaza": "place",
    "imp": "impasse",
    "all": "allee",
    "ch": "chemin",
    "che": "chemin",
    "rte": "route",
    "rt": "route",
    "sq": "square",
    "fg": "faubourg",
    "st": "street",
    "str": "street",
    "rd": "road",
    "dr": "drive",
    "ln": "lane",
    "ct": "court",
    "hwy": "highway",
    "pkwy": "parkway",
    "n": "north",
    "s": "south",
    "e": "east",
    "w": "west",
    "saint": "street",  # "rue St-Michel" and "rue Saint-Michel": st is both, so both are one
    "bis": "",
    "ter": "",
    "suite": "",
    "ste": "",
    "unit": "",
}
# Street types carry no identity of their own ("rue", "street"): overlap counts the names.
_STREET_TYPES: Final = words_of(
    "rue avenue boulevard place impasse allee chemin route square faubourg street road drive "
    "lane court highway parkway way quai cours north south east west lieu dit"
)
_STREET_STARTS: Final = _STREET_TYPES | _STREET_WORDS.keys()
_COUNTRIES: Final = words_of("usa us france fr united states america")
_ONLINE = frozenset({"en ligne", "online", "visio", "visioconference", "internet", "web"})
_POSTCODE = re.compile(r"^\d{5}$")
_HOUSE_NUMBER = re.compile(r"^\d{1,4}[a-z]?$")


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
    return " ".join(w for w in words if w and w not in STOP_WORDS)


@lru_cache(maxsize=8192)
def normalize_venue(name: str | None) -> str:
    if not name:
        return ""
    text = " ".join(w for w in fold(name).split() if w not in STOP_WORDS)
    return "" if text in _ONLINE else text


@dataclass(frozen=True, slots=True)
class Place:
    """A place cut into comparable parts; empty strings where the record does not say."""

    venue: str  # "cantine numerique"
    number: str  # "12"
    street: str  # "rue gare" (number left out)
    postcode: str
    town: str
    words: frozenset[str]  # distinctive words of the venue and street names

    @property
    def known(self) -> bool:
        return bool(self.venue or self.street or self.town or self.postcode)


def parse_place(
    name: str | None, address: str | None, postcode: str | None, city: str | None
) -> Place:
    """Read a place the way calendars write it: "12 r. de la Gare, 35600 Redon", "528 7th St,
    Santa Rosa, CA 95401, USA", a venue alone, or a venue line holding the address. A
    five-digit number is a postcode, not a house number; the segment next to it is the town."""
    venue_text = name or ""
    if not address and venue_text and "," in venue_text and _DIGIT.search(venue_text):
        # A venue line that is really an address ("Salle X, 2 rue Y, 29200 Brest").
        venue_text, _, address = venue_text.partition(",")
    return _place(venue_text, _address(address or "", postcode or "", city or ""))


_Address = tuple[str, str, str, str, str]  # number, street, postcode, town, other words


@lru_cache(maxsize=65536)
def _address(address: str, postcode: str, city: str) -> _Address:
    found_postcode = postcode.strip()[:5]
    town = normalize_city(city)
    number = street = ""
    other: list[str] = []
    pending = ""  # "4, rue du Port": a house number alone before its street
    for index, segment in enumerate(s for s in address.split(",") if s.strip()):
        words = fold(segment).split()
        if pending:
            words = [pending, *words]
            pending = ""
        if not street and len(words) == 1 and _HOUSE_NUMBER.match(words[0]):
            pending = words[0]
            continue
        codes = [w for w in words if _POSTCODE.match(w)]
        if codes:
            found_postcode = found_postcode or codes[0]
            rest = [w for w in words if w not in codes and w not in _COUNTRIES and len(w) > 2]
            if rest and not town:
                town = normalize_city(" ".join(rest))  # French: "35600 Redon"
            elif not town and index > 0 and other:
                town = normalize_city(other.pop())  # US: "Santa Rosa, CA 95401"
            continue
        words = [w for w in words if w not in _COUNTRIES]
        if not words:
            continue
        if not street and _HOUSE_NUMBER.match(words[0]) and len(words) > 1:
            number = words[0].rstrip("abcdefghijklmnopqrstuvwxyz") or words[0]
            street = " ".join(_street_words(words[1:]))
            continue
        if not street and words[0] in _STREET_STARTS:
            street = " ".join(_street_words(words))
            continue
        other.append(" ".join(words))
    if pending:
        other.append(pending)
    if other and street and not town:
        town = normalize_city(other.pop())  # "2 rue Jean Macé, Brest"
    return number, street, found_postcode, town, " ".join(other)


@lru_cache(maxsize=65536)
def _place(venue_text: str, address: _Address) -> Place:
    number, street, postcode, town, other = address
    venue = normalize_venue(" ".join(filter(None, (venue_text, other))))
    if venue in (town, street):
        venue = ""
    distinctive = {
        w
        for w in (*venue.split(), *street.split())
        if w not in _STREET_TYPES and w not in STOP_WORDS and not w.isdigit() and len(w) > 1
    }
    return Place(venue, number, street, postcode, town, frozenset(distinctive))


def _street_words(words: list[str]) -> list[str]:
    out = []
    for w in words:
        w = _STREET_WORDS.get(w, w)
        if w and w not in STOP_WORDS:
            out.append(w)
    return out


_TRACKING = re.compile(r"^(?:utm_\w+|fbclid|gclid|mc_\w+|aff|ref|came_from|app_id)$", re.I)


@lru_cache(maxsize=_PER_RECORD)
def normalize_url(url: str | None) -> str:
    """An event page's address without scheme, "www.", tracking parameters or trailing slash
    (a "#/…" route of a single-page app is kept: it names the page); "" for a site's home
    page, which says nothing about which event it is."""
    if not url:
        return ""
    try:
        parts = urlsplit(url.strip())
        query = [(k, v) for k, v in parse_qsl(parts.query) if not _TRACKING.match(k)]
    except ValueError:
        return ""
    host = (parts.hostname or "").removeprefix("www.")
    path = parts.path.rstrip("/")
    route = parts.fragment if parts.fragment.startswith("/") else ""
    if not host or (not path and not route and not query):
        return ""
    tail = (f"?{urlencode(sorted(query))}" if query else "") + (f"#{route}" if route else "")
    return f"{host}{path}{tail}".casefold()


_REPEAT_STAMP = re.compile(r"/\d{8}(?:T\d{6}Z)?$")


def base_uid(source_uid: str) -> str:
    """A source UID without the "/<UTC start>" the iCal reader appends to an instance of a
    series or to a UID the file repeats: two records with one base UID and one start are the
    same VEVENT listed twice."""
    return _REPEAT_STAMP.sub("", source_uid)


# Fingerprints are stored: they keep the title reading they were first computed with, so that
# improving the matcher's normalization never makes a UID-unstable source's records look new.
_FINGERPRINT_CLOCK = re.compile(r"\b\d{1,2}\s*h\s*\d{0,2}\b")
_FINGERPRINT_STOP_WORDS: Final = words_of(
    """
    a au aux avec ce ces chez d dans de des du en et l la le les leur n ou par pour qu que
    s sa se ses son sur un une vos votre nos notre y qui est
    the of and at in on for with to by
    agenda evenement event rdv rendez vous annule annulee annulation complet reporte
    lundi mardi mercredi jeudi vendredi samedi dimanche
    janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre
    """
)


def _fingerprint_title(title: str) -> str:
    text = _BRACKET_PREFIX.sub("", title) if title.lstrip()[:1] in ("[", "{") else title
    has_digits = _DIGIT.search(text) is not None
    if has_digits:
        text = _NUMERIC_DATE.sub(" ", _FINGERPRINT_CLOCK.sub(" ", text))
    folded = fold(text)
    words = (_WORDY_DATE.sub(" ", folded) if has_digits else folded).split()
    kept = [w for w in words if w not in _FINGERPRINT_STOP_WORDS]
    return " ".join(kept) if kept else fold(title)


def content_fingerprint(
    title: str, start: datetime, *, name: str | None, postcode: str | None, city: str | None
) -> str:
    """Identity from content for sources whose UIDs cannot be trusted: normalized title + start
    instant + place. Volatile fields (UIDs, DTSTAMP, descriptions) are left out."""
    place = normalize_city(city) or (postcode or "").strip() or normalize_venue(name)
    key = "\x1f".join((_fingerprint_title(title), start.astimezone(UTC).isoformat(), place))
    return "fp:" + hashlib.sha1(key.encode("utf-8")).hexdigest()


_VENUE_IN_TITLE = re.compile(
    r"\s(?:at|@|chez)\s+(?P<venue>[^,;:!?()\[\]|]{3,60}?)"
    r"(?:\s+(?:with|feat\.?|featuring|avec)\s.*|\s[-–—]\s.*|[,;:!?(].*)?$",
    re.I,
)


@lru_cache(maxsize=16384)
def venue_in_title(title: str) -> str | None:
    """The venue a title names at its end ("Trivia Night at Wine In The Willows", "Apéro chez
    Ti Kêr"), for records that give no venue of their own."""
    match = _VENUE_IN_TITLE.search(title)
    return match["venue"].strip() if match else None


def has_bracket_prefix(title: str) -> bool:
    """ "[Agenda] …": a listing's label before the real title."""
    return _BRACKET_PREFIX.match(title) is not None


def clear_caches() -> None:
    """Empty this module's caches. A matching fills them with one entry per title, address and
    link of the pool (tens of thousands on a large agenda), made among its short-lived objects:
    kept, they would pin most of the memory that matching used, for the rest of the run."""
    for cached in _CACHED:
        cached.cache_clear()


_CACHED: Final = (
    _fold_cached,
    first_word,
    _title_word_set,
    _title_words,
    normalize_city,
    normalize_street,
    normalize_venue,
    _address,
    _place,
    normalize_url,
    venue_in_title,
)
