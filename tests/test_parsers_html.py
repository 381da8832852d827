"""HTML adapter: schema.org JSON-LD (even broken), microdata and microformats."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from parser_helpers import PARIS, document_from_bytes, fixture_document, make_context, make_source

from aggregator import pipeline
from aggregator.config import Source, parse_config, split_selector
from aggregator.demo.server import LoopbackServer
from aggregator.errors import ConfigError, ParseError
from aggregator.models import (
    CANCELLED,
    CONFIRMED,
    ORIGIN_PROSE,
    ORIGIN_SELECTOR,
    ORIGIN_STRUCTURED,
    Location,
    ParseContext,
)
from aggregator.parsers import html
from aggregator.parsers.html import ONLINE, load_lenient_json
from aggregator.store import Store


def test_jsonld_graph_subtypes_cancelled_and_broken_blocks() -> None:
    document = fixture_document("html/jsonld-graph-cancelled.html")
    result = html.parse(document, make_source(city="Lannion"), make_context())
    assert result.items == 4
    assert result.warnings == [
        "JSON-LD block 3 is not valid JSON even after repair, skipped",
        "event 'Sans date': startDate missing, skipped",
    ]
    python, apero, fest_noz = result.events

    assert python.source_uid == "https://lannion.example.org/#atelier-python"
    assert python.title == "Atelier Python & données"
    assert python.start == datetime(2024, 3, 12, 18, tzinfo=PARIS)  # no offset: agenda zone
    assert python.end == datetime(2024, 3, 12, 20, tzinfo=PARIS)
    assert python.url == "https://example.org/ateliers/python"
    assert python.description == "Pour débutants.\n\nGratuit."
    assert python.location == Location(
        "Espace Sainte-Anne", "2 rue de Kerampont", "22300", "Lannion"
    )
    assert python.status == CONFIRMED

    assert apero.status == CANCELLED
    assert apero.all_day
    assert (apero.start, apero.end) == (
        datetime(2024, 3, 15, tzinfo=PARIS),
        datetime(2024, 3, 17, tzinfo=PARIS),  # endDate is the last day, inclusive
    )
    assert apero.location == Location("Bar Le Flambart", None, None, "Lannion")

    # // comment, raw newline in a string and a trailing comma, all repaired
    assert fest_noz.title == "Fest-noz numérique"
    assert fest_noz.start.utcoffset() == timedelta(hours=2)
    assert fest_noz.description == "ligne 1\nligne 2"


def test_microdata_and_h_event() -> None:
    document = fixture_document("html/microdata-and-hevent.html")
    result = html.parse(document, make_source(), make_context())
    repair, permanence = result.events
    assert repair.title == "Repair café"
    assert repair.start == datetime(2024, 9, 7, 14, tzinfo=PARIS)
    assert repair.location == Location(
        "Maison du quartier", "5 place de la Mairie", "56000", "Vannes"
    )
    assert permanence.title == "Permanence numérique"
    assert permanence.all_day
    assert permanence.start == datetime(2024, 9, 10, tzinfo=PARIS)
    assert permanence.location.name == "Médiathèque de Saint-Brieuc"


def test_page_without_events_is_empty_not_an_error() -> None:
    page = b"<html><body><p>Pas d'agenda ici.</p></body></html>"
    result = html.parse(document_from_bytes(page), make_source(), make_context())
    assert (result.items, result.events, result.warnings) == (0, [], [])


def test_empty_page_and_calendar_raise_parse_error() -> None:
    with pytest.raises(ParseError, match="empty"):
        html.parse(document_from_bytes(b"  "), make_source(), make_context())
    with pytest.raises(ParseError, match="type: ical"):
        html.parse(document_from_bytes(b"BEGIN:VCALENDAR\r\n"), make_source(), make_context())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('{"a": "x\ny"}', {"a": "x\ny"}),
        ('{"a": 1, // note\n "b": "http://x",}', {"a": 1, "b": "http://x"}),
        ("/* c */ [1, 2,]", [1, 2]),
        ('<!-- {"a": 1} -->', {"a": 1}),
        ("{ not json", None),
    ],
)
def test_load_lenient_json(text: str, expected: object) -> None:
    assert load_lenient_json(text) == expected


# --- structured data: every JSON-LD shape, RDFa, origins ----------------------------------------


def test_jsonld_arrays_graph_subtypes_offers_and_attendance() -> None:
    result = html.parse(
        fixture_document("html/jsonld-shapes.html"), make_source("Brest"), make_context()
    )
    events = {e.source_uid: e for e in result.events}
    assert result.warnings == []
    assert all(e.origin == ORIGIN_STRUCTURED for e in result.events)
    apero = events["#apero"]  # SocialEvent in a top-level array; its offers are ignored
    assert (apero.title, apero.start, apero.end) == (
        "Apéro des makers",
        datetime(2026, 4, 2, 19, tzinfo=PARIS),
        datetime(2026, 4, 2, 22, tzinfo=PARIS),
    )
    assert apero.location == Location("Le Bar'Ouf", "3 rue de Siam", "29200", "Brest")
    python = events["#python"]  # "@type": [EducationEvent, Event], location as a list
    assert python.location == Location(
        "Fablab des Capucins", "25 rue de Pontaniou", "29200", "Brest"
    )
    assert events["#visio"].location == Location(name=ONLINE)  # no default city for online
    assert events["#hybride"].location == Location("Amphi B", None, None, "Plouzané")
    assert events["#reporte"].status == CANCELLED  # postponed: the announced date is off
    rescheduled = events["#decale"]
    assert rescheduled.status == CONFIRMED
    assert rescheduled.start == datetime(2026, 4, 25, 10, tzinfo=PARIS)  # the new date
    # startDate in words: read as French prose, next occurrence after `now` (2024-01-01)
    assert events["#mots"].start == datetime(2024, 5, 7, 18, 30, tzinfo=PARIS)


def test_rdfa_event_with_nested_place() -> None:
    [event] = html.parse(
        fixture_document("html/rdfa-event.html"), make_source(), make_context()
    ).events
    assert event.title == "Atelier cartographie OpenStreetMap"
    assert event.origin == ORIGIN_STRUCTURED
    assert event.start == datetime(2026, 5, 6, 14, tzinfo=PARIS)
    assert event.end == datetime(2026, 5, 6, 17, tzinfo=PARIS)
    assert event.status == CANCELLED
    assert event.location == Location(
        "Médiathèque François Mitterrand", "Place du Stade", "22300", "Lannion"
    )


def test_structured_events_are_marked_structured() -> None:
    result = html.parse(
        fixture_document("html/microdata-and-hevent.html"), make_source(), make_context()
    )
    assert {e.origin for e in result.events} == {ORIGIN_STRUCTURED}


# --- per-source CSS selectors -------------------------------------------------------------------


def selector_source(**selectors: str) -> Source:
    return Source(
        id="hackers",
        name="Les Petits Hackers",
        url="https://example.org/agenda/",
        type="html",
        city="Morlaix",
        selectors=selectors,  # type: ignore[arg-type]
    )


def test_selectors_read_attributes_text_and_prose_dates() -> None:
    source = selector_source(
        event="article.event",
        title="h2",
        start="time@datetime",
        end=".fin",
        location=".lieu",
        link="a@href",
        description=".resume",
    )
    result = html.parse(fixture_document("html/selectors-agenda.html"), source, make_context())
    assert result.items == 3
    (soudure,) = [e for e in result.events if e.title == "Soudure pour débutants"]  # prefix gone
    assert soudure.origin == ORIGIN_SELECTOR
    assert (soudure.start, soudure.end) == (
        datetime(2026, 4, 4, 14, tzinfo=PARIS),
        datetime(2026, 4, 4, 17, tzinfo=PARIS),  # "17h" alone: the same day
    )
    assert soudure.location == Location("Fablab", "2 rue de Brest", "29600", "Morlaix")
    assert soudure.url == "https://example.org/agenda/soudure"
    assert soudure.description == "Apprenez à souder vos premiers kits."
    # The second event has no <time>: the start selector misses it and it is reported
    assert [e.title for e in result.events] == ["Soudure pour débutants"]
    assert "event 'Café réparation': no start date ('time@datetime'), skipped" in result.warnings


def test_selector_start_in_french_words() -> None:
    source = selector_source(
        event="article.event", title="h2", start=".date, time", location=".lieu"
    )
    context = ParseContext(
        tz=PARIS, window=make_context().window, now=datetime(2025, 6, 1, tzinfo=PARIS)
    )
    result = html.parse(fixture_document("html/selectors-agenda.html"), source, context)
    cafe = next(e for e in result.events if e.title == "Café réparation")
    # "jeudi 16 avril à 18h30": no year; the next 16 April after now (June 2025) is in 2026
    assert cafe.start == datetime(2026, 4, 16, 18, 30, tzinfo=PARIS)
    assert cafe.location == Location("Bar Le Ty Coz", None, None, "Morlaix")
    assert cafe.url == "https://example.org/cafe"  # first link of the block when no selector
    assert any("'Soirée jeux libres': no start date" in w for w in result.warnings)


def test_selector_matching_nothing_is_reported() -> None:
    source = selector_source(event="li.agenda-item", title="h3", start="time@datetime")
    result = html.parse(fixture_document("html/selectors-agenda.html"), source, make_context())
    assert (result.items, result.events) == (0, [])
    assert result.warnings == ["selector 'li.agenda-item' matched nothing"]
    source = selector_source(event="article.event", title="h3", start="time@datetime")
    result = html.parse(fixture_document("html/selectors-agenda.html"), source, make_context())
    assert "selector 'h3' (title) matched nothing" in result.warnings
    assert [e.title for e in result.events] == ["[Atelier] Soudure pour débutants"[10:]]


def test_selectors_are_validated_in_config() -> None:
    text = """sources:
  - id: hackers
    name: Hackers
    url: https://example.org/agenda/
    selectors:
      event: "article..event"
      start: "time@date time"
      titel: h2
  - id: cal
    name: Cal
    url: https://example.org/cal.ics
    type: ical
    follow: [feeds]
  - id: page
    name: Page
    url: https://example.org/
    follow: [rss]
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "sources.yaml")
    problems = {(p.line, p.field): p for p in caught.value.problems}
    event = problems[(6, "sources[0] (id 'hackers').selectors.event")]
    assert "not a valid CSS selector" in event.message and "article.event" in event.hint
    assert (
        "not a valid CSS selector"
        in problems[(7, "sources[0] (id 'hackers').selectors.start")].message
    )
    typo = problems[(8, "sources[0] (id 'hackers').selectors.titel")]
    assert typo.message == "unknown key 'titel'" and "did you mean 'title'?" in typo.hint
    assert "apply to web pages only" in problems[(9, "sources[1] (id 'cal')")].message
    follow = problems[(17, "sources[2] (id 'page').follow[0]")]
    assert "feeds, ical" in follow.hint
    assert len(caught.value.problems) == 5


def test_valid_selectors_and_follow_are_accepted() -> None:
    config = parse_config(
        """sources:
  - id: hackers
    name: Hackers
    url: https://example.org/agenda/
    follow: [feeds, ical]
    selectors: {event: "article.event", title: "h2", start: "time@datetime", link: "a@href"}
"""
    )
    [source] = config.sources
    assert source.follow == ("feeds", "ical")
    assert source.selectors is not None and source.selectors.start == "time@datetime"
    assert split_selector("time@datetime") == ("time", "datetime")
    assert split_selector("a[href$='@x']") == ("a[href$='@x']", None)


# --- French prose on pages without markup -------------------------------------------------------


def test_page_prose_single_announcement() -> None:
    document = fixture_document("html/prose-announcement.html")
    [event] = html.parse(document, make_source("Quimper"), make_context()).events
    assert event.origin == ORIGIN_PROSE
    assert event.title == "Install party de printemps"  # "[Agenda]" and "| Linux Quimper" gone
    assert (event.start, event.end) == (
        datetime(2026, 3, 21, 14, tzinfo=PARIS),
        datetime(2026, 3, 21, 18, tzinfo=PARIS),
    )
    assert event.location == Location(
        "MPT de Penhars", "37 boulevard de Bretagne", "29000", "Quimper"
    )
    assert event.url == document.url


def test_page_announcing_two_events_gives_both() -> None:
    # Issue 11: a page may announce several events; each is named by its sentence.
    page = """<html><head><title>Nos ateliers</title></head><body><main>
    <p>Atelier Linux le jeudi 2 avril 2026 à 18h.</p>
    <p>Atelier GIMP le jeudi 9 avril 2026 à 18h.</p>
    </main></body></html>"""
    result = html.parse(document_from_bytes(page.encode()), make_source(), make_context())
    assert [(e.start.day, e.title) for e in result.events] == [
        (2, "Atelier Linux le jeudi 2 avril 2026 à 18h"),
        (9, "Atelier GIMP le jeudi 9 avril 2026 à 18h"),
    ]


def test_page_listing_many_dates_in_prose_gives_nothing_but_a_warning() -> None:
    sentences = "".join(
        f"<p>Atelier le jeudi {day} avril 2026 à 18h.</p>" for day in (2, 9, 16, 23)
    )
    page = f"<html><head><title>Ateliers</title></head><body><main>{sentences}</main></body></html>"
    result = html.parse(document_from_bytes(page.encode()), make_source(), make_context())
    assert (result.items, result.events) == (1, [])
    assert result.warnings == [
        "page text: no event found (4 different dates: too many to tell which one is the event)"
    ]


def test_page_date_without_time_is_not_enough() -> None:
    page = (
        "<html><body><h1>Repair café</h1><p>Samedi 16 mai 2026, salle des fêtes.</p></body></html>"
    )
    result = html.parse(document_from_bytes(page.encode()), make_source(), make_context())
    assert result.events == [] and "without a time" in result.warnings[0]


# --- linked feeds and calendars -----------------------------------------------------------------


def test_links_collected_only_when_configured() -> None:
    document = fixture_document("html/page-links.html", url="https://example.org/accueil/")
    assert html.parse(document, make_source(), make_context()).links == []
    source = Source(id="p", name="P", url="https://example.org/", follow=("feeds", "ical"))
    assert html.parse(document, source, make_context()).links == [
        "https://example.org/feed.xml",
        "https://example.org/atom.xml",
        "https://example.org/agenda.ics",
        "https://example.org/public/cal.ics?lang=fr",
    ]
    feeds_only = source.model_copy(update={"follow": ("feeds",)})
    assert len(html.parse(document, feeds_only, make_context()).links) == 2


def test_pipeline_reads_linked_feed_and_calendar(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    page = (
        b'<html><head><link rel="alternate" type="application/rss+xml" href="/f.xml"></head>'
        b'<body><a href="/cal.ics">iCal</a> <a href="/missing.ics">old</a></body></html>'
    )
    http_server.add("/page.html", page, content_type="text/html; charset=utf-8")
    http_server.add(
        "/f.xml",
        fixture_document("feed/rss-ev-module.xml").content,
        content_type="application/rss+xml",
    )
    calendar = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//FR\r\nBEGIN:VEVENT\r\nUID:cal-1\r\n"
        b"DTSTAMP:20240101T000000Z\r\nDTSTART:20240320T180000Z\r\nSUMMARY:Atelier iCal\r\n"
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    http_server.add("/cal.ics", calendar, content_type="text/calendar")
    http_server.add("/missing.ics", b"gone", status=404)
    config = parse_config(
        f"""sources:
  - id: page
    name: Page
    url: {http_server.url("/page.html")}
    type: html
    follow: [feeds, ical]
"""
    )
    now = datetime(2024, 1, 1, tzinfo=PARIS)
    with Store(tmp_path / "agenda.db") as store:
        report = pipeline.fetch(config, store, now)
    [page_report] = report.sources
    assert page_report.events_found == 3  # two from the feed, one from the calendar
    assert any("missing.ics" in w and "404" in w for w in page_report.warnings)


def test_page_publication_date_from_yoast_jsonld_anchors_the_year() -> None:
    page = """<html><head><title>Atelier vélo - Roue Libre</title>
    <script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
      {"@type": "BlogPosting", "headline": "Atelier vélo",
       "datePublished": "2026-05-02T10:00:00+02:00"}]}</script></head>
    <body><div class="entry-content"><p>Prochain atelier d'autoréparation vélo le mercredi 13 mai
    à 17h30 au garage associatif.</p></div>
    <div class="comments"><p>Jean, le 3 mai 2026 à 14h12 : super !</p></div></body></html>"""
    [event] = html.parse(
        document_from_bytes(page.encode()), make_source("Brest"), make_context()
    ).events
    # Published in 2026: 13 May is that year's Wednesday (now is 2024 in make_context).
    assert event.start == datetime(2026, 5, 13, 17, 30, tzinfo=PARIS)
    assert event.title == "Atelier vélo"  # the site's name after " - " is dropped
    assert event.location == Location("Garage associatif", None, None, "Brest")


def test_page_with_labelled_lines() -> None:
    page = """<html><head><title>Fête de la récup</title></head><body><article>
    <h1>Fête de la récup</h1><p><strong>Date :</strong> samedi 13 juin 2026</p>
    <p><strong>Horaires :</strong> 10h - 18h</p>
    <p><strong>Lieu :</strong> Recyclerie, 5 rue de Brest, 29490 Guipavas</p>
    </article></body></html>"""
    [event] = html.parse(document_from_bytes(page.encode()), make_source(), make_context()).events
    assert (event.start, event.end) == (
        datetime(2026, 6, 13, 10, tzinfo=PARIS),
        datetime(2026, 6, 13, 18, tzinfo=PARIS),
    )
    assert event.location == Location("Recyclerie", "5 rue de Brest", "29490", "Guipavas")
