"""The agenda page in a real browser: Debian's Chromium driven by Playwright, axe-core for
accessibility. The output folder is served over loopback HTTP, as a web server would serve it.

Screenshots at phone (390 px) and desktop (1280 px) widths go to test-artifacts/ (gitignored) so
a person can look at them after CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from playwright.sync_api import Browser, Page, sync_playwright
from publish_helpers import agenda_events, publish_agenda

from aggregator.demo.server import LoopbackServer

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    out = publish_agenda(tmp_path_factory.mktemp("browser") / "output")
    with LoopbackServer(root=out) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], errors


def visible_titles(page: Page) -> list[str]:
    return page.locator("article.event:visible h3").all_inner_texts()


def test_filter_by_city_and_search(site: LoopbackServer, page: Page) -> None:
    page.goto(site.url("/index.html"))
    assert page.locator("html").get_attribute("lang") == "fr"
    everything = visible_titles(page)
    assert len(everything) == len(agenda_events())
    # The form was hidden in the HTML; the script reveals it.
    assert page.locator("#filtres").is_visible()

    page.select_option("#f-ville", label="Brest")
    brest = [e.title for e in agenda_events() if e.location.city == "Brest"]
    assert sorted(t.strip() for t in visible_titles(page)) == sorted(brest)
    assert "correspond" in page.locator("#filtres-resultat").inner_text()
    # Day headings with nothing left under them disappear too.
    assert page.locator("section.day:visible").count() == len(brest)

    page.click("button[type=reset]")
    page.fill("#f-q", "SOUDURE")  # case and accents do not matter
    assert [t.strip() for t in visible_titles(page)] == ["Atelier soudure"]
    page.fill("#f-q", "fete libre")
    assert [t.strip() for t in visible_titles(page)] == ["Fête du logiciel libre"]
    page.fill("#f-q", "introuvable")
    assert visible_titles(page) == []
    assert "Aucun événement" in page.locator("#filtres-resultat").inner_text()


def test_add_to_my_calendar_downloads_a_calendar(site: LoopbackServer, page: Page) -> None:
    page.goto(site.url("/index.html"))
    article = page.locator("article.event", has_text="Atelier soudure")
    link = article.get_by_role("link", name="Ajouter à mon agenda")
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.endswith(".ics")
    calendar = Calendar.from_ical(Path(download.path()).read_bytes())
    [vevent] = calendar.walk("VEVENT")
    assert str(vevent["UID"]) == "soudure@agenda-numerique-bretagne"
    assert str(vevent["SUMMARY"]) == "Atelier soudure"


def test_subscription_links_point_to_published_feeds(site: LoopbackServer, page: Page) -> None:
    page.goto(site.url("/index.html"))
    hrefs = page.locator("nav.subscribe a").evaluate_all("els => els.map(e => e.href)")
    assert "webcal://agenda.example.org/numerique/calendar.ics" in hrefs
    page.locator("details.feeds summary").click()
    rss = page.locator("details.feeds a", has_text="RSS").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    assert "villes/brest.xml" in rss
    for href in rss:
        response = page.request.get(site.url("/" + href))
        assert response.status == 200, href
        assert b"<rss" in response.body()


def test_readable_without_javascript(site: LoopbackServer, browser: Browser) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(site.url("/index.html"))
    assert len(visible_titles(page)) == len(agenda_events())
    assert not page.locator("#filtres").is_visible()
    assert page.locator("del", has_text="Atelier Linux").is_visible()
    context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    assert result["passes"], "axe-core ran no check"
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("name", ["index.html", "sources.html", "mois/2026-06.html"])
def test_accessibility_and_screenshots(
    site: LoopbackServer, browser: Browser, width: int, name: str
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(site.url("/" + name))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"{name.replace('/', '-').removesuffix('.html')}-{width}px.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    # Phone first: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    violations = axe_violations(page)
    assert violations == [], [(v["id"], v["help"], v["nodes"][0]["html"]) for v in violations]
    context.close()
