"""Feed adapter: only items with an event date of their own become events."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta, timezone

import pytest
from parser_helpers import (
    PARIS,
    corpus_dir,
    document_from_bytes,
    fixture_document,
    make_context,
    make_source,
)

from aggregator.errors import ParseError
from aggregator.models import (
    ORIGIN_FEED,
    ORIGIN_PROSE,
    ORIGIN_STRUCTURED,
    Location,
    ParseResult,
)
from aggregator.parsers import feed


def parse(name: str, city: str | None = None) -> ParseResult:
    return feed.parse(fixture_document(f"feed/{name}"), make_source(city), make_context())


def test_rss_event_module() -> None:
    result = parse("rss-ev-module.xml", city="Brest")
    assert result.items == 3  # the blog post is counted but gives no event
    assert result.warnings == []
    party, festival = result.events
    assert party.source_uid == "event-42"
    assert party.title == "Install party à Plouzané"
    assert party.start == datetime(2024, 3, 16, 14, tzinfo=PARIS)
    assert party.end == datetime(2024, 3, 16, 18, tzinfo=PARIS)
    assert party.location == Location(
        "Salle Creac'h Gwen", "12 rue de la Gare", "29280", "Plouzané"
    )
    assert party.categories == ("Logiciel libre",)
    assert party.description == "Venez avec votre ordinateur.\n\nCafé offert."
    assert party.url == "https://brest.example.org/agenda/install-party"

    assert festival.all_day
    assert festival.start == datetime(2024, 5, 10, tzinfo=PARIS)
    assert festival.end == datetime(2024, 5, 13, tzinfo=PARIS)  # ev:enddate is the last day
    assert festival.url == "https://example.org/agenda/festival"  # relative link resolved
    assert festival.location == Location(None, None, None, "Brest")
    assert festival.source_uid.startswith("sha1:")


def test_atom_with_xcal() -> None:
    [event] = parse("atom-xcal.xml").events
    assert event.source_uid == "tag:redon.example.org,2024:atelier-3d"
    assert event.start == datetime(2024, 2, 20, 18, tzinfo=UTC)
    assert event.end == datetime(2024, 2, 20, 20, tzinfo=UTC)
    assert event.location == Location("Fablab", "2 rue de la Gare", "35600", "Redon")
    assert event.description == "Découverte de l'impression 3D."
    assert event.last_modified == datetime(2024, 2, 1, 10, tzinfo=UTC)


def test_publication_dates_are_never_event_dates() -> None:
    result = parse("blog-pubdate-only.xml")
    assert (result.items, result.events, result.warnings) == (2, [], [])


def test_event_found_in_item_html_microformat() -> None:
    [event] = parse("rss-jsonld-in-content.xml").events
    assert event.title == "Café vie privée"
    assert event.start == datetime(2024, 4, 4, 18, 30, tzinfo=PARIS)


def test_source_uids_are_stable() -> None:
    first = {e.source_uid for e in parse("rss-ev-module.xml").events}
    assert first == {e.source_uid for e in parse("rss-ev-module.xml").events}


def test_not_a_feed_raises_parse_error() -> None:
    page = b"<!DOCTYPE html><html><head><title>x</title></head><body>Agenda</body></html>"
    with pytest.raises(ParseError, match="web page"):
        feed.parse(document_from_bytes(page), make_source(), make_context())
    with pytest.raises(ParseError, match="not a readable RSS or Atom feed"):
        feed.parse(document_from_bytes(b"\x00\x01 garbage"), make_source(), make_context())


def test_ill_formed_feed_with_items_gives_warning() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>Caf&eacute;</title><date_from>2024-05-01</date_from></item>"
        b"</channel></rss>"
    )
    result = feed.parse(document_from_bytes(body), make_source(), make_context())
    assert [e.title for e in result.events] == ["Café"]
    assert len(result.warnings) == 1 and "not well-formed" in result.warnings[0]


@pytest.mark.parametrize(
    "tail",
    [
        b"</channel>",
        b"<item><title>Atelier</title>",
        b"<item><title>Ate",
        b"</channel>\n<!-- x -->",
    ],
)
def test_feed_cut_before_its_end_is_a_parse_error(tail: bytes) -> None:
    """Items read from a cut-off download must not replace the source's full list."""
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>Caf\xc3\xa9</title><date_from>2024-05-01</date_from></item>\n" + tail
    )
    with pytest.raises(ParseError, match="cut off"):
        feed.parse(document_from_bytes(body), make_source(), make_context())


@pytest.mark.corpus
def test_external_entity_is_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the parser tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    path = corpus_dir() / "feeds" / "rss1-doctype-with-external-entity.xml"
    assert path.exists(), f"shared corpus file missing: {path}"
    result = feed.parse(document_from_bytes(path.read_bytes()), make_source(), make_context())
    assert (result.items, result.events) == (0, [])


def test_custom_wordpress_fields_with_hours() -> None:
    body = """<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>
    <item><title>Conférence</title><link>https://u.example.org/c</link>
    <date_from>12/06/2024</date_from><date_to>12/06/2024</date_to>
    <hour_from>18h30</hour_from><hour_to>20:00</hour_to></item></channel></rss>"""
    [event] = feed.parse(document_from_bytes(body.encode()), make_source(), make_context()).events
    assert event.start == datetime(2024, 6, 12, 18, 30, tzinfo=PARIS)
    assert event.end == datetime(2024, 6, 12, 20, tzinfo=PARIS)
    assert event.start.utcoffset() == timezone(timedelta(hours=2)).utcoffset(None)


def test_origins_of_dated_items() -> None:
    assert {e.origin for e in parse("rss-ev-module.xml").events} == {ORIGIN_FEED}
    assert {e.origin for e in parse("rss-jsonld-in-content.xml").events} == {ORIGIN_STRUCTURED}


def test_prose_items_use_the_publication_date_for_the_year() -> None:
    result = parse("rss-prose-items.xml", city="Plouzané")
    assert result.items == 4
    raspberry, galette = result.events
    assert raspberry.origin == ORIGIN_PROSE
    assert raspberry.title == "Atelier Raspberry Pi"  # "[Agenda]" stripped
    assert raspberry.source_uid == "https://cantine.example.org/?p=101"
    assert (raspberry.start, raspberry.end) == (
        datetime(2026, 4, 1, 14, tzinfo=PARIS),
        datetime(2026, 4, 1, 16, 30, tzinfo=PARIS),
    )
    assert raspberry.location == Location("Salle Creac'h Gwen", None, "29280", "Plouzané")
    assert raspberry.categories == ("Ateliers",)
    # Published in December 2025: "vendredi 9 janvier" is January 2026, whatever today is.
    assert galette.start == datetime(2026, 1, 9, 19, tzinfo=PARIS)
    assert galette.location == Location("Bar Le Tempo", None, None, "Morlaix")
    # The retrospective gives no event, and the source's health says so in one line.
    assert result.warnings == [
        "2 of 4 items: no event found (1 mention dates that do not announce an event)"
    ]


def test_structured_dates_win_over_prose() -> None:
    body = """<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>
    <item><title>Conférence</title><date_from>2024-06-12</date_from>
    <description>Rendez-vous le jeudi 20 juin à 18h.</description></item></channel></rss>"""
    [event] = feed.parse(document_from_bytes(body.encode()), make_source(), make_context()).events
    assert event.start == datetime(2024, 6, 12, tzinfo=PARIS)
    assert event.origin == ORIGIN_FEED


def test_newsletter_item_names_each_event_by_its_sentence() -> None:
    body = """<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>
    <item><title>Lettre d'information de mars</title><guid>lettre-3</guid>
    <pubDate>Mon, 02 Mar 2026 09:00:00 +0100</pubDate>
    <description>&lt;p&gt;Atelier Linux le jeudi 12 mars à 18h au fablab.&lt;/p&gt;
    &lt;p&gt;Repair café le samedi 21 mars de 9h30 à 12h.&lt;/p&gt;</description></item>
    </channel></rss>"""
    result = feed.parse(document_from_bytes(body.encode()), make_source(), make_context())
    linux, repair = result.events
    assert linux.title == "Atelier Linux le jeudi 12 mars à 18h au fablab"
    assert repair.start == datetime(2026, 3, 21, 9, 30, tzinfo=PARIS)
    assert repair.title.startswith("Repair café le samedi 21 mars")
    assert (linux.source_uid, repair.source_uid) == ("lettre-3#2026-03-12", "lettre-3#2026-03-21")
