"""Pure text, place and time helpers shared by the parsers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from parser_helpers import PARIS

from aggregator.models import Location
from aggregator.normalize import (
    clean_categories,
    clean_description,
    clean_text,
    clean_title,
    event_span,
    fingerprint,
    html_to_text,
    parse_clock,
    parse_datetime_text,
    parse_location,
    utc_stamp,
)


def test_html_to_text_keeps_paragraphs_and_drops_scripts() -> None:
    markup = (
        "<p>Bonjour&nbsp;à   tous</p><p>Creac&#39;h Gwen<br>Plouzané</p>"
        "<script>alert(1)</script><ul><li>un</li><li>deux</li></ul>"
    )
    assert html_to_text(markup) == "Bonjour à tous\n\nCreac'h Gwen\nPlouzané\n\nun\ndeux"


def test_html_to_text_decodes_entities_once() -> None:
    assert html_to_text("<b>R&amp;D</b> &amp;lt;") == "R&D &lt;"


def test_clean_title_collapses_whitespace_and_tags() -> None:
    assert clean_title("  Atelier\n  <em>Linux</em> &amp; café ") == "Atelier Linux & café"


def test_clean_text_maps_windows_1252_controls() -> None:
    assert clean_text("don\x92t\r\n\r\n\r\nok\x00") == "don’t\n\nok"


def test_clean_description_leaves_plain_text_alone() -> None:
    assert clean_description("a < b, and c > d") == "a < b, and c > d"


def test_clean_categories_dedupes_and_drops_empty() -> None:
    assert clean_categories(["Atelier", "", "atelier", " Repair  café "]) == (
        "Atelier",
        "Repair café",
    )


@pytest.mark.parametrize(
    ("text", "city", "expected"),
    [
        (
            "Salle Creac'h Gwen, 12 rue de la Gare, 35600 Redon",
            None,
            Location("Salle Creac'h Gwen", "12 rue de la Gare", "35600", "Redon"),
        ),
        (
            "12 rue de la Gare, 35600 Redon",
            None,
            Location(None, "12 rue de la Gare", "35600", "Redon"),
        ),
        ("Médiathèque", "Plouzané", Location("Médiathèque", None, None, "Plouzané")),
        ("29200 Brest Cedex 2", "Quimper", Location(None, None, "29200", "Brest")),
        ("#_LOCATIONNAME, #_LOCATIONTOWN", None, Location()),
    ],
)
def test_parse_location(text: str, city: str | None, expected: Location) -> None:
    assert parse_location(text, city) == expected


def test_parse_location_structured_parts_win() -> None:
    location = parse_location(None, "Brest", name="Fablab", postcode="29280", city="Plouzané")
    assert location == Location("Fablab", None, "29280", "Plouzané")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-16", date(2024, 3, 16)),
        ("2024-03-16T14:00", datetime(2024, 3, 16, 14, 0)),
        (
            "2017-06-12T20:00:00+0100",
            datetime(2017, 6, 12, 20, tzinfo=timezone(timedelta(hours=1))),
        ),
        ("19970324T123000Z", datetime(1997, 3, 24, 12, 30, tzinfo=UTC)),
        ("2009-06-26t19:00-08", datetime(2009, 6, 26, 19, tzinfo=timezone(timedelta(hours=-8)))),
        ("01/05/2022", date(2022, 5, 1)),
        ("2019-9-13T10-10-00-00", None),
        ("2013-034", None),
        ("2024-13-01", None),
        ("", None),
    ],
)
def test_parse_datetime_text(text: str, expected: object) -> None:
    assert parse_datetime_text(text) == expected


def test_parse_clock() -> None:
    assert [parse_clock(t) for t in ("20:30", "20h", "9h15", "", "25:00")] == [
        datetime(2000, 1, 1, 20, 30).time(),
        datetime(2000, 1, 1, 20).time(),
        datetime(2000, 1, 1, 9, 15).time(),
        None,
        None,
    ]


def test_event_span_all_day_inclusive_and_exclusive() -> None:
    start, end, all_day = event_span(
        date(2024, 3, 30), date(2024, 3, 31), PARIS, end_inclusive=True
    )
    assert (start.isoformat(), end and end.isoformat(), all_day) == (
        "2024-03-30T00:00:00+01:00",
        "2024-04-01T00:00:00+02:00",
        True,
    )
    _, end, _ = event_span(date(2024, 3, 30), date(2024, 3, 31), PARIS, end_inclusive=False)
    assert end == datetime(2024, 3, 31, tzinfo=PARIS)
    _, end, _ = event_span(date(2024, 3, 30), None, PARIS, end_inclusive=False)
    assert end == datetime(2024, 3, 31, tzinfo=PARIS)


def test_event_span_floating_time_read_in_zone() -> None:
    start, end, all_day = event_span(datetime(2024, 7, 1, 18), None, PARIS, end_inclusive=True)
    assert start.utcoffset() == timedelta(hours=2)
    assert (end, all_day) == (None, False)


def test_fingerprint_is_stable_and_ignores_cosmetic_title_changes() -> None:
    start = datetime(2024, 1, 1, 10, tzinfo=UTC)
    first = fingerprint("Repair  Café", start, "https://x.org/a")
    assert first == fingerprint("repair café", start, "https://x.org/a")
    assert first != fingerprint("repair café", start, "https://x.org/b")
    assert first.startswith("sha1:") and len(first) == 45


def test_utc_stamp() -> None:
    assert utc_stamp(datetime(2024, 3, 5, 19, tzinfo=PARIS)) == "20240305T180000Z"
    assert utc_stamp(date(2024, 3, 5)) == "20240305"
