"""The command line as a newcomer meets it: messages, filters, tables, tags, state recovery."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import icalendar
import pytest
from test_e2e import Agenda
from typer.testing import CliRunner

from aggregator.cli import app
from aggregator.demo.server import LoopbackServer

runner = CliRunner()


@pytest.fixture
def agenda(tmp_path: Path, http_server: LoopbackServer) -> Agenda:
    return Agenda(tmp_path, http_server)


def invoke(*args: str, columns: int = 80) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": str(columns)}, terminal_width=columns)
    return result.exit_code, result.output


def test_version() -> None:
    code, output = invoke("--version")
    assert code == 0
    assert re.fullmatch(r"aggregator \d+\.\d+\.\d+\S*\n", output)


@pytest.mark.parametrize("command", [["run"], ["events"], ["sources", "list"], ["state", "save"]])
def test_flags_have_no_value_placeholder_in_help(command: list[str]) -> None:
    code, output = invoke(*command, "--help", columns=120)
    assert code == 0
    assert "--help" in output
    assert "<bool>" not in output and "BOOLEAN" not in output


@pytest.mark.parametrize("command", [["events"], ["sources", "list"], ["publish"]])
def test_a_missing_database_is_an_error_naming_it(tmp_path: Path, command: list[str]) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text("sources: []\n", encoding="utf-8")
    db = tmp_path / "typo" / "agenda.db"
    code, output = invoke(*command, "--config", str(config), "--db", str(db))
    assert code == 1
    assert f"no database at {db}" in output.replace("\n", "")
    assert not db.exists() and not db.parent.exists()


def test_empty_registry_is_a_warning(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text("sources: []\n", encoding="utf-8")
    code, output = invoke("sources", "check", "--config", str(config))
    assert code == 0
    assert "warning: the registry lists no source" in output
    assert "OK — 0 sources" in output
    code, output = invoke(
        "run", "--config", str(config), "--db", str(tmp_path / "a.db"), "--out", str(tmp_path)
    )
    assert code == 0 and "warning: the registry lists no source" in output


def test_one_source_is_singular(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text(
        "sources:\n  - {id: a, name: A, url: 'https://a.example/x.ics'}\n", encoding="utf-8"
    )
    code, output = invoke("sources", "check", "--config", str(config))
    assert code == 0 and "OK — 1 source (1 enabled)" in output


def test_source_tags_reach_events_feeds_and_filters(agenda: Agenda) -> None:
    assert agenda.cli("run")[0] == 0
    # bidouille is tagged [fablab] in sources.yaml: each of its events carries the tag.
    bidouille = [e for e in agenda.json_events() if "bidouille" in [s["id"] for s in e["sources"]]]
    assert bidouille and all("fablab" in e["categories"] for e in bidouille)
    feed = icalendar.Calendar.from_ical((agenda.out / "themes" / "fablab.ics").read_bytes())
    assert {str(v["UID"]) for v in feed.walk("VEVENT")} >= {e["uid"] for e in bidouille}
    code, output = agenda.cli("events", "--tag", "FabLab", "--json")
    assert code == 0
    assert {e["title"] for e in json.loads(output)} == {e["title"] for e in bidouille}


def test_city_filter_ignores_accents_and_says_when_nothing_matches(agenda: Agenda) -> None:
    assert agenda.cli("run")[0] == 0
    in_plouzane = [e for e in agenda.json_events() if e["location"]["city"] == "Plouzané"]
    assert in_plouzane
    code, output = agenda.cli("events", "--city", "plouzane", "--json")
    assert code == 0
    assert [e["uid"] for e in json.loads(output)] == [e["uid"] for e in in_plouzane]
    code, output = agenda.cli("events", "--city", "Brest")
    assert code == 0
    assert "no upcoming event matches city 'Brest'" in output


def test_events_table_lists_whole_uids_and_ids_are_never_wrapped(agenda: Agenda) -> None:
    assert agenda.cli("run")[0] == 0
    uids = [e["uid"] for e in agenda.json_events()]
    code, output = invoke(
        "events", "--config", str(agenda.config), "--db", str(agenda.db), "--now", "2026-05-01"
    )
    assert code == 0
    lines = output.splitlines()
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert table and all(len(line) <= 80 for line in table)
    for uid in uids:
        assert any(uid in line for line in lines), uid
    code, output = agenda.cli("events", "--explain", uids[0])
    assert code == 0 and uids[0] in output
    code, output = invoke(
        "sources", "list", "--config", str(agenda.config), "--db", str(agenda.db), columns=60
    )
    assert code == 0
    for source_id in ("bidouille", "cantine", "libristes", "repaircafe"):
        assert any(re.search(rf"│ {source_id} +│", line) for line in output.splitlines())


def test_state_survives_losing_the_database(agenda: Agenda, tmp_path: Path) -> None:
    """The scheduled workflow's cache is gone: the previous site's snapshot brings it back."""
    assert agenda.cli("run")[0] == 0
    before = {e["title"]: e["uid"] for e in agenda.json_events()}
    snapshot = agenda.out / "state" / "aggregator-state.tar.gz"
    code, output = invoke("state", "save", "--db", str(agenda.db), "--to", str(snapshot))
    assert code == 0, output
    site = tmp_path / "previous-site"
    shutil.copytree(agenda.out, site)
    shutil.rmtree(agenda.db.parent)  # cache evicted: no database, no publish-state.json
    with LoopbackServer(root=site) as pages:
        url = pages.url("/state/aggregator-state.tar.gz")
        code, output = invoke("state", "restore", url, "--db", str(agenda.db))
    assert code == 0, output
    assert "restored" in output
    assert (agenda.db.parent / "publish-state.json").is_file()
    assert agenda.cli("run")[0] == 0
    assert {e["title"]: e["uid"] for e in agenda.json_events()} == before
    # A second restore would replace the live database: refused without --force.
    code, output = invoke("state", "restore", str(snapshot), "--db", str(agenda.db))
    assert code == 1 and "already exists" in output


def test_a_broken_snapshot_changes_nothing(tmp_path: Path) -> None:
    snapshot = tmp_path / "aggregator-state.tar.gz"
    snapshot.write_bytes(b"<html>404</html>")
    db = tmp_path / "data" / "agenda.db"
    code, output = invoke("state", "restore", str(snapshot), "--db", str(db))
    assert code == 1 and "not a readable snapshot" in output
    assert not db.exists()


def test_saving_a_damaged_database_keeps_the_previous_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "agenda.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    snapshot = tmp_path / "aggregator-state.tar.gz"
    snapshot.write_bytes(b"previous good snapshot")
    code, output = invoke("state", "save", "--db", str(db), "--to", str(snapshot))
    assert code == 1 and "error:" in output
    assert snapshot.read_bytes() == b"previous good snapshot"


def test_base_url_option_fills_an_unset_base_url(agenda: Agenda) -> None:
    code, output = agenda.cli("run", "--base-url", "https://collectif.github.io/agenda/")
    assert code == 0, output
    feed = (agenda.out / "feed.xml").read_text(encoding="utf-8")
    assert 'href="https://collectif.github.io/agenda/feed.xml"' in feed
    page = (agenda.out / "index.html").read_text(encoding="utf-8")
    assert "webcal://collectif.github.io/agenda/calendar.ics" in page
    code, output = agenda.cli("publish", "--base-url", "ftp://nope")
    assert code == 2 and "--base-url" in output


def test_run_summary_table_fits_80_columns_with_a_long_source_id(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    agenda = Agenda(tmp_path, http_server)
    text = agenda.config.read_text(encoding="utf-8")
    agenda.config.write_text(text.replace("id: repaircafe", "id: repair-cafe-de-landerneau"))
    code, output = invoke(
        "run",
        "--config",
        str(agenda.config),
        "--db",
        str(agenda.db),
        "--out",
        str(agenda.out),
        "--now",
        "2026-05-01T12:00:00+02:00",
    )
    assert code == 0, output
    table = [line for line in output.splitlines() if line[:1] in "┏┃┡│└"]
    assert all(len(line) <= 80 for line in table)
    header = next(line for line in table if "source" in line)
    for word in ("result", "HTTP", "events", "+new ~upd -rm", "warn"):
        assert word in header  # whole, not wrapped over two lines
    assert any(re.search(r"│ repair-cafe-de-landerneau +│ ok +│ 200 ", line) for line in table)
