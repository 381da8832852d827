"""End to end: a real loopback HTTP server, the CLI, a real SQLite file, outputs read back."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import icalendar
import pytest
from typer.testing import CliRunner

from aggregator.cli import app
from aggregator.demo.server import LoopbackServer

PARIS = ZoneInfo("Europe/Paris")
NOW = "2026-05-01T12:00:00+02:00"
runner = CliRunner()

SOURCES = """\
agenda: {{title: "Agenda du numérique en Bretagne", timezone: Europe/Paris}}
sources:
  - id: bidouille
    name: La Vilaine Bidouille
    url: {base}/e2e/bidouille.ics
    type: ical
    city: Redon
    tags: [fablab]
  - id: cantine
    name: Cantine numérique de Plouzané
    url: {base}/e2e/cantine.rss
    city: Plouzané
  - id: libristes
    name: Les Libristes de Creac'h Gwen
    url: {base}/e2e/libristes.atom
  - id: repaircafe
    name: Repair Café de Landerneau
    url: {base}/e2e/repaircafe.html
    website: https://repaircafe.example.org/
"""


class Agenda:
    """A workspace: the config, the database and the output folder of one test."""

    def __init__(self, tmp_path: Path, server: LoopbackServer) -> None:
        self.server = server
        self.config = tmp_path / "sources.yaml"
        self.db = tmp_path / "data" / "agenda.db"
        self.out = tmp_path / "output"
        self.config.write_text(SOURCES.format(base=server.base_url), encoding="utf-8")

    def cli(self, *args: str, now: str = NOW) -> tuple[int, str]:
        common = ["--config", str(self.config)]
        if args[:2] != ("sources", "check"):
            common += ["--db", str(self.db)]
        if args[0] in ("run", "publish"):
            common += ["--out", str(self.out)]
        if args[0] in ("run", "publish", "fetch", "events"):
            common += ["--now", now]
        result = runner.invoke(app, [*args, *common])
        return result.exit_code, result.output

    def json_events(self) -> list[dict]:  # type: ignore[type-arg]
        return json.loads((self.out / "events.json").read_text(encoding="utf-8"))

    def calendar(self) -> icalendar.Calendar:
        return icalendar.Calendar.from_ical((self.out / "calendar.ics").read_bytes())

    def outputs(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(self.out.iterdir()) if p.is_file()}


@pytest.fixture
def agenda(tmp_path: Path, http_server: LoopbackServer) -> Agenda:
    return Agenda(tmp_path, http_server)


def test_full_run_publishes_every_format(agenda: Agenda) -> None:
    code, output = agenda.cli("run")
    assert code == 0, output
    assert "4 ok, 0 not modified, 0 failed" in output

    events = agenda.json_events()
    titles = [e["title"] for e in events]
    # The past meeting and the dateless blog post are not on the agenda; the apéro announced by
    # two sources appears once.
    assert titles == [
        "Apéro numérique",
        "Atelier soudure",
        "Café vie privée",
        "Repair Café",
        "Install-party GNU/Linux",
        "Fête du libre à Creac'h Gwen",
    ]
    apero = events[0]
    assert apero["start"] == "2026-05-07T18:30:00+02:00"
    assert apero["end"] == "2026-05-07T20:30:00+02:00"
    assert [s["id"] for s in apero["sources"]] == ["bidouille", "cantine"]
    assert apero["location"]["city"] == "Redon"
    assert apero["location"]["postcode"] == "35600"
    assert events[1]["status"] == "cancelled"
    fete = events[-1]
    assert fete["all_day"] is True
    assert fete["start"].startswith("2026-05-23")
    repair = events[3]
    assert repair["location"]["city"] == "Landerneau"
    assert repair["url"] == "https://repaircafe.example.org/2026-05-16"

    cal = agenda.calendar()
    vevents = cal.walk("VEVENT")
    assert sorted(str(v["UID"]) for v in vevents) == sorted(e["uid"] for e in events)
    by_title = {str(v["SUMMARY"]): v for v in vevents}
    start = by_title["Apéro numérique"].decoded("DTSTART")
    assert start == datetime(2026, 5, 7, 18, 30, tzinfo=PARIS)
    assert start.utcoffset().total_seconds() == 7200
    cancelled = [v for v in vevents if str(v.get("STATUS", "")).upper() == "CANCELLED"]
    assert len(cancelled) == 1
    assert cal.walk("VTIMEZONE"), "calendar.ics must carry a VTIMEZONE"

    feed = feedparser.parse((agenda.out / "feed.xml").read_bytes())
    assert feed.bozo == 0
    assert [entry.id for entry in feed.entries] == [e["uid"] for e in events]
    assert "7 mai" in feed.entries[0].title

    page = (agenda.out / "index.html").read_text(encoding="utf-8")
    assert 'lang="fr"' in page
    assert "Fête du libre à Creac&#39;h Gwen" in page or "Fête du libre à Creac'h Gwen" in page
    assert "Réunion passée" not in page


def test_second_run_is_not_modified_and_changes_nothing(agenda: Agenda) -> None:
    assert agenda.cli("run")[0] == 0
    first = agenda.outputs()
    code, output = agenda.cli("run")
    assert code == 0
    assert "0 ok, 4 not modified, 0 failed" in output
    assert "0 new, 0 updated, 0 removed" in output
    # Nothing to say about any source: no table, only their count.
    assert "4 sources not modified, not listed" in output
    assert "bidouille" not in output
    assert agenda.outputs() == first
    conditional = agenda.server.headers_for("/e2e/bidouille.ics")[-1]
    assert "if-none-match" in conditional


def test_a_failing_source_does_not_stop_the_others_nor_lose_its_events(agenda: Agenda) -> None:
    assert agenda.cli("run")[0] == 0
    before = {e["uid"] for e in agenda.json_events()}
    agenda.server.add("/e2e/bidouille.ics", b"oops", status=500)
    truncated = b'<?xml version="1.0"?><rss version="2.0"><chan'
    agenda.server.add("/e2e/cantine.rss", truncated, content_type="application/rss+xml")
    code, output = agenda.cli("run")
    assert code == 0, output
    assert "0 ok, 2 not modified, 2 failed" in output
    assert "HTTP 500" in output
    # The failed sources are in the table, the two others only counted.
    table = [line for line in output.splitlines() if line.startswith("│")]
    assert len(table) == 2 and all("failed" in line for line in table), output
    assert "2 sources not modified, not listed" in output
    assert {e["uid"] for e in agenda.json_events()} == before

    code, _ = agenda.cli("run", "--strict")
    assert code == 1

    code, output = agenda.cli("sources", "list")
    assert code == 0
    assert "HTTP 500" in output


def test_garbage_where_a_calendar_was_keeps_the_stored_events(agenda: Agenda) -> None:
    assert agenda.cli("run")[0] == 0
    before = agenda.json_events()
    agenda.server.add("/e2e/bidouille.ics", b"\x00\x01garbage", content_type="text/calendar")
    code, output = agenda.cli("run")
    assert code == 0, output
    assert "failed" in output
    assert agenda.json_events() == before


def test_an_event_removed_by_its_source_leaves_the_outputs(agenda: Agenda) -> None:
    assert agenda.cli("run")[0] == 0
    page = (agenda.server.root / "e2e" / "repaircafe.html").read_bytes()  # type: ignore[operator]
    emptied = page.replace(b'"@type": "Event"', b'"@type": "Thing"')
    agenda.server.add("/e2e/repaircafe.html", emptied, content_type="text/html; charset=utf-8")
    code, output = agenda.cli("run")
    assert code == 0, output
    assert "1 removed" in output
    assert "Repair Café" not in [e["title"] for e in agenda.json_events()]
    assert "Repair Café" not in (agenda.out / "calendar.ics").read_text(encoding="utf-8")


def test_slow_source_times_out_and_is_reported(agenda: Agenda) -> None:
    agenda.server.add("/e2e/libristes.atom", b"<feed/>", delay=3.0)
    code, output = agenda.cli("run", "--timeout", "0.5")
    assert code == 0, output
    assert "3 ok, 0 not modified, 1 failed" in output
    assert "timed out" in output


def test_config_error_exits_2_with_line(agenda: Agenda) -> None:
    agenda.config.write_text(
        agenda.config.read_text(encoding="utf-8").replace("    city: Redon", "    ctiy: Redon"),
        encoding="utf-8",
    )
    code, output = agenda.cli("run")
    assert code == 2
    assert "sources.yaml:7" in output and "did you mean 'city'" in output
    assert not agenda.out.exists()


def test_events_command_filters_and_prints_json(agenda: Agenda) -> None:
    assert agenda.cli("fetch")[0] == 0
    code, output = agenda.cli("events", "--city", "Landerneau", "--json")
    assert code == 0
    assert [e["title"] for e in json.loads(output)] == ["Repair Café"]
    code, output = agenda.cli("events", "--source", "cantine", "--json")
    assert sorted(e["title"] for e in json.loads(output)) == ["Apéro numérique", "Café vie privée"]
    code, output = agenda.cli("events", "--tag", "fablab")
    assert code == 0 and "Apéro numérique" in output


def test_sources_check(agenda: Agenda) -> None:
    code, output = agenda.cli("sources", "check")
    assert code == 0
    assert "4 sources" in output


@pytest.mark.parametrize("order", [lambda s: s, lambda s: list(reversed(s))])
def test_result_does_not_depend_on_source_order(
    tmp_path: Path, http_server: LoopbackServer, order: Callable[[list[str]], list[str]]
) -> None:
    agenda = Agenda(tmp_path, http_server)
    head, body = SOURCES.split("sources:\n")
    entries = ["  - id:" + chunk for chunk in body.split("  - id:")[1:]]
    agenda.config.write_text(
        (head + "sources:\n" + "".join(order(entries))).format(base=http_server.base_url),
        encoding="utf-8",
    )
    assert agenda.cli("run")[0] == 0
    merged = [e for e in agenda.json_events() if e["title"] == "Apéro numérique"]
    assert len(merged) == 1
    assert sorted(s["id"] for s in merged[0]["sources"]) == ["bidouille", "cantine"]


# -- deduplication and misbehaving sources (issue 5) ----------------------------------------------


def _ics(uid_prefix: str, titles: list[str], first_day: int = 5) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//dedupe//FR"]
    for day, title in enumerate(titles, start=first_day):
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid_prefix}-{day}@rotating.example",
            f"DTSTAMP:202605{day:02d}T000000Z",
            f"DTSTART;TZID=Europe/Paris:202605{day:02d}T180000",
            f"DTEND;TZID=Europe/Paris:202605{day:02d}T200000",
            f"SUMMARY:{title}",
            "LOCATION:Cantine numérique\\, 12 rue de la Gare\\, 35600 Redon",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


ROTATING = """\
sources:
  - id: rotating
    name: Le Fablab qui tourne
    url: {base}/rotating.ics
    type: ical
  - id: listing
    name: Agenda du Libre
    url: {base}/listing.ics
    type: ical
"""
TITLES = ["Atelier Arduino", "Atelier Scratch", "Install party", "Apéro numérique", "Repair café"]


@pytest.fixture
def rotating(tmp_path: Path, http_server: LoopbackServer) -> Agenda:
    agenda = Agenda(tmp_path, http_server)
    agenda.config.write_text(ROTATING.format(base=http_server.base_url), encoding="utf-8")
    http_server.add("/rotating.ics", _ics("run1", TITLES), content_type="text/calendar")
    # Another source announces the apéro with its own wording.
    listing = _ics("listing", ["[Agenda] Apéro numérique – Le Fablab qui tourne"], first_day=8)
    http_server.add("/listing.ics", listing, content_type="text/calendar")
    return agenda


def test_rotating_uids_never_change_what_subscribers_see(rotating: Agenda) -> None:
    code, output = rotating.cli("run")
    assert code == 0, output
    first = {e["title"]: e["uid"] for e in rotating.json_events()}
    assert len(first) == 5
    apero = next(e for e in rotating.json_events() if e["title"] == "Apéro numérique")
    assert sorted(s["id"] for s in apero["sources"]) == ["listing", "rotating"]
    for run in (2, 3):
        rotating.server.add(
            "/rotating.ics", _ics(f"run{run}", TITLES), content_type="text/calendar"
        )
        code, output = rotating.cli("run")
        assert code == 0, output
        assert {e["title"]: e["uid"] for e in rotating.json_events()} == first
    code, output = rotating.cli("sources", "list", "--json")
    health = {h["id"]: h for h in json.loads(output)}
    assert health["rotating"]["uid_unstable"] is True
    assert health["listing"]["uid_unstable"] is False
    code, output = rotating.cli("sources", "list")
    assert "rotating" in output and "UIDs" in output


def test_mass_deletion_needs_accept_removals(rotating: Agenda) -> None:
    assert rotating.cli("run")[0] == 0
    apero_uid = next(e["uid"] for e in rotating.json_events() if e["title"] == "Apéro numérique")
    rotating.server.add("/rotating.ics", _ics("run1", TITLES[:1]), content_type="text/calendar")
    code, output = rotating.cli("run")
    assert code == 0, output
    assert "--accept-removals rotating" in output
    assert len(rotating.json_events()) == 5
    # The held removals are fetched again in full (no 304) so they can be accepted.
    code, output = rotating.cli("run", "--accept-removals", "rotating")
    assert code == 0, output
    events = {e["title"]: e for e in rotating.json_events()}
    # The apéro stays, announced by the listing only, under the UID subscribers already know.
    listing_title = "[Agenda] Apéro numérique – Le Fablab qui tourne"
    assert sorted(events) == ["Atelier Arduino", listing_title]
    assert events[listing_title]["uid"] == apero_uid
    code, output = rotating.cli("run", "--accept-removals", "nope")
    assert code == 2 and "nope" in output


def test_explain_and_dedupe_commands(rotating: Agenda) -> None:
    assert rotating.cli("run")[0] == 0
    apero = next(e for e in rotating.json_events() if e["title"] == "Apéro numérique")
    code, output = rotating.cli("events", "--explain", apero["uid"])
    assert code == 0, output
    assert "2 records merged" in output and "same event: score" in output
    assert "listing" in output and "rotating" in output
    code, output = rotating.cli("events", "--explain", "unknown@x")
    assert code == 1 and "no event with UID" in output
    before = rotating.outputs()
    code, output = rotating.cli("dedupe")
    assert code == 0 and "0 records moved" in output
    assert rotating.cli("publish")[0] == 0
    assert rotating.outputs()["calendar.ics"] == before["calendar.ics"]
