"""iCalendar adapter: zones, all-day spans, recurrences and tolerance of broken files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from parser_helpers import PARIS, document_from_bytes, fixture_document, make_context, make_source

from aggregator.config import Agenda
from aggregator.errors import ParseError
from aggregator.models import (
    CANCELLED,
    CONFIRMED,
    ORIGIN_ICAL,
    Event,
    Location,
    ParseContext,
    ParseResult,
    Window,
)
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


def test_a_second_calendar_cut_off_makes_the_whole_file_malformed() -> None:
    # The body ends inside a VEVENT of the second calendar: a cut download, not a producer's
    # quirk. Reading what is left would remove the events that were cut off (issue 10).
    with pytest.raises(ParseError, match="cut off: it ends inside VEVENT") as caught:
        parse("two-calendars-truncated.ics")
    assert "stored for this source are kept" in caught.value.reason


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


# --- issue 3: one fixture per case in tests/fixtures/ical/ ------------------------------------

ISSUE3 = Path(__file__).resolve().parent / "fixtures" / "ical"
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=PARIS)


def issue3(
    name: str, *, tz: ZoneInfo = PARIS, content: bytes | None = None, now: datetime = NOW
) -> ParseResult:
    """Parse a fixture with the agenda's default window (now - 1 day .. now + 365 days)."""
    agenda = Agenda()
    window = Window(
        now - timedelta(days=agenda.past_days), now + timedelta(days=agenda.future_days)
    )
    data = content if content is not None else (ISSUE3 / name).read_bytes()
    return ical.parse(
        document_from_bytes(data), make_source(), ParseContext(tz=tz, window=window, now=now)
    )


def starts(result: ParseResult) -> dict[str, str]:
    return {e.source_uid: e.start.isoformat() for e in result.events}


def test_every_ical_event_says_it_came_from_ical() -> None:
    for path in sorted(ISSUE3.glob("*.ics")):
        if path.name.startswith("truncated-"):
            continue  # malformed on purpose: see test_a_body_cut_off_is_a_malformed_fetch
        result = issue3(path.name)
        assert result.events, path.name
        assert {e.origin for e in result.events} == {ORIGIN_ICAL}, path.name


def test_vtimezone_defined_in_the_file_is_used_for_an_unknown_tzid() -> None:
    result = issue3("vtimezone-in-file-custom-tzid.ics")
    assert result.warnings == []
    assert starts(result) == {
        "winter@example.org": "2026-02-05T10:00:00-04:00",
        "summer@example.org": "2026-07-05T10:00:00-03:00",
    }


def test_iana_tzid_without_vtimezone() -> None:
    result = issue3("tzid-iana-without-vtimezone.ics")
    events = by_uid(result)
    montreal = events["montreal@example.org"]
    assert montreal.start.isoformat() == "2026-02-10T12:00:00-05:00"
    assert montreal.start.astimezone(PARIS).hour == 18
    assert str(montreal.start.tzinfo) == "America/Montreal"
    assert events["paris@example.org"].start.isoformat() == "2026-07-10T18:00:00+02:00"


def test_windows_romance_standard_time_is_paris_in_winter_and_summer() -> None:
    result = issue3("tzid-windows-romance-standard-time.ics")
    assert result.warnings == []
    events = by_uid(result)
    for uid, expected in (
        ("outlook-winter@example.org", "2026-02-12T14:00:00+01:00"),
        ("outlook-summer@example.org", "2026-06-11T14:00:00+02:00"),
    ):
        assert events[uid].start.isoformat() == expected
        assert str(events[uid].start.tzinfo) == "Europe/Paris"


def test_google_x_wr_timezone_reads_floating_times_in_that_zone() -> None:
    result = issue3("x-wr-timezone-google.ics")
    events = by_uid(result)
    # UTC times keep their instant; floating ones are read in X-WR-TIMEZONE, not in Paris.
    assert events["utc-time@google.com"].start == datetime(2026, 2, 12, 22, tzinfo=UTC)
    assert events["floating-time@google.com"].start.isoformat() == "2026-02-14T18:00:00-04:00"
    weekly = [e for e in result.events if e.source_uid.startswith("weekly-utc@google.com/")]
    assert [e.start.astimezone(UTC).isoformat() for e in weekly] == [
        "2026-03-02T22:00:00+00:00",
        "2026-03-09T22:00:00+00:00",
    ]


def test_utc_times() -> None:
    [event] = issue3("utc-times.ics").events
    assert event.start == datetime(2026, 1, 15, 17, 30, tzinfo=UTC)
    assert event.start.astimezone(PARIS).isoformat() == "2026-01-15T18:30:00+01:00"
    assert event.end == datetime(2026, 1, 15, 19, 30, tzinfo=UTC)


def test_floating_times_are_read_in_the_source_zone() -> None:
    [default] = issue3("floating-times.ics").events
    assert default.start.isoformat() == "2026-07-18T20:00:00+02:00"
    reunion = ZoneInfo("Indian/Reunion")  # a source configured with `timezone: Indian/Reunion`
    [overseas] = issue3("floating-times.ics", tz=reunion).events
    assert overseas.start.isoformat() == "2026-07-18T20:00:00+04:00"
    assert overseas.start.tzinfo == reunion


def test_all_day_single_multi_day_and_missing_dtend() -> None:
    events = by_uid(issue3("all-day-single-and-multi-day.ics"))
    assert all(e.all_day for e in events.values())
    spans = {uid: (e.start.isoformat(), e.end and e.end.isoformat()) for uid, e in events.items()}
    assert spans == {
        "one-day@example.org": ("2026-06-13T00:00:00+02:00", "2026-06-14T00:00:00+02:00"),
        # DTEND is exclusive: 27, 28 and 29 March (the last day already in summer time).
        "three-days@example.org": ("2026-03-27T00:00:00+01:00", "2026-03-30T00:00:00+02:00"),
        # No DTEND on a date: one day (RFC 5545 3.6.1).
        "no-dtend@example.org": ("2026-07-04T00:00:00+02:00", "2026-07-05T00:00:00+02:00"),
    }


def test_duration_instead_of_dtend_and_missing_dtend() -> None:
    events = by_uid(issue3("duration-and-missing-dtend.ics"))
    night = events["duration@example.org"]
    assert (night.start.isoformat(), night.end and night.end.isoformat()) == (
        "2026-03-25T23:00:00+01:00",
        "2026-03-26T03:30:00+01:00",
    )
    camp = events["duration-days@example.org"]
    assert camp.all_day and camp.end == datetime(2026, 8, 3, tzinfo=PARIS)
    no_end = events["no-end@example.org"]
    assert no_end.end is None and no_end.start.isoformat() == "2026-04-01T09:00:00+02:00"


def test_cancelled_event_sequence_and_last_modified() -> None:
    events = by_uid(issue3("status-cancelled-event.ics"))
    cancelled = events["cancelled@example.org"]
    assert cancelled.status == CANCELLED
    assert cancelled.source_sequence == 2
    assert cancelled.last_modified == datetime(2026, 4, 10, 8, 15, tzinfo=UTC)
    confirmed = events["confirmed@example.org"]
    assert (confirmed.status, confirmed.source_sequence, confirmed.last_modified) == (
        CONFIRMED,
        0,
        None,
    )


def test_folded_lines_with_crlf_or_lf_give_the_same_events() -> None:
    crlf = (ISSUE3 / "folded-lines-crlf.ics").read_bytes()
    assert b"\r\n " in crlf and b"\r\n\t" in crlf
    for data in (crlf, crlf.replace(b"\r\n", b"\n")):
        [event] = issue3("", content=data).events
        assert event.title == (
            "Rencontre des collectifs numériques de Plouzané, Landerneau et Creac'h Gwen"
        )
        assert event.description == (
            "Première ligne\nseconde ligne; avec un point-virgule et une tabulation de pliage"
        )
        assert event.start.isoformat() == "2026-01-15T18:30:00+01:00"


def test_latin1_bytes_lf_and_no_vcalendar_wrapper() -> None:
    data = (ISSUE3 / "latin1-bytes-lf-no-wrapper.ics").read_bytes()
    assert b"\xe9" in data and b"\r" not in data and b"VCALENDAR" not in data
    [event] = issue3("latin1-bytes-lf-no-wrapper.ics").events
    assert event.title == "Café réparation à Plouzané"
    assert event.location.name == "Créac'h Gwen"
    assert event.start.isoformat() == "2026-01-16T18:00:00+01:00"


def test_utf8_bom() -> None:
    [event] = issue3("utf8-bom.ics").events
    assert event.title == "Après la marque d'ordre des octets"
    assert event.all_day and event.start == datetime(2026, 1, 17, tzinfo=PARIS)


def test_one_bad_property_skips_only_that_event_with_a_warning() -> None:
    result = issue3("one-bad-property-skips-one-event.ics")
    assert [e.source_uid for e in result.events] == [
        "good-before@example.org",
        "good-after@example.org",
    ]
    assert result.items == 3
    [warning] = result.warnings
    assert warning.startswith("event 'Date illisible' (UID bad@example.org): cannot be read")
    assert "2026-01-21 18h00" in warning and warning.endswith("skipped")


def test_past_single_events_are_dropped_before_parsing_but_counted() -> None:
    """A long-lived calendar: only what has not ended before the window is read."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0"]
    for day in range(1, 29):  # February 2026, each event 18:00-20:00 in Paris
        lines += [
            "BEGIN:VEVENT",
            f"UID:day-{day}@example.org",
            f"DTSTART;TZID=Europe/Paris:202602{day:02d}T180000",
            f"DTEND;TZID=Europe/Paris:202602{day:02d}T200000",
            f"SUMMARY:Soirée {day}",
            "END:VEVENT",
        ]
    lines += [
        # Past by its DTSTART, but a week long through DURATION: still running.
        "BEGIN:VEVENT",
        "UID:long@example.org",
        "DTSTART;VALUE=DATE:20260210",
        "DURATION:P10D",
        "SUMMARY:Exposition",
        "END:VEVENT",
        # Past start, but recurring: expanded in the window, never dropped as a whole.
        "BEGIN:VEVENT",
        "UID:series@example.org",
        "DTSTART;TZID=Europe/Paris:20260101T100000",
        "RRULE:FREQ=WEEKLY;COUNT=12",
        "SUMMARY:Hebdo",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    data = "\r\n".join(lines).encode()
    result = issue3("", content=data, now=datetime(2026, 2, 20, 12, tzinfo=PARIS))
    singles = sorted(e.source_uid for e in result.events if e.source_uid.startswith("day-"))
    # The window starts 19 February 12:00; the 19th is kept (a day-precise test never drops a
    # possibly running event) and so are the 17th and 18th (two days of margin for zones).
    assert singles == [f"day-{day}@example.org" for day in range(17, 29)]
    assert "long@example.org" in by_uid(result)
    series = [e for e in result.events if e.source_uid.startswith("series@")]
    # Thursdays at 10:00: 19 February ended before the window opened at 12:00.
    assert [e.start.date().isoformat() for e in sorted(series, key=lambda e: e.start)] == [
        "2026-02-26",
        "2026-03-05",
        "2026-03-12",
        "2026-03-19",
    ]
    assert result.items == 30


# --- issue 16: the classes where we read calendars differently from ical.js -------------------
# Each has its own fixture in tests/fixtures/ical/diff/, also compared occurrence by occurrence
# with ical.js in tests/test_ical_diff.py.

DIFF = ISSUE3 / "diff"
NOW_2026 = datetime(2026, 1, 15, 12, tzinfo=PARIS)


def diff_fixture(name: str, now: datetime = NOW_2026) -> ParseResult:
    return issue3("", content=(DIFF / name).read_bytes(), now=now)


def local(event: Event) -> tuple[str, str | None]:
    end = event.end.astimezone(PARIS).isoformat() if event.end else None
    return event.start.astimezone(PARIS).isoformat(), end


def test_lines_folded_before_the_colon_or_inside_parameters_are_unfolded_first() -> None:
    result = diff_fixture("folded-before-colon.ics")
    assert result.warnings == []
    events = by_uid(result)
    named = events["fold-name@example.org"]
    assert named.title == "Atelier de réparation à Plouzané"  # nothing of ATTENDEE glued on
    assert named.location.name == "Créac'h Gwen"
    assert local(named) == ("2026-02-10T18:30:00+01:00", "2026-02-10T20:30:00+01:00")
    params = events["fold-params@example.org"]
    assert local(params) == ("2026-02-11T10:00:00+01:00", "2026-02-11T12:00:00+01:00")


def test_range_thisandfuture_moves_every_later_instance() -> None:
    result = diff_fixture("range-thisandfuture.ics")
    assert result.warnings == []
    series = sorted(result.events, key=lambda e: e.start)
    assert [(local(e)[0], e.title) for e in series] == [
        ("2026-02-03T18:00:00+01:00", "Atelier vélo"),
        ("2026-02-10T18:00:00+01:00", "Atelier vélo"),
        ("2026-02-17T19:00:00+01:00", "Atelier vélo (nouvel horaire)"),
        ("2026-02-24T19:00:00+01:00", "Atelier vélo (nouvel horaire)"),
        ("2026-03-03T19:00:00+01:00", "Atelier vélo (nouvel horaire)"),
        ("2026-03-10T19:00:00+01:00", "Atelier vélo (nouvel horaire)"),
    ]
    # Each instance keeps the identity of its original date (18:00 Paris = 17:00 UTC).
    assert [e.source_uid.split("/")[1] for e in series] == [
        "20260203T170000Z",
        "20260210T170000Z",
        "20260217T170000Z",
        "20260224T170000Z",
        "20260303T170000Z",
        "20260310T170000Z",
    ]


def test_floating_series_with_a_utc_exdate_stays_in_local_time() -> None:
    result = diff_fixture("floating-dtstart-utc-exdate.ics")
    assert [local(e)[0] for e in sorted(result.events, key=lambda e: e.start)] == [
        "2026-07-01T10:00:00+02:00",
        # 2 July 10:00 Paris is 08:00 UTC: the EXDATE removes it.
        "2026-07-03T10:00:00+02:00",
        "2026-07-04T10:00:00+02:00",
    ]


def test_date_recurrence_id_on_a_timed_series_replaces_that_days_instance() -> None:
    result = diff_fixture("recurrence-id-date-on-datetime-series.ics")
    series = sorted(result.events, key=lambda e: e.start)
    assert [(local(e)[0], e.title) for e in series] == [
        ("2026-03-02T18:00:00+01:00", "Café numérique"),
        ("2026-03-10T18:00:00+01:00", "Café numérique (décalé au mardi)"),
        ("2026-03-16T18:00:00+01:00", "Café numérique"),
        ("2026-03-23T18:00:00+01:00", "Café numérique"),
    ]
    assert series[1].source_uid == "date-override@example.org/20260309T170000Z"


def test_override_whose_dtend_precedes_dtstart_keeps_its_start() -> None:
    result = diff_fixture("override-dtend-before-dtstart.ics")
    moved = next(e for e in result.events if e.title == "Repair café (décalé)")
    assert moved.start == datetime(2026, 4, 13, 15, tzinfo=PARIS)  # not swapped with 11:00
    assert moved.effective_end == moved.start
    assert result.warnings == [
        "event 'Repair café (décalé)' (UID bad-end@example.org): DTEND before DTSTART, end ignored"
    ]
    assert len(result.events) == 3


def test_iana_properties_are_not_glued_to_the_summary() -> None:
    [event] = diff_fixture("iana-properties-after-summary.ics").events
    assert event.title == "Fest-noz à Creac'h Gwen"
    assert event.description == "Venez nombreux"


def test_vevents_after_end_vcalendar_are_read_with_a_warning() -> None:
    result = diff_fixture("vevents-after-end-vcalendar.ics")
    assert sorted(by_uid(result)) == [
        "after-1@example.org",
        "after-2@example.org",
        "inside@example.org",
    ]
    assert result.warnings == ["2 component(s) after END:VCALENDAR read as part of the calendar"]


def test_custom_tzid_is_read_from_this_file_only_whatever_was_parsed_before() -> None:
    names = [
        "custom-tzid-defined-here.ics",
        "custom-tzid-defined-differently.ics",
        "custom-tzid-undefined.ics",
    ]
    expected = {
        "custom-tzid-defined-here.ics": "2026-07-04T08:00:00+00:00",  # +02:00 in July
        "custom-tzid-defined-differently.ics": "2026-07-04T15:00:00+00:00",  # fixed -05:00
        "custom-tzid-undefined.ics": "2026-07-04T08:00:00+00:00",  # source zone, warned
    }
    for order in (names, names[::-1], [names[1], names[0], names[2]]):
        for name in order:
            [event] = diff_fixture(name).events
            assert event.start.astimezone(UTC).isoformat() == expected[name], (order, name)
    assert diff_fixture("custom-tzid-undefined.ics").warnings == [
        "unknown time zone 'Heure de Bretagne': times read in Europe/Paris"
    ]


def test_invalid_duration_overflow_keeps_the_event_without_its_end() -> None:
    result = diff_fixture("invalid-duration-overflow.ics")
    events = by_uid(result)
    assert events["huge-duration@example.org"].end is None
    assert events["ok@example.org"].end == datetime(2026, 9, 2, 10, tzinfo=UTC)
    [warning] = result.warnings
    assert "ends after the year 9999, end ignored" in warning


def test_unbounded_minutely_series_is_capped_with_a_warning() -> None:
    result = diff_fixture("dense-minutely-series.ics")
    dense = [e for e in result.events if e.title == "Sonde de test"]
    assert len(dense) == ical.MAX_OCCURRENCES_PER_SERIES
    assert dense[0].start == datetime(2026, 10, 1, 8, tzinfo=UTC)
    assert "Assemblée générale" in {e.title for e in result.events}
    assert result.warnings == [
        f"event 'Sonde de test' (UID every-minute@example.org): more than "
        f"{ical.MAX_OCCURRENCES_PER_SERIES} occurrences in the agenda window; only the first "
        f"{ical.MAX_OCCURRENCES_PER_SERIES} were read"
    ]


@pytest.mark.parametrize("freq", ["SECONDLY", "MINUTELY", "HOURLY"])
def test_every_dense_frequency_is_capped(freq: str) -> None:
    text = (
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:dense@example.org\r\nSUMMARY:Dense\r\n"
        f"DTSTART:20260201T000000Z\r\nRRULE:FREQ={freq}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    result = issue3("", content=text.encode(), now=NOW_2026)
    assert len(result.events) == ical.MAX_OCCURRENCES_PER_SERIES
    assert "only the first" in result.warnings[0]


def test_events_per_source_are_capped_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ical, "MAX_EVENTS_PER_SOURCE", 5)
    lines = ["BEGIN:VCALENDAR"]
    for day in range(1, 9):
        lines += [
            "BEGIN:VEVENT",
            f"UID:single-{day}@example.org",
            "SUMMARY:Atelier",
            f"DTSTART:202602{day:02d}T100000Z",
            "END:VEVENT",
        ]
    lines += [
        "BEGIN:VEVENT",
        "UID:daily@example.org",
        "SUMMARY:Quotidien",
        "DTSTART:20260201T090000Z",
        "RRULE:FREQ=DAILY",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    result = issue3("", content="\r\n".join(lines).encode(), now=NOW_2026)
    assert len(result.events) == 5
    assert result.warnings == ["more than 5 events in this calendar: only the first 5 were read"]


@pytest.mark.parametrize(
    ("name", "inside"),
    [("truncated-after-an-event.ics", "VCALENDAR"), ("truncated-mid-line.ics", "VEVENT")],
)
def test_a_body_cut_off_is_a_malformed_fetch(name: str, inside: str) -> None:
    with pytest.raises(ParseError, match=f"cut off: it ends inside {inside}"):
        issue3(name)


def test_missing_wrapper_and_unclosed_inner_component_are_still_repaired() -> None:
    # Not a cut body: every component the file opens is closed by its parent's END.
    text = (
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a@example.org\r\nSUMMARY:Sans fin d'alarme\r\n"
        b"DTSTART:20260201T100000Z\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\n"
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    [event] = issue3("", content=text, now=NOW_2026).events
    assert event.title == "Sans fin d'alarme"
    [bare] = issue3("latin1-bytes-lf-no-wrapper.ics").events
    assert bare.title == "Café réparation à Plouzané"


def test_a_cut_body_over_http_changes_none_of_the_stored_events(tmp_path: Path) -> None:
    """Issue 10, item 4 (iCal): the real pipeline, a loopback server, a real SQLite file."""
    from aggregator import pipeline
    from aggregator.config import Config, Source
    from aggregator.demo.server import LoopbackServer
    from aggregator.store import Store

    whole = (ISSUE3 / "truncated-after-an-event.ics").read_bytes() + b"END:VCALENDAR\r\n"
    cut = whole[: whole.index(b"UID:kept-2")]  # the second event is lost mid-way
    now = datetime(2026, 5, 20, 12, tzinfo=PARIS)
    with LoopbackServer() as server, Store(tmp_path / "agenda.db") as store:
        source = Source(id="ty", name="Ty", url=server.url("/a.ics"), type="ical")
        config = Config(agenda=Agenda(), sources=(source,))
        server.add("/a.ics", whole, content_type="text/calendar")
        first = pipeline.fetch(config, store, now)
        assert first.sources[0].events_found == 2
        before = sorted((e.uid, e.title) for e in store.upcoming(config, now))
        assert sorted(title for _uid, title in before) == ["Deuxième atelier", "Premier atelier"]

        server.add("/a.ics", cut, content_type="text/calendar", etag=None)
        second = pipeline.fetch(config, store, now)
        [report] = second.sources
        assert report.outcome == "failed"
        assert report.error is not None and "cut off" in report.error
        assert (report.removed, report.new, report.updated) == (0, 0, 0)
        assert sorted((e.uid, e.title) for e in store.upcoming(config, now)) == before


def test_the_value_form_decides_date_or_date_time() -> None:
    events = by_uid(diff_fixture("value-form-decides-the-type.ics"))
    forum = events["date-with-tzid@example.org"]  # DTSTART;TZID=Europe/Paris:20260903
    assert forum.all_day and local(forum) == (
        "2026-09-03T00:00:00+02:00",
        "2026-09-04T00:00:00+02:00",
    )
    party = events["time-with-value-date@example.org"]  # VALUE=DATE on 20260905T100000
    assert not party.all_day
    assert local(party) == ("2026-09-05T10:00:00+02:00", "2026-09-05T12:00:00+02:00")


def test_dtstart_outside_its_rule_is_the_first_instance() -> None:
    series = sorted(diff_fixture("dtstart-not-matching-rrule.ics").events, key=lambda e: e.start)
    assert [e.start.date().isoformat() for e in series] == [
        "2026-03-03",  # the Tuesday of DTSTART (RFC 5545 §3.8.5.3)
        "2026-03-05",
        "2026-03-12",
        "2026-03-19",
    ]


def _read_diff_fixture(name: str) -> ParseResult:
    from ical_diff import parse_ours, reference_windows

    data = (Path(__file__).parent / "fixtures" / "ical" / "diff" / name).read_bytes()
    return parse_ours(data, reference_windows(data.decode())[0])


def test_older_copies_of_a_uid_give_way_to_the_newest() -> None:
    """RFC 5546 §2.1.5: highest SEQUENCE, then DTSTAMP; copies of one version are all kept."""
    result = _read_diff_fixture("older-copy-of-a-uid.ics")
    titles = sorted((e.title, e.start.day) for e in result.events)
    assert titles == [("Lecture au jardin", 5), ("Lecture au jardin", 12), ("Troc de plantes", 11)]
    assert any("older version(s) left out" in w for w in result.warnings)


def test_repeated_dtstart_keeps_the_first_and_a_broken_alarm_is_ignored() -> None:
    [event] = _read_diff_fixture("repeated-dtstart.ics").events
    assert event.start.hour == 18
    [alarmed] = _read_diff_fixture("broken-alarm-trigger.ics").events
    assert alarmed.title == "Atelier couture"


def test_orphan_overrides_with_their_own_rules_are_series() -> None:
    result = _read_diff_fixture("orphan-overrides-with-own-rules.ics")
    assert len(result.events) == 4 + 3
