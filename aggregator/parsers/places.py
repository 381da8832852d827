"""Places named in French prose: venue, street address, postcode and commune.

"à la Maison des associations, 12 rue de la Gare, 35600 Redon", "salle Creac'h Gwen, 29280
Plouzané", "au fablab", "à Morlaix": the place of an event, read from the event's own block
first and from the whole text after. Only what reads as a place counts: "initiation à Python"
names a subject, a weekday or a month is no town.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from aggregator.models import Location
from aggregator.normalize import parse_location
from aggregator.parsers.french import MONTH as _MONTH
from aggregator.parsers.french import WEEKDAYS as _WEEKDAYS

# Places. French postcode + commune ("35600 Redon", "29120 Pont-l'Abbé").
_NAME_WORD = r"[A-ZÉÈÊÀÂÎÔÛÇ][\w'’-]*"
_LINK = r"(?:-|[ \t]+(?:de|du|des|la|le|les|l['’]|d['’]|sur|en|sous|aux?)[ \t]*|[ \t]+)"
_COMMUNE = rf"{_NAME_WORD}(?:{_LINK}{_NAME_WORD}){{0,4}}"
_POSTCODE_RE: Final = re.compile(
    rf"(?<!\d)(?P<pc>(?:[0-8]\d|9[0-5])\d{{3}})\s+(?P<city>{_COMMUNE})"
)
_STREET_RE: Final = re.compile(
    r"(?<![\w])(?P<street>(?:\d{1,4}(?:\s?(?:bis|ter|b))?,?\s+|(?<=, ))"
    r"(?:rue|avenue|av\.|boulevard|bd|place|chemin|route|impasse|allée|quai|cours|square|esplanade|venelle|hent|straed|"
    r"ruelle|rond-point|lieu-dit|promenade|mail|parvis|zone|za|zi)\b[^,\n.;()]{2,60})",
    re.I,
)
_VENUE_WORDS = (
    r"maison|salle|médiathèque|mediatheque|bibliothèque|fablab|fab\s?lab|cantine|espace|centre|"
    r"café|cafe|bar|mairie|école|lycée|collège|université|fac|faculté|mjc|tiers[- ]lieu|local|"
    r"locaux|foyer|hall|gymnase|chapelle|pôle|hangar|ferme|auberge|pub|brasserie|librairie|"
    r"théâtre|cinéma|cinema|halle|halles|manoir|château|abbaye|musée|campus|hackerspace|"
    r"repair|ressourcerie|recyclerie|atelier\s+(?:de|du|des)\s+\w+|lab|labo|quai|jardin|parc|"
    r"boutique|friche|site|tiers|cyber|arena|port|gare|cité|palais|auditorium|amphi|garage|"
    r"grange|kiosque|bistrot|crêperie|restaurant|recyclerie|MPT|maison\s+pour\s+tous"
)
_VENUE_RE: Final = re.compile(
    r"(?<![\w])(?:(?:à\s+la|au|aux|chez|dans\s+la|dans\s+les\s+locaux\s+(?:de|du|des)|"
    r"dans\s+le|en\s+salle|salle)\s+|à\s+l['’]\s*)"
    rf"(?P<venue>(?:{_NAME_WORD}|(?:{_VENUE_WORDS})\b)"
    r"(?:[ \t]+(?!à\s|a\s|au\s|aux\s|chez\s|dans\s|de\s+\d|dès|pour|avec|afin|puis|et\s|le\s+\d|"
    r"ce\s|ou\s|qui\s|où\s)"
    r"[\w'’-]+){0,6})",
    re.I,
)
_TOWN_RE: Final = re.compile(rf"(?<![\w])(?:à|a)\s+(?P<town>{_COMMUNE})")
_NOT_TOWN: Final = frozenset(
    {w.casefold() for w in (*_WEEKDAYS, "partir", "Noël", "Pâques", "Toussaint", "La", "Le")}
)
_NOT_VENUE_START: Final = frozenset(
    {
        "programme",
        "menu",
        "découverte",
        "suite",
        "fois",
        "cours",
        "moins",
        "plus",
        "mois",
        "lieu",
        "rendez-vous",
        "fin",
        "début",
        "besoin",
        "sujet",
        "occasion",
        "place",
        "heure",
        "demande",
        "maison",
    }
)


def find_location(near: str, whole: str, default_city: str | None) -> Location:
    """The place named in `near` (the event's paragraph), else in `whole`, else the default city."""
    for text in (near, whole):
        location = location_in(text, default_city)
        if location is not None:
            return location
    return parse_location(None, default_city)


# "📍 Tiers-lieu La Grenouillère, 2 rue des Ajoncs, 35400 Saint-Malo", "Lieu : Salle Nominoë".
_PLACE_LINE_RE: Final = re.compile(
    r"^[ \t]*(?:📍|📌|🏠|lieu[ \t]*:|adresse[ \t]*:|où[ \t]*\??[ \t]*:)[ \t]*"
    r"(?P<place>[^\n]{3,160})$",
    re.I | re.M,
)


@functools.lru_cache(maxsize=512)
def location_in(text: str, default_city: str | None) -> Location | None:
    # Cached: every line of a programme falls back to the same whole text.
    if not text:
        return None
    line = _PLACE_LINE_RE.search(text)
    if line:
        return parse_location(line["place"].strip(" .;"), default_city)
    postcode = _POSTCODE_RE.search(text)
    street = _STREET_RE.search(text)
    venue = _first_venue(text)
    if postcode is None and street is None and venue is None:
        town = _first_town(text)
        if town is None:
            return None
        return parse_location(None, default_city, city=town)
    name = venue
    address = street["street"].strip(" ,") if street else None
    if address and postcode:
        address = address.split(postcode["pc"])[0].strip(" ,") or None
    city = _trim_commune(postcode["city"]) if postcode else _first_town(text)
    if name and address and address in name:
        name = name.replace(address, "").strip(" ,") or None
    return parse_location(
        None,
        default_city,
        name=name,
        address=address,
        postcode=postcode["pc"] if postcode else None,
        city=city,
    )


# Lowercase words that belong to a venue's name ("salle des fêtes", "centre social").
_VENUE_NAME_WORDS: Final = frozenset(
    [
        "numérique",
        "associations",
        "jeunes",
        "municipale",
        "culturel",
        "culturelle",
        "sociale",
        "social",
        "quartier",
        "communale",
        "polyvalente",
        "fêtes",
        "loisirs",
        "sports",
        "citoyenne",
        "citoyen",
        "solidaire",
        "partagé",
        "partagée",
        "jeunesse",
        "ville",
        "arts",
        "information",
        "multimédia",
        "multimedia",
        "rencontres",
        "habitants",
        "informatique",
        "intercommunale",
        "associatif",
        "associative",
        "municipal",
        "communal",
    ]
)
_LINK_WORDS: Final = frozenset(("de", "du", "des", "la", "le", "l'", "d'", "les", "en", "sur"))
_IS_VENUE_WORD_RE: Final = re.compile(rf"(?:{_VENUE_WORDS})\b", re.I)


def _first_venue(text: str) -> str | None:
    """The first named place: "à la Maison des associations", "au fablab", "salle Creac'h Gwen"."""
    for match in _VENUE_RE.finditer(text):
        words = match["venue"].strip(" ,.").split()
        if not words:
            continue
        first = words[0].lower()
        if (first in _NOT_VENUE_START and not (first == "maison" and len(words) > 1)) or (
            first in _WEEKDAYS or re.match(_MONTH + r"$", first)
        ):
            continue
        if words[0][0].islower() and not _IS_VENUE_WORD_RE.match(words[0]):
            continue
        # Keep capitalised words and link words ("Maison des associations de Saint-Nicolas"),
        # cut at a lowercase word that starts a new clause.
        cut = len(words)
        for position, word in enumerate(words[1:], start=1):
            lower = word.lower()
            if lower in _LINK_WORDS or not word[0].islower() or lower in _VENUE_NAME_WORDS:
                continue
            if not _IS_VENUE_WORD_RE.fullmatch(word):
                cut = position
                break
        kept = words[:cut]
        while kept and kept[-1].lower() in _LINK_WORDS:
            kept.pop()
        name = " ".join(kept).strip(" ,.'")
        keyword = match[0][: match.start("venue") - match.start()].strip().lower()
        if keyword == "salle" and not name.lower().startswith("salle"):
            name = f"salle {name}"
        if len(name) >= 3:
            return name[0].upper() + name[1:]
    return None


def _first_town(text: str) -> str | None:
    for match in _TOWN_RE.finditer(text):
        town = _trim_commune(match["town"])
        if not town:
            continue
        if town.split()[0].casefold() in _NOT_TOWN or re.match(_MONTH + r"$", town, re.I):
            continue
        if town.split()[0].casefold().rstrip("'") in ("l", "la", "le", "les"):
            continue
        if _TOPIC_BEFORE_RE.search(text[max(0, match.start() - 30) : match.start()]):
            continue  # "initiation à Python": a subject, not a town
        return town
    return None


# Nouns and verbs whose "à" introduces a subject or a goal, not a place.
_TOPIC_BEFORE_RE: Final = re.compile(
    r"(?:initiation|introduction|formation|sensibilisation|découverte|participer|participez|"
    r"accès|aide|contribuer|contributions?|passer|migrer|migration|initier|former|"
    r"s'initier|initiez-vous|dédiée?s?|consacrée?s?|appel|invitation|bienvenue|"
    # … or a person or a thing: "merci à Framasoft", "un mail à Sophie", "similaire à Liquid".
    r"merci|grâce|bravo|mail|courriel|message|écrire|écrivez|envoyer|envoyez|adresser|"
    r"adressez-vous|demander|demandez|parler|parlez|répondre|répondez|similaire|identique|"
    r"comparable|semblable|appartient|offerte?s?|pensez|penser|abonnez-vous|abonner)\s*$",
    re.I,
)


def _trim_commune(text: str) -> str:
    """ "Redon Entrée libre" → "Redon": a commune is capitalised words and their link words."""
    words = text.split()
    kept: list[str] = []
    for word in words:
        if (
            word[0].isupper()
            or word.lower()
            in ("de", "du", "des", "la", "le", "les", "sur", "en", "sous", "aux", "au")
            or word.lower().startswith(("l'", "d'"))
        ):
            kept.append(word)
        else:
            break
    while kept and not kept[-1][0].isupper() and not kept[-1].lower().startswith(("l'", "d'")):
        kept.pop()
    result = " ".join(kept).strip(" ,.")
    return re.sub(r"\s+(?:Cedex|CEDEX)(?:\s+\d+)?$", "", result)
