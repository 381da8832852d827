"""Contract suite: every parser, on every real-world file of the shared corpus.

Like vdirsyncer's StorageTests, the same behaviour is required of each adapter
(`parser_helpers.check_parser_contract`, also run over our own quirk fixtures by
test_quirks.py). A few files with known content are then checked value by value.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from corpus import FETCH_COMMAND, load_manifest, missing_files
from parser_helpers import (
    PARIS,
    check_parser_contract,
    corpus_dir,
    document_from_bytes,
    make_context,
    make_source,
    parse_bytes,
)

from aggregator.errors import ParseError
from aggregator.models import CANCELLED, FEED, HTML, ICAL, Event, ParseResult
from aggregator.parsers import detect_type, parse_document

pytestmark = pytest.mark.corpus

FOLDERS = {"ics": ICAL, "feeds": FEED, "html": HTML}
CORPUS = corpus_dir()


def corpus_files() -> list[Path]:
    """Every parser file of the manifest (so the checks are the same with or without the files)."""
    entries = load_manifest()
    return [CORPUS / e.path for e in entries if e.path.split("/")[0] in FOLDERS]


def kind_of(path: Path) -> str:
    return FOLDERS[path.parent.name]


def run(path: Path) -> ParseResult:
    return parse_bytes(kind_of(path), path.read_bytes())


def test_corpus_is_present() -> None:
    # Deselected without the corpus (counted in the summary), a failure on CI.
    assert missing_files(CORPUS) == [], f"corpus incomplete in {CORPUS}; run `{FETCH_COMMAND}`"
    assert len(corpus_files()) == 74


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_parser_contract(path: Path) -> None:
    check_parser_contract(kind_of(path), path.read_bytes())


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_detect_type_recognises_corpus_files(path: Path) -> None:
    document = document_from_bytes(path.read_bytes(), url="https://example.org/")
    assert detect_type(document) == kind_of(path)


def events_of(relative: str) -> dict[str, Event]:
    result = run(CORPUS / relative)
    assert result.events, f"{relative} should give events"
    return {event.source_uid: event for event in result.events}


def test_google_x_wr_timezone() -> None:
    events = events_of("ics/google-x-wr-timezone-utc-times.ics")
    noon = events["3bc4jff97631or97ntnk75n4se@google.com"]
    assert str(noon.start.tzinfo) == "America/New_York"
    assert (noon.start.hour, noon.end and noon.end.hour) == (12, 13)
    assert noon.start.astimezone(UTC) == datetime(2021, 12, 22, 17, tzinfo=UTC)


def test_nextcloud_all_day() -> None:
    [event] = events_of("ics/nextcloud-sabredav-all-day.ics").values()
    assert event.all_day
    assert (event.start, event.end) == (
        datetime(2019, 3, 4, tzinfo=PARIS),
        datetime(2019, 3, 5, tzinfo=PARIS),
    )


def test_thunderbird_cancelled_occurrence() -> None:
    events = events_of("ics/thunderbird-cancelled-occurrence.ics")
    assert len(events) == 3
    cancelled = events["b65c2b5b-b785-4edc-9560-e0379036d1f2/20200129T210000Z"]
    assert cancelled.status == CANCELLED
    assert cancelled.start.astimezone(PARIS) == datetime(2020, 1, 29, 22, tzinfo=PARIS)


def test_wordpress_ai1ec_fablab() -> None:
    events = events_of("ics/wordpress-ai1ec-fablab-cottbus.ics")
    repair = events["ai1ec-1441@blog.fablab-cottbus.de"]
    assert repair.title == "Weihnachts Repair-Café"
    assert repair.start == datetime(2016, 12, 3, 14, tzinfo=PARIS)  # Berlin = Paris offset
    assert str(repair.start.tzinfo) == "Europe/Berlin"


def test_agenda_du_libre_accents_and_places() -> None:
    events = events_of("ics/agendadulibre-rhone-alpes-2013.ics")
    assert len(events) == 130
    alpinux = events["7463@agendadulibre.org"]
    assert alpinux.title == "Premier jeudi d'Alpinux : audio et vidéo"
    assert alpinux.start == datetime(2013, 2, 7, 20, tzinfo=PARIS)
    assert alpinux.location.name == "Chambéry"


def test_exchange_windows_zone_mapped_to_iana() -> None:
    events = events_of("ics/exchange2010-multiple-windows-timezones.ics")
    first = next(e for e in events.values() if e.title == "test")
    assert str(first.start.tzinfo) == "Europe/Berlin"
    assert first.start.isoformat() == "2020-09-10T09:00:00+02:00"


def test_sortir_grandpoitiers_event_module() -> None:
    events = events_of("feeds/sortir-grandpoitiers-typo3-rss-ev-module.xml")
    assert len(events) == 3
    dance = events["news-25943"]
    assert dance.title == "Spectacle de danse de Flex Pointe à la Hune"
    assert dance.start.astimezone(PARIS) == datetime(2022, 2, 11, 21, tzinfo=PARIS)
    expo = events["news-23496"]
    assert expo.all_day  # "T00:00:00Z" on both ends: a span of days
    assert (expo.start.date(), expo.end and expo.end.date()) == (
        date(2022, 2, 27),
        date(2022, 5, 31),
    )


def test_univ_poitiers_custom_fields() -> None:
    events = events_of("feeds/univ-poitiers-wordpress-custom-fields-undeclared-ns.xml")
    sport = events["https://www.univ-poitiers.fr/?p=102290"]
    assert sport.title == "Sorties sportives"
    assert (sport.start, sport.end) == (
        datetime(2022, 5, 1, tzinfo=PARIS),
        datetime(2022, 6, 25, tzinfo=PARIS),
    )


def test_ville_poitiers_dates_with_attributes() -> None:
    events = events_of("feeds/ville-poitiers-agenda-rss-2015-mojibake.xml")
    starts = sorted(e.start.date() for e in events.values())
    assert starts == [date(2015, 10, 7), date(2015, 10, 16), date(2015, 11, 15)]
    assert any(e.title.startswith("Images révélées") for e in events.values())


def test_blog_feed_without_event_dates_gives_no_events() -> None:
    result = run(CORPUS / "feeds/atom-jekyll-feed-qemu.atom")
    assert result.items == 10 and result.events == []


def test_songkick_jsonld() -> None:
    [event] = events_of("html/songkick-artist-page-jsonld-musicevent-list.html").values()
    assert event.title == "Tove Styrke"
    assert event.start.isoformat() == "2017-06-12T20:00:00+01:00"
    assert event.location.name == "Hoxton Square Bar & Kitchen"


def test_microdata_cancelled() -> None:
    [event] = events_of("html/schemaorg-microdata-event-cancelled.html").values()
    assert event.status == CANCELLED
    assert event.start == datetime(2013, 9, 14, 21, 30, tzinfo=PARIS)
    assert (event.location.postcode, event.location.city) == ("80209", "Denver")


def test_hcalendar_abbr_title() -> None:
    [event] = events_of("html/hcalendar-mf1-vcalendar-abbr-title.html").values()
    assert event.start == datetime(1997, 3, 24, 12, 30, tzinfo=UTC)
    assert event.categories == ("Meeting", "Project")


def test_parse_document_uses_configured_type() -> None:
    path = CORPUS / "ics/nextcloud-sabredav-all-day.ics"
    document = document_from_bytes(path.read_bytes())
    assert parse_document(document, make_source(), make_context()).events
    html_source = make_source().model_copy(update={"type": "html"})
    with pytest.raises(ParseError, match="type: ical"):
        parse_document(document, html_source, make_context())


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"\xef\xbb\xbfBEGIN:VCALENDAR\r\n", "text/plain", ICAL),
        (b"<?xml version='1.0'?><rss version='2.0'></rss>", "text/html", FEED),
        (b"<!DOCTYPE html><html></html>", "application/rss+xml", HTML),
        (b"{}", "text/calendar", ICAL),
        (b"{}", "application/atom+xml; charset=utf-8", FEED),
        (b"{}", None, HTML),
    ],
)
def test_detect_type_body_first_then_content_type(
    body: bytes, content_type: str | None, expected: str
) -> None:
    assert detect_type(document_from_bytes(body, content_type=content_type)) == expected


def test_broken_vtimezone_falls_back_to_event_by_event() -> None:
    result = run(CORPUS / "ics/wordpress-events-calendar-broken-vtimezone-html-uid.ics")
    assert len(result.events) == 30
    assert any("time zone definition ignored" in w for w in result.warnings)
    outreach = next(e for e in result.events if e.title == "Outreach Meeting")
    assert outreach.start.isoformat() == "2024-05-09T08:30:00-05:00"


def test_stray_line_and_double_semicolon_are_repaired() -> None:
    [stray] = run(CORPUS / "ics/malformed-stray-line-before-end.ics").events
    assert stray.title == "Broken Eevnt"
    [semicolons] = run(CORPUS / "ics/malformed-double-semicolon-param.ics").events
    assert semicolons.source_uid == "abc"
