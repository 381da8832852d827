"""HTML adapter: schema.org JSON-LD (even broken), microdata and microformats."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from parser_helpers import PARIS, document_from_bytes, fixture_document, make_context, make_source

from aggregator.errors import ParseError
from aggregator.models import CANCELLED, CONFIRMED, Location
from aggregator.parsers import html
from aggregator.parsers.html import load_lenient_json


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
