"""iCalendar adapter: zones, all-day spans, recurrences and tolerance of broken files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from parser_helpers import PARIS, document_from_bytes, fixture_document, make_context, make_source

from aggregator.errors import ParseError
from aggregator.models import CANCELLED, CONFIRMED, Event, Location, ParseResult
from aggregator.parsers import ical


def parse(name: str, city: str | None = None) -> ParseResult:
    return ical.parse(fixture_document(f"ical/{name}"), make_source(city), make_context())


def by_uid(result: ParseResult) -> dict[str, Event]:
    return {event.source_uid: event for event in result.events}


def test_mixed_zones_all_day_and_duration() -> None:
    result = parse("mixed-zones-allday-duration.ics", city="Brest")
    events = by_uid(result)
    assert result.items == 7
    assert result.warnings == [
        "event 'Sans date' (UID broken@example.org): DTSTART missing, skipped"
    ]

    cafe = events["repair-cafe-1@example.org"]
    assert cafe.title == "Repair café à Plouzané"
    assert cafe.start == datetime(2024, 6, 15, 14, tzinfo=PARIS)
    assert cafe.start.utcoffset() == timedelta(hours=2)
    assert cafe.end == datetime(2024, 6, 15, 18, tzinfo=PARIS)
    assert cafe.location == Location("Salle Creac'h Gwen", "12 rue de la Gare", "29280", "Plouzané")
    assert cafe.description == "Apportez vos objets cassés !\n\nCafé offert."
    assert cafe.categories == ("Réparation", "Atelier")
    assert cafe.url == "https://example.org/evenements/repair-cafe"
    assert cafe.last_modified == datetime(2024, 6, 1, 8, 15, tzinfo=UTC)
    assert cafe.source_sequence == 3
    assert (cafe.status, cafe.all_day, cafe.source_id) == (CONFIRMED, False, "corpus")

    utc = events["install-party@example.org"]
    assert utc.start == datetime(2024, 1, 20, 13, tzinfo=UTC)
    assert utc.start.astimezone(PARIS).hour == 14
    assert utc.location == Location("Médiathèque", None, None, "Brest")  # source city filled in

    floating = events["floating@example.org"]
    assert floating.start.tzinfo is PARIS
    assert floating.start == datetime(2024, 7, 10, 18, 30, tzinfo=PARIS)
    assert floating.end == datetime(2024, 7, 10, 20, tzinfo=PARIS)  # DURATION:PT1H30M

    festival = events["festival@example.org"]
    assert festival.all_day
    assert festival.start == datetime(2024, 7, 5, tzinfo=PARIS)
    assert festival.end == datetime(2024, 7, 8, tzinfo=PARIS)  # DTEND is exclusive already
    assert festival.status == CANCELLED

    one_day = events["one-day@example.org"]
    assert (one_day.start, one_day.end) == (
        datetime(2024, 10, 12, tzinfo=PARIS),
        datetime(2024, 10, 13, tzinfo=PARIS),
    )
    assert events["no-end@example.org"].end is None


def test_recurrence_expanded_with_exdate_and_override() -> None:
    result = parse("recurring-weekly-exdate-override.ics")
    assert result.items == 2
    assert [(e.source_uid, e.start, e.title, e.status) for e in result.events] == [
        (
            "coding-dojo@example.org/20240305T180000Z",
            datetime(2024, 3, 5, 19, tzinfo=PARIS),
            "Coding dojo",
            CONFIRMED,
        ),
        (
            "coding-dojo@example.org/20240312T180000Z",
            datetime(2024, 3, 12, 19, tzinfo=PARIS),
            "Coding dojo",
            CONFIRMED,
        ),
        (
            "coding-dojo@example.org/20240326T180000Z",
            datetime(2024, 3, 27, 20, tzinfo=PARIS),
            "Coding dojo (salle B)",
            CANCELLED,
        ),
        (
            "coding-dojo@example.org/20240402T170000Z",
            datetime(2024, 4, 2, 19, tzinfo=PARIS),
            "Coding dojo",
            CONFIRMED,
        ),
    ]


def test_recurrence_limited_to_window_single_events_only_lose_the_past() -> None:
    context = make_context(datetime(2024, 3, 10, tzinfo=PARIS), datetime(2024, 3, 20, tzinfo=PARIS))
    document = fixture_document("ical/recurring-weekly-exdate-override.ics")
    result = ical.parse(document, make_source(), context)
    assert [e.source_uid for e in result.events] == ["coding-dojo@example.org/20240312T180000Z"]
    singles = ical.parse(
        fixture_document("ical/mixed-zones-allday-duration.ics"), make_source(), context
    )
    # Only the January event ended before the window: later ones are kept past its end.
    assert "install-party@example.org" not in by_uid(singles)
    assert len(singles.events) == 5
    assert singles.items == 7  # the dropped event was still looked at


def test_windows_and_outlook_zone_names() -> None:
    result = parse("windows-and-outlook-tzids.ics")
    events = by_uid(result)
    assert events["romance@example.org"].start == datetime(2024, 1, 15, 10, tzinfo=PARIS)
    assert str(events["romance@example.org"].start.tzinfo) == "Europe/Paris"
    display = events["display@example.org"].start
    assert (str(display.tzinfo), display.utcoffset()) == ("Europe/Paris", timedelta(hours=2))
    assert events["offset@example.org"].start.utcoffset() == timedelta(hours=3)
    assert events["unknown@example.org"].start == datetime(2024, 1, 15, 10, tzinfo=PARIS)
    assert result.warnings == ["unknown time zone 'Heure de Plouzané': times read in Europe/Paris"]


def test_latin1_bytes_without_wrapper_and_unescaped_newline() -> None:
    result = parse("latin1-no-wrapper-unescaped-newline.ics")
    [event] = result.events
    assert event.title == "Sans enveloppe"
    assert event.description == "Première ligne\nsuite sans échappement"
    assert event.start == datetime(2024, 2, 1, 18, tzinfo=UTC)


def test_two_calendars_and_truncated_end() -> None:
    result = parse("two-calendars-truncated.ics")
    assert [e.source_uid for e in result.events] == [
        "first@example.org",
        "second@example.org",
        "truncated@example.org",
    ]


def test_breton_names_round_trip_in_utf8_with_bom_and_lf() -> None:
    text = (
        "\ufeffBEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nSUMMARY:Fest-noz à Creac'h Gwen\n"
        "LOCATION:Plouzané\nDTSTART;VALUE=DATE:20240801\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    result = ical.parse(document_from_bytes(text.encode()), make_source(), make_context())
    [event] = result.events
    assert event.title == "Fest-noz à Creac'h Gwen"
    assert event.location.name == "Plouzané"


def test_event_without_uid_gets_a_stable_fingerprint() -> None:
    text = (
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Sans UID\r\n"
        b"DTSTART:20240801T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    first = ical.parse(document_from_bytes(text), make_source(), make_context())
    second = ical.parse(document_from_bytes(text), make_source(), make_context())
    assert first.events[0].source_uid == second.events[0].source_uid
    assert first.events[0].source_uid.startswith("sha1:")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<!DOCTYPE html><html><body>Agenda</body></html>", "web page"),
        (b"", "empty"),
        (b"hello world", "no BEGIN:VCALENDAR"),
    ],
)
def test_not_a_calendar_raises_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as info:
        ical.parse(document_from_bytes(body), make_source(), make_context())
    assert info.value.source_id == "corpus"
    assert info.value.url == "https://example.org/agenda/"
