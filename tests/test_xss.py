"""Nothing a source sends can run script on our pages or inject a property in our calendars.

Script payloads (<script>, onerror=, javascript: URLs, text that closes </title> or </script>,
CRLF-injected iCal properties) are planted in titles, descriptions, places, cities, tags, source
names and URLs, then published two ways: straight into `publish_all` (nothing cleaned before the
publishers) and through the whole pipeline from hostile sources served over loopback HTTP. Chromium
then proves no script ran; icalendar, vobject and ical.js prove no property was injected.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
import vobject
from icalendar import Calendar
from playwright.sync_api import Browser, Page, sync_playwright

from aggregator.config import Agenda, Config, Source
from aggregator.demo.server import LoopbackServer
from aggregator.fetch import FetchSettings
from aggregator.models import Event, Location, SourceRef
from aggregator.pipeline import run
from aggregator.publish import publish_all

ROOT = Path(__file__).resolve().parents[1]
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 5, 12, 8, 0, tzinfo=UTC)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAYLOADS = (
    "<script>window.__pwned='script';alert('script')</script>",
    "<img src=x onerror=\"window.__pwned='img';alert('img')\">",
    "</title><script>window.__pwned='title'</script>",
    "</script><script>window.__pwned='jsonld'</script>",
    "<!--<script>window.__pwned='comment'</script>-->",
    "<svg onload=\"window.__pwned='svg'\"></svg>",
    '" onmouseover="window.__pwned=\'attr\'" x="',
    "x\r\nATTENDEE:mailto:evil@example.org",
    "y\nORGANIZER:mailto:evil@example.org",
)
EVIL_URLS = (
    "javascript:window.__pwned='url'",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://ok.example/\r\nATTENDEE:mailto:evil@example.org",
)
INJECTED = ("ATTENDEE", "ORGANIZER")
pytestmark = pytest.mark.slow


def hostile_events() -> list[Event]:
    events = []
    start = datetime(2026, 5, 14, 18, 0, tzinfo=PARIS)
    for i, payload in enumerate(PAYLOADS):
        url = EVIL_URLS[i % len(EVIL_URLS)]
        events.append(
            Event(
                source_id="evil",
                source_uid=f"evil-{i}",
                title=f"Atelier {payload}",
                start=start + timedelta(days=i),
                end=start + timedelta(days=i, hours=2),
                location=Location(payload, payload, "29200", f"Brest {payload}"),
                url=url,
                description=f"Description {payload} https://ok.example/a?b=1&c=<x> {payload}",
                categories=(payload, "../../etc/passwd"),
                uid=f"evil-{i}@agenda-numerique-bretagne",
                last_modified=NOW,
                sources=(SourceRef("evil", f"Collectif {payload}", url),),
            )
        )
    return events


EVIL_CONFIG = Config(
    agenda=Agenda(
        base_url="https://agenda.example.org/numerique",
        title="Agenda </title><script>window.__pwned='config'</script>",
    ),
    sources=(
        Source(
            id="evil",
            name="Collectif <img src=x onerror=alert(1)>",
            url="https://evil.example/agenda.ics",
            city="Brest",
        ),
    ),
)


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("xss") / "output"
    publish_all(hostile_events(), EVIL_CONFIG, out, NOW)
    return out


HOSTILE_ICS = "\r\n".join(
    [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//evil//EN",
        "BEGIN:VEVENT",
        "UID:evil-ics-1@evil.example",
        "DTSTAMP:20260501T000000Z",
        "DTSTART;TZID=Europe/Paris:20260515T180000",
        "DTEND;TZID=Europe/Paris:20260515T200000",
        "SUMMARY:Atelier </script><script>window.__pwned='ics'</script>\\nATTENDEE:mailto:e"
        "vil@example.org",
        "DESCRIPTION:<img src=x onerror=\"window.__pwned='ics-desc'\">\\r\\nORGANIZER:mailt"
        "o:evil@example.org",
        "LOCATION:</title><script>alert('place')</script>\\, 29200 Brest",
        "URL:javascript:window.__pwned='ics-url'",
        "CATEGORIES:<b onmouseover=alert(1)>tag</b>",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
).encode("utf-8")

HOSTILE_HTML = b"""<!doctype html><html lang="fr"><head><title>Evil</title>
<script type="application/ld+json">
{"@context": "https://schema.org", "@type": "Event",
 "name": "Conf\\u00e9rence <script>window.__pwned='html'<\\/script>",
 "startDate": "2026-05-16T14:00:00+02:00", "endDate": "2026-05-16T16:00:00+02:00",
 "url": "javascript:window.__pwned='html-url'",
 "description": "<a href=\\"javascript:alert(1)\\">clic</a> <iframe src=javascript:alert(2)>",
 "location": {"@type": "Place", "name": "<svg onload=alert(3)>",
   "address": {"@type": "PostalAddress", "addressLocality": "Brest <img src=x onerror=alert(4)>"}}}
</script></head><body><p>Agenda</p></body></html>"""


@pytest.fixture(scope="module")
def pipelined(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("xss-pipeline")
    with LoopbackServer() as server:
        server.add("/evil.ics", HOSTILE_ICS, content_type="text/calendar; charset=utf-8")
        server.add("/evil.html", HOSTILE_HTML, content_type="text/html; charset=utf-8")
        config = Config(
            agenda=Agenda(base_url="https://agenda.example.org/numerique"),
            sources=(
                Source(id="evil-ics", name="Evil iCal", url=server.url("/evil.ics")),
                Source(id="evil-html", name="Evil page", url=server.url("/evil.html")),
            ),
        )
        out = tmp / "output"
        settings = FetchSettings(connect_timeout=2, read_timeout=5, backoff=0.01)
        # In its own thread: the fetcher runs an asyncio loop, Playwright's sync API has one too.
        with ThreadPoolExecutor(1) as pool:
            report = pool.submit(
                run, config, tmp / "data" / "agenda.db", out, NOW, settings=settings
            ).result()
        assert [s.outcome for s in report.sources] == ["ok", "ok"], report.sources
        assert report.upcoming == 2
        yield out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def open_and_poke(browser: Browser, server: LoopbackServer, path: str) -> tuple[Page, list[str]]:
    """Load a page, interact with the filters and hover everything; return the dialogs seen."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(server.url(path))
    page.wait_for_load_state("load")
    if page.locator("#filtres").count():
        page.fill("#f-q", "<script>")
        for select in page.locator("#filtres select").all():
            for value in select.locator("option").evaluate_all("os => os.map(o => o.value)"):
                select.select_option(value)
    for element in page.locator("main *:visible").all()[:200]:
        element.hover(timeout=2000, force=True)
    return page, dialogs


def assert_no_script_ran(browser: Browser, out: Path) -> None:
    nested = [
        p.relative_to(out).as_posix()
        for folder in ("mois", "quand", "evenements")
        for p in sorted(out.glob(f"{folder}/*.html"))
    ]
    assert any(p.startswith("evenements/") for p in nested)
    pages = ["index.html", "sources.html", *nested]
    with LoopbackServer(root=out) as server:
        for path in pages:
            page, dialogs = open_and_poke(browser, server, "/" + path)
            assert dialogs == [], (path, dialogs)
            assert page.evaluate("typeof window.__pwned") == "undefined", path
            # Only our own two scripts; no element a payload could have smuggled in.
            scripts = page.locator("script").evaluate_all("ss => ss.map(s => s.type || 'js')")
            assert scripts in (["js", "application/ld+json"], ["application/ld+json"], []), path
            # ...and ours is a file of our own site, never inline.
            for src in page.locator("script:not([type])").evaluate_all("ss => ss.map(s => s.src)"):
                assert src == server.url("/agenda.js"), (path, src)
            for selector in ("img", "svg", "iframe", "[onerror]", "[onload]", "[onmouseover]"):
                assert page.locator(selector).count() == 0, (path, selector)
            hrefs = page.locator("[href]").evaluate_all("es => es.map(e => e.href)")
            for href in hrefs:
                assert re.match(r"^(https?|webcal)://", href), (path, href)
            # The JSON-LD block still parses and still says what the source said.
            if "application/ld+json" in scripts:
                data = json.loads(page.locator("script[type='application/ld+json']").inner_text())
                # A list on the list pages, one Event on an event's page.
                assert isinstance(data, list) or data["@type"] == "Event"
            page.context.close()


def assert_no_property_injected(out: Path) -> None:
    files = sorted(out.rglob("*.ics"))
    assert files
    node = shutil.which("node")
    assert node
    done = subprocess.run(
        [node, str(ROOT / "tests" / "js" / "read_ics_count.mjs"), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    by_icaljs = json.loads(done.stdout)
    for path in files:
        data = path.read_bytes()
        unfolded = data.replace(b"\r\n ", b"").replace(b"\r\n\t", b"")
        for line in unfolded.split(b"\r\n"):
            assert not line.startswith(tuple(p.encode() for p in INJECTED)), (path.name, line)
        for vevent in Calendar.from_ical(data).walk("VEVENT"):
            assert not any(name in vevent for name in INJECTED), path.name
        parsed = vobject.readOne(data.decode("utf-8"))
        for vevent in getattr(parsed, "vevent_list", []):
            assert not any(name.lower() in vevent.contents for name in INJECTED), path.name
        props = {p.upper() for p in by_icaljs[str(path)]["props"]}
        assert not props & set(INJECTED), path.name


def assert_feeds_well_formed(out: Path) -> None:
    for path in sorted(out.rglob("*.xml")):
        feed = feedparser.parse(path.read_bytes())
        assert feed.bozo == 0, (path.name, feed.get("bozo_exception"))
        raw = path.read_bytes()
        assert b"<script" not in raw and b"javascript:" not in raw.lower(), path.name
    for path in out.rglob("*"):
        if path.is_file() and path.parent.name in ("villes", "themes", "collectifs"):
            assert re.fullmatch(r"[a-z0-9-]+\.(ics|xml)", path.name), path.name


def test_direct_payloads_run_nothing_in_chromium(browser: Browser, direct: Path) -> None:
    # Sanity: the payloads did reach the page, as text.
    html = (direct / "index.html").read_text(encoding="utf-8")
    assert "window.__pwned=&#39;script&#39;" in html or "window.__pwned='script'" in html
    assert_no_script_ran(browser, direct)


def test_direct_payloads_inject_no_calendar_property(direct: Path) -> None:
    assert_no_property_injected(direct)
    calendar = Calendar.from_ical((direct / "calendar.ics").read_bytes())
    titles = [str(e["SUMMARY"]) for e in calendar.walk("VEVENT")]
    assert any("ATTENDEE:mailto:evil@example.org" in t for t in titles)  # kept as text
    assert not any("URL" in e for e in calendar.walk("VEVENT"))


def test_direct_payloads_keep_feeds_well_formed(direct: Path) -> None:
    assert_feeds_well_formed(direct)


def test_hostile_sources_through_the_pipeline(browser: Browser, pipelined: Path) -> None:
    assert_no_script_ran(browser, pipelined)
    assert_no_property_injected(pipelined)
    assert_feeds_well_formed(pipelined)
