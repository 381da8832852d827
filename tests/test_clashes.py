"""Clash warnings: same town, overlapping times, a shared tag, different collectives."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from aggregator.clashes import find_clashes
from aggregator.cli import app
from aggregator.config import Config, Source
from aggregator.demo.server import LoopbackServer
from aggregator.models import CANCELLED, Event, Location, SourceRef
from aggregator.publish.sources_page import render_sources_page

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=PARIS)
CONFIG = Config(
    sources=(
        Source(
            id="fablab", name="Fablab", url="https://a.example/", city="Brest", tags=("fablab",)
        ),
        Source(id="mdl", name="Maison du Libre", url="https://b.example/", city="Brest"),
        Source(id="repair", name="Repair Café", url="https://c.example/", tags=("réemploi",)),
    )
)


def _event(
    source: str,
    title: str,
    hour: int,
    *,
    hours: int = 2,
    city: str | None = "Brest",
    postcode: str | None = None,
    tags: tuple[str, ...] = ("Numérique",),
    day: int = 10,
    status: str = "confirmed",
) -> Event:
    start = datetime(2026, 6, day, hour, 0, tzinfo=PARIS)
    return Event(
        source_id=source,
        source_uid=f"{source}-{title}",
        title=title,
        start=start,
        end=start + timedelta(hours=hours),
        location=Location(city=city, postcode=postcode),
        categories=tags,
        status=status,
        uid=f"{source}-{title}",
        sources=(SourceRef(source, source),),
    )


def test_overlapping_events_of_two_collectives_in_one_town() -> None:
    a = _event("fablab", "Atelier Arduino", 18)
    b = _event("mdl", "Install party", 19, city="brest", tags=("numérique", "libre"))
    (clash,) = find_clashes([b, a], CONFIG, NOW)
    assert (clash.first.title, clash.second.title) == ("Atelier Arduino", "Install party")
    assert clash.area == "Brest" and clash.tags == ("Numérique",)


def test_no_clash_without_overlap_shared_tag_town_or_with_one_collective() -> None:
    base = _event("fablab", "Atelier", 18)
    later = _event("mdl", "Après", 20)  # starts when the first ends
    other_tag = _event("mdl", "Autre thème", 18, tags=("cuisine",))
    other_town = _event("mdl", "Ailleurs", 18, city="Quimper")
    same_collective = _event("fablab", "Deuxième atelier", 18)
    cancelled = _event("mdl", "Annulé", 18, status=CANCELLED)
    past = _event("mdl", "Passé", 18, day=1, hours=1)
    found = find_clashes(
        [base, later, other_tag, other_town, same_collective, cancelled, past], CONFIG, NOW
    )
    assert found == []


def test_collective_tags_and_town_count() -> None:
    # No city on the events: the collectives' town; no shared category: the collectives' tag.
    a = _event("fablab", "Open lab", 18, city=None, tags=())
    b = _event("mdl", "Bidouille", 18, city=None, tags=("fablab",))
    (clash,) = find_clashes([a, b], CONFIG, NOW)
    assert clash.area == "Brest" and clash.tags == ("fablab",)


def test_postcode_areas_and_the_horizon() -> None:
    a = _event("fablab", "Atelier", 18, city="Brest", postcode="29200")
    b = _event("repair", "Repair", 18, city="Plouzané", postcode="29280")
    assert find_clashes([a, b], CONFIG, NOW) == []  # two towns
    (clash,) = find_clashes([a, b], CONFIG, NOW, postcode_digits=2)
    assert clash.area == "29…"
    assert len(find_clashes([a, b], CONFIG, NOW, postcode_digits=3)) == 1  # 292… both
    assert find_clashes([a, b], CONFIG, NOW, postcode_digits=4) == []  # 2920 / 2928
    assert find_clashes([a, b], CONFIG, NOW, postcode_digits=2, days=5) == []


def test_the_sources_page_lists_clashes() -> None:
    a = _event("fablab", "Atelier Arduino", 18)
    b = _event("mdl", "Install party", 19)
    page = render_sources_page(CONFIG, [a, b], None, NOW).decode()
    section = page.split('id="chevauchements"', 1)[1]
    assert "Atelier Arduino" in section and "Install party" in section
    assert "mercredi 10 juin 2026" in section and "Numérique" in section
    empty = render_sources_page(CONFIG, [a], None, NOW).decode()
    assert "Aucun chevauchement" in empty


def _calendar(uid: str, title: str, start: str) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//FR\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nSUMMARY:{title}\r\nDTSTART;TZID=Europe/Paris:{start}\r\n"
        "DURATION:PT2H\r\nLOCATION:29200 Brest\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def test_the_command_over_a_real_run(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    db = tmp_path / "agenda.db"
    runner = CliRunner()
    with LoopbackServer() as server:
        server.add(
            "/a.ics",
            _calendar("a@x", "Atelier Arduino", "20260610T180000"),
            content_type="text/calendar",
        )
        server.add(
            "/b.ics",
            _calendar("b@x", "Café bidouille", "20260610T190000"),
            content_type="text/calendar",
        )
        config.write_text(
            "sources:\n"
            f"  - {{id: fablab, name: Fablab, url: '{server.url('/a.ics')}', tags: [bidouille]}}\n"
            f"  - {{id: mdl, name: MDL, url: '{server.url('/b.ics')}', tags: [bidouille]}}\n",
            encoding="utf-8",
        )
        moment = ["--now", NOW.isoformat()]
        fetched = runner.invoke(app, ["fetch", "-c", str(config), "--db", str(db), *moment])
    assert fetched.exit_code == 0, fetched.output
    listed = runner.invoke(app, ["clashes", "-c", str(config), "--db", str(db), *moment, "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert row["area"] == "Brest" and row["tags"] == ["bidouille"]
    assert [e["title"] for e in row["events"]] == ["Atelier Arduino", "Café bidouille"]
    table = runner.invoke(app, ["clashes", "-c", str(config), "--db", str(db), *moment])
    assert "1 clash(es)" in table.output and "Atelier Arduino" in table.output
