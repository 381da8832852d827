"""Platform adapters: recognised from the address and the response, richest export, JSON readers.

The JSON captures are in tests/fixtures/platforms (origins in its MANIFEST.md); the iCal ones are
real captures of the shared corpus, served over loopback HTTP and read as a run reads them.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.config import Config, Source
from aggregator.demo.server import LoopbackServer
from aggregator.fetch import FetchSettings, fetch_sources
from aggregator.models import CANCELLED, CONFIRMED, ParseContext, Window
from aggregator.parsers import parse_document
from aggregator.pipeline import parse_fetched
from aggregator.platforms import (
    agenda_du_libre_url,
    detect_document,
    detect_url,
    exports_for,
)

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 6, 1, tzinfo=PARIS)
PLATFORMS_DIR = Path(__file__).resolve().parent / "fixtures" / "platforms"
SETTINGS = FetchSettings(retries=0, read_timeout=5)


def _context(now: datetime = NOW) -> ParseContext:
    return ParseContext(tz=PARIS, window=Window(now, datetime(2030, 1, 1, tzinfo=PARIS)), now=now)


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://mobilizon.fr/@maisondulibre/feed/ics", "mobilizon"),
        ("https://mobilizon.example/feed/instance/atom", "mobilizon"),
        ("https://agenda.example/api/events", "gancio"),
        ("https://agenda.example/feed/ics/tag/libre", "gancio"),
        ("https://openagenda.com/agendas/44891982/events.v2.ics?relative[0]=current", "openagenda"),
        ("https://www.agendadulibre.org/events.ics?region=6", "agendadulibre"),
        ("https://fablab.example/events/?ical=1", "tribe-events"),
        ("https://fablab.example/wp-json/tribe/events/v1/events", "tribe-events"),
        (
            "https://cloud.konkarlab.bzh/remote.php/dav/public-calendars/JixPor4dk7xqRAja/?export",
            "nextcloud",
        ),
        ("https://framagenda.org/index.php/apps/calendar/p/AbC123", "nextcloud"),
        ("https://www.meetup.com/fr-FR/Docker-Rennes/", "meetup"),
    ],
)
def test_detected_from_the_address(url: str, key: str) -> None:
    found = detect_url(url)
    assert found is not None and found.platform.key == key


def test_an_ordinary_address_is_no_platform() -> None:
    assert detect_url("https://www.labfab.fr/feed/") is None
    assert detect_url("https://example.org/agenda.ics") is None


def test_exports_richest_first() -> None:
    meetup = exports_for("https://www.meetup.com/fr-FR/Docker-Rennes/")
    assert [e.url for e in meetup] == ["https://www.meetup.com/Docker-Rennes/events/ical/"]
    mobilizon = exports_for("https://mobilizon.fr/@maisondulibre")
    assert mobilizon[0].url == "https://mobilizon.fr/@maisondulibre/feed/ics"
    page = exports_for("https://mobilizon.example/@maisondulibre/feed/atom")
    assert [e.kind for e in page] == ["ical", "feed"]
    assert page[0].url == "https://mobilizon.example/@maisondulibre/feed/ics"
    nextcloud = exports_for("https://framagenda.org/index.php/apps/calendar/p/AbC123")
    assert [e.url for e in nextcloud] == [
        "https://framagenda.org/remote.php/dav/public-calendars/AbC123?export"
    ]
    konk = "https://cloud.konkarlab.bzh/remote.php/dav/public-calendars/JixPor4dk7xqRAja/?export"
    assert exports_for(konk)[0].url == konk  # the trailing slash is kept as published
    tribe = exports_for("https://fablab.example/agenda/?ical=1")
    assert [e.url for e in tribe] == [
        "https://fablab.example/wp-json/tribe/events/v1/events",
        "https://fablab.example/agenda/?ical=1",
    ]
    openagenda = exports_for("https://openagenda.com/agendas/44891982/events.v2.ics")
    assert openagenda[0].url.startswith("https://openagenda.com/agendas/44891982/events.v2.json")


def test_agenda_du_libre_documented_parameters() -> None:
    assert agenda_du_libre_url(region=6) == "https://www.agendadulibre.org/events.ics?region=6"
    near = agenda_du_libre_url(near_location="Nantes", near_distance=30, tag="install-party")
    assert near == (
        "https://www.agendadulibre.org/events.ics?tag=install-party"
        "&near%5Blocation%5D=Nantes&near%5Bdistance%5D=30"
    )
    kept = exports_for(near)
    assert kept[0].url == near and kept[1].url.startswith(
        "https://www.agendadulibre.org/events.rss?"
    )


@pytest.mark.parametrize(
    ("corpus_file", "key", "day"),
    [
        ("meetup-2022-group-calendar.ics", "meetup", "2026-01-01"),
        ("wordpress-events-calendar-broken-vtimezone-html-uid.ics", "tribe-events", "2024-01-01"),
        ("wordpress-events-manager-unrendered-placeholders.ics", "events-manager", "2023-09-01"),
        ("nextcloud-calendar-app-yearly-alarms.ics", "nextcloud", "2025-06-01"),
        ("nextcloud-sabredav-all-day.ics", "nextcloud", "2019-03-01"),
        ("agendadulibre-rhone-alpes-2013.ics", "agendadulibre", "2013-01-01"),
    ],
)
def test_real_ical_captures_are_recognised_and_read_over_http(
    corpus_dir: Path, corpus_file: str, key: str, day: str
) -> None:
    body = (corpus_dir / "ics" / corpus_file).read_bytes()
    with LoopbackServer() as server:
        server.add("/calendar", body, content_type="text/calendar; charset=utf-8")
        source = Source(id="s", name="S", url=server.url("/calendar"))
        result = fetch_sources([source], None, SETTINGS)[0]
    assert result.document is not None
    found = detect_document(result.document)
    assert found is not None and found.platform.key == key
    # A reference day when the capture was current: its events are upcoming then.
    moment = datetime.fromisoformat(day).replace(tzinfo=PARIS)
    parsed, error = parse_fetched(Config(), source, result, moment)
    assert error is None and parsed is not None and parsed.events


def _served(name: str, path: str, content_type: str = "application/json") -> tuple:
    with LoopbackServer() as server:
        server.add(path, (PLATFORMS_DIR / name).read_bytes(), content_type=content_type)
        source = Source(id="s", name="S", url=server.url(path), city="Brest")
        result = fetch_sources([source], None, SETTINGS)[0]
    assert result.document is not None
    return source, result


def test_gancio_public_api() -> None:
    source, result = _served("gancio-api-events.json", "/api/events")
    assert detect_document(result.document).platform.key == "gancio"  # type: ignore[union-attr]
    parsed = parse_document(result.document, source, _context())  # type: ignore[arg-type]
    first, second = parsed.events
    assert first.title == "Atelier réparation vélo & électronique"
    assert first.start == datetime(2026, 6, 6, 14, 0, tzinfo=PARIS)
    assert first.end == datetime(2026, 6, 6, 17, 0, tzinfo=PARIS)
    assert first.location.city == "Rennes" and first.location.postcode == "35000"
    assert first.categories == ("repair café", "vélo")
    assert first.url == result.document.url.rsplit("/api/", 1)[0] + (  # type: ignore[union-attr]
        "/event/atelier-reparation-velo-electronique"
    )
    assert first.source_uid.startswith("12@")
    assert second.end is None and second.location.city == "Brest"


def test_openagenda_export_next_session_and_cancelled() -> None:
    source, result = _served("openagenda-events-v2.json", "/agendas/44891982/events.v2.json")
    parsed = parse_document(result.document, source, _context())  # type: ignore[arg-type]
    workshop, party = parsed.events
    # The session of 23 May is past on 1 June: the next one is what the agenda shows.
    assert workshop.start == datetime(2026, 6, 6, 14, 0, tzinfo=PARIS)
    assert workshop.title == "Atelier numérique : découvrir Linux"
    assert workshop.location.city == "Concarneau" and workshop.location.postcode == "29900"
    assert workshop.url == "https://openagenda.com/kerlandrier/events/atelier-numerique-concarneau"
    assert workshop.categories == ("numérique", "logiciel libre")
    assert workshop.status == CONFIRMED and party.status == CANCELLED
    assert workshop.source_uid == "openagenda:20368810"


def test_the_events_calendar_rest_api() -> None:
    source, result = _served("tribe-events-v1.json", "/wp-json/tribe/events/v1/events")
    parsed = parse_document(result.document, source, _context())  # type: ignore[arg-type]
    evening, open_day = parsed.events
    assert evening.start == datetime(2026, 6, 4, 18, 30, tzinfo=PARIS)
    assert evening.end == datetime(2026, 6, 4, 21, 0, tzinfo=PARIS)
    assert evening.description == "Apportez vos fichiers STL."
    assert evening.location.city == "Redon" and evening.location.name == "La Vilaine Bidouille"
    assert evening.categories == ("Fablab", "impression 3D")
    assert open_day.all_day and open_day.start.date().isoformat() == "2026-06-13"
    assert open_day.location.city == "Brest"  # no venue: the source's town


def test_mobilizon_ical_export_is_read_and_its_atom_has_no_dates() -> None:
    source, result = _served("mobilizon-group-feed.ics", "/@mdl/feed/ics", "text/calendar")
    assert detect_document(result.document).platform.key == "mobilizon"  # type: ignore[union-attr]
    parsed = parse_document(result.document, source, _context())  # type: ignore[arg-type]
    (event,) = parsed.events
    assert event.title == "Café bidouille"
    assert event.start == datetime(2026, 6, 10, 19, 0, tzinfo=PARIS)
    assert event.location.city == "Brest"
    source, result = _served("mobilizon-group-feed.atom", "/@mdl/feed/atom", "application/atom+xml")
    parsed = parse_document(result.document, source, _context())  # type: ignore[arg-type]
    assert parsed.items == 1 and parsed.events == []


def test_unknown_json_is_a_clear_error() -> None:
    with LoopbackServer() as server:
        server.add("/x.json", b'{"hello": "world"}', content_type="application/json")
        source = Source(id="s", name="S", url=server.url("/x.json"))
        result = fetch_sources([source], None, SETTINGS)[0]
    parsed, error = parse_fetched(Config(), source, result, NOW)
    assert parsed is None and error is not None and "iCal export" in error


def test_a_run_reads_every_platform_export_without_a_type(tmp_path: Path) -> None:
    """The pipeline picks the adapter by itself: `type:` is left out of every entry."""
    from typer.testing import CliRunner

    from aggregator.cli import app

    routes = {
        "/api/events": ("gancio-api-events.json", "application/json; charset=utf-8"),
        "/agendas/1/events.v2.json": ("openagenda-events-v2.json", "application/json"),
        "/wp-json/tribe/events/v1/events": ("tribe-events-v1.json", "application/json"),
        "/@mdl/feed/ics": ("mobilizon-group-feed.ics", "text/calendar"),
    }
    config = tmp_path / "sources.yaml"
    with LoopbackServer() as server:
        lines = ["sources:"]
        for number, (path, (name, content_type)) in enumerate(routes.items()):
            server.add(path, (PLATFORMS_DIR / name).read_bytes(), content_type=content_type)
            lines.append(f"  - {{id: s{number}, name: S{number}, url: '{server.url(path)}'}}")
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = CliRunner().invoke(
            app,
            [
                "run",
                "-c",
                str(config),
                "--db",
                str(tmp_path / "a.db"),
                "-o",
                str(tmp_path / "out"),
                "--now",
                NOW.isoformat(),
                "--strict",
            ],
        )
    assert result.exit_code == 0, result.output
    published = json.loads((tmp_path / "out" / "events.json").read_text(encoding="utf-8"))
    records = published if isinstance(published, list) else published["events"]
    titles = {record["title"] for record in records}
    assert {
        "Atelier réparation vélo & électronique",
        "Atelier numérique : découvrir Linux",
        "Soirée impression 3D",
        "Café bidouille",
    } <= titles
