"""`aggregator sources check`: the adapter detected for each source, and `--live` over loopback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from aggregator.cli import app
from aggregator.demo.server import LoopbackServer

CALENDAR = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Meetup//Meetup Calendar 1.0//EN\r\n"
    b"BEGIN:VEVENT\r\nUID:a@x\r\nSUMMARY:Meetup\r\nDTSTART:20360610T180000Z\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_check_names_the_detected_adapter(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text(
        "sources:\n"
        "  - {id: rennesjs, name: RennesJS, url: 'https://www.meetup.com/RennesJS/events/ical/',"
        " enabled: false}\n"
        "  - {id: adl, name: ADL, url: 'https://www.agendadulibre.org/events.ics?region=6',"
        " type: ical}\n"
        "  - {id: blog, name: Blog, url: 'https://blog.example/feed/'}\n"
        "  - {id: mob, name: Mob, url: 'https://mobilizon.example/@mdl/feed/atom'}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["sources", "check", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert (
        "rennesjs: Meetup (address on meetup.com), type detected from the response "
        "(disabled)" in result.output
    )
    assert "adl: Agenda du Libre (address on agendadulibre.org), ical" in result.output
    assert "blog: type detected from the response\n" in result.output
    # A platform's poorer export gets a hint; an address that is already the best does not.
    assert "hint: the platform's richest export is https://mobilizon.example/@mdl/feed/ics" in (
        result.output
    )
    assert result.output.count("hint:") == 1


def test_live_check_fetches_each_enabled_source_once(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    with LoopbackServer() as server:
        server.add("/ok.ics", CALENDAR, content_type="text/calendar")
        config.write_text(
            "sources:\n"
            f"  - {{id: good, name: Good, url: '{server.url('/ok.ics')}'}}\n"
            f"  - {{id: gone, name: Gone, url: '{server.url('/gone.ics')}'}}\n"
            f"  - {{id: paused, name: Paused, url: '{server.url('/paused.ics')}',"
            " enabled: false}\n",
            encoding="utf-8",
        )
        result = CliRunner().invoke(app, ["sources", "check", "-c", str(config), "--live"])
        hits = (server.hits("/ok.ics"), server.hits("/gone.ics"), server.hits("/paused.ics"))
    assert hits == (1, 1, 0)
    assert result.exit_code == 1
    assert "1 of 2 enabled sources answer" in result.output
    assert "✗ gone" in result.output and "404" in result.output
    assert "Meetup (PRODID" in result.output  # detected from the response


def test_live_check_passes_when_all_answer(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    with LoopbackServer() as server:
        server.add("/ok.ics", CALENDAR, content_type="text/calendar")
        config.write_text(
            f"sources:\n  - {{id: good, name: Good, url: '{server.url('/ok.ics')}'}}\n",
            encoding="utf-8",
        )
        result = CliRunner().invoke(app, ["sources", "check", "-c", str(config), "--live"])
    assert result.exit_code == 0, result.output
    assert "1 of 1 enabled sources answer" in result.output
