"""French prose: dates, times and places of events announced in words (aggregator/parsers/prose)."""

from __future__ import annotations

from datetime import date, datetime
from html import escape

import pytest
from parser_helpers import PARIS, document_from_bytes, make_context, make_source

from aggregator.models import CANCELLED, CONFIRMED, Event, Location
from aggregator.normalize import strip_title_prefix
from aggregator.parsers import feed, html
from aggregator.parsers.notices import apply_notices, read_notice
from aggregator.parsers.prose import (
    NOTICE,
    PROGRAMME,
    THRESHOLD,
    extract_events,
    has_date_hint,
    parse_prose_datetime,
)
from aggregator.parsers.segment import HEADING, ITEM, PARAGRAPH, segment

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


# --- issue 11: reading posts as documents -------------------------------------------------------

FRIDAY = datetime(2026, 3, 20, 10, tzinfo=PARIS)


def events_of(text: str, title: str = "", published: datetime = PUBLISHED, **options):  # type: ignore[no-untyped-def]
    return extract_events(text, title=title, published=published, tz=PARIS, **options).events


def test_segment_gives_blocks_with_kinds_and_positions() -> None:
    text = (
        "Programme du mois\n\n"
        "Une longue phrase qui présente le programme et ses ateliers, écrite sur une ligne.\n\n"
        "* Lundi 6/04 : atelier\n* Mardi 7/04 : repair café\n\n"
        "Un paragraphe replié par le générateur du site sur\ndeux lignes sans ponctuation."
    )
    blocks = segment(text)
    assert [block.kind for block in blocks] == [HEADING, PARAGRAPH, ITEM, ITEM, PARAGRAPH]
    assert all(text[b.start : b.end] == b.text for b in blocks)
    assert blocks[-1].text.endswith("deux lignes sans ponctuation.")  # a soft wrap, one block
    assert blocks[2].paragraph == blocks[3].paragraph != blocks[4].paragraph


def test_programme_of_dated_lines_gives_one_event_per_line() -> None:
    lines = "\n\n".join(
        f"{weekday} {day}/04 : {what} ({hours})"
        for weekday, day, what, hours in (
            ("Lundi", 6, "atelier soudure", "17h30 - 19h"),
            ("Mercredi", 8, "café réparation", "14h-17h"),
            ("Vendredi", 10, "soirée jeux", "20h à 23h"),
            ("Samedi", 11, "install party", "10h - 12h"),
            ("Mardi", 14, "initiation Python", "18h30-20h"),
            ("Jeudi", 16, "club vidéo", "17h - 18h"),
        )
    )
    result = extract_events(f"Voici le programme :\n\n{lines}", published=PUBLISHED, tz=PARIS)
    assert result.kind == PROGRAMME
    assert [(e.start.day, e.start.hour, e.start.minute) for e in result.events] == [
        (6, 17, 30),
        (8, 14, 0),
        (10, 20, 0),
        (11, 10, 0),
        (14, 18, 30),
        (16, 17, 0),
    ]
    assert result.events[0].end == datetime(2026, 4, 6, 19, tzinfo=PARIS)
    assert result.events[0].label == "atelier soudure"


def test_heading_date_gives_each_timed_line_below_as_a_session() -> None:
    text = "Samedi 9 mai\n\nAtelier vélo (10h - 12h)\n\nRepair café (14h-17h30)\n\nVenez nombreux !"
    sessions = events_of(text, title="Journée bricolage")
    assert [(e.start, e.end, e.label) for e in sessions] == [
        (
            datetime(2026, 5, 9, 10, tzinfo=PARIS),
            datetime(2026, 5, 9, 12, tzinfo=PARIS),
            "Atelier vélo",
        ),
        (
            datetime(2026, 5, 9, 14, tzinfo=PARIS),
            datetime(2026, 5, 9, 17, 30, tzinfo=PARIS),
            "Repair café",
        ),
    ]


def test_time_paragraphs_after_the_only_date() -> None:
    text = (
        "Notre prochain apéro aura lieu le jeudi 21 mai au bar Le Grand Large.\n\n"
        "On y parlera cartes libres et auto-hébergement.\n\n"
        "Le rendez-vous est fixé à 19h30."
    )
    assert one(text).start == datetime(2026, 5, 21, 19, 30, tzinfo=PARIS)
    # A time that closes minutes is not a meeting time.
    closing = (
        "Assemblée générale le samedi 23 mai.\n\nNous serons heureux de vous y voir.\n\n"
        "La salle ferme à 18h."
    )
    assert one(closing).all_day


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("Permanence le mercredi 3 juin de 14 à 18h.", (2026, 6, 3, 14, 0), (2026, 6, 3, 18, 0)),
        ("Atelier le samedi 13 juin de 9h. à 12h.", (2026, 6, 13, 9, 0), (2026, 6, 13, 12, 0)),
        (
            "Formation le 23 septembre 2026 de 9.00 h à 12.00 h.",
            (2026, 9, 23, 9, 0),
            (2026, 9, 23, 12, 0),
        ),
        ("Soirée le vendredi 5 juin à 19 heure.", (2026, 6, 5, 19, 0), None),
        ("Club le mardi 2 juin (17h30 - 19h).", (2026, 6, 2, 17, 30), (2026, 6, 2, 19, 0)),
    ],
)
def test_range_shapes_of_real_posts(
    text: str, start: tuple[int, ...], end: tuple[int, ...] | None
) -> None:
    event = one(text)
    assert event.start == datetime(*start, tzinfo=PARIS)
    assert event.end == (datetime(*end, tzinfo=PARIS) if end else None)


def test_numeric_two_day_range_is_one_event() -> None:
    event = one("Repair café les 30/05/2026 et 31/05/2026 sur le parvis de la mairie.")
    assert (event.start, event.end, event.all_day) == (
        datetime(2026, 5, 30, tzinfo=PARIS),
        datetime(2026, 6, 1, tzinfo=PARIS),
        True,
    )


def test_samedi_prochain_written_on_a_friday_is_the_next_day() -> None:
    # French usage (Larousse, Robert: "prochain" is the one that comes first): written on a
    # Friday, "samedi prochain" is the next day; "samedi en huit" would be the week after.
    assert one("Troc samedi prochain à 10h.", published=FRIDAY).start == datetime(
        2026, 3, 21, 10, tzinfo=PARIS
    )
    # The same weekday as the publication day: next week's.
    assert one("Réunion vendredi prochain à 20h.", published=FRIDAY).start.day == 27


def test_bare_weekday_after_a_dated_day_and_tonight() -> None:
    found = events_of("Atelier peinture vendredi 20/03 à 17h et samedi à 14h.", published=FRIDAY)
    assert [e.start for e in found] == [
        datetime(2026, 3, 20, 17, tzinfo=PARIS),
        datetime(2026, 3, 21, 14, tzinfo=PARIS),
    ]
    tonight = one("Rendez-vous ce soir au local pour l'atelier peinture !", published=FRIDAY)
    assert tonight.start.date() == FRIDAY.date() and tonight.all_day
    recap = "Ce soir nous avons regardé le match ensemble au local. Bonne ambiance !"
    assert events_of(recap, published=FRIDAY) == []


def test_misspelt_month_is_still_a_month() -> None:
    assert one("Rencontre le jeudi 12 novmbre à 19h.").start == datetime(
        2026, 11, 12, 19, tzinfo=PARIS
    )
    assert one("Rencontre le lundi 5 ocotbre à 19h.").start.month == 10


def test_struck_and_cancelled_lines_are_published_as_cancelled() -> None:
    text = (
        "~~Mardi 2 juin~~ Jeudi 4 juin (18h-20h) : atelier Arduino\n\n"
        "Lundi 8 juin (18h-19h30) : ~~Découverte de Blender~~ Annulé\n\n"
        "Samedi 13 juin (14h-17h) : fête du fablab"
    )
    found = {
        (e.start.day, e.status)
        for e in events_of(text, published=datetime(2026, 6, 1, tzinfo=PARIS))
    }
    assert found == {(2, CANCELLED), (4, CONFIRMED), (8, CANCELLED), (13, CONFIRMED)}
    notice = extract_events(
        "L'atelier prévu le mardi 12 mai à 18h n'aura pas lieu.",
        title="Annulé : l'atelier du 12 mai",
        published=datetime(2026, 5, 8, tzinfo=PARIS),
        tz=PARIS,
    )
    assert [(e.start.day, e.status) for e in notice.events] == [(12, CANCELLED)]
    assert notice.kind == NOTICE


def test_rescheduled_to_a_new_date_is_that_date() -> None:
    event = one(
        "Nous devons reprogrammer la conférence à la date du 26 mars 2026, à 20h.",
        title="Conférence : nouvelle date",
    )
    assert (event.start, event.status) == (datetime(2026, 3, 26, 20, tzinfo=PARIS), CONFIRMED)


@pytest.mark.parametrize(
    ("title", "text"),
    [
        (
            "PV de l'assemblée générale du 14 mars 2026",
            "Procès-verbal de l'assemblée du 14 mars 2026. Début de séance : 14h10. "
            "La séance est levée à 16h45.",
        ),
        (
            "Sondage : le prochain apéro",
            "Mardi 14 avril ou jeudi 16 avril à 19h ? Votez sur le framadate.",
        ),
        ("Apéro", "Aidez-nous à choisir la date : mardi 14 avril ou jeudi 16 avril à 19h ?"),
        (
            "Rapport d'activité 2025",
            "Le 20 avril, conférence sur les communs ; le 18 mai, atelier.",
        ),
        ("Notre soirée", "Ce soir les bénévoles ont accueilli trente voisins au local."),
    ],
)
def test_negatives_shaped_like_announcements(title: str, text: str) -> None:
    assert events_of(text, title=title, published=datetime(2026, 3, 14, 20, tzinfo=PARIS)) == []


def test_future_verb_outweighs_a_past_adverbial_and_relative_clause() -> None:
    assert one(
        "Après le succès de l'an dernier, un nouveau mapathon se déroulera le samedi 28 mars à 10h."
    ).start == datetime(2026, 3, 28, 10, tzinfo=PARIS)
    assert (
        one(
            "Après les conférences qui nous ont permis de bien démarrer, "
            "un barcamp le mardi 24 mars à 19h."
        ).start.day
        == 24
    )


def test_where_only_an_event_date_stands_a_page_needs_no_time() -> None:
    text = "Fête du libre\n\nQuand ?\n\nLe 16 mai 2026\n\nQuoi ?\n\nStands et démonstrations."
    result = extract_events(
        text, title="Fête du libre", published=PUBLISHED, tz=PARIS, max_events=3, require_time=True
    )
    assert [(e.start.date().isoformat(), e.all_day) for e in result.events] == [
        ("2026-05-16", True)
    ]
    stray = extract_events(
        "Notre association tient ses ateliers. Rencontre le 16 mai 2026, salle des fêtes.",
        title="Qui sommes-nous",
        published=PUBLISHED,
        tz=PARIS,
        require_time=True,
    )
    assert stray.events == [] and "without a time" in stray.reason


def test_initiation_a_names_a_subject_not_a_town() -> None:
    event = one("Initiation à Python le mardi 24 mars à 18h au local.", city="Guingamp")
    assert event.location.city == "Guingamp"
    assert (
        one("Apéro le vendredi 20 mars à 19h à Morlaix.", city="Brest").location.city == "Morlaix"
    )


# --- status notices in a feed -------------------------------------------------------------------


def feed_of(*items: tuple[str, str, str]) -> bytes:
    """An RSS document with (title, HTML body, pubDate) items."""
    parts = [
        f"<item><title>{escape(title)}</title><link>https://example.org/{n}</link><guid>i{n}</guid>"
        f"<pubDate>{published}</pubDate><description>{escape(body)}</description></item>"
        for n, (title, body, published) in enumerate(items)
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
        + "".join(parts)
        + "</channel></rss>"
    ).encode()


def test_notice_cancels_the_feed_own_events_by_name_instead_of_adding_one() -> None:
    programme = (
        "<p>Voici le programme :</p><p>Lundi 23/03 : atelier couture (17h - 19h)</p>"
        "<p>Vendredi 27/03 : atelier musique (17h30 - 19h)</p>"
        "<p>Samedi 28/03 : soirée contes (18h - 20h)</p>"
        "<p>Mardi 31/03 : club lecture (17h - 18h)</p>"
    )
    notice = (
        "<p>En raison des travaux, les activités de cette semaine (Musique et Contes) "
        "sont annulées.</p>"
    )
    content = feed_of(
        ("Programme des vacances", programme, "Mon, 16 Mar 2026 10:00:00 +0100"),
        ("Annulation", notice, "Thu, 26 Mar 2026 10:00:00 +0100"),
    )
    result = feed.parse(document_from_bytes(content), make_source(), make_context())
    assert [(e.start.day, e.status) for e in result.events] == [
        (23, CONFIRMED),
        (27, CANCELLED),
        (28, CANCELLED),
        (31, CONFIRMED),  # next week: not "cette semaine"
    ]


def test_apply_notices_collective_words_and_the_only_event_of_the_period() -> None:
    def event(day: int, title: str) -> Event:
        return Event(
            source_id="s",
            source_uid=f"u{day}",
            title=title,
            start=datetime(2026, 3, day, 18, tzinfo=PARIS),
        )

    events = [event(27, "Atelier couture"), event(28, "Repair café"), event(30, "Club lecture")]
    thursday = datetime(2026, 3, 26, 9, tzinfo=PARIS)
    collective = read_notice("Les ateliers de cette semaine sont annulés.", "", thursday, PARIS)
    assert collective is not None and collective.collective
    assert [e.status for e in apply_notices(events, [collective], PARIS)] == [
        CANCELLED,
        CANCELLED,
        CONFIRMED,
    ]
    tomorrow = read_notice(
        "Demain, c'est annulé : notre animateur est malade.", "", thursday, PARIS
    )
    assert tomorrow is not None and (tomorrow.first, tomorrow.last) == (date(2026, 3, 27),) * 2
    assert [e.status for e in apply_notices(events, [tomorrow], PARIS)] == [
        CANCELLED,
        CONFIRMED,
        CONFIRMED,
    ]
    assert read_notice("Le fablab rouvre cette semaine.", "", thursday, PARIS) is None


def test_feed_reads_the_atom_summary_and_struck_text() -> None:
    atom = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
    <title>t</title><id>urn:t</id><updated>2026-03-02T00:00:00Z</updated>
    <entry><title>Meetup de rentrée</title><id>urn:e1</id><link href="https://example.org/e1"/>
    <updated>2026-03-02T00:00:00Z</updated>
    <summary>Notre prochain meetup est prévu le mardi 24 mars à 19h à la Cantine.</summary>
    <content type="html">&lt;p&gt;Deux présentations vous seront proposées.&lt;/p&gt;</content>
    </entry>
    <entry><title>Pique-nique</title><id>urn:e2</id><link href="https://example.org/e2"/>
    <updated>2026-03-02T00:00:00Z</updated>
    <content type="html">&lt;p&gt;Pique-nique &lt;del&gt;mercredi 11 mars&lt;/del&gt;
    jeudi 12 mars à 18h30 au parc.&lt;/p&gt;</content>
    </entry></feed>"""
    result = feed.parse(document_from_bytes(atom.encode()), make_source(), make_context())
    assert [(e.title, e.start.day, e.start.hour, e.status) for e in result.events] == [
        ("Meetup de rentrée", 24, 19, CONFIRMED),
        ("Pique-nique", 11, 0, CANCELLED),
        ("Pique-nique", 12, 18, CONFIRMED),
    ]


def test_bare_weekday_in_an_invitation_is_the_next_such_day() -> None:
    # Published on Wednesday 18 March 2026.
    assert one("Rendez-vous samedi à 14h au fablab pour réparer vos vélos !").start == datetime(
        2026, 3, 21, 14, tzinfo=PARIS
    )
    for habit in (
        "Le fablab est ouvert le samedi de 14h à 18h.",
        "Permanences lundi, mardi et jeudi de 17h à 19h.",
        "Venez tous les samedis à 10h au jardin.",
        "Rendez-vous mercredi à 18h.",  # the publication's own weekday: today or next week
    ):
        assert events_of(habit) == [], habit


def test_noon_ends_a_range() -> None:
    event = one("Atelier le samedi 21 mars de 10h à midi.")
    assert event.end == datetime(2026, 3, 21, 12, tzinfo=PARIS)


def test_a_timetable_under_a_date_is_one_event() -> None:
    text = "Samedi 21 mars\n\n14h : accueil\n\n14h30 : conférence\n\n16h - 18h : ateliers"
    [event] = events_of(text, title="Journée du libre")
    assert (event.start, event.end) == (
        datetime(2026, 3, 21, 14, tzinfo=PARIS),
        datetime(2026, 3, 21, 18, tzinfo=PARIS),
    )


def test_a_report_that_announces_the_next_edition() -> None:
    text = (
        "L'install party du 28 février a réuni vingt personnes. "
        "Prochaine édition le samedi 28 mars à 14h !"
    )
    assert [e.start for e in events_of(text, title="Bilan de l'install party")] == [
        datetime(2026, 3, 28, 14, tzinfo=PARIS)
    ]
    assert events_of("L'install party du 28 février a réuni vingt personnes.", title="Bilan") == []


def test_weekday_and_day_number_without_a_month() -> None:
    # Published Wednesday 18 March 2026: the next Tuesday the 24th is this month's.
    assert one("Le meetup de mars se tiendra mardi 24 à 19h chez Zenika.").start == datetime(
        2026, 3, 24, 19, tzinfo=PARIS
    )
    # Thursday the 2nd: the first one after publication is in April.
    assert one("Rencontre jeudi 2 à 18h30 au local.").start == datetime(
        2026, 4, 2, 18, 30, tzinfo=PARIS
    )


def test_samedi_en_huit_is_a_week_after_samedi_prochain() -> None:
    assert one("Troc samedi en huit à 10h.", published=FRIDAY).start == datetime(
        2026, 3, 28, 10, tzinfo=PARIS
    )


def test_page_hero_block_carries_the_date_and_hours() -> None:
    page = """<!DOCTYPE html><html lang="fr"><head><title>Fête du libre</title>
    <meta property="article:published_time" content="2026-04-02T09:00:00+02:00"></head><body>
    <header class="site"><nav><a href="/">Accueil</a></nav><p>Mis à jour le 3 mai 2026</p></header>
    <div class="hero"><h1>Fête du libre</h1>
    <p>Samedi 16 mai 2026 de 10h à 18h, Halles de Rennes</p></div>
    <main><article><p>Stands, démonstrations et install party pour toute la famille.</p>
    </article></main></body></html>"""
    result = html.parse(
        document_from_bytes(page.encode(), url="https://example.org/fete"),
        make_source(),
        make_context(),
    )
    assert [(e.start, e.end) for e in result.events] == [
        (datetime(2026, 5, 16, 10, tzinfo=PARIS), datetime(2026, 5, 16, 18, tzinfo=PARIS))
    ]


def test_bare_day_number_takes_the_month_named_in_its_sentence() -> None:
    published = datetime(2015, 1, 7, tzinfo=PARIS)
    text = (
        "Attaquons l'année avec un meetup dès la fin de ce mois de janvier, le 27, à partir de 19h."
    )
    assert one(text, published=published).start == datetime(2015, 1, 27, 19, tzinfo=PARIS)
    assert events_of("Nous étions 27 le 27.", published=published) == []


def test_programme_lines_name_their_events_without_asides_or_struck_dates() -> None:
    text = (
        "Dimanche 5/04 (21h) - Diffusion du match au local.\n\n"
        "Lundi 6/04 (18h30-20h) - Jeu de quilles au parc (ou au local s'il pleut).\n\n"
        "~~Mardi 7/04~~ Jeudi 9/04 (18h30-20h) : Pique-nique au jardin.\n\n"
        "Vendredi 10/04 (17h30-19h) : ~~Atelier maths~~ Annulé (aucun inscrit)."
    )
    found = [(e.start.day, e.start.hour, e.status, e.label) for e in events_of(text)]
    assert found == [
        (5, 21, CONFIRMED, "Diffusion du match au local"),
        (6, 18, CONFIRMED, "Jeu de quilles au parc"),
        (7, 18, CANCELLED, "Pique-nique au jardin"),
        (9, 18, CONFIRMED, "Pique-nique au jardin"),
        (10, 17, CANCELLED, "Atelier maths Annulé"),
    ]


def test_a_thanked_name_is_not_a_town() -> None:
    event = one(
        "Hackathon le samedi 21 mars à 10h au local. Un grand merci à Framasoft !", city="Rennes"
    )
    assert event.location.city == "Rennes"


def test_page_struck_date_is_read_as_moved() -> None:
    page = """<html><head><title>Agenda</title>
    <meta property="article:published_time" content="2026-03-02T09:00:00+01:00"></head><body><main>
    <ul><li><del>Mercredi 11 mars</del> Jeudi 12 mars (18h30-20h) : pique-nique au parc</li>
    <li>Mercredi 18 mars (18h30-20h) : mikado géant</li></ul></main></body></html>"""
    result = html.parse(
        document_from_bytes(page.encode(), url="https://example.org/agenda"),
        make_source(),
        make_context(),
    )
    assert [(e.start.day, e.status, e.title) for e in result.events] == [
        (11, CANCELLED, "pique-nique au parc"),
        (12, CONFIRMED, "pique-nique au parc"),
        (18, CONFIRMED, "mikado géant"),
    ]
