"""Publishers: calendar.ics, feed.xml, index.html and events.json, read back by real parsers."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import lxml.etree
import lxml.html
import pytest
from icalendar import Calendar
from publish_helpers import CONFIG as AGENDA_CONFIG
from publish_helpers import NOW as AGENDA_NOW
from publish_helpers import agenda_events, agenda_health, publish_agenda

from aggregator import publish
from aggregator.config import Agenda, Config
from aggregator.errors import PublishError
from aggregator.models import CANCELLED, Event, Location, SourceRef
from aggregator.publish import (
    atomic_write,
    links,
    publish_all,
    render_calendar,
    render_html,
    render_json,
    render_rss,
)
from aggregator.publish.changes import compute_changes, render_changes, render_state
from aggregator.publish.feeds import plan_feeds, render_feeds
from aggregator.publish.html import (
    description_html,
    french_date,
    public_uid,
    render_pages,
    slugify,
    when_text,
)
from aggregator.publish.sources_page import (
    french_error,
    french_notice,
    render_sources_page,
    shown_health,
)

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
CHANGED = datetime(2026, 2, 20, 17, 45, tzinfo=UTC)
BASE_URL = "https://agenda.example.org/numerique"
CONFIG = Config(agenda=Agenda(base_url=BASE_URL))
CONFIG_NO_BASE = Config()

FABLAB = SourceRef(
    "fablab-landerneau", "Fablab de Landerneau", "https://fablab-landerneau.example/"
)
TYFAB = SourceRef("tyfab", "Ty Fab Plouzané", "https://tyfab.example/agenda")
EVIL_SOURCE = SourceRef("evil", "Collectif piégé", "javascript:alert(2)")
PLACE = Location("Creac'h Gwen", "12 rue de Brest", "29280", "Plouzané")


def make_event(uid: str, title: str, start: datetime, **changes: Any) -> Event:
    """An event as the store hands it to publishers (uid, sequence, sources, last_modified set)."""
    fields: dict[str, Any] = {
        "source_id": "fablab-landerneau",
        "source_uid": uid,
        "title": title,
        "start": start,
        "uid": f"{uid}@agenda-numerique-bretagne",
        "last_modified": CHANGED,
        "sequence": 1,
        "sources": (FABLAB,),
    }
    fields.update(changes)
    return Event(**fields)


def sample_events() -> list[Event]:
    """Deliberately unsorted: publishers must sort by (start, title, uid)."""
    return [
        # Given in UTC: 09:00Z is 10:00 in Paris on the day winter time comes back.
        make_event(
            "install",
            "Install party à Landerneau",
            datetime(2026, 10, 25, 9, 0, tzinfo=UTC),
            end=datetime(2026, 10, 25, 11, 0, tzinfo=UTC),
            location=Location("Médiathèque", city="Landerneau"),
            categories=("logiciel libre", "install party"),
        ),
        make_event(
            "apero",
            "Apéro numérique",
            datetime(2026, 5, 16, 18, 30, tzinfo=PARIS),
            end=datetime(2026, 5, 16, 20, 0, tzinfo=PARIS),
            location=PLACE,
            url="https://fablab-landerneau.example/apero",
            description="On parle de réemploi, de bidouille et de café.",
            categories=("apéro",),
            sources=(FABLAB, TYFAB),
            sequence=3,
        ),
        # Given in UTC: 08:00Z is 10:00 in Paris on the day summer time starts.
        make_event(
            "repair",
            "Repair café de Plouzané",
            datetime(2026, 3, 29, 8, 0, tzinfo=UTC),
            end=datetime(2026, 3, 29, 10, 0, tzinfo=UTC),
            location=PLACE,
            sources=(TYFAB,),
        ),
        make_event(
            "fete",
            "Fête du logiciel libre",
            datetime(2026, 6, 13, tzinfo=PARIS),
            end=datetime(2026, 6, 14, tzinfo=PARIS),
            all_day=True,
        ),
        make_event(
            "festival",
            "Festival des communs",
            datetime(2026, 7, 1, tzinfo=PARIS),
            end=datetime(2026, 7, 4, tzinfo=PARIS),
            all_day=True,
        ),
        make_event(
            "annule",
            "Atelier Linux",
            datetime(2026, 5, 20, 14, 0, tzinfo=PARIS),
            end=datetime(2026, 5, 20, 17, 0, tzinfo=PARIS),
            status=CANCELLED,
            sequence=2,
        ),
        make_event(
            "sansfin",
            "Permanence numérique",
            datetime(2026, 9, 1, 9, 0, tzinfo=PARIS),
            url=None,
        ),
    ]


def hostile_event() -> Event:
    """Everything a careless source could send: markup, CRLF injection, javascript: links."""
    return make_event(
        "hostile",
        "<script>alert(1)</script>\r\nATTENDEE:evil",
        datetime(2026, 4, 2, 19, 0, tzinfo=PARIS),
        url="javascript:alert(1)",
        description="<script>alert(3)</script>\r\nORGANIZER:evil",
        sources=(EVIL_SOURCE,),
    )


def vevents(data: bytes) -> dict[str, Any]:
    calendar = Calendar.from_ical(data)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


# --- calendar.ics ---------------------------------------------------------------------------


def test_calendar_header_and_timezone() -> None:
    calendar = Calendar.from_ical(render_calendar(sample_events(), CONFIG))
    assert str(calendar["PRODID"]) == "-//aggregator//Agenda du numérique en Bretagne//FR"
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["CALSCALE"]) == "GREGORIAN"
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["X-WR-CALNAME"]) == "Agenda du numérique en Bretagne"
    assert str(calendar["X-WR-TIMEZONE"]) == "Europe/Paris"
    assert str(calendar["X-WR-CALDESC"]) == CONFIG.agenda.description
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/Paris"]
    assert calendar.get_missing_tzids() == set()


def test_calendar_refresh_properties_are_durations() -> None:
    raw = render_calendar(sample_events(), CONFIG)
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT6H\r\n" in raw
    assert b"\r\nX-PUBLISHED-TTL:PT6H\r\n" in raw


def test_calendar_events_in_agenda_zone_across_dst() -> None:
    events = vevents(render_calendar(sample_events(), CONFIG))
    spring = events["repair@agenda-numerique-bretagne"]
    autumn = events["install@agenda-numerique-bretagne"]
    for vevent, offset in ((spring, 2), (autumn, 1)):
        assert vevent["DTSTART"].params["TZID"] == "Europe/Paris"
        start = vevent.decoded("DTSTART")
        assert (start.hour, start.minute) == (10, 0)
        assert start.utcoffset() == timedelta(hours=offset)
        assert vevent.decoded("DTEND").hour == 12
    assert spring.decoded("DTSTART").date() == date(2026, 3, 29)
    assert autumn.decoded("DTSTART").date() == date(2026, 10, 25)


def test_calendar_event_properties() -> None:
    vevent = vevents(render_calendar(sample_events(), CONFIG))["apero@agenda-numerique-bretagne"]
    assert str(vevent["SUMMARY"]) == "Apéro numérique"
    assert vevent.decoded("DTSTAMP") == CHANGED
    assert vevent.decoded("LAST-MODIFIED") == CHANGED
    assert vevent.decoded("SEQUENCE") == 3
    assert str(vevent["STATUS"]) == "CONFIRMED"
    assert str(vevent["URL"]) == "https://fablab-landerneau.example/apero"
    assert str(vevent["LOCATION"]) == "Creac'h Gwen, 12 rue de Brest, 29280 Plouzané"
    assert [str(c) for c in vevent["CATEGORIES"].cats] == ["apéro"]
    assert str(vevent["DESCRIPTION"]) == (
        "On parle de réemploi, de bidouille et de café.\n\n"
        "Source : Fablab de Landerneau – https://fablab-landerneau.example/\n"
        "Source : Ty Fab Plouzané – https://tyfab.example/agenda"
    )


def test_calendar_dtstamp_is_utc() -> None:
    raw = render_calendar(sample_events(), CONFIG)
    assert b"DTSTAMP:20260220T174500Z" in raw
    assert b"LAST-MODIFIED:20260220T174500Z" in raw


def test_calendar_all_day_events_are_dates() -> None:
    raw = render_calendar(sample_events(), CONFIG)
    assert b"DTSTART;VALUE=DATE:20260613\r\nDTEND;VALUE=DATE:20260614" in raw
    events = vevents(raw)
    festival = events["festival@agenda-numerique-bretagne"]
    assert festival.decoded("DTSTART") == date(2026, 7, 1)
    assert festival.decoded("DTEND") == date(2026, 7, 4)
    assert not isinstance(festival.decoded("DTSTART"), datetime)


def test_calendar_cancelled_status_and_open_end() -> None:
    events = vevents(render_calendar(sample_events(), CONFIG))
    assert str(events["annule@agenda-numerique-bretagne"]["STATUS"]) == "CANCELLED"
    open_ended = events["sansfin@agenda-numerique-bretagne"]
    assert "DTEND" not in open_ended
    # No own page: the first source's page stands in.
    assert str(open_ended["URL"]) == FABLAB.url


def test_calendar_events_sorted_by_start() -> None:
    calendar = Calendar.from_ical(render_calendar(sample_events(), CONFIG))
    starts = [e.decoded("DTSTART") for e in calendar.walk("VEVENT")]
    keys = [
        datetime.combine(s, datetime.min.time(), PARIS) if type(s) is date else s for s in starts
    ]
    assert keys == sorted(keys)
    assert len(keys) == len(sample_events())


def test_calendar_escapes_crlf_injection() -> None:
    raw = render_calendar([hostile_event()], CONFIG)
    assert not any(line.startswith((b"ATTENDEE", b"ORGANIZER")) for line in raw.split(b"\r\n"))
    vevent = vevents(raw)["hostile@agenda-numerique-bretagne"]
    assert "ATTENDEE" not in vevent
    assert "ORGANIZER" not in vevent
    assert str(vevent["SUMMARY"]) == "<script>alert(1)</script>\nATTENDEE:evil"
    # Neither the event's nor the source's javascript: URL is published.
    assert "URL" not in vevent
    assert "javascript" not in str(vevent["DESCRIPTION"])


def test_calendar_reads_back_with_vobject_using_our_vtimezone() -> None:
    """A second, independent parser; vobject builds its zone from our VTIMEZONE, not zoneinfo."""
    import vobject

    calendar = vobject.readOne(render_calendar(sample_events(), CONFIG).decode("utf-8"))
    starts = {ev.uid.value: ev.dtstart.value for ev in calendar.vevent_list}
    assert starts["repair@agenda-numerique-bretagne"].utcoffset() == timedelta(hours=2)
    assert starts["install@agenda-numerique-bretagne"].utcoffset() == timedelta(hours=1)
    assert starts["install@agenda-numerique-bretagne"].hour == 10
    assert starts["fete@agenda-numerique-bretagne"] == date(2026, 6, 13)


def test_calendar_empty_is_still_valid() -> None:
    calendar = Calendar.from_ical(render_calendar([], CONFIG))
    assert calendar.walk("VEVENT") == []
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/Paris"]


# --- feed.xml -------------------------------------------------------------------------------


def test_feed_is_valid_rss_with_french_titles() -> None:
    feed = feedparser.parse(render_rss(sample_events(), CONFIG, NOW))
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "rss20"
    assert feed.feed.title == "Agenda du numérique en Bretagne"
    assert feed.feed.language == "fr"
    assert feed.feed.link == BASE_URL + "/"
    self_links = [link.href for link in feed.feed.links if link.rel == "self"]
    assert self_links == [BASE_URL + "/feed.xml"]
    titles = [entry.title for entry in feed.entries]
    assert titles[0] == "dimanche 29 mars 2026, 10 h – Repair café de Plouzané"
    assert "samedi 16 mai 2026, 18 h 30 – Apéro numérique" in titles
    assert "ANNULÉ – mercredi 20 mai 2026, 14 h – Atelier Linux" in titles
    assert "samedi 13 juin 2026 – Fête du logiciel libre" in titles
    assert "du mercredi 1er juillet au vendredi 3 juillet 2026 – Festival des communs" in titles
    assert "dimanche 25 octobre 2026, 10 h – Install party à Landerneau" in titles


def test_feed_items_carry_uid_link_place_and_categories() -> None:
    feed = feedparser.parse(render_rss(sample_events(), CONFIG, NOW))
    entries = {entry.id: entry for entry in feed.entries}
    assert set(entries) == {e.uid for e in sample_events()}
    apero = entries["apero@agenda-numerique-bretagne"]
    assert apero.guidislink is False
    assert apero.link == "https://fablab-landerneau.example/apero"
    assert apero.summary.startswith("Creac'h Gwen, 12 rue de Brest, 29280 Plouzané")
    assert "réemploi" in apero.summary
    assert [tag.term for tag in apero.tags] == ["apéro"]
    assert datetime(*apero.published_parsed[:6], tzinfo=UTC) == CHANGED


def test_feed_without_base_url_is_still_valid() -> None:
    feed = feedparser.parse(render_rss(sample_events(), CONFIG_NO_BASE, NOW))
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert not [link for link in feed.feed.get("links", []) if link.rel == "self"]


def test_feed_build_date_follows_events_not_clock() -> None:
    first = render_rss(sample_events(), CONFIG, NOW)
    later = render_rss(sample_events(), CONFIG, NOW + timedelta(days=3))
    assert first == later
    assert b"<lastBuildDate>Fri, 20 Feb 2026 17:45:00 +0000</lastBuildDate>" in first


def test_feed_escapes_markup_and_drops_javascript_links() -> None:
    raw = render_rss([hostile_event()], CONFIG, NOW)
    assert b"<script>" not in raw
    assert b"javascript:" not in raw
    feed = feedparser.parse(raw)
    assert feed.bozo == 0
    assert "link" not in feed.entries[0]


# --- index.html -----------------------------------------------------------------------------


def parse_html(data: bytes) -> Any:
    return lxml.html.document_fromstring(data.decode("utf-8"))


def test_html_structure_and_day_headings() -> None:
    raw = render_html(sample_events(), CONFIG, NOW)
    assert raw.startswith(b'<!doctype html>\n<html lang="fr">')
    page = parse_html(raw)
    assert page.get("lang") == "fr"
    assert page.xpath("//meta[@name='viewport']")
    assert page.findtext(".//title") == "Agenda du numérique en Bretagne"
    # Changed for issue 6: day headings read "jeudi 16 mai", the year only when it is not the
    # current one (the year is in the page's month navigation).
    headings = [h.text_content() for h in page.xpath("//section[@class='day']/h2")]
    assert headings == [
        "dimanche 29 mars",
        "samedi 16 mai",
        "mercredi 20 mai",
        "samedi 13 juin",
        "mercredi 1er juillet",
        "mardi 1er septembre",
        "dimanche 25 octobre",
    ]
    whens = [p.text_content() for p in page.xpath("//p[@class='when']")]
    assert "18 h 30 – 20 h" in whens
    assert "toute la journée" in whens
    assert "du mercredi 1er juillet au vendredi 3 juillet 2026" in whens
    assert "9 h" in whens
    # Changed for issue 6: the footer also links sources.html and the other outputs; changed for
    # issue 13: no "generated on" time, so the page changes only when its content does.
    assert [p.text_content().strip() for p in page.xpath("//footer/p")] == [
        "Les collectifs et l’état de leurs sources · Flux des changements · Données JSON"
        " · Liste des flux (JSON)"
    ]


def test_html_event_details_and_links() -> None:
    page = parse_html(render_html(sample_events(), CONFIG, NOW))
    [article] = [a for a in page.xpath("//article") if "Apéro numérique" in a.text_content()]
    # The title leads to the event's page on the agenda; "Page de l'événement" to its own page.
    title_link = article.xpath(".//h3/a")[0]
    assert title_link.get("href").startswith("evenements/apero-numerique-")
    [own] = article.xpath(".//a[@class='page']/@href")
    assert own == "https://fablab-landerneau.example/apero"
    assert article.xpath(".//p[@class='place']")[0].text_content() == (
        "Creac'h Gwen, 12 rue de Brest, 29280 Plouzané"
    )
    sources = {a.text_content(): a.get("href") for a in article.xpath(".//p[@class='sources']/a")}
    assert sources == {"Fablab de Landerneau": FABLAB.url, "Ty Fab Plouzané": TYFAB.url}
    assert [li.text_content() for li in article.xpath(".//ul[@class='tags']/li")] == ["apéro"]


def test_html_cancelled_events_are_struck_through() -> None:
    page = parse_html(render_html(sample_events(), CONFIG, NOW))
    struck = [d.text_content().strip() for d in page.xpath("//del")]
    assert struck == ["Atelier Linux"]
    [article] = page.xpath("//article[contains(@class, 'cancelled')]")
    assert "annulé" in article.text_content()


def test_html_subscribe_links() -> None:
    with_base = parse_html(render_html(sample_events(), CONFIG, NOW))
    hrefs = with_base.xpath("//section[@id='abonner']//a/@href")
    assert "webcal://agenda.example.org/numerique/calendar.ics" in hrefs
    assert "feed.xml" in hrefs
    without_base = parse_html(render_html(sample_events(), CONFIG_NO_BASE, NOW))
    hrefs = without_base.xpath("//section[@id='abonner']//a/@href")
    assert "calendar.ics" in hrefs
    assert not any(h.startswith("webcal:") for h in hrefs)


def test_html_escapes_markup_and_never_links_javascript() -> None:
    raw = render_html([hostile_event()], CONFIG, NOW)
    page = parse_html(raw)
    # Changed for issue 6: the page carries exactly our own two scripts (the JSON-LD data block
    # and the filter script), and no text from a source ever opens one.
    scripts = page.xpath("//script")
    assert [s.get("type") for s in scripts] == [None, "application/ld+json"]
    assert raw.lower().count(b"<script") == 2
    assert scripts[0].get("src") == "agenda.js" and not (scripts[0].text or "").strip()
    assert "<script>alert(1)</script>" in page.xpath("//h3")[0].text_content()
    for href in page.xpath("//@href"):
        assert not href.lower().startswith("javascript"), href
    # The source's name is still shown, just not as a link.
    assert "Collectif piégé" in page.xpath("//p[@class='sources']")[0].text_content()


def test_html_empty_state() -> None:
    page = parse_html(render_html([], CONFIG, NOW))
    assert page.xpath("//p[@class='empty']")[0].text_content() == (
        "Aucun événement à venir pour le moment."
    )
    assert page.xpath("//article") == []


# --- events.json ----------------------------------------------------------------------------


def test_json_schema_and_offsets() -> None:
    records = json.loads(render_json(sample_events(), CONFIG))
    assert isinstance(records, list)
    assert len(records) == len(sample_events())
    for record in records:
        assert list(record) == [
            "uid",
            "title",
            "start",
            "end",
            "all_day",
            "status",
            "url",
            "description",
            "location",
            "categories",
            "sources",
        ]
        assert list(record["location"]) == ["name", "address", "postcode", "city"]
    by_uid = {r["uid"]: r for r in records}
    assert by_uid["repair@agenda-numerique-bretagne"]["start"] == "2026-03-29T10:00:00+02:00"
    assert by_uid["install@agenda-numerique-bretagne"]["start"] == "2026-10-25T10:00:00+01:00"
    assert by_uid["sansfin@agenda-numerique-bretagne"]["end"] is None
    assert by_uid["annule@agenda-numerique-bretagne"]["status"] == "cancelled"
    assert by_uid["apero@agenda-numerique-bretagne"]["status"] == "confirmed"
    assert by_uid["fete@agenda-numerique-bretagne"]["all_day"] is True
    assert by_uid["apero@agenda-numerique-bretagne"]["sources"] == [
        {"id": FABLAB.id, "name": FABLAB.name, "url": FABLAB.url},
        {"id": TYFAB.id, "name": TYFAB.name, "url": TYFAB.url},
    ]
    assert [r["start"] for r in records] == sorted(
        (r["start"] for r in records), key=datetime.fromisoformat
    )


def test_json_keeps_accents_unescaped_and_drops_javascript_urls() -> None:
    raw = render_json([hostile_event(), *sample_events()], CONFIG)
    assert "Plouzané".encode() in raw
    assert b"\\u00e9" not in raw
    [hostile] = [r for r in json.loads(raw) if r["uid"].startswith("hostile")]
    assert hostile["url"] is None
    assert hostile["sources"][0]["url"] is None


# --- all outputs together -------------------------------------------------------------------


BRETON = ("Plouzané", "Creac'h Gwen", "Landerneau", "Apéro numérique", "Fête du logiciel libre")


def test_breton_names_round_trip_in_every_output(tmp_path: Path) -> None:
    publish_all(sample_events(), CONFIG, tmp_path, NOW)
    calendar = Calendar.from_ical((tmp_path / "calendar.ics").read_bytes())
    ics_text = " ".join(
        str(e[key]) for e in calendar.walk("VEVENT") for key in ("SUMMARY", "LOCATION") if key in e
    )
    feed = feedparser.parse((tmp_path / "feed.xml").read_bytes())
    feed_text = " ".join(f"{e.title} {e.get('summary', '')}" for e in feed.entries)
    html_text = parse_html((tmp_path / "index.html").read_bytes()).text_content()
    records = json.loads((tmp_path / "events.json").read_text(encoding="utf-8"))
    json_text = " ".join(
        f"{r['title']} {json.dumps(r['location'], ensure_ascii=False)}" for r in records
    )
    for name in BRETON:
        for output, text in (
            ("ics", ics_text),
            ("rss", feed_text),
            ("html", html_text),
            ("json", json_text),
        ):
            assert name in text, f"{name!r} lost in {output}"


def test_publish_all_writes_every_file(tmp_path: Path) -> None:
    out = tmp_path / "new" / "output"
    paths = publish_all(sample_events(), CONFIG, out, NOW)
    main = ["calendar.ics", "feed.xml", "index.html", "events.json"]
    assert [p.name for p in paths[:4]] == main
    # Also one calendar per event (issue 3), in events/.
    per_event = [p for p in paths if p.parent == out / "events"]
    assert len(per_event) == len(sample_events())
    for path in paths:
        assert path.stat().st_size > 0
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == sorted(
        p.relative_to(out) for p in paths
    )


def test_publishing_twice_is_byte_identical(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in publish_all(sample_events(), CONFIG, tmp_path, NOW)}
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    os.utime(tmp_path / "calendar.ics", ns=(1, 1))  # so a rewrite would be visible
    mtimes["calendar.ics"] = 1
    shuffled = list(reversed(sample_events()))
    second = {p.name: p.read_bytes() for p in publish_all(shuffled, CONFIG, tmp_path, NOW)}
    assert first == second
    # Identical content is not rewritten, so the web server's Last-Modified stays put.
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == mtimes


def test_a_later_run_with_the_same_events_changes_nothing(tmp_path: Path) -> None:
    def publish_at(moment: datetime) -> dict[str, bytes]:
        paths = publish_all(sample_events(), CONFIG, tmp_path, moment)
        return {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in paths}

    first = publish_at(NOW)
    # Changed for issue 13: no page says when it was generated; the same day, nothing changes.
    assert publish_at(NOW + timedelta(hours=6)) == first
    assert any(name.startswith("evenements/") for name in first)


def test_sources_page_says_when_the_sources_were_last_read() -> None:
    health = agenda_health()
    page = parse_html(render_sources_page(AGENDA_CONFIG, agenda_events(), health, AGENDA_NOW))
    [note] = page.xpath("//footer/p[time]")
    assert (
        note.text_content()
        == "Sources consultées pour la dernière fois le mardi 12 mai 2026 à 9 h 55."
    )
    assert note.find("time").get("datetime") == "2026-05-12T09:55:00+02:00"
    # What the page does not show leaves it as it was: a 304 instead of a 200.
    quiet = [replace(h, http_status=304) for h in health]
    assert shown_health(quiet) == shown_health(health)
    assert render_sources_page(AGENDA_CONFIG, agenda_events(), quiet, AGENDA_NOW) == (
        render_sources_page(AGENDA_CONFIG, agenda_events(), health, AGENDA_NOW)
    )
    later = [replace(h, last_success=h.last_attempt + timedelta(hours=6)) for h in health]
    assert shown_health(later) != shown_health(health)


def test_failing_render_leaves_previous_files_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_all(sample_events(), CONFIG, tmp_path, NOW)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(publish, "render_rss_parts", broken)
    with pytest.raises(RuntimeError):
        publish_all(sample_events()[:2], CONFIG, tmp_path, NOW)
    # calendar.ics is rendered before the feed: it must not have been written either.
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_publish_into_a_file_raises_publish_error(tmp_path: Path) -> None:
    blocker = tmp_path / "output"
    blocker.write_text("not a directory")
    with pytest.raises(PublishError, match="output"):
        publish_all(sample_events(), CONFIG, blocker, NOW)


# --- atomic writes --------------------------------------------------------------------------


def test_atomic_write_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "calendar.ics"
    target.write_bytes(b"old")
    target.chmod(0o640)
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["calendar.ics"]


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_atomic_write_failure_keeps_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    target = tmp_path / "feed.xml"
    target.write_bytes(b"old feed")

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(f"aggregator.publish.atomic.os.{failing}", fail)
    with pytest.raises(PublishError) as info:
        atomic_write(target, b"new feed")
    assert str(target) in str(info.value)
    assert "No space left on device" in str(info.value)
    assert target.read_bytes() == b"old feed"
    assert [p.name for p in tmp_path.iterdir()] == ["feed.xml"]


def test_atomic_write_into_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="missing"):
        atomic_write(tmp_path / "missing" / "index.html", b"x")


# --- French wording -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2026, 5, 16), "samedi 16 mai 2026"),
        (date(2026, 5, 1), "vendredi 1er mai 2026"),
        (date(2026, 8, 15), "samedi 15 août 2026"),
    ],
)
def test_french_date(day: date, text: str) -> None:
    assert french_date(day) == text


def test_when_text_for_an_event_past_midnight() -> None:
    event = make_event(
        "fest-noz",
        "Fest-noz numérique",
        datetime(2026, 5, 16, 21, 0, tzinfo=PARIS),
        end=datetime(2026, 5, 17, 1, 30, tzinfo=PARIS),
    )
    assert when_text(event, PARIS) == (
        "du samedi 16 mai 2026, 21 h au dimanche 17 mai 2026, 1 h 30"
    )


# --- issue 6: pages, feeds, changes, sources ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Plouzané", "plouzane"),
        ("Pont-l'Abbé", "pont-l-abbe"),
        ("Carhaix-Plouguer", "carhaix-plouguer"),
        ("repair café", "repair-cafe"),
        ("../../etc/passwd", "etc-passwd"),
        ("Impression 3D", "impression-3d"),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_slugify_without_letters_is_still_distinct() -> None:
    assert slugify("♥♥") != slugify("★★")
    assert re_slug(slugify("♥♥"))


def re_slug(value: str) -> bool:
    import re

    return re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", value) is not None


def test_description_is_escaped_linked_and_limited() -> None:
    html = str(
        description_html(
            "<b>Gras</b> & café\nligne 2\n\nVoir https://example.org/a?b=1&c=2. "
            "ou javascript:alert(1)"
        )
    )
    assert "<b>" not in html and "&lt;b&gt;Gras&lt;/b&gt; &amp; café" in html
    assert "<br>" in html and html.count("<p>") == 2
    assert '<a href="https://example.org/a?b=1&amp;c=2" rel="noopener nofollow">' in html
    assert 'href="javascript' not in html
    long = description_html("mot " * 400)
    assert len(str(long)) < 700 and str(long).endswith("…</p>")


def test_jsonld_for_every_event_and_safe_in_script() -> None:
    events = [*sample_events(), hostile_event()]
    page = parse_html(render_html(events, CONFIG, NOW))
    [block] = page.xpath("//script[@type='application/ld+json']")
    assert "</script" not in block.text and "<" not in block.text
    data = json.loads(block.text)
    assert len(data) == len(events)
    apero = next(item for item in data if item["name"] == "Apéro numérique")
    assert apero["@type"] == "Event"
    assert apero["startDate"] == "2026-05-16T18:30:00+02:00"
    assert apero["location"]["address"]["addressLocality"] == "Plouzané"
    assert [o["name"] for o in apero["organizer"]] == [FABLAB.name, TYFAB.name]
    cancelled = next(item for item in data if item["name"] == "Atelier Linux")
    assert cancelled["eventStatus"] == "https://schema.org/EventCancelled"
    fete = next(item for item in data if item["name"] == "Fête du logiciel libre")
    assert fete["startDate"] == "2026-06-13" and fete["endDate"] == "2026-06-13"
    hostile = next(item for item in data if item["name"].startswith("<script>"))
    assert "url" not in hostile  # javascript: dropped


def test_pages_split_by_month_beyond_the_limit() -> None:
    events = sample_events()
    pages = render_pages(events, CONFIG, NOW, limit=2)
    assert sorted(pages) == [
        "index.html",
        "mois/2026-03.html",
        "mois/2026-05.html",
        "mois/2026-06.html",
        "mois/2026-07.html",
        "mois/2026-09.html",
        "mois/2026-10.html",
        "quand/aujourdhui.html",
        "quand/ce-mois-ci.html",
        "quand/ce-week-end.html",
        "quand/cette-semaine.html",
    ]
    index = parse_html(pages["index.html"])
    assert len(index.xpath("//article")) == 2  # the next events only, whole days
    months = index.xpath("//nav[@class='months']//a/@href")
    assert "mois/2026-05.html" in months
    may = parse_html(pages["mois/2026-05.html"])
    assert may.findtext(".//h1") == "mai 2026"
    assert len(may.xpath("//article")) == 2
    # Links from a month page go up one folder.
    assert "../calendar.ics" in may.xpath("//section[@id='abonner']//a/@href")
    assert may.xpath("//nav[@class='months']//strong")[0].text_content() == "mai 2026"


def test_a_busy_month_is_split_in_parts() -> None:
    start = datetime(2026, 5, 4, 10, 0, tzinfo=PARIS)
    events = [make_event(f"e{i}", f"Atelier {i}", start + timedelta(days=i)) for i in range(5)]
    pages = render_pages(events, CONFIG, NOW, limit=2)
    assert [p for p in sorted(pages) if p.startswith("mois/")] == [
        "mois/2026-05-2.html",
        "mois/2026-05-3.html",
        "mois/2026-05.html",
    ]
    second = parse_html(pages["mois/2026-05-2.html"])
    assert second.xpath("//a[@rel='prev']/@href") == ["../mois/2026-05.html"]
    assert second.xpath("//a[@rel='next']/@href") == ["../mois/2026-05-3.html"]


def test_page_offers_add_to_calendar_and_every_feed(tmp_path: Path) -> None:
    out = publish_agenda(tmp_path / "output")
    page = parse_html((out / "index.html").read_bytes())
    adds = page.xpath("//a[@class='add']/@href")
    # Issue 9: a cancelled event offers no « Ajouter à mon agenda », on the list or its page.
    confirmed = [e for e in agenda_events() if e.status != CANCELLED]
    assert len(adds) == len(confirmed) < len(agenda_events())
    [cancelled] = page.xpath("//article[contains(@class, 'cancelled')]")
    assert not cancelled.xpath(".//a[@class='add']")
    assert "Ajouter à mon agenda" not in cancelled.text_content()
    event_page = parse_html((out / cancelled.xpath(".//h3//a/@href")[0]).read_bytes())
    assert "Ajouter à mon agenda" not in event_page.text_content()
    assert "annulé" in event_page.text_content()
    for href in adds:
        assert (out / href).is_file(), href
    feed_links = set(page.xpath("//details[@class='feeds']//a/@href"))
    assert "webcal://agenda.example.org/numerique/villes/brest.ics" in feed_links
    assert "villes/brest.xml" in feed_links and "collectifs/tyfab.ics" in feed_links
    for feed in plan_feeds(agenda_events(), AGENDA_CONFIG):
        assert feed.link.rss in feed_links
        assert (out / feed.link.ics).is_file() and (out / feed.link.rss).is_file()


def test_feeds_cover_cities_tags_and_every_collective() -> None:
    planned = {(f.link.kind, f.link.slug): f for f in plan_feeds(agenda_events(), AGENDA_CONFIG)}
    assert {slug for kind, slug in planned if kind == "ville"} == {
        "brest",
        "plouzane",
        "landerneau",
    }
    assert planned[("ville", "plouzane")].link.label == "Plouzané"
    assert {slug for kind, slug in planned if kind == "collectif"} == {
        "tyfab",
        "cantine-brest",
        "repair-landerneau",
    }
    # The apéro is announced by two collectives: it is in both feeds.
    tyfab = [e.uid for e in planned[("collectif", "tyfab")].events]
    assert "apero@agenda-numerique-bretagne" in tyfab
    assert planned[("theme", "logiciel-libre")].link.count == 3


def test_ics_feeds_are_cut_from_the_calendar_with_the_same_bytes() -> None:
    events = agenda_events()
    planned = plan_feeds(events, AGENDA_CONFIG)
    calendar = render_calendar(events, AGENDA_CONFIG, AGENDA_NOW)
    outputs = render_feeds(planned, events, AGENDA_CONFIG, calendar, AGENDA_NOW)
    brest = outputs["villes/brest.ics"]
    for vevent in Calendar.from_ical(brest).walk("VEVENT"):
        assert vevent.to_ical() in calendar
    # Without a usable calendar the feeds are rendered on their own, with the same events.
    fallback = render_feeds(planned, events, AGENDA_CONFIG, b"not a calendar", AGENDA_NOW)
    assert vevents(fallback["villes/brest.ics"]).keys() == vevents(brest).keys()


def test_stale_feeds_and_months_are_removed(tmp_path: Path) -> None:
    out = publish_agenda(tmp_path / "output")
    assert (out / "themes" / "communs.ics").exists()
    assert (out / "mois" / "2026-06.html").exists()
    may_only = [
        e for e in agenda_events() if e.start.month == 5 and e.location.city != "Landerneau"
    ]
    publish_agenda(out, may_only)
    assert not (out / "themes" / "communs.ics").exists()
    assert not (out / "themes" / "communs.xml").exists()
    assert not (out / "mois" / "2026-06.html").exists()
    # A registered collective and a city named in sources.yaml keep their (now empty) feeds:
    # subscriptions keep working.
    assert (out / "collectifs" / "repair-landerneau.ics").exists()
    assert (out / "villes" / "landerneau.ics").exists()
    assert vevents((out / "villes" / "landerneau.ics").read_bytes()) == {}


def test_changes_added_moved_cancelled_removed() -> None:
    events = agenda_events()
    first = compute_changes(None, events, AGENDA_CONFIG, AGENDA_NOW)
    assert first["changes"] == []  # the first publication announces nothing
    later = AGENDA_NOW + timedelta(hours=3)
    by_uid = {e.uid: e for e in events}
    moved = by_uid["soudure@agenda-numerique-bretagne"]
    changed = [
        e
        for e in events
        if e.uid not in ("soudure@agenda-numerique-bretagne", "osm@agenda-numerique-bretagne")
    ]
    changed = [
        e.with_changes(status=CANCELLED) if e.uid.startswith("repair") else e for e in changed
    ]
    changed.append(moved.with_changes(start=moved.start + timedelta(days=1)))
    changed.append(make_event("nouveau", "Nouvel atelier", datetime(2026, 6, 2, 18, tzinfo=PARIS)))
    second = compute_changes(first, changed, AGENDA_CONFIG, later)
    kinds = {(c["kind"], c["uid"].split("@")[0]) for c in second["changes"]}
    assert kinds == {
        ("ajout", "nouveau"),
        ("deplacement", "soudure"),
        ("annulation", "repair"),
        ("retrait", "osm"),
    }
    feed = feedparser.parse(render_changes(second, AGENDA_CONFIG))
    assert feed.bozo == 0
    titles = sorted(entry.title for entry in feed.entries)
    assert "Annulé : dimanche 17 mai 2026, 10 h – Repair café" in titles
    assert any(t.startswith("Déplacé : samedi 16 mai 2026, 14 h – Atelier soudure") for t in titles)
    moved_entry = next(e for e in feed.entries if e.title.startswith("Déplacé"))
    assert "Au lieu de : vendredi 15 mai 2026, 14 h" in moved_entry.summary
    # Publishing the same agenda again adds nothing; the history is kept.
    third = compute_changes(second, changed, AGENDA_CONFIG, later + timedelta(hours=3))
    assert third["changes"] == second["changes"]
    # An event that simply took place is not news.
    past = compute_changes(third, changed, AGENDA_CONFIG, datetime(2026, 7, 1, tzinfo=UTC))
    assert [c for c in past["changes"] if c not in third["changes"]] == []


def test_changes_take_an_unchanged_events_snapshot_from_the_previous_state() -> None:
    events = agenda_events()

    def key(event: Event) -> str:
        return f"{event.uid}|{event.start.isoformat()}"

    first = compute_changes(None, events, AGENDA_CONFIG, AGENDA_NOW, key)
    assert first["keys"] == {public_uid(e): key(e) for e in events}
    assert first["events"] == compute_changes(None, events, AGENDA_CONFIG, AGENDA_NOW)["events"]
    # A snapshot whose key is the same is the previous one, as stored (here marked to tell).
    marked = {uid: {**snap, "when": "(previous)"} for uid, snap in first["events"].items()}
    previous = {**first, "events": marked}
    moved = events[0].with_changes(start=events[0].start + timedelta(days=1))
    later = AGENDA_NOW + timedelta(hours=1)
    second = compute_changes(previous, [moved, *events[1:]], AGENDA_CONFIG, later, key)
    uid = public_uid(moved)
    assert second["events"][uid]["when"] != "(previous)"
    assert all(second["events"][public_uid(e)]["when"] == "(previous)" for e in events[1:])
    assert [(c["kind"], c["uid"]) for c in second["changes"]] == [("deplacement", uid)]
    # A state without keys (an older version's) is made again in full.
    third = compute_changes(
        {k: v for k, v in previous.items() if k != "keys"}, events, AGENDA_CONFIG, later, key
    )
    assert third["events"] == first["events"]


def test_the_state_of_an_incremental_publication_is_the_state_made_afresh(
    tmp_path: Path,
) -> None:
    events = agenda_events()
    changed = [events[0].with_changes(title="Atelier renommé"), *events[2:]]
    states = []
    for cache in (tmp_path / "cache", None):
        out, state = tmp_path / f"out-{cache is None}", tmp_path / f"state-{cache is None}.json"
        for batch, now in ((events, AGENDA_NOW), (changed, AGENDA_NOW + timedelta(hours=1))):
            publish_all(batch, AGENDA_CONFIG, out, now, state_path=state, cache_dir=cache)
        states.append(json.loads(state.read_text(encoding="utf-8")))
    kept, afresh = states
    assert set(kept.pop("keys")) == set(kept["events"])
    assert kept == afresh
    assert {c["kind"] for c in kept["changes"]} == {"retrait"}


def test_changes_feed_is_stable_across_identical_runs(tmp_path: Path) -> None:
    out = tmp_path / "output"
    state = tmp_path / "state.json"
    publish_all(agenda_events(), AGENDA_CONFIG, out, AGENDA_NOW, state_path=state)
    publish_all(agenda_events()[1:], AGENDA_CONFIG, out, AGENDA_NOW, state_path=state)
    first = (out / "changes.xml").read_bytes()
    assert b"Retir" in first
    publish_all(agenda_events()[1:], AGENDA_CONFIG, out, AGENDA_NOW, state_path=state)
    assert (out / "changes.xml").read_bytes() == first


def test_sources_page_shows_health_in_french() -> None:
    raw = render_sources_page(AGENDA_CONFIG, agenda_events(), agenda_health(), AGENDA_NOW)
    page = parse_html(raw)
    sections = {s.get("id"): s.text_content() for s in page.xpath("//section")}
    assert set(sections) == {"tyfab", "cantine-brest", "repair-landerneau"}
    assert "à jour" in sections["tyfab"]
    assert "mardi 12 mai 2026 à 9 h 55" in sections["tyfab"]
    failing = sections["repair-landerneau"]
    assert "en échec" in failing
    assert "l’adresse n’existe plus sur le site (erreur 404)" in failing
    assert "HTTP 404 Not Found" in failing  # the technical detail, for whoever fixes it
    assert page.xpath("//section[@id='tyfab']//h2/a/@href") == ["https://tyfab.example/"]
    unknown = parse_html(render_sources_page(AGENDA_CONFIG, [], None, AGENDA_NOW))
    assert "pas encore consulté" in unknown.text_content()


@pytest.mark.parametrize(
    ("reason", "french"),
    [
        ("HTTP 500 Internal Server Error: the server had a problem", "problème (erreur 500)"),
        ("timed out after 10 s waiting for x to answer", "pas répondu à temps"),
        ("could not resolve host 'x.example': the name does not exist", "introuvable"),
        ("something nobody foresaw", "n’a pas pu être lu"),
    ],
)
def test_french_errors(reason: str, french: str) -> None:
    assert french in (french_error(reason) or "")


def test_store_notices_are_said_in_french() -> None:
    held = french_notice(
        "kept 3 of 10 upcoming events the source no longer lists (run 1 of 3): a broken page?"
    )
    assert held is not None and "nous gardons encore 3 des 10 événements" in held
    unstable = french_notice("the source changes its event UIDs at every fetch")
    assert unstable is not None and "identifiants" in unstable
    assert french_notice(None) is None


def test_feeds_without_base_url_have_no_self_link_and_relative_links(tmp_path: Path) -> None:
    config = AGENDA_CONFIG.model_copy(update={"agenda": Agenda()})
    out = tmp_path / "output"
    publish_all(agenda_events(), config, out, AGENDA_NOW)
    for path in [out / "feed.xml", out / "changes.xml", out / "villes" / "brest.xml"]:
        feed = feedparser.parse(path.read_bytes())
        assert feed.bozo == 0, path
        assert not [link for link in feed.feed.get("links", []) if link.rel == "self"]
    # Issue 9: RSS wants an absolute <link>; without base_url it is the page in the output folder.
    home = (out / "index.html").resolve().as_uri()
    for path in [out / "feed.xml", out / "changes.xml", out / "villes" / "brest.xml"]:
        channel = lxml.etree.fromstring(path.read_bytes()).find("channel")
        assert channel.findtext("link") == home, path
        for link in channel.iterfind("item/link"):
            assert link.text.startswith("https://"), (path, link.text)
    page = parse_html((out / "index.html").read_bytes())
    hrefs = page.xpath("//@href")
    assert "villes/brest.ics" in hrefs and not any(h.startswith("webcal:") for h in hrefs)
    listing = json.loads((out / "feeds.json").read_text(encoding="utf-8"))
    assert "webcal_url" not in listing["feeds"][0]


def test_many_events_keep_every_page_small() -> None:
    start = datetime(2026, 5, 13, 9, 0, tzinfo=PARIS)
    events = [
        make_event(
            f"e{i}",
            f"Atelier {i}",
            start + timedelta(hours=5 * i),
            description="Venez réparer, bidouiller et apprendre ensemble. " * 20,
            location=PLACE,
            categories=("atelier", "fablab"),
            sources=(FABLAB, TYFAB),
        )
        for i in range(1500)
    ]
    pages = render_pages(events, CONFIG, NOW)
    index = parse_html(pages["index.html"])
    assert 0 < len(index.xpath("//article")) <= 300
    shown = sum(len(parse_html(data).xpath("//article")) for p, data in pages.items() if "/" in p)
    assert shown == len(events)  # every event is on exactly one month page
    assert max(len(data) for data in pages.values()) < 2_000_000


def test_pipeline_keeps_the_state_beside_the_database(tmp_path: Path) -> None:
    from aggregator.pipeline import publish as pipeline_publish
    from aggregator.store import Store

    with Store(tmp_path / "data" / "agenda.db") as store:
        paths, count = pipeline_publish(AGENDA_CONFIG, store, tmp_path / "output", AGENDA_NOW)
    assert count == 0
    assert tmp_path / "data" / "publish-state.json" in paths
    assert (tmp_path / "data" / "publish-state.json").is_file()
    assert not (tmp_path / "output" / "publish-state.json").exists()
    page = parse_html((tmp_path / "output" / "sources.html").read_bytes())
    assert len(page.xpath("//section[@class='collective']")) == len(AGENDA_CONFIG.sources)


# --- issue 9: links are pages, never the calendar or feed file -------------------------------


@pytest.mark.parametrize(
    ("url", "machine"),
    [
        ("https://club.example/agenda.ics", True),
        ("https://club.example/feed/", True),
        ("https://mobilizon.example/@club/feed/ics", True),
        ("https://club.example/events/?ical=1", True),
        ("https://club.example/?feed=rss2", True),
        ("https://club.example/agenda.php?format=ical", True),
        ("https://club.example/rss.php", True),
        ("https://club.example/export/events.json", True),
        ("https://club.example/ateliers/soudure", False),
        ("https://club.example/evenements/atelier-rss-et-podcasts", False),
        ("https://club.example/agenda?page=2", False),
    ],
)
def test_machine_documents_are_recognized_by_their_address(url: str, machine: bool) -> None:
    from aggregator.publish.links import is_machine_document

    assert is_machine_document(url) is machine


def _link_config() -> Config:
    from aggregator.config import Source

    return Config(
        agenda=Agenda(base_url=BASE_URL),
        sources=(
            Source(
                id="club",
                name="Club",
                url="https://club.example/agenda.ics",
                website="https://club.example/",
            ),
            Source(id="radio", name="Radio", url="https://radio.example/programme"),
            Source(id="flux", name="Flux", url="https://flux.example/feed.xml"),
        ),
    )


def _link_events() -> list[Event]:
    club = SourceRef("club", "Club", "https://club.example/agenda.ics")
    radio = SourceRef("radio", "Radio", "https://radio.example/programme")
    flux = SourceRef("flux", "Flux", "https://flux.example/feed.xml")
    day = datetime(2026, 4, 4, 14, 0, tzinfo=PARIS)
    return [
        # The calendar itself as the event's URL: the collective's website instead.
        make_event(
            "a",
            "Calendrier",
            day,
            source_id="club",
            sources=(club,),
            url="https://club.example/agenda.ics",
        ),
        # A page source: its page is the collective's page (it has no website).
        make_event(
            "b",
            "Page",
            day,
            source_id="radio",
            sources=(radio,),
            url="https://radio.example/programme",
        ),
        # A feed export, from a source with no website: no link at all.
        make_event(
            "c",
            "Flux",
            day,
            source_id="flux",
            sources=(flux,),
            url="https://flux.example/events/?ical=1",
        ),
        # The event's own page is kept.
        make_event(
            "d",
            "Propre",
            day,
            source_id="club",
            sources=(club,),
            url="https://club.example/ateliers/soudure",
        ),
    ]


def test_event_links_are_pages_in_every_output() -> None:
    config = _link_config()
    events = _link_events()
    expected = {
        "Calendrier": "https://club.example/",
        "Page": "https://radio.example/programme",
        "Flux": None,
        "Propre": "https://club.example/ateliers/soudure",
    }
    feed = feedparser.parse(render_rss(events, config, NOW))
    by_title = {entry.title.split(" – ")[-1]: entry.get("link") for entry in feed.entries}
    assert by_title == expected
    page = parse_html(render_html(events, config, NOW))
    [data] = page.xpath("//script[@type='application/ld+json']/text()")
    assert {item["name"]: item.get("url") for item in json.loads(data)} == expected
    for article in page.xpath("//article"):
        title = article.xpath(".//h3//a")[0].text_content()
        assert article.xpath(".//a[@class='page']/@href")[:1] == (
            [expected[title]] if expected[title] else []
        )
        # "Par Club" never links the calendar file either.
        for href in article.xpath(".//p[@class='sources']/a/@href"):
            assert not href.endswith((".ics", ".xml")), href
    records = {r["title"]: r for r in json.loads(render_json(events, config))}
    assert records["Calendrier"]["url"] is None  # the event's own page only
    assert records["Propre"]["url"] == "https://club.example/ateliers/soudure"
    assert records["Calendrier"]["sources"][0]["url"] == "https://club.example/"
    assert records["Flux"]["sources"][0]["url"] is None


def test_remembered_pages_answer_every_link_later(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _link_config()
    events = _link_events()
    # Worked out with a copy of the configuration: the answers kept are per configuration.
    other = config.model_copy()
    fresh = {e.title: links.event_link(e, other) for e in events}
    links.remember_pages(events, config)

    def not_again(value: str | None, config: object) -> str | None:
        raise AssertionError(f"{value} worked out again")

    # What a child process forked after this asks: every answer is already there.
    monkeypatch.setattr(links, "_page_url", not_again)
    assert {e.title: links.event_link(e, config) for e in events} == fresh
    assert fresh["Propre"] == "https://club.example/ateliers/soudure" and fresh["Flux"] is None
    for event in events:
        for ref in event.sources:
            links.collective_link(ref, config)


# --- issue 15: quick spans, series, event pages ----------------------------------------------


@pytest.mark.parametrize(
    ("today", "key", "first", "last"),
    [
        (date(2026, 5, 12), "aujourdhui", date(2026, 5, 12), date(2026, 5, 12)),
        (date(2026, 5, 12), "ce-week-end", date(2026, 5, 16), date(2026, 5, 17)),
        (date(2026, 5, 16), "ce-week-end", date(2026, 5, 16), date(2026, 5, 17)),
        (date(2026, 5, 17), "ce-week-end", date(2026, 5, 17), date(2026, 5, 17)),
        (date(2026, 5, 12), "cette-semaine", date(2026, 5, 12), date(2026, 5, 17)),
        (date(2026, 5, 17), "cette-semaine", date(2026, 5, 17), date(2026, 5, 17)),
        (date(2026, 2, 10), "ce-mois-ci", date(2026, 2, 10), date(2026, 2, 28)),
        (date(2026, 12, 31), "ce-mois-ci", date(2026, 12, 31), date(2026, 12, 31)),
    ],
)
def test_quick_spans(today: date, key: str, first: date, last: date) -> None:
    from aggregator.publish.views import span_days

    assert span_days(key, today) == (first, last)


def weekly(count: int, **changes: Any) -> list[Event]:
    """A Wednesday atelier, `count` weeks in a row from 4 March 2026."""
    start = datetime(2026, 3, 4, 18, 0, tzinfo=PARIS)
    return [
        make_event(
            f"w{n}",
            "Atelier du mercredi",
            start + timedelta(weeks=n),
            end=start + timedelta(weeks=n, hours=2),
            location=PLACE,
            **changes,
        )
        for n in range(count)
    ]


def test_a_weekly_series_shows_once_and_keeps_every_date_in_the_feeds() -> None:
    other = make_event("x", "Autre chose", datetime(2026, 3, 5, 10, 0, tzinfo=PARIS))
    events = [*weekly(8), other]
    page = parse_html(render_html(events, CONFIG, NOW))
    cards = [a for a in page.xpath("//article") if "Atelier du mercredi" in a.text_content()]
    assert len(cards) == 1
    [card] = cards
    assert card.xpath(".//span[@class='rule']")[0].text_content() == "chaque mercredi"
    next_dates = card.xpath(".//p[@class='next-dates']")[0]
    assert next_dates.text_content().startswith("Prochaines dates : mercredi 11 mars, mercredi 18")
    assert len(next_dates.xpath("a")) == 5 and "et 2 autres" in next_dates.text_content()
    assert len(card.get("data-days").split()) == 8
    # Each date is still its own entry in the calendar, the feed and the JSON-LD.
    assert len(vevents(render_calendar(events, CONFIG, NOW))) == 9
    assert len(feedparser.parse(render_rss(events, CONFIG, NOW)).entries) == 9
    data = json.loads(page.xpath("//script[@type='application/ld+json']/text()")[0])
    assert len(data) == 9


@pytest.mark.parametrize(
    ("events", "folded"),
    [
        (weekly(2), False),  # two dates are not yet a series
        (weekly(4)[::2] + weekly(4)[1:2], True),  # every week, then one skipped: still weekly
        (
            [
                e.with_changes(start=e.start + timedelta(days=n % 2))
                for n, e in enumerate(weekly(4))
            ],
            False,
        ),  # not the same weekday
        ([e.with_changes(source_id=f"s{n}") for n, e in enumerate(weekly(4))], False),
    ],
)
def test_only_regular_dates_from_one_source_fold(events: list[Event], folded: bool) -> None:
    page = parse_html(render_html(events, CONFIG, NOW))
    assert (len(page.xpath("//article")) == 1) is folded


def test_a_cancelled_date_keeps_its_own_card() -> None:
    events = weekly(5)
    events[2] = events[2].with_changes(status=CANCELLED)
    page = parse_html(render_html(events, CONFIG, NOW))
    articles = page.xpath("//article")
    assert len(articles) == 2
    assert "cancelled" in articles[1].get("class")


def test_event_pages(tmp_path: Path) -> None:
    out = publish_agenda(tmp_path / "output")
    index = parse_html((out / "index.html").read_bytes())
    hrefs = index.xpath("//article//h3//a/@href")
    assert len(hrefs) == len(agenda_events())
    assert len(list((out / "evenements").glob("*.html"))) == len(agenda_events())
    [apero] = [h for h in hrefs if "apero" in h]
    page = parse_html((out / apero).read_bytes())
    assert page.findtext(".//h1") == "Apéro numérique"
    text = page.text_content()
    assert "jeudi 14 mai 2026, 18 h – 20 h" in text
    assert page.xpath("//link[@rel='canonical']/@href") == [
        f"{AGENDA_CONFIG.agenda.base_url}/{apero}"
    ]
    [osm] = page.xpath("//a[text()='Voir sur OpenStreetMap']/@href")
    assert osm == (
        "https://www.openstreetmap.org/search?query="
        "La+Cantine%2C+3+place+de+la+Libert%C3%A9%2C+29200+Brest"
    )
    # Every collective that announced it, with a link.
    [announced] = [dd for dd in page.xpath("//dd") if "Ty Fab" in dd.text_content()]
    assert announced.text_content() == "Cantine numérique de Brest, Ty Fab Plouzané"
    # The Cantine is known only by its feed file: named, not linked.
    assert {a.text_content(): a.get("href") for a in announced.xpath("a")} == {
        "Ty Fab Plouzané": "https://tyfab.example/"
    }
    assert "https://cantine.example/apero" in page.xpath("//a/@href")
    [add] = page.xpath("//a[text()='Ajouter à mon agenda']/@href")
    assert (out / "evenements" / add).resolve().is_file()
    [data] = page.xpath("//script[@type='application/ld+json']/text()")
    assert json.loads(data)["name"] == "Apéro numérique"
    # The page links back and shares the site's stylesheet; no inline style or script.
    assert page.xpath("//link[@rel='stylesheet']/@href") == ["../style.css"]
    assert not page.xpath("//style") and not page.xpath("//script[not(@type)]")
    # A later publication without the event removes its page.
    publish_agenda(out, [e for e in agenda_events() if e.title != "Apéro numérique"])
    assert not (out / apero).exists()
    assert len(list((out / "evenements").glob("*.html"))) == len(agenda_events()) - 1


def test_robots_and_sitemap_list_every_page(tmp_path: Path) -> None:
    out = publish_agenda(tmp_path / "output")
    base = AGENDA_CONFIG.agenda.base_url
    robots = (out / "robots.txt").read_text(encoding="utf-8")
    assert f"Sitemap: {base}/sitemap.xml" in robots.splitlines()
    tree = lxml.etree.fromstring((out / "sitemap.xml").read_bytes())
    locs = {loc.text for loc in tree.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")}
    pages = {f"{base}/{p.relative_to(out).as_posix()}" for p in out.rglob("*.html")}
    assert locs == pages
    # Without base_url there is no absolute address to list: no sitemap, robots.txt still.
    bare = tmp_path / "bare"
    publish_all(agenda_events(), AGENDA_CONFIG.model_copy(update={"agenda": Agenda()}), bare, NOW)
    assert not (bare / "sitemap.xml").exists()
    assert "Sitemap" not in (bare / "robots.txt").read_text(encoding="utf-8")


def test_tags_read_the_same_everywhere() -> None:
    start = datetime(2026, 4, 1, 18, 0, tzinfo=PARIS)
    events = [
        make_event("a", "Un", start, categories=("Logiciel libre",)),
        make_event("b", "Deux", start + timedelta(days=1), categories=("logiciel libre",)),
        make_event(
            "c", "Trois", start + timedelta(days=2), categories=("logiciel  libre", "Fablab")
        ),
    ]
    page = parse_html(render_html(events, CONFIG, NOW))
    chips = [li.text_content() for li in page.xpath("//ul[@class='tags']/li")]
    # One display form per tag: the spelling most events use.
    assert chips == ["logiciel libre", "logiciel libre", "logiciel libre", "Fablab"]
    options = [o.text_content() for o in page.xpath("//select[@id='f-theme']/option")]
    assert options == ["Tous", "Fablab", "logiciel libre"]


@pytest.mark.parametrize("count", [0, 1, 2500])
def test_the_state_is_written_as_one_json_dumps_writes_it(count: int) -> None:
    # The events are encoded a batch at a time (2500: more than one batch); the bytes are
    # those of the whole state encoded at once, so a state written before reads the same.
    snapshot = {
        "title": 'Atelier « réparation » – Creac\'h Gwen "n°2"',
        "when": "jeudi 3 avril à 14 h 30",
        "place": "Plouzané ☕",
        "end": None,
    }
    state = {
        "version": 1,
        "since": "2026-05-01T12:00:00+02:00",
        "events": {f"uid-{(i * 7919) % 10007:05d}@x": {**snapshot, "n": i} for i in range(count)},
        "changes": [{"kind": "added", "uid": "uid-1@x", **snapshot}],
    }
    text = json.dumps(state, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert render_state(state) == (text + "\n").encode("utf-8")
