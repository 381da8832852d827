"""The agenda in a real browser: Debian's Chromium driven by Playwright, axe-core for
accessibility. The output folder is served over loopback HTTP, as a web server would serve it,
and the page's clock is fixed at the publication's `now`, so "today" is the same for both.

Screenshots at phone (390 px) and desktop (1280 px) widths, light and dark, go to
test-artifacts/ (gitignored) so a person can look at them after CI.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from icalendar import Calendar
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from publish_helpers import NOW, PARIS, lively_events, publish_agenda

from aggregator.demo.server import LoopbackServer
from aggregator.models import CANCELLED
from aggregator.publish.views import QUICK_SPANS, in_span, span_days

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
CALENDAR_URL = "https://agenda.example.org/numerique/calendar.ics"
WEBCAL_URL = "webcal://agenda.example.org/numerique/calendar.ics"
SERIES_TITLE = "Atelier code pour ados"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    out = publish_agenda(tmp_path_factory.mktemp("browser") / "output", lively_events())
    with LoopbackServer(root=out) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_context(browser: Browser, width: int = 390, **options: Any) -> BrowserContext:
    context = browser.new_context(viewport={"width": width, "height": 844}, **options)
    return context


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = open_context(browser, accept_downloads=True)
    page = context.new_page()
    # The reader's clock is the publication's: today is Tuesday 12 May 2026, 10:00 in Paris.
    page.clock.set_fixed_time(NOW)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A blocked resource or script (CSP) is reported as a console error.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    assert errors == [], errors


def visible_titles(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("article.event:visible h3").all_inner_texts()]


def expected_titles(key: str) -> set[str]:
    first, last = span_days(key, NOW.astimezone(PARIS).date())
    return {e.title for e in lively_events() if in_span(e, PARIS, first, last)}


def clean(titles: list[str]) -> set[str]:
    # The cancelled mark is shown in capitals by the stylesheet.
    return {re.sub(r"\s*annulé$", "", t, flags=re.IGNORECASE) for t in titles}


@pytest.mark.parametrize("key", [key for key, _ in QUICK_SPANS])
def test_quick_filter_shows_its_span_instantly(site: LoopbackServer, page: Page, key: str) -> None:
    page.goto(site.url("/index.html"))
    everything = clean(visible_titles(page))
    link = page.locator(f"nav.when a[data-span='{key}']")
    link.click()
    # Filtered in place: same page, the span in the address, the link marked current.
    assert urlsplit(page.url).path == "/index.html" and page.url.endswith("#" + key)
    assert link.get_attribute("aria-current") == "page"
    shown = clean(visible_titles(page))
    assert shown == expected_titles(key)
    assert shown < everything
    assert "correspond" in page.locator("#filtres-resultat").inner_text()
    page.locator("nav.when a[data-span='tout']").click()
    assert clean(visible_titles(page)) == everything
    # The address with the span opens the page already filtered.
    page.goto(site.url(f"/index.html#{key}"))
    page.reload()
    assert clean(visible_titles(page)) == expected_titles(key)


@pytest.mark.parametrize("key", [key for key, _ in QUICK_SPANS])
def test_quick_filter_without_javascript_opens_its_page(
    site: LoopbackServer, browser: Browser, key: str
) -> None:
    context = open_context(browser, java_script_enabled=False)
    page = context.new_page()
    page.goto(site.url("/index.html"))
    page.locator(f"nav.when a[data-span='{key}']").click()
    page.wait_for_url(f"**/quand/{key}.html")
    assert clean(visible_titles(page)) == expected_titles(key)
    assert page.locator(f"nav.when a[data-span='{key}']").get_attribute("aria-current") == "page"
    # Links from the pre-rendered page work from its folder.
    page.locator("nav.when a[data-span='tout']").click()
    page.wait_for_url("**/index.html")
    context.close()


def test_today_is_marked_and_what_is_over_is_greyed(site: LoopbackServer, page: Page) -> None:
    page.goto(site.url("/index.html"))
    today = page.locator("section.day.today")
    assert today.count() == 1
    assert today.get_attribute("data-day") == "2026-05-12"
    assert "aujourd’hui" in today.locator("h2").inner_text()
    over = page.locator("article.event", has_text="Café des bénévoles")
    assert "past" in (over.get_attribute("class") or "")
    assert "terminé" in over.inner_text()
    tonight = page.locator("article.event", has_text="Permanence numérique")
    assert "past" not in (tonight.get_attribute("class") or "")
    # At 20:30 the 18:00–20:00 event is over too, without reloading.
    page.clock.set_fixed_time(NOW.replace(hour=18, minute=30))
    page.evaluate("() => document.querySelector('nav.when a[data-span=tout]').click()")
    assert "past" in (tonight.get_attribute("class") or "")


def test_a_weekly_series_is_one_card_with_its_next_dates(site: LoopbackServer, page: Page) -> None:
    page.goto(site.url("/index.html"))
    cards = page.locator("article.event", has_text=SERIES_TITLE)
    assert cards.count() == 1
    card = cards.first
    assert "chaque mercredi" in card.locator("p.when").inner_text()
    dates = card.locator("p.next-dates a")
    assert dates.all_inner_texts() == [
        "mercredi 20 mai",
        "mercredi 27 mai",
        "mercredi 3 juin",
        "mercredi 10 juin",
        "mercredi 17 juin",
    ]
    # Each date has its own page, and its own entry in the calendar.
    for href in dates.evaluate_all("els => els.map(e => e.href)"):
        response = page.request.get(href)
        assert response.status == 200 and SERIES_TITLE in response.text()
    calendar = Calendar.from_ical(page.request.get(site.url("/calendar.ics")).body())
    summaries = [str(v["SUMMARY"]) for v in calendar.walk("VEVENT")]
    assert summaries.count(SERIES_TITLE) == 6


def test_every_card_leads_to_its_event_page(site: LoopbackServer, page: Page) -> None:
    page.goto(site.url("/index.html"))
    hrefs = page.locator("article.event h3 a").evaluate_all("els => els.map(e => e.href)")
    assert len(hrefs) == len(lively_events()) - 5  # the series' five later dates are folded
    for href in hrefs:
        assert page.request.get(href).status == 200, href
    page.locator("article.event h3 a", has_text="Apéro numérique").click()
    page.wait_for_url("**/evenements/apero-numerique-*.html")
    assert page.locator("h1").inner_text() == "Apéro numérique"
    osm = page.get_by_role("link", name="Voir sur OpenStreetMap").get_attribute("href") or ""
    assert osm.startswith("https://www.openstreetmap.org/search?query=La+Cantine")
    with page.expect_download() as info:
        page.get_by_role("link", name="Ajouter à mon agenda").click()
    [vevent] = Calendar.from_ical(Path(info.value.path()).read_bytes()).walk("VEVENT")
    assert str(vevent["UID"]) == "apero@agenda-numerique-bretagne"
    page.get_by_role("link", name="← Tout l’agenda").click()
    page.wait_for_url("**/index.html")


def test_cancelled_event_offers_no_add_to_calendar(site: LoopbackServer, page: Page) -> None:
    [cancelled] = [e for e in lively_events() if e.status == CANCELLED]
    page.goto(site.url("/index.html"))
    card = page.locator("article.event.cancelled")
    assert card.count() == 1 and cancelled.title in card.inner_text()
    assert card.get_by_role("link", name="Ajouter à mon agenda").count() == 0
    card.locator("h3 a").click()
    assert "annulé" in page.locator("h1").inner_text().lower()
    assert page.get_by_role("link", name="Ajouter à mon agenda").count() == 0


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


def test_subscribe_panel_links_are_well_formed(site: LoopbackServer, browser: Browser) -> None:
    context = open_context(browser, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(site.url("/index.html"))
    page.get_by_role("link", name="S’abonner").first.click()
    panel = page.locator("#abonner")
    assert panel.is_visible()
    assert page.locator("#adresse-agenda").input_value() == CALENDAR_URL
    apple = panel.get_by_role("link", name="Ouvrir dans Calendrier").get_attribute("href")
    assert apple == WEBCAL_URL
    google = panel.get_by_role("link", name="Ajouter à Google Agenda").get_attribute("href") or ""
    parts = urlsplit(google)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "calendar.google.com",
        "/calendar/r",
    )
    assert parse_qs(parts.query) == {"cid": [WEBCAL_URL]}
    assert "%3A%2F%2F" in parts.query  # the calendar address is encoded, not pasted raw
    outlook = panel.get_by_role("link", name="Ajouter à Outlook.com").get_attribute("href") or ""
    assert parse_qs(urlsplit(outlook).query)["url"] == [CALENDAR_URL]
    rss = panel.get_by_role("link", name="Flux RSS de l’agenda").get_attribute("href") or ""
    assert b"<rss" in page.request.get(site.url("/" + rss)).body()
    # Subscribing and downloading are two different actions.
    download = panel.get_by_role("link", name="Télécharger le fichier .ics")
    assert download.get_attribute("href") == "calendar.ics"
    assert download.get_attribute("download") is not None
    # One tap copies the address.
    panel.get_by_role("button", name="Copier").click()
    # The clipboard answers asynchronously: wait for the status line (up to 5 s).
    expect(page.locator("#copie-statut")).to_have_text("Adresse copiée.", timeout=5000)
    assert page.evaluate("navigator.clipboard.readText()") == CALENDAR_URL
    # Per city, theme and collective.
    panel.locator("details.feeds summary").click()
    brest = panel.locator("details.feeds li", has_text="Brest").first
    assert brest.get_by_role("link", name="s’abonner : Brest").get_attribute("href") == (
        "webcal://agenda.example.org/numerique/villes/brest.ics"
    )
    for href in panel.locator("details.feeds a", has_text="RSS").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    ):
        response = page.request.get(site.url("/" + href))
        assert response.status == 200 and b"<rss" in response.body(), href
    context.close()


def test_join_panel_explains_the_three_ways(site: LoopbackServer, page: Page) -> None:
    page.goto(site.url("/index.html"))
    page.get_by_role("link", name="Ajoutez votre collectif").click()
    panel = page.locator("#collectif")
    text = panel.inner_text()
    assert "sources.yaml" in text and "aggregator doctor" in text and "issue" in text
    panel.get_by_role("link", name="Les collectifs déjà présents").click()
    page.wait_for_url("**/sources.html")


def test_filter_by_city_and_search(site: LoopbackServer, page: Page) -> None:
    page.goto(site.url("/index.html"))
    assert page.locator("html").get_attribute("lang") == "fr"
    everything = visible_titles(page)
    # On a phone the filters open from their chip, so the first events stay in view.
    assert not page.locator("#filtres").is_visible()
    toggle = page.get_by_role("button", name="Rechercher, filtrer")
    toggle.click()
    assert page.locator("#filtres").is_visible()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert page.evaluate("document.activeElement.id") == "f-q"
    page.select_option("#f-ville", label="Landerneau")
    landerneau = {e.title for e in lively_events() if e.location.city == "Landerneau"}
    assert set(visible_titles(page)) == landerneau
    assert page.locator("section.day:visible").count() < page.locator("section.day").count()
    page.click("button[type=reset]")
    # The form's reset applies the filters on the next tick (the fields are reset after the
    # event): wait for the list to come back before reading it.
    expect(page.locator("article.event:visible")).to_have_count(len(everything), timeout=5000)
    assert visible_titles(page) == everything
    page.fill("#f-q", "SOUDURE")  # case and accents do not matter
    assert visible_titles(page) == ["Atelier soudure"]
    page.fill("#f-q", "fete libre")
    assert visible_titles(page) == ["Fête du logiciel libre"]
    page.fill("#f-q", "introuvable")
    assert visible_titles(page) == []
    assert "Aucun événement" in page.locator("#filtres-resultat").inner_text()


def test_readable_without_javascript(site: LoopbackServer, browser: Browser) -> None:
    context = open_context(browser, java_script_enabled=False)
    page = context.new_page()
    page.goto(site.url("/index.html"))
    assert len(visible_titles(page)) == len(lively_events()) - 5
    assert not page.locator("#filtres").is_visible()
    assert page.locator("del", has_text="Atelier Linux").is_visible()
    # Today is marked at publication time; the subscription address is there to copy.
    assert page.locator("section.day.today .badge").is_visible()
    assert page.locator("#adresse-agenda").input_value() == CALENDAR_URL
    assert not page.get_by_role("button", name="Copier").is_visible()
    page.locator("article.event h3 a", has_text="Repair café").click()
    assert page.locator("h1").inner_text() == "Repair café"
    context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    assert result["passes"], "axe-core ran no check"
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def event_page_path() -> str:
    from aggregator.publish.html import event_page_path as path_of

    [apero] = [e for e in lively_events() if e.title == "Apéro numérique"]
    return path_of(apero)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize(
    "name", ["index.html", "sources.html", "mois/2026-06.html", "quand/ce-mois-ci.html", "event"]
)
def test_accessibility_and_screenshots(
    site: LoopbackServer, browser: Browser, width: int, name: str, scheme: str
) -> None:
    # axe-core is injected as an inline script, which the pages' CSP rightly refuses.
    context = browser.new_context(
        viewport={"width": width, "height": 900}, color_scheme=scheme, bypass_csp=True
    )
    page = context.new_page()
    page.clock.set_fixed_time(NOW)
    path = event_page_path() if name == "event" else name
    page.goto(site.url("/" + path))
    # Our stylesheet applied (the CSP lets it through): the body takes its background.
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(244, 246, 248)" if scheme == "light" else "rgb(15, 20, 24)")
    ARTIFACTS.mkdir(exist_ok=True)
    stem = name.replace("/", "-").removesuffix(".html")
    shot = ARTIFACTS / f"{stem}-{width}px{'-dark' if scheme == 'dark' else ''}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    # Phone first: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    violations = axe_violations(page)
    assert violations == [], [(v["id"], v["help"], v["nodes"][0]["html"]) for v in violations]
    context.close()


def test_desktop_puts_the_filters_beside_the_list(site: LoopbackServer, browser: Browser) -> None:
    for width, beside in ((1280, True), (390, False)):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(site.url("/index.html"))
        side = page.locator("aside.side").bounding_box()
        main = page.locator("main").bounding_box()
        assert side and main
        assert (side["x"] + side["width"] <= main["x"]) is beside, width
        context.close()


def test_print_keeps_only_the_events(site: LoopbackServer, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(site.url("/index.html"))
    page.emulate_media(media="print")
    assert not page.locator("aside.side").is_visible()
    assert not page.locator("#abonner").is_visible()
    assert page.locator("article.event").first.is_visible()
    context.close()


def test_pages_load_nothing_from_another_site(site: LoopbackServer, page: Page) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    for path in ("/index.html", "/quand/ce-week-end.html", "/" + event_page_path()):
        page.goto(site.url(path))
        page.wait_for_load_state("networkidle")
    assert requests and all(url.startswith(site.url("/")) for url in requests), requests
    # Our stylesheet, script and icon are among them: nothing is inlined.
    loaded = {urlsplit(url).path for url in requests}
    assert {"/style.css", "/agenda.js", "/favicon.svg"} <= loaded


def test_an_outdated_span_page_sends_to_the_current_span(site: LoopbackServer, page: Page) -> None:
    # The agenda was published on Tuesday; the reader opens « Aujourd'hui » on Thursday.
    thursday = NOW + timedelta(days=2)
    page.clock.set_fixed_time(thursday)
    page.goto(site.url("/quand/aujourdhui.html"))
    page.wait_for_url("**/index.html#aujourdhui")
    day = thursday.astimezone(PARIS).date()
    expected = {e.title for e in lively_events() if in_span(e, PARIS, day, day)}
    assert clean(visible_titles(page)) == expected == {"Apéro numérique"}
    # Opened on its own day, the page stays.
    page.clock.set_fixed_time(NOW)
    page.goto(site.url("/quand/aujourdhui.html"))
    assert urlsplit(page.url).path == "/quand/aujourdhui.html"
