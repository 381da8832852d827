"""The bundled demo renders valid files, dated relative to the day and right across DST."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import icalendar
import pytest
from lxml import html as lxml_html

from aggregator.config import load_config
from aggregator.demo.content import (
    DEMO_SOURCES,
    render_demo_site,
    render_template,
    template_paths,
)

# Friday 27 March 2026: summer time starts on Sunday 29 March at 02:00, so the demo week
# straddles the change from +01:00 to +02:00.
TODAY = dt.date(2026, 3, 27)
BASE_URL = "http://127.0.0.1:8765/"
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    config_path = render_demo_site(TODAY, tmp_path / "site", BASE_URL)
    assert config_path == tmp_path / "site" / "sources.yaml"
    return config_path.parent


def test_every_template_is_rendered_without_leftover_placeholders(site: Path) -> None:
    names = {path.name for path in template_paths()}
    assert names == {"bidouille.ics", "cantine.rss", "libristes.atom", "repaircafe.html"}
    for name in names:
        text = (site / name).read_text(encoding="utf-8")
        assert "@@" not in text, name


def test_generated_config_lists_the_four_demo_sources(site: Path) -> None:
    config = load_config(site / "sources.yaml")
    assert [s.id for s in config.sources] == [spec["id"] for spec in DEMO_SOURCES]
    for source in config.sources:
        assert source.url.startswith(BASE_URL)
        assert (site / source.url.removeprefix(BASE_URL)).is_file()
    assert any(source.type is None for source in config.sources), "detection not exercised"
    assert config.source("cantine-plouzane").city == "Plouzané"
    assert config.source("libristes-creach-gwen").name == "Les Libristes de Creac'h Gwen"


def test_base_url_without_trailing_slash(tmp_path: Path) -> None:
    config = load_config(render_demo_site(TODAY, tmp_path, "http://127.0.0.1:9000"))
    assert config.sources[0].url == "http://127.0.0.1:9000/bidouille.ics"


def test_ical_parses_with_local_times_and_the_expected_shapes(site: Path) -> None:
    raw = (site / "bidouille.ics").read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    calendar = icalendar.Calendar.from_ical(raw)
    events = list(calendar.walk("VEVENT"))
    first = events[0]
    assert str(first["SUMMARY"]) == "Apéro numérique"
    start = first["DTSTART"].dt
    assert start == dt.datetime(2026, 3, 29, 18, 30, tzinfo=PARIS)
    assert start.utcoffset() == dt.timedelta(hours=2)  # after the switch to summer time
    by_title = {str(event["SUMMARY"]): event for event in events}
    weekly = by_title["Atelier bidouille hebdomadaire"]
    assert weekly["DTSTART"].dt.utcoffset() == dt.timedelta(hours=1)  # Saturday 28, winter time
    assert weekly["RRULE"]["BYDAY"] == ["SA"]
    assert str(by_title["Install party GNU/Linux"]["STATUS"]) == "CANCELLED"
    all_day = by_title["Journée portes ouvertes de la Bidouille"]["DTSTART"].dt
    assert all_day == dt.date(2026, 4, 5) and not isinstance(all_day, dt.datetime)
    assert "35600 Redon" in str(first["LOCATION"])
    assert "L'Écluse" in str(first["LOCATION"])


def test_rss_parses_and_only_event_items_carry_dates(site: Path) -> None:
    feed = feedparser.parse((site / "cantine.rss").read_bytes())
    assert feed.bozo == 0
    dated = {entry.title: entry.get("ev_startdate") for entry in feed.entries}
    assert dated["Apéro numérique"] == "2026-03-29T18:30:00+02:00"
    assert dated["Retour sur la fête des cinq ans de la Cantine"] is None
    assert feed.feed.updated == "Thu, 26 Mar 2026 09:15:00 +0100"


def test_atom_parses_with_xcal_dates(site: Path) -> None:
    feed = feedparser.parse((site / "libristes.atom").read_bytes())
    assert feed.bozo == 0
    assert feed.feed.title == "Les Libristes de Creac'h Gwen"
    first = feed.entries[0]
    assert first.get("xcal_dtstart") == "2026-03-30T14:00:00+02:00"
    assert "29000 Quimper" in first.get("xcal_location", "")


def test_same_event_is_announced_by_two_sources(site: Path) -> None:
    calendar = icalendar.Calendar.from_ical((site / "bidouille.ics").read_bytes())
    ical_apero = next(e for e in calendar.walk("VEVENT") if str(e["SUMMARY"]) == "Apéro numérique")
    feed = feedparser.parse((site / "cantine.rss").read_bytes())
    rss_apero = next(e for e in feed.entries if e.title == "Apéro numérique")
    assert dt.datetime.fromisoformat(rss_apero.ev_startdate) == ical_apero["DTSTART"].dt


def _json_ld(site: Path) -> list[dict[str, object]]:
    tree = lxml_html.fromstring((site / "repaircafe.html").read_bytes())
    blocks = tree.xpath('//script[@type="application/ld+json"]/text()')
    assert len(blocks) == 1
    data = json.loads(blocks[0])
    return [node for node in data["@graph"] if node["@type"] == "Event"]


def test_html_json_ld_offsets_follow_daylight_saving_time(site: Path) -> None:
    events = {event["name"]: event for event in _json_ld(site)}
    assert events["Permanence réparation vélos"]["startDate"] == "2026-03-28T10:00:00+01:00"
    assert events["Repair Café de printemps"]["startDate"] == "2026-04-02T14:00:00+02:00"
    cancelled = events["Repair Café des Abers"]
    assert cancelled["eventStatus"] == "https://schema.org/EventCancelled"
    address = events["Repair Café de printemps"]["location"]["address"]  # type: ignore[index]
    assert address["streetAddress"] == "12 rue de la Tour d'Auvergne"
    assert address["addressLocality"] == "Landerneau"


def test_html_text_shows_french_dates(site: Path) -> None:
    text = (site / "repaircafe.html").read_text(encoding="utf-8")
    assert "samedi 28 mars 2026 à 10 h" in text
    assert "jeudi 2 avril 2026 à 14 h" in text


def test_dates_follow_the_given_day(tmp_path: Path) -> None:
    later = dt.date(2026, 10, 30)  # winter time comes back on Sunday 25 October 2026
    site = render_demo_site(later, tmp_path, BASE_URL).parent
    feed = feedparser.parse((site / "cantine.rss").read_bytes())
    apero = next(e for e in feed.entries if e.title == "Apéro numérique")
    assert apero.ev_startdate == "2026-11-01T18:30:00+01:00"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("@@ICAL(+2,18:30)@@", "20260329T183000"),
        ("@@ICALDATE(-1)@@", "20260326"),
        ("@@ICALUTC(+2,18:30)@@", "20260329T163000Z"),
        ("@@ICALUTC(0,18:30)@@", "20260327T173000Z"),
        ("@@BYDAY(+3)@@", "MO"),
        ("@@ISO(+1,09:05)@@", "2026-03-28T09:05:00+01:00"),
        ("@@DATE(+10)@@", "2026-04-06"),
        ("@@RFC822(+3,07:00)@@", "Mon, 30 Mar 2026 07:00:00 +0200"),
        ("@@FR(+4)@@", "mardi 31 mars 2026"),
        ("@@FR(+4,18:05)@@", "mardi 31 mars 2026 à 18 h 05"),
    ],
)
def test_placeholder_kinds(template: str, expected: str) -> None:
    assert render_template(template, TODAY) == expected


@pytest.mark.parametrize("bad", ["@@NOPE(+1)@@", "@@ISO(+1,25:00)@@", "@@ISO(tomorrow)@@"])
def test_bad_placeholders_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="placeholder"):
        render_template(bad, TODAY)


def test_templates_use_only_known_placeholders() -> None:
    for path in template_paths():
        text = path.read_text(encoding="utf-8")
        assert re.findall(r"@@", text), f"{path.name} has no relative dates"
        render_template(text, TODAY)  # raises on anything unknown
