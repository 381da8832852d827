"""French prose: the dates, times and places of events announced in words.

Collectives write "Rendez-vous vendredi 3 avril à partir de 14h30 à la Maison des associations,
12 rue de la Gare, 35600 Redon" in blog posts and feed items. This module finds such
announcements, precision first: every candidate date gets a confidence from what surrounds it
(a time, a weekday that agrees with the date, words that announce or recount), and only
candidates above `THRESHOLD` become events. A wrong event costs more trust than a missed one.

A post is read as a document, not a flat string (see `segment`): each date is looked at in its
block — a date that opens a line of a list is a session of a programme (each line its own
event, however many), a date alone on its line heads the timed lines below it (sessions, or one
timetable), a date after "Quand ?" or in a heading that names the title is an event date even
without a time. Times are attached from the date's clause, its aside "(17h30 - 19h)", the lines
below, or — for a post with a single event date — the meeting time written elsewhere ("Le
rendez-vous est à 19h"). Tense decides between announcing and recounting (future verbs and
invitations against passé composé and past adverbials, relative clauses aside), and status
words mark dates struck through ("~~mercredi 11/08~~ jeudi 12/08") or followed by "annulé" as
cancelled: they are published as cancelled, never as confirmed. `ProseResult.kind` says what
the item was read as (announcement, programme, status notice, nothing); notices that cancel a
period's events by name without dates are read by `notices`.

How it stays fast: cheap regular expressions find candidate spans (a day number next to a month
name, dd/mm, "ce jeudi", "le premier jeudi du mois"); text without any is dropped at once.
dateparser (French only, one cached parser) reads the day and month of each span; the year
is chosen here, because the rule is ours: a missing year is the next occurrence on or after the
item's *publication date* (not today), and a weekday written next to the date picks between
candidate years.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Final

from rapidfuzz.distance import OSA

from aggregator.models import CANCELLED, CONFIRMED, Location
from aggregator.parsers.french import MONTH, WD, WEEKDAYS
from aggregator.parsers.places import find_location, location_in
from aggregator.parsers.segment import HEADING, Block, block_at, segment

THRESHOLD: Final = 0.6
"""Candidates scoring below this create no event."""

ANNOUNCEMENT: Final = "announcement"
PROGRAMME: Final = "programme"
NOTICE: Final = "notice"
NOT_AN_EVENT: Final = "none"
"""What an item is, from what was read in it (`ProseResult.kind`)."""


_WEEKDAYS = WEEKDAYS
_WD = WD
_MONTH = MONTH
_DAY = r"(?:1er|premier|[0-3]?\d)"
_YEAR = r"(?:20\d\d)"

# One date: "vendredi 3 avril 2026", "3 avril", "1er mai", "le jeudi 12 sept."
_SINGLE = rf"(?:(?P<wd>{_WD})\s+)?(?P<d>{_DAY})\s+(?P<m>{_MONTH})(?:\s+(?P<y>{_YEAR}))?"
_DATE_RE: Final = re.compile(rf"(?<![\w/]){_SINGLE}(?![\w])")
# Two days: "du 4 au 6 octobre", "du lundi 4 octobre au mercredi 6 novembre 2026",
# "samedi 7 et dimanche 8 juin", "les 7 et 8 juin", "4-6 octobre".
_RANGE_RE: Final = re.compile(
    rf"(?<![\w/])(?:(?P<wd1>{_WD})\s+)?(?P<d1>{_DAY})(?:\s+(?P<m1>{_MONTH}))?(?:\s+(?P<y1>{_YEAR}))?"
    rf"\s*(?P<sep>au|et|-|–|—|&)\s*(?:(?:le|au)\s+)?"
    rf"(?:(?P<wd2>{_WD})\s+)?(?P<d2>{_DAY})\s+(?P<m2>{_MONTH})(?:\s+(?P<y2>{_YEAR}))?(?![\w])",
)
# Numeric day-first dates: "12/05", "12/05/2026", "12.05.2026", "12-05-2026".
_NUMERIC_RE: Final = re.compile(
    rf"(?<![\w/.:-])(?:(?P<wd>{_WD})\s+)?(?P<d>[0-3]?\d)(?P<s>[/.-])(?P<m>[01]?\d)"
    r"(?:(?P=s)(?P<y>(?:20)?\d\d))?(?![\w/]|[.-]\d|\s?h(?![a-zé]))",  # "10.00 h" is a time
)
# Relative to the publication date: "ce jeudi", "jeudi prochain", "demain soir", "ce soir".
_RELATIVE_RE: Final = re.compile(
    rf"(?<![\w])(?:(?:ce|cette)\s+(?P<wd>{_WD})|(?P<wd2>{_WD})\s+prochain"
    rf"|(?P<wd3>{_WD})\s+en\s+(?P<later>huit|quinze)"
    r"|(?<!d')(?<!à\s)(?P<rel>demain|aujourd['’]hui|ce\s+soir))(?![\w])",
)
# Monthly: "tous les premiers jeudis du mois", "chaque 2e mardi du mois", "le dernier vendredi
# de chaque mois".
_ORDINALS: Final = {
    "premier": 1,
    "premiers": 1,
    "1er": 1,
    "1ers": 1,
    "deuxième": 2,
    "deuxièmes": 2,
    "second": 2,
    "seconds": 2,
    "2e": 2,
    "2ème": 2,
    "troisième": 3,
    "troisièmes": 3,
    "3e": 3,
    "3ème": 3,
    "quatrième": 4,
    "quatrièmes": 4,
    "4e": 4,
    "4ème": 4,
    "dernier": -1,
    "derniers": -1,
}
_MONTHLY_RE: Final = re.compile(
    r"(?<![\w])(?:tous\s+les|chaque|le|les)\s+(?P<ord>premiers?|1ers?|deuxièmes?|seconds?|2e|2ème"
    rf"|troisièmes?|3e|3ème|quatrièmes?|4e|4ème|derniers?)\s+(?P<wd>{_WD})s?\s+"
    r"(?:du\s+mois|de\s+chaque\s+mois|de\s+tous\s+les\s+mois|de\s+chaque\s+mois)",
)
# Cheap gate: text without any of these has no date we can read.
_PREFILTER_RE: Final = re.compile(
    rf"(?<![\w])(?:{_MONTH}|{_WD}s?|demain|aujourd|ce\s+soir)(?![\w])|\d[/.-]\d"
)

# Times: "14h30", "18 h 30", "20h", "20:00", "18 heures".
# Times: "14h30", "18 h 30", "20h", "20:00", "18 heures", "19 heure", "10.00 h", "9h.".
_HOUR = r"(?:[01]?\d|2[0-3])"
_TIME = rf"{_HOUR}[.:][0-5]\d\s?h(?![a-z])|{_HOUR}\s?(?:h|heures?)\s?(?:[0-5]\d)?|{_HOUR}:[0-5]\d"
_RANGE_SEP = r"\s*(?:à|a|-|–|—|>|et|jusqu['’]à)\s*"
_TIME_RANGE_RE: Final = re.compile(
    rf"(?<![\w:/.])(?:(?P<lead>de|dès|des|à\s+partir\s+de|a\s+partir\s+de|à|a|entre|vers)\s+)?"
    # "de 14 à 18h": a bare hour is a time only when a full time follows as the range's end.
    rf"(?P<t1>{_TIME}|{_HOUR}(?={_RANGE_SEP}{_HOUR}\s?h))\.?(?![\w:])"
    rf"(?:{_RANGE_SEP}(?P<t2>{_TIME}|midi|minuit)\.?(?![\w:]))?",
)

# Words that announce a coming event, near the date.
_ANNOUNCE_RE = re.compile(
    r"rendez[- ]vous|\brdv\b|aura\s+lieu|auront\s+lieu|se\s+tiendra|se\s+déroulera|venez|"
    r"rejoignez|rejoins|retrouvez|retrouvons|nous\s+vous\s+attendons|on\s+vous\s+attend|"
    r"vous\s+invite|vous\s+proposons|vous\s+propose|organise|inscri|réserv|entrée\s+libre|"
    r"gratuit|ouvert\s+à\s+tou|prochaine?s?\b|programme|au\s+menu|à\s+vos\s+agendas|"
    r"save\s+the\s+date|ne\s+manquez|n['’]hésitez|apportez|accueillera|accueille|aura\s+le\s+plaisir|"
    r"sera\s+(?:présent|animé|ouvert)|animé\s+par|atelier|soirée|permanence|repair|install|"
    r"conférence|rencontre|apéro|fest|café|formation|initiation|projection|débat|hackathon|"
    r"cartopartie|install\s*party|fête|salon|forum|journée|portes\s+ouvertes|stage|visite|"
    r"concert|spectacle|exposition|expo\b|jam\b|meetup|braderie|bourse|assemblée|réunion|"
    r"balade|session|séance|découverte|démonstration|table\s+ronde|marché|invité",
)
# Words that recount the past or date something that is not an event.
_PAST_RE = re.compile(
    r"\ba\s+eu\s+lieu|\bont\s+eu\s+lieu|s['’]est\s+(?:tenue?|déroulée?|terminée?|passée?)|"
    r"se\s+sont\s+(?:tenus?|déroulée?s|retrouvée?s|réunie?s)|\bavons\s+(?:eu|été|accueilli|fait|"
    r"passé|organisé|reçu|réuni|partagé)|\bont\s+(?:été|participé|pu|découvert|assisté|répondu|"
    r"partagé|échangé|fait)|\bétai(?:t|ent)\b|\bfurent\b|\bfut\b|\ba\s+(?:tenu|réuni|rassemblé|"
    r"accueilli|organisé|réélu|élu|présenté|été|permis|attiré|connu|fêté)|"
    r"\bc['’]était\b|\bmerci\s+(?:à|aux)|\bretour\s+sur\b|\bétions\b|\bnous\s+étions",
)
# A past time adverbial: it recounts, unless the same sentence speaks of what is coming
# ("Après le succès de l'an dernier, un nouveau mapathon se déroulera le…").
_PAST_WHEN_RE = re.compile(
    r"\b(?:samedi|dimanche|lundi|mardi|mercredi|jeudi|vendredi)\s+derni(?:er|ère)|"
    r"\bla\s+semaine\s+dernière|\bl['’]an\s+dernier|\bl['’]année\s+dernière|"
    r"\ble\s+mois\s+dernier"
)
_FUTURE_RE = re.compile(
    r"\b(?:sera|seront|aura|auront|[a-zéèê]{3,}(?:era|eront|ira|iront))\b|\bprochaine?s?\b"
)
# The passé composé of most verbs ("ont visionné", "avons accueilli", "a eu"), not of the verbs
# that announce a plan ("avons prévu", "a été reporté" is handled as a status).
_PERFECT_RE = re.compile(
    r"\b(?:ai|avons|avez|ont|a)\s+(?:(?:bien|déjà|tous|toutes|ensemble|pu|su)\s+)?"
    r"(?!prévu|décidé|choisi|fixé|programmé|invité|reporté|reprogrammé|préparé|lieu\b|hâte\b)"
    r"[a-zàâçéèêëîïôûù]{2,}(?:é|ée|és|ées|i|is|ie|ies|u|us|ue|ues|it|ert|erts)\b"
)
# A place opening or closing, not a gathering: "la bibliothèque ouvre ses portes lundi 23".
_PLACE_OPENING_RE = re.compile(
    r"\b(?:ouvre|ouvrira|rouvre|rouvrira)\s+(?:ses|ces|leurs|nos|à\s+nouveau\s+ses)\s+portes\b|"
    r"\bréouverture\b|\brouvre\b|\brouvrira\b|\bfermera\b|\bsera\s+fermée?\b"
)
_GATHERING_RE = re.compile(
    r"\bportes\s+ouvertes\b|\binauguration\b|\bfête\b|\bpot\b|\bsoirée\b|\bjournée\b|"
    r"\bportes\s+pour\s+(?:une?|la|le|les|des)\b"
)
# Words that ask the reader to come.
_INVITE_RE = re.compile(
    r"\b(?:rendez[- ]vous|rdv|venez|rejoignez|retrouvez|retrouvons|nous\s+vous\s+attendons|"
    r"on\s+vous\s+attend|vous\s+invit|aura\s+lieu|auront\s+lieu|se\s+tiendra|se\s+déroulera|"
    r"inscri|à\s+vos\s+agendas|ne\s+manquez)"
)
_NOT_EVENT_RE = re.compile(
    r"publié|mis\s+à\s+jour|posté|mise\s+à\s+jour|rédigé|paru|date\s+limite|avant\s+le\b|"
    r"jusqu['’]au|au\s+plus\s+tard|clôture|candidat|dépôt|depuis\s+le|né\s+le|née\s+le|"
    r"fondée?\s+le|créée?\s+le|en\s+date\s+du|délibération|arrêté|dernière\s+modification|"
    r"commentaire|fermé|fermeture|congés|vacances\s+du|horaires?|inscriptions?\s+(?:ouvr|s['’]ouvr)|"
    r"ouverture\s+des\s+inscriptions|billetterie|version|sortie\s+d|élections?\s+(?:municipales|"
    r"législatives|présidentielle|européennes|régionales)|scrutin|livraison|échéance",
)
# A whole text that recounts, reports or offers a job: its dates are not upcoming events.
# In a title, these words say what the whole post is; in the body only the stronger ones count.
_RETRO_TITLE_RE = re.compile(
    r"\bretours?\s+sur\b|\bretours?\s+en\s+images\b|\bcompte[- ]rendu\b|\bbilan\b|"
    r"\ben\s+images\b|\bphotos\b|\bc['’]était\b|\bréussite\b|\bsuccès\b|\bmerci\b|\bsouvenirs?\b|"
    r"\bpv\b|\bprocès[- ]verbal\b|\brapport\b|\bminutes\b|\brelevé\s+de\s+décisions\b",
)
_RETRO_DOC_RE = re.compile(
    r"\bretour\s+sur\b|\bretours?\s+en\s+images\b|\bcompte[- ]rendu\b|\bc['’]était\b|"
    r"\bmerci\s+(?:à\s+tou|aux\s+participant|aux\s+\d+)|\bs['’]est\s+(?:tenue?|déroulée?)"
    r"|\ba\s+eu\s+lieu|\bont\s+eu\s+lieu|\brevivez\b|\bprocès[- ]verbal\b|\bséance\s+est\s+levée\b",
)
# A post asking readers to choose between dates: none of them is decided yet.
_POLL_RE = re.compile(
    r"\bsondage\b|\bdoodle\b|\bframadate\b|\bquelle\s+date\b|\bchoisir\s+(?:la|une)\s+date\b|"
    r"\bvotez\s+pour\s+(?:la|une)\s+date\b|\bdate\s+à\s+(?:choisir|définir|confirmer)\b"
)
_JOB_DOC_RE = re.compile(
    r"offre\s+d['’]emploi|\brecrute\b|\brecrutons\b|\brecrutement\b|\bcdd\b|\bcdi\b|"
    r"fiche\s+de\s+poste|prise\s+de\s+poste|\bsalaire\b|\bpostuler\b|\bcandidatures?\b|"
    r"offre\s+de\s+stage|service\s+civique|\bcv\b|lettre\s+de\s+motivation|\bh/f\b|\bf/h\b",
)
_OPENING_HOURS_RE: Final = re.compile(
    rf"\bouvert(?:e|s|es)?\s+(?:du|le|les|tous\s+les)\s+{_WD}|horaires\s+d['’]ouverture|"
    rf"\bdu\s+{_WD}\s+au\s+{_WD}\b|\btous\s+les\s+{_WD}s\b",
)


def _word_start(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """The same keyword alternation, anchored once at a word start instead of per branch.

    Python's `re` tries every branch at every position; one `(?<!\\w)` in front lets it skip
    quickly, which makes these searches several times faster on long texts.
    """
    body = pattern.pattern.removeprefix(r"\b").replace(r"|\b", "|")
    return re.compile(rf"(?<![\w])(?:{body})")


# All these run on lowercased text (see `_lower`): case-insensitive matching of accented words
# is slow in `re`.
_ANNOUNCE_RE = _word_start(_ANNOUNCE_RE)
_PAST_RE = _word_start(_PAST_RE)
_NOT_EVENT_RE = _word_start(_NOT_EVENT_RE)
_RETRO_TITLE_RE = _word_start(_RETRO_TITLE_RE)
_RETRO_DOC_RE = _word_start(_RETRO_DOC_RE)
_JOB_DOC_RE = _word_start(_JOB_DOC_RE)
_PERFECT_RE = _word_start(_PERFECT_RE)
_POLL_RE = _word_start(_POLL_RE)
_PLACE_OPENING_RE = _word_start(_PLACE_OPENING_RE)
_GATHERING_RE = _word_start(_GATHERING_RE)
_PAST_WHEN_RE = _word_start(_PAST_WHEN_RE)
_FUTURE_RE = _word_start(_FUTURE_RE)
_INVITE_RE = _word_start(_INVITE_RE)

# Titles that do not name an event.
_GENERIC_TITLE_RE: Final = re.compile(
    r"^(?:accueil|home|agenda|actualités?|actus?|news|blog|événements?|evenements?|"
    r"nos\s+événements|à\s+venir|prochains?\s+événements?|page\s+d['’]accueil)$",
    re.I,
)


@dataclass(frozen=True, slots=True)
class ProseEvent:
    """One event read from text, with how sure we are of it."""

    start: datetime
    end: datetime | None
    all_day: bool
    location: Location
    confidence: float
    evidence: str
    status: str = CONFIRMED
    label: str = ""  # the words of the list item or line that announce it, when one does


@dataclass(slots=True)
class ProseResult:
    """What `extract_events` found: the events kept and, when none, why."""

    events: list[ProseEvent] = field(default_factory=list)
    reason: str = ""
    dates_found: int = 0
    kind: str = NOT_AN_EVENT


@dataclass(slots=True)
class _Candidate:
    first: date
    last: date | None
    start_time: time | None
    end_time: time | None
    confidence: float
    position: int
    span_end: int
    evidence: str
    notes: list[str] = field(default_factory=list)
    paired: bool = False  # the first of "les 11 et 18 avril": shares the second's time
    block: int = 0
    cancelled: bool = False
    label: str = ""
    # Placed where only an event date stands: a programme line, after "Quand ?", or in a
    # heading that names what the title names. Enough without a time, even on a whole page.
    placed: bool = False


# --- public API ---------------------------------------------------------------------------------


def has_date_hint(text: str) -> bool:
    """True when `text` may contain a date: the cheap test run before anything costly."""
    return bool(_PREFILTER_RE.search(_lower(text)))


def _lower(text: str) -> str:
    """`text` in lower case, with every character kept at its position (for match offsets)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def extract_events(
    text: str,
    *,
    title: str = "",
    published: datetime | None,
    tz: tzinfo,
    default_city: str | None = None,
    max_events: int = 5,
    threshold: float = THRESHOLD,
    require_time: bool = False,
) -> ProseResult:
    """The events announced in French `text` (and its `title`), in date order.

    `published` is the reference for dates written without a year (the next occurrence on or
    after it) and for "ce jeudi" / "demain" / "samedi prochain"; it is never an event date
    itself. Candidates below `threshold` are dropped, and so are dates without a time when
    `require_time` (for whole web pages, which carry stray dates everywhere) unless they stand
    where only an event's date stands; when more distinct events than `max_events` remain and
    the text is not a programme of dated lines, it is a list we cannot read safely and nothing
    is returned.
    """
    text = _normalize(text)
    title = _normalize(title)
    low, low_title = _lower(text), _lower(title)
    if not (_PREFILTER_RE.search(low) or _PREFILTER_RE.search(low_title)):
        return ProseResult(reason="no date in the text")
    base = published.astimezone(tz) if published is not None else None
    reference = base.date() if base is not None else None
    blocks = segment(text)
    doc_penalty = 0.0
    if _RETRO_TITLE_RE.search(low_title) or _RETRO_DOC_RE.search(low[:400]):
        doc_penalty += 0.45
    job = _JOB_DOC_RE.search(low)
    if _JOB_DOC_RE.search(low_title) or (
        job is not None and len({m[0] for m in _JOB_DOC_RE.finditer(low, job.end())} - {job[0]})
    ):
        # One "recrute des volontaires" is not a job offer; a title or two job words are.
        doc_penalty += 0.5
    if _POLL_RE.search(low_title):
        doc_penalty += 0.5
    body = _candidates(text, reference, in_title=False)
    _read_blocks(body, blocks, low)
    programme = _is_programme(body, blocks, low)
    _mark_placed(body, blocks, low, low_title, programme)
    candidates: list[_Candidate] = []
    if title:
        for candidate in _candidates(title, reference, in_title=True):
            candidates.append(_with_bonus(candidate, 0.1))
    candidates.extend(body)
    if not candidates:
        return ProseResult(reason="no date in the text")
    if title and _ANNOUNCE_RE.search(low_title):
        # A title that names an event ("Atelier…", "Soirée…") vouches for the dates below it.
        for candidate in candidates:
            candidate.confidence += 0.1
    if _HOURS_TITLE_RE.search(low_title):
        doc_penalty += 0.4  # "Nouveaux horaires", "Horaires d'été": opening hours, not events
    cancelled_title = bool(_CANCEL_TITLE_RE.search(low_title))
    for candidate in candidates:
        listed = programme and candidate.placed and candidate.start_time is not None
        if not (
            doc_penalty and candidate.position >= 0 and (listed or _announces_next(low, candidate))
        ):
            # A report that ends "Prochaine édition le samedi 28 mars à 14h !", or a newsletter
            # that recaps the past and then lists its next sessions, announces those.
            candidate.confidence -= doc_penalty
        if cancelled_title and not _NEW_DATE_RE.search(_words_before(low, candidate.position, 60)):
            # "Atelier annulé … Il est reporté au samedi 31 janvier": the new date stands.
            candidate.cancelled = True
    passing = [c for c in candidates if c.confidence >= threshold]
    if passing and not any(c.start_time is not None for c in passing):
        days = {c.first for c in passing}
        if len(days) == 1:
            # One event date, its time written elsewhere ("Le rendez-vous est à 19h"): the
            # post's only announced time is that date's.
            _document_time(passing, blocks, body, low)
    kept = _merge(
        [
            c
            for c in candidates
            if c.confidence >= threshold
            and (c.start_time is not None or not require_time or c.placed)
        ]
    )
    if not kept and require_time and any(c.confidence >= threshold for c in candidates):
        return ProseResult(
            reason="dates without a time: not enough on a whole page (configure selectors)",
            dates_found=len(candidates),
        )
    if not kept:
        best = max(candidates, key=lambda c: c.confidence)
        why = ", ".join(best.notes) or "not announced as an event"
        return ProseResult(
            reason=f"dates found but none announces an event ({why})",
            dates_found=len(candidates),
        )
    if len(kept) > max_events and not programme:
        return ProseResult(
            reason=f"{len(kept)} different dates: too many to tell which one is the event",
            dates_found=len(candidates),
        )
    events: list[ProseEvent] = []
    for candidate in kept:
        start, end, all_day = _span(candidate, tz)
        if candidate.position >= 0:
            place_text = blocks[candidate.block].text if blocks else text
            if programme and location_in(place_text, None) is None:
                place_text = ""
            near = place_text or _paragraph_around(text, candidate)
        else:
            near = text
        events.append(
            ProseEvent(
                start=start,
                end=end,
                all_day=all_day,
                location=find_location(near, text, default_city),
                confidence=round(min(candidate.confidence, 1.0), 2),
                evidence=candidate.evidence,
                status=CANCELLED if candidate.cancelled else CONFIRMED,
                label=candidate.label,
            )
        )
    kind = PROGRAMME if programme and len(events) > 1 else ANNOUNCEMENT
    if all(e.status == CANCELLED for e in events):
        kind = NOTICE
    return ProseResult(events=events, dates_found=len(candidates), kind=kind)


def parse_prose_datetime(
    text: str, *, reference: datetime, tz: tzinfo
) -> tuple[datetime, datetime | None, bool] | None:
    """Read one date (and time) written in words, e.g. a CSS-selected "jeudi 3 avril à 14h30".

    For short texts that are known to be a date (no confidence needed); None when no date is
    found. A missing year is the next occurrence on or after `reference`.
    """
    text = _normalize(text)
    found = _candidates(text, reference.astimezone(tz).date(), in_title=False, scored=False)
    if not found:
        return None
    best = min(found, key=lambda c: c.position)
    return _span(best, tz)


def is_generic_title(title: str) -> bool:
    """True for titles that name a page, not an event ("Agenda", "Accueil", "Actualités")."""
    return bool(_GENERIC_TITLE_RE.match(title.strip(" .:!")))


def title_from_evidence(text: str, event: ProseEvent) -> str:
    """A title for an event whose page has none: the sentence that announces it, shortened."""
    text = _normalize(text)
    position = text.find(event.evidence)
    sentence = _sentence_around(text, max(position, 0), max(position, 0) + len(event.evidence))
    sentence = " ".join(sentence.split()).strip(" .,:;")
    if len(sentence) > 90:
        sentence = sentence[:87].rsplit(" ", 1)[0] + "…"
    return sentence or "Événement"


# --- candidates ---------------------------------------------------------------------------------


def _normalize(text: str) -> str:
    return (text or "").replace("\xa0", " ").replace("\u202f", " ").replace("’", "'")


def _with_bonus(candidate: _Candidate, bonus: float) -> _Candidate:
    candidate.confidence += bonus
    candidate.position = -1  # from the title: look for the place in the whole text
    return candidate


def _candidates(
    text: str, reference: date | None, *, in_title: bool, scored: bool = True
) -> list[_Candidate]:
    """Every date mention of `text`, with its time and a confidence."""
    original, text = text, _lower(text)
    if not _PREFILTER_RE.search(text):
        return []
    ref = reference or date.today()
    found: list[_Candidate] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for match in _RANGE_RE.finditer(text):
        candidate = _from_range(match, ref)
        if candidate is not None:
            found.append(candidate)
            taken.append((candidate.position, candidate.span_end))
    for match in _DATE_RE.finditer(text):
        if not free(*match.span()):
            continue
        day = _resolve(match["d"], match["m"], match["y"], match["wd"], ref)
        if day is None:
            continue
        first, notes = day
        found.append(
            _Candidate(first, None, None, None, 0.55, match.start(), match.end(), match[0], notes)
        )
        taken.append(match.span())
    for match in _WEEKDAY_DAY_RE.finditer(text):
        if not free(*match.span()):
            continue
        day_number = 1 if match["d"] in ("1er", "premier") else int(match["d"])
        first = _day_with_weekday(day_number, _weekday(match["wd"]), ref)
        if first is None:
            continue
        found.append(_Candidate(first, None, None, None, 0.5, match.start(), match.end(), match[0]))
        taken.append(match.span())
    for match in _BARE_DAY_RE.finditer(text):
        if not free(*match.span("d")):
            continue
        # "dès la fin de ce mois de janvier, le 27": the month is named in the same sentence.
        named = _NAMED_MONTH_RE.search(_sentence_around(text, match.start(), match.end()))
        day = _resolve(match["d"], named["m"], None, None, ref) if named else None
        if day is None:
            continue
        first, notes = day
        start, end = match.span("d")
        found.append(_Candidate(first, None, None, None, 0.45, start, end, match["d"], notes))
        taken.append((start, end))
    for match in _MISSPELT_RE.finditer(text):
        month = _misspelt_month(match["m"])
        if month is None or not free(*match.span()):
            continue
        day = _resolve(match["d"], month, match["y"], match["wd"], ref)
        if day is None:
            continue
        first, notes = day
        found.append(
            _Candidate(first, None, None, None, 0.5, match.start(), match.end(), match[0], notes)
        )
        taken.append(match.span())
    for match in _NUMERIC_RE.finditer(text):
        if not free(*match.span()):
            continue
        numeric = _numeric_date(match, ref)
        if numeric is None:
            continue
        first, notes = numeric
        found.append(
            _Candidate(first, None, None, None, 0.5, match.start(), match.end(), match[0], notes)
        )
        taken.append(match.span())
    for match in _RELATIVE_RE.finditer(text):
        if not free(*match.span()):
            continue
        if reference is None:
            continue  # "ce jeudi" means nothing without a publication date
        first = _relative_day(match, reference)
        found.append(_Candidate(first, None, None, None, 0.5, match.start(), match.end(), match[0]))
        taken.append(match.span())
    for match in _MONTHLY_RE.finditer(text):
        if not free(*match.span()):
            continue
        first = _monthly_day(_ORDINALS[match["ord"].lower()], _weekday(match["wd"]), ref)
        candidate = _Candidate(first, None, None, None, 0.5, match.start(), match.end(), match[0])
        candidate.notes.append("recurring")
        found.append(candidate)
        taken.append(match.span())
    found.extend(_next_weekdays(found, text, free))
    if reference is not None:
        found.extend(_bare_weekdays(text, reference, free))
    found.sort(key=lambda c: c.position)
    found = _join_ranges(found, text)
    for candidate in found:
        # Matches ran on the lowercased text; show the words as written.
        candidate.evidence = original[
            candidate.position : candidate.position + len(candidate.evidence)
        ]
    for index, candidate in enumerate(found):
        limit = found[index + 1].position if index + 1 < len(found) else len(text)
        _attach_time(candidate, text, limit)
    for index, candidate in enumerate(found):
        partner = found[index + 1] if index + 1 < len(found) else None
        if candidate.paired and candidate.start_time is None and partner is not None:
            # "les 11 et 18 avril à 10h": the time is written once for both days.
            candidate.start_time, candidate.end_time = partner.start_time, partner.end_time
        if scored:
            _score(candidate, text, reference, in_title=in_title)
    return found


# Between the two ends of a range written with two full dates: "du 10/04 au 13/04",
# "les 30/05/2026 et 31/05/2026".
_BETWEEN_RANGE_RE: Final = re.compile(rf"\s*(?P<sep>au|et|-|–|jusqu'au)\s*(?:le\s+)?(?:{_WD}\s+)?")


def _join_ranges(found: list[_Candidate], text: str) -> list[_Candidate]:
    """Two dates joined by "au" (up to two months apart) or "et" (consecutive days): one span."""
    joined: list[_Candidate] = []
    index = 0
    while index < len(found):
        candidate = found[index]
        partner = found[index + 1] if index + 1 < len(found) else None
        if partner is not None and candidate.last is None and partner.last is None:
            between = _BETWEEN_RANGE_RE.fullmatch(text, candidate.span_end, partner.position)
            days = (partner.first - candidate.first).days
            if between is not None and (
                (between["sep"] != "et" and 0 < days <= 62)
                or (between["sep"] == "et" and days == 1)
            ):
                candidate.last = partner.first
                candidate.span_end = partner.span_end
                candidate.notes.extend(n for n in partner.notes if n not in candidate.notes)
                joined.append(candidate)
                index += 2
                continue
        joined.append(candidate)
        index += 1
    return joined


# "mardi 17 à 19h" with no month: the weekday and the day number agree on one date only.
_WEEKDAY_DAY_RE: Final = re.compile(
    rf"(?<![\w/])(?P<wd>{_WD})\s+(?P<d>1er|[0-3]?\d)(?![\w/.:-]|\s*(?:{_MONTH}|h\b|heures?\b|[a-zé]))"
)


_BARE_DAY_RE: Final = re.compile(
    rf"(?<![\w/])le\s+(?P<d>1er|[0-3]?\d)(?![\w/.:-]|\s*(?:{_MONTH}|h\b|heures?\b|[a-zé%€]))"
)
_NAMED_MONTH_RE: Final = re.compile(
    rf"(?<![\w])(?:mois\s+d['e]\s*|fin\s+|début\s+|mi-|en\s+)(?P<m>{_MONTH})(?![\w])"
)


def _day_with_weekday(day_number: int, weekday: int, ref: date) -> date | None:
    """The first date on or after `ref` that is that weekday and that day of the month."""
    year, month = ref.year, ref.month
    for _ in range(14):
        try:
            day = date(year, month, day_number)
        except ValueError:
            day = None
        if day is not None and day >= ref and day.weekday() == weekday:
            return day
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


# "mercredi 5 ocotbre": a day number and a word one slip away from a month's name.
_MISSPELT_RE: Final = re.compile(
    rf"(?<![\w/])(?:(?P<wd>{_WD})\s+)?(?P<d>{_DAY})\s+(?P<m>[a-zéèûô]{{5,10}})"
    rf"(?:\s+(?P<y>{_YEAR}))?(?![\w])"
)
_LONG_MONTHS: Final = (
    "janvier",
    "février",
    "avril",
    "juillet",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


@functools.lru_cache(maxsize=1024)
def _misspelt_month(word: str) -> str | None:
    """The month `word` misspells by one letter (added, dropped, changed or swapped), if any."""
    if re.fullmatch(_MONTH, word):
        return None  # spelt right: the ordinary date pattern reads it
    # Optimal string alignment: a swapped pair ("ocotbre") counts as one slip.
    for month in _LONG_MONTHS:
        if OSA.distance(word, month, score_cutoff=1) <= 1:
            return month
    return None


# "Vendredi 11/06 à 17h et samedi à 14h": a bare weekday right after a date, same sentence.
_NEXT_WEEKDAY_RE: Final = re.compile(
    # Not "et le jeudi": with an article, a weekday is a habit ("ouvert le mardi et le jeudi").
    rf"[^.!?\n]{{0,40}}?(?:\bet|,|\bpuis|\bou)\s+(?P<wd>{_WD})\b(?!\s+(?:\d|prochain|dernier))"
)


# "Rendez-vous samedi à 14h": a weekday on its own, in an invitation, with a time.
_BARE_WEEKDAY_RE: Final = re.compile(
    rf"(?<![\w-])(?P<wd>{_WD})(?![\w-])(?!\s+(?:\d|prochain|derni))"
)
_HABIT_BEFORE_RE: Final = re.compile(
    r"(?:\ble|\bles|\btous|\bchaque|\bdu|\bau|\bet|\bou|\bce|\bcette|,|/|\bpuis|\bsauf|"
    r"\bexcepté|\bjusqu'au|\bsoit)\s*$"
)


def _bare_weekdays(
    text: str, reference: date, free: Callable[[int, int], bool]
) -> list[_Candidate]:
    """A bare weekday in an invitation with a time: the next such day after publication.

    French usage: a weekday without determiner names the nearest one in the tense's direction
    ("Il viendra samedi"); "le samedi", "tous les samedis" or a list of weekdays are habits and
    opening hours, and the publication's own weekday is ambiguous (today or next week): none of
    these become dates.
    """
    found: list[_Candidate] = []
    for match in _BARE_WEEKDAY_RE.finditer(text):
        start, end = match.span("wd")
        if not free(start, end) or _HABIT_BEFORE_RE.search(text[max(0, start - 12) : start]):
            continue
        ahead = (_weekday(match["wd"]) - reference.weekday()) % 7
        if ahead == 0:
            continue
        sentence = _sentence_around(text, start, end)
        after = text[end : end + 40]
        time_after = _TIME_RANGE_RE.search(re.split(r"[.!?\n]", after)[0])
        if time_after is None or _OPENING_HOURS_RE.search(sentence):
            continue
        if not (_INVITE_RE.search(sentence) or _FUTURE_RE.search(sentence)):
            continue
        day = reference + timedelta(days=ahead)
        found.append(_Candidate(day, None, None, None, 0.45, start, end, match["wd"]))
    return found


def _next_weekdays(
    found: list[_Candidate], text: str, free: Callable[[int, int], bool]
) -> list[_Candidate]:
    """The day a bare weekday names when it follows a dated day: the next such weekday."""
    extra: list[_Candidate] = []
    for candidate in found:
        match = _NEXT_WEEKDAY_RE.match(text, candidate.span_end)
        if match is None or not free(match.start("wd"), match.end("wd")):
            continue
        ahead = (_weekday(match["wd"]) - candidate.first.weekday()) % 7 or 7
        day = candidate.first + timedelta(days=ahead)
        extra.append(
            _Candidate(day, None, None, None, 0.5, match.start("wd"), match.end("wd"), match["wd"])
        )
    return extra


def _resolve(
    day_text: str,
    month_text: str | None,
    year_text: str | None,
    weekday_text: str | None,
    ref: date,
) -> tuple[date, list[str]] | None:
    """The date of "vendredi 3 avril [2026]" read with dateparser, the year chosen by our rule."""
    if month_text is None:
        return None
    day_number = 1 if day_text.lower() in ("1er", "premier") else int(day_text)
    parsed = _day_month(day_number, month_text.lower().rstrip("."))
    if parsed is None:
        return None
    day_number, month = parsed
    weekday = _weekday(weekday_text) if weekday_text else None
    return _choose_year(day_number, month, int(year_text) if year_text else None, weekday, ref)


def _choose_year(
    day_number: int, month: int, year: int | None, weekday: int | None, ref: date
) -> tuple[date, list[str]] | None:
    notes: list[str] = []
    if year is not None:
        try:
            value = date(year, month, day_number)
        except ValueError:
            return None
        if weekday is not None and value.weekday() != weekday:
            notes.append("weekday contradicts the date")
        return value, notes
    options: list[date] = []
    for candidate_year in (ref.year, ref.year + 1):
        try:
            options.append(date(candidate_year, month, day_number))
        except ValueError:
            continue  # 29 February
    upcoming = [d for d in options if d >= ref]
    if not upcoming:
        return None
    value = upcoming[0]
    if weekday is not None and value.weekday() != weekday:
        matching = [d for d in upcoming if d.weekday() == weekday and (d - ref).days < 400]
        try:
            past = date(ref.year, month, day_number)
        except ValueError:
            past = None
        if matching:
            value = matching[0]
        elif past is not None and past < ref and past.weekday() == weekday:
            notes.append("the weekday fits a past date")
        else:
            notes.append("weekday contradicts the date")
    if (value - ref).days > 300:
        notes.append("more than ten months after publication, probably past")
    return value, notes


@functools.lru_cache(maxsize=4096)
def _day_month(day_number: int, month_word: str) -> tuple[int, int] | None:
    """(day, month) of "3 avril" with dateparser's French month names; None if impossible."""
    parsed = _parser().get_date_data(f"{day_number} {month_word} 2000")
    value = parsed.date_obj
    if value is None:
        return None
    return value.day, value.month


@functools.cache
def _parser():  # type: ignore[no-untyped-def]
    # Imported and built once: loading dateparser's language data costs ~0.1 s.
    from dateparser.date import DateDataParser

    return DateDataParser(
        languages=["fr"],
        settings={"DATE_ORDER": "DMY", "PREFER_DAY_OF_MONTH": "first", "STRICT_PARSING": True},
    )


def _weekday(text: str) -> int:
    return _WEEKDAYS.index(text.lower())


def _from_range(match: re.Match[str], ref: date) -> _Candidate | None:
    month2 = match["m2"]
    month1 = match["m1"] or month2
    year2 = match["y2"]
    year1 = match["y1"] or year2
    second = _resolve(match["d2"], month2, year2, match["wd2"], ref)
    if second is None:
        return None
    last, notes2 = second
    first_day = _resolve(match["d1"], month1, year1, match["wd1"], ref)
    if first_day is None:
        return None
    first, notes1 = first_day
    if first > last and year1 is None:
        # "du 28 décembre au 3 janvier": the first day is in the year before the last one's.
        try:
            same_year = first.replace(year=last.year)
            first = same_year if same_year <= last else first.replace(year=last.year - 1)
        except ValueError:  # 29 February
            return None
    if first > last or (last - first).days > 62:
        return None
    notes = notes1 + [n for n in notes2 if n not in notes1]
    sep = match["sep"].lower()
    candidate = _Candidate(
        first, last, None, None, 0.55, match.start(), match.end(), match[0], notes
    )
    if sep in ("et", "&") and (last - first).days > 1:
        # "les 7 et 14 juin": two separate days, not a span. This candidate covers the first;
        # the second gets its own through _DATE_RE, since only "7" is taken here.
        candidate.last = None
        candidate.span_end = match.end("d1")
        candidate.paired = True
    return candidate


def _numeric_date(match: re.Match[str], ref: date) -> tuple[date, list[str]] | None:
    day_number, month = int(match["d"]), int(match["m"])
    if not (1 <= day_number <= 31 and 1 <= month <= 12):
        return None
    year_text = match["y"]
    if match["s"] != "/" and year_text is None:
        return None  # "12.05" or "3-4" are numbers, not dates
    year = None
    if year_text:
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
    weekday = _weekday(match["wd"]) if match["wd"] else None
    return _choose_year(day_number, month, year, weekday, ref)


def _relative_day(match: re.Match[str], reference: date) -> date:
    weekday_text = match["wd"] or match["wd2"] or match["wd3"]
    if weekday_text:
        # "Prochain" is the first one to come (Larousse, Robert): "samedi prochain" written on
        # a Friday is the next day; the same weekday as the post's is next week's.
        ahead = (_weekday(weekday_text) - reference.weekday()) % 7
        if (match["wd2"] or match["wd3"]) and ahead == 0:
            ahead = 7
        if match["wd3"]:
            # "samedi en huit": a week after "samedi prochain"; "en quinze", two weeks.
            ahead += 7 if match["later"] == "huit" else 14
        return reference + timedelta(days=ahead)
    word = match["rel"].lower()
    return reference + timedelta(days=1 if word.startswith("demain") else 0)


def _monthly_day(ordinal: int, weekday: int, ref: date) -> date:
    """The next "n-th weekday of the month" on or after `ref`."""
    year, month = ref.year, ref.month
    for _ in range(3):
        day = _nth_weekday(year, month, ordinal, weekday)
        if day >= ref:
            return day
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return day


def _nth_weekday(year: int, month: int, ordinal: int, weekday: int) -> date:
    if ordinal > 0:
        first = date(year, month, 1)
        offset = (weekday - first.weekday()) % 7
        day = first + timedelta(days=offset + 7 * (ordinal - 1))
        return day if day.month == month else day - timedelta(days=7)
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    last = next_month - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _attach_time(candidate: _Candidate, text: str, limit: int) -> None:
    """The time written right after the date (same sentence), or just before it."""
    # An aside in brackets ("le samedi 2 mai (et non le 1er mai), de 9h à 13h") is skipped;
    # another date before the time means the time is that date's.
    after = _ASIDE_RE.sub(_keep_times, text[candidate.span_end : candidate.span_end + 160])[:90]
    other = _DATE_RE.search(after) or _NUMERIC_RE.search(after) or _RELATIVE_RE.search(after)
    if other:
        after = after[: other.start()]
    # "de 9h. à 12h.": the dot after an hour ends no sentence.
    stop = re.search(r"(?<!\d[h])[.!?](?:\s|$)|\n\s*\n", after)
    if stop:
        if not after[: stop.start()].strip(" ,:;-–") and stop.group().startswith("\n"):
            # The date closes its line ("📅 Jeudi 12 mars" / "🕕 18h30 - 21h"): the time may
            # open the next one.
            after = after[stop.end() :][:30]
        else:
            after = after[: stop.start()]
    match = _TIME_RANGE_RE.search(after)
    if match is None or _looks_like_duration(after, match):
        before = text[max(0, candidate.position - 40) : candidate.position]
        before = re.split(r"[.!?\n]", before)[-1]
        match = _TIME_RANGE_RE.search(before)
        if match is None or before[match.end() :].strip(" ,") not in ("", "le", "ce", "du"):
            return
    candidate.start_time = _clock(match["t1"])
    candidate.end_time = _clock(match["t2"]) if match["t2"] else None


_ASIDE_RE: Final = re.compile(r"\([^()]{0,120}\)")


def _keep_times(match: re.Match[str]) -> str:
    """An aside is skipped unless it is the time itself: "Lundi 19/10 (17h30 - 19h)"."""
    inner = match[0][1:-1]
    if _TIME_RANGE_RE.fullmatch(inner.strip()):
        return f" {inner} "
    return ""


_NEGATED_RE: Final = re.compile(
    r"(?:\bnon|\bpas|\bplus|\bannulée?s?|\breportée?s?|\bau\s+lieu\s+d[ue]|\bremplace)\s+"
    r"(?:pas\s+)?(?:le|du|la|les|ce|cette)?\s*$",
)


_DURATION_RE: Final = re.compile(r"(?<![\w])(?:pendant|durée|environ|dure)(?![\w])")


def _looks_like_duration(text: str, match: re.Match[str]) -> bool:
    # Whole words: "atelier soudure (17h30 - 19h)" is no "dure".
    return bool(_DURATION_RE.search(text[max(0, match.start() - 12) : match.start()].lower()))


def _clock(text: str) -> time | None:
    if text in ("midi", "minuit"):
        return time(12) if text == "midi" else time(0)
    digits = re.findall(r"\d+", text)
    if not digits:
        return None
    hour = int(digits[0])
    minute = int(digits[1]) if len(digits) > 1 else 0
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _score(candidate: _Candidate, text: str, reference: date | None, *, in_title: bool) -> None:
    """Adjust the candidate's confidence from its date, its time and the words around it."""
    sentence = _sentence_around(text, candidate.position, candidate.span_end)
    before = _words_before(text, candidate.position, 60)
    score = candidate.confidence
    if candidate.start_time is not None:
        score += 0.2
    elif candidate.evidence.lower().startswith("aujourd") or (
        candidate.evidence.lower().startswith("ce soir") and not _INVITE_RE.search(sentence)
    ):
        # "L'association compte aujourd'hui 100 adhérents": without a time, "today" is a figure
        # of speech far more often than a date; "Rendez-vous ce soir" is not.
        score -= 0.5
    if candidate.evidence.split()[0].lower() in _WEEKDAYS and not candidate.notes:
        score += 0.1
    for note in candidate.notes:
        if note == "recurring":
            continue
        score -= 0.4 if "probably past" in note else 0.5
    if reference is not None and candidate.first < reference:
        score -= 0.6
        candidate.notes.append("before the publication date")
    following = text[candidate.span_end : candidate.span_end + 150]
    if _ANNOUNCE_RE.search(sentence + following) or (in_title and _ANNOUNCE_RE.search(text)):
        score += 0.15
    if _PAST_RE.search(sentence) or (
        _PAST_WHEN_RE.search(sentence)
        and not (_FUTURE_RE.search(sentence) or _INVITE_RE.search(sentence))
    ):
        score -= 0.45
        candidate.notes.append("told in the past tense")
    elif _recounts(sentence) and not _INVITE_RE.search(sentence):
        # "Ce soir, les bénévoles ont visionné…": a passé composé recounts, unless the same
        # sentence invites ("nous avons prévu… venez").
        score -= 0.35
        candidate.notes.append("told in the past tense")
    if _NEGATED_RE.search(before.removesuffix(candidate.evidence)):
        score -= 0.6
        candidate.notes.append("a date that is denied or replaced")
    if _NOT_EVENT_RE.search(before) or _NOT_EVENT_RE.search(sentence[:80]):
        score -= 0.5
        candidate.notes.append("a publication date, deadline or opening hours")
    if _PLACE_OPENING_RE.search(sentence) and not _GATHERING_RE.search(sentence):
        score -= 0.4
        candidate.notes.append("a place opening or closing")
    if _POLL_RE.search(sentence):
        score -= 0.8  # a date offered to a vote is no date yet
        candidate.notes.append("a date still to be chosen")
    if _OPENING_HOURS_RE.search(sentence):
        score -= 0.5
        candidate.notes.append("opening hours")
    candidate.confidence = score


_RELATIVE_CLAUSE_RE: Final = re.compile(r"(?:\bqui|\bque|\bqu'|\bdont|\boù)\s*(?:\w+\s+){0,2}$")


def _recounts(sentence: str) -> bool:
    """A passé composé in the main clause; "…, qui nous ont permis de…" is an aside."""
    for match in _PERFECT_RE.finditer(sentence):
        if not _RELATIVE_CLAUSE_RE.search(sentence[max(0, match.start() - 20) : match.start()]):
            return True
    return False


_NEXT_ONE_RE: Final = re.compile(
    r"(?<![\w])prochaine?s?\s+(?:édition|rendez-vous|rdv|rencontre|séance|atelier|session|soirée|"
    r"meetup|apéro|réunion|date|diffusion|sortie|permanence)(?![\w])|(?<![\w])la\s+prochaine\s+aura"
)


def _announces_next(low: str, candidate: _Candidate) -> bool:
    sentence = _sentence_around(low, candidate.position, candidate.span_end)
    return (
        candidate.start_time is not None
        and bool(_NEXT_ONE_RE.search(sentence))
        and not _POLL_RE.search(sentence)
    )


def _words_before(text: str, position: int, width: int) -> str:
    """The words of the sentence just before `position`, never starting mid-word."""
    start = max(0, position - width)
    before = text[start:position]
    if start > 0 and text[start - 1].isalnum():
        before = before.split(" ", 1)[-1] if " " in before else ""
    return re.split(r"[.!?\n]", before)[-1]


def _sentence_around(text: str, start: int, end: int) -> str:
    left = max(text.rfind(".", 0, start), text.rfind("\n", 0, start), text.rfind("!", 0, start))
    right_candidates = [i for i in (text.find(". ", end), text.find("\n", end)) if i >= 0]
    right = min(right_candidates) if right_candidates else len(text)
    return text[left + 1 : right]


def _paragraph_around(text: str, candidate: _Candidate) -> str:
    left = text.rfind("\n\n", 0, candidate.position)
    right = text.find("\n\n", candidate.span_end)
    return text[left + 1 if left >= 0 else 0 : right if right >= 0 else len(text)]


def _merge(candidates: list[_Candidate]) -> list[_Candidate]:
    """One candidate per session: per day, the timed ones (one per start time), else the best."""
    by_day: dict[date, list[_Candidate]] = {}
    for candidate in candidates:
        by_day.setdefault(candidate.first, []).append(candidate)
    merged: list[_Candidate] = []
    for day in sorted(by_day):
        found = by_day[day]
        timed = [c for c in found if c.start_time is not None]
        best: dict[time | None, _Candidate] = {}
        for candidate in timed or found:
            current = best.get(candidate.start_time)
            if current is None or _rank(candidate) > _rank(current):
                best[candidate.start_time] = candidate
        chosen = sorted(best.values(), key=lambda c: c.start_time or time(0))
        if not timed:
            chosen = chosen[:1]
        for candidate in chosen:
            if candidate.position < 0:
                # A title date: the body's mention of the same day says where it is.
                placed = next((c for c in found if c.position >= 0), None)
                if placed is not None:
                    candidate.position, candidate.span_end = placed.position, placed.span_end
                    candidate.block = placed.block
        merged.extend(chosen)
    # A two-day span absorbs a single day inside it ("samedi 7 et dimanche 8 juin ... le 8").
    spans = [c for c in merged if c.last is not None]
    return [
        c
        for c in merged
        if c.last is not None
        or c.start_time is not None
        or not any(s.first < c.first <= s.last for s in spans if s.last)
    ]


def _rank(candidate: _Candidate) -> tuple[bool, bool, bool, float]:
    return (
        candidate.end_time is not None,
        candidate.last is not None,
        not candidate.cancelled,
        candidate.confidence,
    )


def _span(candidate: _Candidate, tz: tzinfo) -> tuple[datetime, datetime | None, bool]:
    last = candidate.last or candidate.first
    if candidate.start_time is None:
        start = datetime.combine(candidate.first, time(0), tzinfo=tz)
        return start, datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz), True
    start = datetime.combine(candidate.first, candidate.start_time, tzinfo=tz)
    end = None
    if candidate.end_time is not None:
        end = datetime.combine(last, candidate.end_time, tzinfo=tz)
        if end <= start:
            end += timedelta(days=1)  # "de 21h à 1h"
    elif candidate.last is not None and candidate.last != candidate.first:
        end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)
    return start, end, False


# --- the document's structure ----------------------------------------------------------------

# A status word after a date, in its own line or sentence: "(17h30-19h) : ~~Atelier~~ Annulé",
# "le 12 mai, reporté au 19".
_CANCEL_RE: Final = re.compile(
    r"(?<![\w])(?:annulée?s?|annulation|supprimée?s?|reportée?s?\s+(?:au|à)|"
    r"(?:est|sont)\s+reportée?s?|déprogrammée?s?|cancelled|canceled)(?![\w])"
)
_NEW_DATE_RE: Final = re.compile(
    r"report[ée]e?s?\s+(?:au|à)|reprogramm\w*|nouvelle\s+date|à\s+la\s+date\s+du|"
    r"remplacée?s?\s+par|décalée?s?\s+(?:au|à)|déplacée?s?\s+(?:au|à)"
)
_HOURS_TITLE_RE: Final = re.compile(r"(?<![\w])horaires?(?![\w])|(?<![\w])heures\s+d['’]ouverture")
_CANCEL_TITLE_RE: Final = re.compile(
    r"(?<![\w])(?:annulée?s?|annulation|supprimée?s?|cancelled|canceled)(?![\w])"
)
# What may stand in front of a date that opens its line: bullets, emoji, "Le", "Quand :".
_LEAD_RE: Final = re.compile(r"^[\W\d_]*(?:(?:le|les|du|quand|date|dates)\b[\s:]*)?$")
_LABEL_TRIM_RE: Final = re.compile(r"^[\s:,;.\-–—()/]+|[\s:,;.\-–—(/]+$")
_HEADING_TAIL: Final = 14
_SESSION_LOOKAHEAD: Final = 4


def _read_blocks(body: list[_Candidate], blocks: list[Block], low: str) -> None:
    """What each date's block says: its status, its label and, for a heading date, its times.

    A date alone on its line ("Samedi 31/10") heads the lines below it: each of them with a
    time ("Activité cuisine (16h30-18h)") is one session of that day.
    """
    if not blocks:
        return
    for candidate in body:
        candidate.block = block_at(blocks, candidate.position)
    dated_blocks = {candidate.block for candidate in body}
    extra: list[_Candidate] = []
    for index, candidate in enumerate(body):
        block = blocks[candidate.block]
        following = next(
            (c.position for c in body[index + 1 :] if c.block == candidate.block), block.end
        )
        after = low[candidate.span_end : following]
        if _struck(low, block.start, candidate.position) or _CANCEL_RE.search(after):
            candidate.cancelled = True
        if _leads_block(block, candidate, low):
            # "Lundi 19/10 : Activité jeux (17h30 - 19h)": the rest of the line names it.
            candidate.label = _label(block.text, candidate, block.start)
        if not _heads_block(block, candidate, low):
            continue
        sessions = []
        for number in range(candidate.block + 1, len(blocks)):
            if number in dated_blocks or number > candidate.block + _SESSION_LOOKAHEAD:
                break
            line = blocks[number]
            line_low = low[line.start : line.end]
            match = _TIME_RANGE_RE.search(line_low)
            if match is None or len(line_low) > 160 or _looks_like_duration(line_low, match):
                continue
            if _PAST_RE.search(line_low) or _OPENING_HOURS_RE.search(line_low):
                continue
            sessions.append((line, match))
        if not sessions:
            continue
        if candidate.start_time is None:
            candidate.confidence += 0.2
        if len(sessions) > 1 and all(
            _LEAD_RE.match(low[line.start : line.start + match.start()]) for line, match in sessions
        ):
            # "14h : accueil / 14h30 : conférence / 16h : ateliers": one day's timetable, one
            # event from its first time, not a session per line.
            first, last = sessions[0][1], sessions[-1][1]
            candidate.start_time = _clock(first["t1"])
            candidate.end_time = _clock(last["t2"]) if last["t2"] else None
            continue
        for number, (line, match) in enumerate(sessions):
            session = candidate if number == 0 else _copy(candidate)
            session.start_time = _clock(match["t1"])
            session.end_time = _clock(match["t2"]) if match["t2"] else None
            words = re.sub(r"\(\s*\)", "", _without(line.text, match.span()))
            session.label = _LABEL_TRIM_RE.sub("", words) or session.label
            if session is not candidate:
                session.position, session.span_end = line.start, line.end
                extra.append(session)
    body.extend(extra)
    body.sort(key=lambda c: c.position)
    for index, candidate in enumerate(body[:-1]):
        following = body[index + 1]
        if (
            candidate.cancelled
            and following.block == candidate.block
            and "~~" in low[candidate.span_end : following.position]
        ):
            # "~~Mercredi 11/08~~ Jeudi 12/08 (18h30-20h) : pique-nique": the session moved,
            # the old date had the same name and, when it gives none, the same hours.
            candidate.label = following.label
            if candidate.start_time is None:
                candidate.start_time, candidate.end_time = following.start_time, following.end_time


def _copy(candidate: _Candidate) -> _Candidate:
    return _Candidate(
        candidate.first,
        candidate.last,
        candidate.start_time,
        candidate.end_time,
        candidate.confidence,
        candidate.position,
        candidate.span_end,
        candidate.evidence,
        list(candidate.notes),
        candidate.paired,
        candidate.block,
        candidate.cancelled,
        candidate.label,
        candidate.placed,
    )


def _struck(low: str, block_start: int, position: int) -> bool:
    """Whether the date stands between "~~" marks (Markdown strike-through) in its block."""
    return low.count("~~", block_start, position) % 2 == 1


def _heads_block(block: Block, candidate: _Candidate, low: str) -> bool:
    """A date that is (nearly) all of its block: a heading for the blocks below."""
    before = low[block.start : candidate.position]
    rest = low[candidate.span_end : block.end].strip(" :,.-–—()!")
    return bool(_LEAD_RE.match(before)) and len(rest) <= _HEADING_TAIL


def _leads_block(block: Block, candidate: _Candidate, low: str) -> bool:
    """A date that opens its block: "Lundi 19/10 : Activité…", "* 12/05 (18h) Atelier".

    A struck-through old date in front does not count: "~~Mercredi 11/08~~ Jeudi 12/08 …".
    """
    before = low[block.start : candidate.position]
    return bool(_LEAD_RE.match(_STRUCK_TEXT_RE.sub("", before) if "~~" in before else before))


_STRUCK_TEXT_RE: Final = re.compile(r"~~[^~]*~~")
# What is left in front of a label once its date and time are out: "Le : …", "Du , : …".
_LABEL_LEAD_RE: Final = re.compile(
    r"^(?:(?:le|les|la|l'|du|au|aux|des|de|dès|à|et|,|:|-|–)\s*)+", re.I
)


def _without(text: str, span: tuple[int, int]) -> str:
    return " ".join((text[: span[0]] + " " + text[span[1] :]).split())


def _label(text: str, candidate: _Candidate, offset: int) -> str:
    """The words of the date's block once the date (and its time) are taken out."""
    start, end = candidate.position - offset, candidate.span_end - offset
    if not 0 <= start < end <= len(text):
        return ""
    rest = _without(text, (start, end))
    match = _TIME_RANGE_RE.search(rest.lower())
    if match is not None:
        rest = _without(rest, match.span())
    # Asides ("(ou au local s'il pleut)") and struck words are not the event's name.
    rest = re.sub(r"\([^()]*\)", " ", rest)
    # A struck old date goes; struck words stay: "~~Atelier maths~~ Annulé" names the atelier.
    rest = _STRUCK_TEXT_RE.sub(lambda m: " " if re.search(r"\d", m[0]) else m[0][2:-2], rest)
    rest = rest.replace("~~", " ")
    rest = _LABEL_LEAD_RE.sub("", _LABEL_TRIM_RE.sub("", " ".join(rest.split())))
    rest = _LABEL_TRIM_RE.sub("", rest)
    return rest[:120] if len(rest) >= 3 else ""


def _is_programme(body: list[_Candidate], blocks: list[Block], low: str) -> bool:
    """Several dated lines, each opening its own block: a programme, one event per line."""
    if not blocks:
        return False
    leading = {c.block for c in body if _leads_block(blocks[c.block], c, low)}
    timed = {
        number
        for number in leading
        if _TIME_RANGE_RE.search(low[blocks[number].start : blocks[number].end])
    }
    return len(leading) >= 2 and (len(leading) >= 3 or len(timed) >= 1)


_WHEN_CUE_RE: Final = re.compile(r"(?:^|\W)(?:quand|dates?|le\s+jour)\s*\??\s*:?\s*$")
_TITLE_WORD_RE: Final = re.compile(r"[^\W\d_]{4,}")


def _mark_placed(
    body: list[_Candidate], blocks: list[Block], low: str, low_title: str, programme: bool
) -> None:
    """Mark the dates that stand where an event's date stands (see `_Candidate.placed`)."""
    title_words = set(_TITLE_WORD_RE.findall(low_title))
    for candidate in body:
        if not blocks:
            return
        block = blocks[candidate.block]
        before = low[block.start : candidate.position]
        if (programme and _leads_block(block, candidate, low)) or _WHEN_CUE_RE.search(before):
            candidate.placed = True
        elif _leads_block(block, candidate, low) and candidate.block > 0:
            previous = blocks[candidate.block - 1]
            candidate.placed = bool(_WHEN_CUE_RE.search(low[previous.start : previous.end]))
        if not candidate.placed and block.kind == HEADING and title_words:
            words = set(_TITLE_WORD_RE.findall(low[block.start : block.end]))
            candidate.placed = len(words & title_words) >= 1


# A time written as the meeting time: "le rendez-vous est à 19h", "à partir de 19h", "dès 19h".
_CUED_TIME_RE: Final = re.compile(
    r"rendez[- ]vous|\brdv\b|accueil|ouverture\s+des\s+portes|commencer[ao]|débuter[ao]|"
    r"\bdébut\b|\bhoraires?\b|\bheure\b"
)


def _document_time(
    passing: list[_Candidate], blocks: list[Block], body: list[_Candidate], low: str
) -> None:
    """Give the post's one event date the first meeting time written elsewhere in it."""
    day = passing[0].first
    other_days = {c.block for c in body if c.first != day}
    for number, block in enumerate(blocks):
        if number in other_days:
            continue
        line = low[block.start : block.end]
        for match in _TIME_RANGE_RE.finditer(line):
            before = line[max(0, match.start() - 40) : match.start()]
            lead = (match["lead"] or "").replace("a ", "à ")
            meeting = lead in ("dès", "à partir de") or (lead in ("de", "entre") and match["t2"])
            if not (meeting or _CUED_TIME_RE.search(before)):
                continue
            if _looks_like_duration(line, match) or _OPENING_HOURS_RE.search(line):
                continue
            if _PAST_RE.search(_sentence_around(line, match.start(), match.end())):
                continue
            start, end = _clock(match["t1"]), _clock(match["t2"]) if match["t2"] else None
            if start is None:
                continue
            for candidate in passing:
                candidate.start_time, candidate.end_time = start, end
            return
