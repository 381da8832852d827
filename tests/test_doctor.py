"""`aggregator doctor`: every finding, over a real loopback HTTP server, and the command itself."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from aggregator.cli import app
from aggregator.config import Config, Source
from aggregator.demo.server import LoopbackServer
from aggregator.doctor import diagnose, inspect
from aggregator.fetch import FetchSettings, fetch_sources

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=PARIS)
SETTINGS = FetchSettings(retries=0, read_timeout=5)
PLATFORMS_DIR = Path(__file__).resolve().parent / "fixtures" / "platforms"
ICS = "text/calendar; charset=utf-8"


def _ics(*events: str, header: str = "") -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    text = (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//FR\r\n{header}{body}END:VCALENDAR\r\n"
    )
    return text.encode("utf-8")


GOOD = _ics(
    "UID:a@x\r\nSUMMARY:Atelier Arduino\r\nDTSTART;TZID=Europe/Paris:20260610T180000\r\n"
    "DTEND;TZID=Europe/Paris:20260610T200000\r\nLOCATION:Cantine\\, 35600 Redon",
)


def _codes(url: str, **kwargs: object) -> set[str]:
    return {p.code for p in diagnose(url, NOW, settings=SETTINGS, **kwargs).problems}  # type: ignore[arg-type]


def test_a_good_calendar_has_no_problem_and_shows_its_next_events() -> None:
    with LoopbackServer() as server:
        server.add("/agenda.ics", GOOD, content_type=ICS)
        report = diagnose(server.url("/agenda.ics"), NOW, settings=SETTINGS)
        assert server.hits("/agenda.ics") == 2  # fetched twice, to compare the UIDs
    assert report.ok and report.problems == []
    assert report.kind == "ical" and report.what.startswith("un calendrier iCal")
    (preview,) = report.upcoming
    assert preview.when == "mercredi 10 juin 2026, 18 h – 20 h"
    assert preview.title == "Atelier Arduino"
    assert preview.where == "Cantine, 35600 Redon"


def test_floating_times_without_a_zone() -> None:
    body = _ics("UID:a@x\r\nSUMMARY:Atelier\r\nDTSTART:20260610T180000")
    with LoopbackServer() as server:
        server.add("/a.ics", body, content_type=ICS)
        server.add(
            "/b.ics",
            body.replace(b"PRODID", b"X-WR-TIMEZONE:Europe/Paris\r\nPRODID"),
            content_type=ICS,
        )
        assert "no-timezone" in _codes(server.url("/a.ics"))
        assert "no-timezone" not in _codes(server.url("/b.ics"))


def test_utc_times_that_are_really_local() -> None:
    # The description says 18h, the calendar says 18:00 UTC (20:00 in Paris in June).
    wrong = _ics(
        "UID:a@x\r\nSUMMARY:Repair café\r\nDESCRIPTION:Rendez-vous à 18h\r\n"
        "DTSTART:20260610T180000Z",
        "UID:b@x\r\nSUMMARY:Install party\r\nDESCRIPTION:De 14h30 à 17h\r\n"
        "DTSTART:20260611T143000Z",
    )
    right = wrong.replace(b"T180000Z", b"T160000Z").replace(b"T143000Z", b"T123000Z")
    with LoopbackServer() as server:
        server.add("/wrong.ics", wrong, content_type=ICS)
        server.add("/right.ics", right, content_type=ICS)
        assert "utc-as-local" in _codes(server.url("/wrong.ics"))
        assert "utc-as-local" not in _codes(server.url("/right.ics"))


def test_uids_that_change_between_two_fetches() -> None:
    def body(uid: str) -> bytes:
        return _ics(f"UID:{uid}\r\nSUMMARY:Atelier\r\nDTSTART;TZID=Europe/Paris:20260610T180000")

    with LoopbackServer() as server:
        source = Source(id="doctor", name="doctor", url=server.url("/a.ics"))
        server.add("/a.ics", body("one@x"), content_type=ICS)
        first = fetch_sources([source], None, SETTINGS)[0]
        server.add("/a.ics", body("two@x"), content_type=ICS)
        second = fetch_sources([source], None, SETTINGS)[0]
        same = fetch_sources([source], None, SETTINGS)[0]
    assert "unstable-uids" in {
        p.code for p in inspect(source, first, second, NOW, Config()).problems
    }
    assert "unstable-uids" not in {
        p.code for p in inspect(source, second, same, NOW, Config()).problems
    }


def test_events_without_dates_and_past_only_calendars() -> None:
    undated = _ics(
        "UID:a@x\r\nSUMMARY:Sans date", "UID:b@x\r\nSUMMARY:Daté\r\nDTSTART:20260610T180000Z"
    )
    past = _ics("UID:a@x\r\nSUMMARY:Vieux\r\nDTSTART;TZID=Europe/Paris:20240105T180000")
    with LoopbackServer() as server:
        server.add("/undated.ics", undated, content_type=ICS)
        server.add("/past.ics", past, content_type=ICS)
        assert "undated-events" in _codes(server.url("/undated.ics"))
        report = diagnose(server.url("/past.ics"), NOW, settings=SETTINGS)
    assert [p.code for p in report.problems] == ["past-only"]
    assert "05/01/2024" in report.problems[0].message


def test_a_news_feed_without_event_dates() -> None:
    rss = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Actus</title>'
        "<item><title>Bilan de l’année</title><link>https://x.example/1</link>"
        "<description>Merci à tous les bénévoles.</description>"
        "<pubDate>Mon, 04 May 2026 10:00:00 +0200</pubDate></item></channel></rss>"
    ).encode()
    with LoopbackServer() as server:
        server.add("/feed/", rss, content_type="application/rss+xml; charset=utf-8")
        report = diagnose(server.url("/feed/"), NOW, settings=SETTINGS)
    codes = {p.code for p in report.problems}
    assert {"news-feed", "no-events"} <= codes and not report.ok


def test_the_mobilizon_atom_feed_points_to_its_ical_export() -> None:
    atom = (PLATFORMS_DIR / "mobilizon-group-feed.atom").read_bytes()
    with LoopbackServer() as server:
        server.add("/@mdl/feed/atom", atom, content_type="application/atom+xml")
        report = diagnose(server.url("/@mdl/feed/atom"), NOW, settings=SETTINGS)
    assert report.platform == "Mobilizon" and "news-feed" in {p.code for p in report.problems}
    assert report.exports[0].url == report.url.replace("/feed/atom", "/feed/ics")


def test_http_errors_redirects_content_type_and_bytes() -> None:
    latin1 = GOOD.replace(b"Atelier", "Élagage".encode("latin-1"))
    with LoopbackServer() as server:
        server.add("/old", redirect_to="/agenda.ics", status=301)
        server.add("/agenda.ics", GOOD, content_type=ICS)
        server.add("/as-html", GOOD, content_type="text/html; charset=utf-8")
        server.add("/latin1.ics", latin1, content_type=ICS)
        server.add(
            "/utf16.ics",
            "\ufeff".encode("utf-16-le") + GOOD.decode().encode("utf-16-le"),
            content_type="text/calendar",
        )
        missing = diagnose(server.url("/gone.ics"), NOW, settings=SETTINGS)
        assert "redirect" in _codes(server.url("/old"))
        assert "content-type" in _codes(server.url("/as-html"))
        assert "invalid-bytes" in _codes(server.url("/latin1.ics"))
        assert "invalid-bytes" not in _codes(server.url("/utf16.ics"))
    assert not missing.ok and [p.code for p in missing.problems] == ["http-error"]
    assert "404" in missing.problems[0].message and "n’existe plus" in missing.problems[0].message


def test_platform_json_is_named_and_read() -> None:
    with LoopbackServer() as server:
        server.add(
            "/api/events",
            (PLATFORMS_DIR / "gancio-api-events.json").read_bytes(),
            content_type="application/json; charset=utf-8",
        )
        report = diagnose(server.url("/api/events"), NOW, settings=SETTINGS)
    assert report.ok and report.platform == "Gancio" and report.kind == "json"
    assert [p.title for p in report.upcoming] == [
        "Atelier réparation vélo & électronique",
        "Install party GNU/Linux",
    ]


def test_the_command_exit_code_and_json(tmp_path: Path) -> None:
    runner = CliRunner()
    missing_config = str(tmp_path / "none.yaml")
    with LoopbackServer() as server:
        server.add("/agenda.ics", GOOD, content_type=ICS)
        good = runner.invoke(
            app,
            ["doctor", server.url("/agenda.ics"), "--now", NOW.isoformat(), "-c", missing_config],
        )
        as_json = runner.invoke(
            app,
            [
                "doctor",
                server.url("/agenda.ics"),
                "--json",
                "--now",
                NOW.isoformat(),
                "-c",
                missing_config,
            ],
        )
        bad = runner.invoke(app, ["doctor", server.url("/nope"), "-c", missing_config])
    assert good.exit_code == 0, good.output
    assert "Atelier Arduino" in good.output and "mercredi 10 juin 2026" in good.output
    data = json.loads(as_json.output)
    assert data["ok"] is True and data["upcoming"][0]["title"] == "Atelier Arduino"
    assert bad.exit_code == 1 and "404" in bad.output


def test_a_platform_home_page_is_named_by_its_nodeinfo() -> None:
    with LoopbackServer() as server:
        server.add(
            "/.well-known/nodeinfo",
            json.dumps(
                {
                    "links": [
                        {
                            "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                            "href": server.url("/.well-known/nodeinfo/2.0"),
                        }
                    ]
                }
            ).encode(),
            content_type="application/json",
        )
        server.add(
            "/.well-known/nodeinfo/2.0",
            (PLATFORMS_DIR / "gancio-nodeinfo.json").read_bytes(),
            content_type="application/json",
        )
        server.add(
            "/",
            b"<!doctype html><html><body><div id=__nuxt></div></body></html>",
            content_type="text/html; charset=utf-8",
        )
        report = diagnose(server.url("/"), NOW, settings=SETTINGS)
        api = server.url("/api/events")
    assert report.platform == "Gancio" and "Gancio" in report.what
    assert report.exports[0].url == api


def test_a_page_with_schema_org_events_says_so() -> None:
    page = (
        '<!doctype html><html><head><script type="application/ld+json">'
        '{"@context": "https://schema.org", "@type": "Event", "name": "Fête de la bidouille",'
        ' "startDate": "2026-06-20T14:00:00+02:00", "location": {"@type": "Place",'
        ' "name": "Cantine", "address": "29200 Brest"}}</script></head><body></body></html>'
    ).encode()
    with LoopbackServer() as server:
        server.add("/agenda", page, content_type="text/html; charset=utf-8")
        report = diagnose(server.url("/agenda"), NOW, settings=SETTINGS)
    assert report.ok and "schema.org" in report.what
    assert [p.title for p in report.upcoming] == ["Fête de la bidouille"]


def test_a_real_event_feed_publishing_local_times_as_utc(corpus_dir: Path) -> None:
    # A TYPO3 event feed: "20h : Spectacle…" in the text, <ev:startdate> 20:00 with a Z.
    body = (corpus_dir / "feeds" / "sortir-grandpoitiers-typo3-rss-ev-module.xml").read_bytes()
    with LoopbackServer() as server:
        server.add("/agenda.xml", body, content_type="application/rss+xml")
        report = diagnose(
            server.url("/agenda.xml"), datetime(2022, 2, 1, tzinfo=PARIS), settings=SETTINGS
        )
    codes = {p.code for p in report.problems}
    assert "utc-as-local" in codes
    assert "news-feed" not in codes  # its items carry event dates of their own
    assert report.upcoming_count == 3
