"""`aggregator sources add`: discovery of a site's best source, and the entry written."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from aggregator.cli import app
from aggregator.config import load_config
from aggregator.demo.server import LoopbackServer
from aggregator.discover import discover, new_entry, slug_for
from aggregator.errors import ConfigError
from aggregator.fetch import FetchSettings

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=PARIS)
SETTINGS = FetchSettings(retries=0, read_timeout=5)
PLATFORMS_DIR = Path(__file__).resolve().parent / "fixtures" / "platforms"
REGISTRY = Path(__file__).resolve().parents[1] / "sources.yaml"
ICS = "text/calendar; charset=utf-8"

CALENDAR = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//FR\r\nX-WR-CALNAME:Fablab du Ponant\r\n"
    b"BEGIN:VEVENT\r\nUID:a@x\r\nSUMMARY:Open lab\r\nDTSTART;TZID=Europe/Paris:20260611T180000\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)
NEWS = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Actus</title>'
    "<item><title>Open lab jeudi 11 juin à 18h</title><link>https://x.example/1</link>"
    "<description>Rendez-vous jeudi 11 juin à 18h au fablab, 29200 Brest.</description>"
    "<pubDate>Mon, 01 Jun 2026 10:00:00 +0200</pubDate></item></channel></rss>"
).encode()


def _home(feed: str = "/feed/", calendar: str | None = "/agenda.ics", extra: str = "") -> bytes:
    link = f'<a href="{calendar}">Notre agenda</a>' if calendar else ""
    return (
        "<!doctype html><html><head><title>Fablab du Ponant</title>"
        f'<link rel="alternate" type="application/rss+xml" href="{feed}">{extra}</head>'
        f"<body><h1>Bienvenue</h1>{link}</body></html>"
    ).encode()


def test_a_calendar_is_preferred_to_the_news_feed() -> None:
    with LoopbackServer() as server:
        server.add("/", _home(), content_type="text/html; charset=utf-8")
        server.add("/feed/", NEWS, content_type="application/rss+xml")
        server.add("/agenda.ics", CALENDAR, content_type=ICS)
        found = discover(server.url("/"), NOW, settings=SETTINGS)
    assert found.title == "Fablab du Ponant"
    assert {c.url.rsplit("/", 1)[-1] or "feed" for c in found.candidates} >= {"agenda.ics"}
    assert found.best is not None and found.best.url.endswith("/agenda.ics")
    feed = next(c for c in found.candidates if c.url.endswith("/feed/"))
    assert feed.upcoming == 1 and not feed.structured  # read from prose: ranked below


def test_the_news_feed_is_taken_when_nothing_better_exists() -> None:
    with LoopbackServer() as server:
        server.add("/", _home(calendar=None), content_type="text/html; charset=utf-8")
        server.add("/feed/", NEWS, content_type="application/rss+xml")
        found = discover(server.url("/"), NOW, settings=SETTINGS)
    assert found.best is not None and found.best.url.endswith("/feed/")


def test_the_events_calendar_site_uses_its_rest_api() -> None:
    marker = '<meta name="tec-api-version" content="v1">'
    with LoopbackServer() as server:
        server.add("/", _home(calendar=None, extra=marker), content_type="text/html")
        server.add("/feed/", NEWS, content_type="application/rss+xml")
        server.add(
            "/wp-json/tribe/events/v1/events",
            (PLATFORMS_DIR / "tribe-events-v1.json").read_bytes(),
            content_type="application/json",
        )
        found = discover(server.url("/"), NOW, settings=SETTINGS)
    assert found.platform == "The Events Calendar"
    assert found.best is not None and found.best.url.endswith("/wp-json/tribe/events/v1/events")
    ical = next(c for c in found.candidates if c.url.endswith("?ical=1"))
    assert ical.error is not None and "404" in ical.error  # probed, absent here


def test_a_mobilizon_group_page_is_recognised_by_nodeinfo() -> None:
    with LoopbackServer() as server:
        index = (PLATFORMS_DIR / "mobilizon-nodeinfo.json").read_text()
        server.add(
            "/.well-known/nodeinfo",
            index.replace("NODEINFO_BASE", server.base_url).encode(),
            content_type="application/json",
        )
        server.add(
            "/.well-known/nodeinfo/2.1",
            (PLATFORMS_DIR / "mobilizon-nodeinfo-2.1.json").read_bytes(),
            content_type="application/json",
        )
        server.add(
            "/@mdl",
            b"<!doctype html><html><head><title>Maison du Libre</title></head><body></body></html>",
            content_type="text/html",
        )
        server.add(
            "/@mdl/feed/ics",
            (PLATFORMS_DIR / "mobilizon-group-feed.ics").read_bytes(),
            content_type=ICS,
        )
        server.add(
            "/@mdl/feed/atom",
            (PLATFORMS_DIR / "mobilizon-group-feed.atom").read_bytes(),
            content_type="application/atom+xml",
        )
        found = discover(server.url("/@mdl"), NOW, settings=SETTINGS)
    assert found.platform == "Mobilizon"
    assert found.best is not None and found.best.url.endswith("/@mdl/feed/ics")


def test_new_entry_keeps_every_comment_and_validates() -> None:
    original = REGISTRY.read_text(encoding="utf-8")
    entry = {
        "id": "fablab-du-ponant",
        "name": "Fablab du Ponant",
        "url": "https://fablab.example/agenda.ics",
        "city": "Brest",
        "tags": ["fablab", "médiation"],
        "website": "https://fablab.example/",
    }
    text = new_entry(original, entry, "Fablab du Ponant: added\nFound: a calendar link")
    kept = [line for line in original.splitlines() if line.strip()]
    assert [line for line in text.splitlines() if line.strip()][: len(kept)] == kept
    assert (
        "  # Fablab du Ponant: added\n  # Found: a calendar link\n  - id: fablab-du-ponant" in text
    )
    assert "    tags: [fablab, médiation]" in text
    with pytest.raises(ConfigError, match="duplicate id"):
        new_entry(text, entry, "again")


def test_new_entry_refuses_what_sources_check_refuses() -> None:
    with pytest.raises(ConfigError, match="slug"):
        new_entry(
            "sources: []\n", {"id": "Pas Un Slug", "name": "X", "url": "https://x.example/"}, "c"
        )


def test_slugs() -> None:
    assert slug_for("Konk Ar Lab") == "konk-ar-lab"
    assert slug_for("Repair Café de Plouzané") == "repair-cafe-de-plouzane"


def test_the_command_appends_a_commented_entry(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text(
        "# Our registry\nagenda:\n  title: Test\n\nsources:\n  # the first one\n"
        "  - id: first\n    name: First\n    url: https://first.example/a.ics\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    with LoopbackServer() as server:
        server.add("/", _home(), content_type="text/html; charset=utf-8")
        server.add("/feed/", NEWS, content_type="application/rss+xml")
        server.add("/agenda.ics", CALENDAR, content_type=ICS)
        args = ["sources", "add", server.url("/"), "-c", str(config), "--now", NOW.isoformat()]
        result = runner.invoke(app, [*args, "--city", "Brest", "--tags", "fablab, impression 3D"])
        again = runner.invoke(app, [*args, "--id", "first"])
    assert result.exit_code == 0, result.output
    assert "Open lab" in result.output  # what doctor shows
    loaded = load_config(config)
    added = loaded.source("fablab-du-ponant")
    assert added.url.endswith("/agenda.ics") and added.city == "Brest"
    assert added.tags == ("fablab", "impression 3D")
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# Our registry\n") and "  # the first one\n" in text
    assert "# Fablab du Ponant: added with `aggregator sources add" in text
    # An id already used: refused with the config error, file untouched.
    assert again.exit_code == 2 and "duplicate id" in again.output
    assert config.read_text(encoding="utf-8") == text


def test_the_command_refuses_a_site_with_nothing_to_read(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text("sources: []\n", encoding="utf-8")
    with LoopbackServer() as server:
        server.add(
            "/", b"<!doctype html><html><body>Bonjour</body></html>", content_type="text/html"
        )
        result = CliRunner().invoke(app, ["sources", "add", server.url("/"), "-c", str(config)])
    assert result.exit_code == 1 and "no readable source" in result.output
    assert config.read_text(encoding="utf-8") == "sources: []\n"
