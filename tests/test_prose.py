"""French prose: dates, times and places of events announced in words (aggregator/parsers/prose)."""

from __future__ import annotations

from datetime import datetime

import pytest
from parser_helpers import PARIS

from aggregator.models import Location
from aggregator.normalize import strip_title_prefix
from aggregator.parsers.prose import (
    THRESHOLD,
    extract_events,
    has_date_hint,
    parse_prose_datetime,
)

PUBLISHED = datetime(2026, 3, 18, 9, tzinfo=PARIS)  # a Wednesday


def one(text: str, title: str = "", published: datetime = PUBLISHED, city: str | None = None):  # type: ignore[no-untyped-def]
    result = extract_events(text, title=title, published=published, tz=PARIS, default_city=city)
    assert len(result.events) == 1, result.reason
    return result.events[0]


def none_reason(text: str, title: str = "", published: datetime = PUBLISHED) -> str:
    result = extract_events(text, title=title, published=published, tz=PARIS)
    assert result.events == []
    return result.reason


def test_issue_example_with_address() -> None:
    event = one(
        "Rendez-vous vendredi 3 avril à partir de 14h30 à la Maison des associations, "
        "12 rue de la Gare, 35600 Redon"
    )
    assert (event.start, event.end, event.all_day) == (
        datetime(2026, 4, 3, 14, 30, tzinfo=PARIS),
        None,
        False,
    )
    assert event.location == Location(
        "Maison des associations", "12 rue de la Gare", "35600", "Redon"
    )
    assert event.confidence >= THRESHOLD


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("Atelier le 12/05 de 18h à 20h.", (2026, 5, 12, 18, 0), (2026, 5, 12, 20, 0)),
        ("Conférence à 18 h 30 le mardi 24 mars.", (2026, 3, 24, 18, 30), None),
        (
            "Soirée jeux le samedi 28 mars, 20:00 - 23:30.",
            (2026, 3, 28, 20, 0),
            (2026, 3, 28, 23, 30),
        ),
        (
            "Fest-noz numérique le samedi 4 avril de 21h à 2h.",
            (2026, 4, 4, 21, 0),
            (2026, 4, 5, 2, 0),
        ),
        (
            "Atelier le mercredi 1er avril de 14 heures à 17 heures.",
            (2026, 4, 1, 14, 0),
            (2026, 4, 1, 17, 0),
        ),
    ],
)
def test_times_and_end_times(
    text: str, start: tuple[int, ...], end: tuple[int, ...] | None
) -> None:
    event = one(text)
    assert event.start == datetime(*start, tzinfo=PARIS)
    assert event.end == (datetime(*end, tzinfo=PARIS) if end else None)


def test_day_spans_are_all_day() -> None:
    weekend = one("Le week-end du libre aura lieu samedi 4 et dimanche 5 avril.")
    assert weekend.all_day
    assert (weekend.start, weekend.end) == (
        datetime(2026, 4, 4, tzinfo=PARIS),
        datetime(2026, 4, 6, tzinfo=PARIS),  # exclusive end, as in iCalendar
    )
    festival = one("Le festival se tiendra du 4 au 6 octobre à Vannes.")
    assert (festival.start, festival.end) == (
        datetime(2026, 10, 4, tzinfo=PARIS),
        datetime(2026, 10, 7, tzinfo=PARIS),
    )
    assert festival.location.city == "Vannes"


def test_two_separate_days_and_ranges_across_the_new_year() -> None:
    result = extract_events(
        "Ateliers d'initiation les samedis 11 et 18 avril à 10h.", published=PUBLISHED, tz=PARIS
    )
    # Two events, the time written once for both.
    assert [e.start for e in result.events] == [
        datetime(2026, 4, 11, 10, tzinfo=PARIS),
        datetime(2026, 4, 18, 10, tzinfo=PARIS),
    ]
    holidays = one(
        "Le fablab propose des stages du 28 décembre au 3 janvier.",
        published=datetime(2026, 11, 2, tzinfo=PARIS),
    )
    assert (holidays.start, holidays.end) == (
        datetime(2026, 12, 28, tzinfo=PARIS),
        datetime(2027, 1, 4, tzinfo=PARIS),
    )


def test_missing_year_is_next_occurrence_after_publication_not_today() -> None:
    # Published in 2019: the event is in 2019 even though today is years later.
    old = datetime(2019, 11, 20, tzinfo=PARIS)
    assert one("Atelier le jeudi 5 décembre à 18h.", published=old).start == datetime(
        2019, 12, 5, 18, tzinfo=PARIS
    )
    # After the date in the publication year: the next year
    december = datetime(2025, 12, 15, tzinfo=PARIS)
    assert one("Galette le vendredi 9 janvier à 19h.", published=december).start.year == 2026


def test_relative_and_monthly_dates() -> None:
    # Published on Wednesday 18 March 2026.
    assert one("Ce jeudi soir, soirée jeux au fablab.").start.date().isoformat() == "2026-03-19"
    assert one("Réunion jeudi prochain à 20h.").start == datetime(2026, 3, 19, 20, tzinfo=PARIS)
    assert one("Demain soir à 20h30, projection.").start == datetime(
        2026, 3, 19, 20, 30, tzinfo=PARIS
    )
    monthly = one("Café vie privée tous les premiers jeudis du mois à 18 h 30.")
    assert monthly.start == datetime(2026, 4, 2, 18, 30, tzinfo=PARIS)
    assert one("Soirée jeux chaque dernier vendredi du mois à 20h.").start.day == 27


def test_date_in_the_title_and_time_in_the_body() -> None:
    event = one(
        "Venez nombreux, à partir de 19h au bar L'Escale.", title="Apéro numérique le 16 mai"
    )
    assert event.start == datetime(2026, 5, 16, 19, tzinfo=PARIS)


def test_weekday_contradicting_the_date_lowers_confidence() -> None:
    right = extract_events("Atelier le samedi 21 mars à 14h.", published=PUBLISHED, tz=PARIS)
    wrong = extract_events("Atelier le dimanche 21 mars à 14h.", published=PUBLISHED, tz=PARIS)
    assert right.events and not wrong.events
    # 21 March is a Sunday only in 2027: a date a year away, not trusted
    assert "dates found" in wrong.reason


@pytest.mark.parametrize(
    ("title", "text", "why"),
    [
        (
            "Retour sur l'install party",
            "Samedi 14 mars, nous étions trente à la médiathèque.",
            "past",
        ),
        ("Notre histoire", "Le projet est né en novembre 2017 à Lorient.", "no date"),
        ("Offre d'emploi", "La Cantine recrute en CDD. Prise de poste le 4 mai.", ""),
        ("Infos", "Le fablab est ouvert du mardi au samedi de 14h à 18h.", "no date"),
        ("Site", "Publié le 4 mars 2026. Notre site fait peau neuve.", ""),
        ("AG", "L'association a tenu son assemblée générale samedi 14 mars.", "past tense"),
        ("Appel", "Dossiers à déposer jusqu'au 30 avril.", "deadline"),
    ],
)
def test_hard_negatives_create_no_event(title: str, text: str, why: str) -> None:
    assert why in none_reason(text, title)


def test_many_dates_in_one_text_give_nothing_over_max_events() -> None:
    text = " ".join(f"Atelier le {day} avril 2026 à 18h." for day in (2, 9, 16))
    assert len(extract_events(text, published=PUBLISHED, tz=PARIS).events) == 3
    result = extract_events(text, published=PUBLISHED, tz=PARIS, max_events=1)
    assert result.events == [] and "3 different dates" in result.reason


def test_breton_places() -> None:
    plouzane = one("Install party le samedi 21 mars à 14h, salle Creac'h Gwen, 29280 Plouzané.")
    assert plouzane.location == Location("Salle Creac'h Gwen", None, "29280", "Plouzané")
    abbe = one("Repair café le samedi 21 mars à 9h30, place de la République, 29120 Pont-l'Abbé.")
    assert (abbe.location.postcode, abbe.location.city) == ("29120", "Pont-l'Abbé")
    assert abbe.location.address == "place de la République"
    venue = one("Atelier au fablab le samedi 21 mars à 10h.", city="Landerneau")
    assert venue.location == Location("Fablab", None, None, "Landerneau")
    town = one("Apéro le vendredi 20 mars à 19h à Morlaix.", city="Brest")
    assert town.location.city == "Morlaix"


def test_parse_prose_datetime_for_selected_text() -> None:
    reference = datetime(2026, 3, 1, tzinfo=PARIS)
    assert parse_prose_datetime("jeudi 2 avril à 14h30 - 17h", reference=reference, tz=PARIS) == (
        datetime(2026, 4, 2, 14, 30, tzinfo=PARIS),
        datetime(2026, 4, 2, 17, tzinfo=PARIS),
        False,
    )
    assert parse_prose_datetime("Date à venir", reference=reference, tz=PARIS) is None


def test_cheap_prefilter() -> None:
    assert has_date_hint("Le 3 AVRIL")
    assert has_date_hint("rdv 12/05")
    assert not has_date_hint("Un email sans date, ni mois, main dans la main.")


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("[Agenda] Apéro numérique", "Apéro numérique"),
        ("[Agenda] [Brest] Install party", "Install party"),
        ("Agenda : Café vie privée", "Café vie privée"),
        ("(Annulé) Atelier", "Atelier"),
        ("[Agenda]", "[Agenda]"),
        ("Atelier [débutants]", "Atelier [débutants]"),
    ],
)
def test_strip_title_prefix(title: str, expected: str) -> None:
    assert strip_title_prefix(title) == expected
