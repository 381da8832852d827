"""Fault injection: hostile and broken sources served over loopback, read by the real CLI.

Every class of issue 10: cut-off bodies (Content-Length, feed end, gzip end), stale validators,
mostly-valid UTF-8, the run lock and concurrent migrations, SQLite errors, redirects to internal
addresses, gzip bombs, huge descriptions, deep HTML nesting and the per-source parse budget. In
each, a good source is served next to the faulty one and must be published every time.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fault_server import FaultServer, Reply, gzip_bomb
from typer.testing import CliRunner

from aggregator.cli import app
from aggregator.config import Source
from aggregator.models import Document, ParseContext, Window
from aggregator.runlock import run_lock
from aggregator.sandbox import ParseSandbox
from aggregator.store import SCHEMA_VERSION, Store

NOW = "2026-05-01T12:00:00+02:00"
ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def ics(count: int, prefix: str = "Atelier réparation", description: str = "") -> bytes:
    """A calendar of `count` events in May 2026, with accents."""
    events = "".join(
        "BEGIN:VEVENT\r\n"
        f"UID:{prefix.split()[0].lower()}-{i}@example.org\r\n"
        f"DTSTART:202605{10 + i:02d}T160000Z\r\nDTEND:202605{10 + i:02d}T180000Z\r\n"
        f"SUMMARY:{prefix} {i} à Plouzané\r\n"
        + (f"DESCRIPTION:{description}\r\n" if description else "")
        + "END:VEVENT\r\n"
        for i in range(count)
    )
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    return f"{head}{events}END:VCALENDAR\r\n".encode()


def rss(count: int, title: str = "Café numérique") -> bytes:
    """An RSS 2.0 feed whose items are events (RSS event module)."""
    items = "".join(
        f"<item><title>{title} {i}</title><link>http://example.org/{i}</link><guid>c{i}</guid>"
        f"<description>Rencontre à Creac'h Gwen</description>"
        f"<ev:startdate>2026-05-{12 + i:02d}T18:00:00+02:00</ev:startdate></item>\n"
        for i in range(count)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:ev="http://purl.org/rss/1.0/modules/event/"><channel>'
        "<title>Cantine</title><link>http://example.org/</link><description>d</description>\n"
        f"{items}</channel></rss>\n"
    ).encode()


ICS_TYPE = "text/calendar; charset=utf-8"
RSS_TYPE = "application/rss+xml"


class Agenda:
    """A workspace of one test: sources.yaml naming `sources` (id → url), a database, outputs."""

    def __init__(self, tmp_path: Path, sources: dict[str, str]) -> None:
        self.config = tmp_path / "sources.yaml"
        self.db = tmp_path / "data" / "agenda.db"
        self.out = tmp_path / "output"
        entries = "".join(
            f"  - id: {ident}\n    name: Collectif {ident}\n    url: {url}\n"
            for ident, url in sources.items()
        )
        self.config.write_text(
            'agenda: {title: "Agenda", timezone: Europe/Paris}\nsources:\n' + entries, "utf-8"
        )

    def args(self, command: str, *extra: str) -> list[str]:
        args = [command, "--config", str(self.config), "--db", str(self.db), *extra]
        if command == "run":
            args += ["--out", str(self.out), "--now", NOW, "--timeout", "2"]
        return args

    def cli(self, command: str, *extra: str) -> tuple[int, str]:
        result = runner.invoke(app, self.args(command, *extra))
        # A traceback is a crash, whatever the exit code.
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.output,
            result.exception,
        )
        assert "Traceback" not in result.output
        return result.exit_code, result.output

    def subprocess(self, command: str, *extra: str, timeout: float = 60) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "aggregator", *self.args(command, *extra)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def titles(self, source: str | None = None) -> list[str]:
        events = json.loads((self.out / "events.json").read_text("utf-8"))
        return sorted(
            e["title"]
            for e in events
            if source is None or source in [s["id"] for s in e["sources"]]
        )

    def health(self, source: str) -> dict[str, object]:
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM sources WHERE id = ?", [source]).fetchone()
        return dict(row)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as fault_server:
        yield fault_server


@pytest.fixture
def agenda(tmp_path: Path, server: FaultServer) -> Agenda:
    """Two sources: `good` (an iCal file, always healthy) and `bad` (a feed, the faulty one)."""
    server.set("/good.ics", Reply(body=ics(3), content_type=ICS_TYPE, etag='"g1"'))
    server.set("/bad.rss", Reply(body=rss(3), content_type=RSS_TYPE))
    return Agenda(tmp_path, {"good": server.url("/good.ics"), "bad": server.url("/bad.rss")})


GOOD = [f"Atelier réparation {i} à Plouzané" for i in range(3)]
BAD = [f"Café numérique {i}" for i in range(3)]


# -- 4. cut-off bodies change none of the source's stored events -----------------------------


def _cut_replies() -> dict[str, Reply]:
    full = rss(3)
    at_line = full[: full.rindex(b"<item>")]  # ends after a complete item, at a line end
    return {
        "content-length-longer-than-body": Reply(
            body=full[:-200], declared_length=len(full), content_type=RSS_TYPE
        ),
        "content-length-shorter-than-body": Reply(
            body=full, declared_length=len(at_line), content_type=RSS_TYPE
        ),
        "feed-cut-at-a-line-end": Reply(body=at_line, content_type=RSS_TYPE),
        "gzip-stream-cut": Reply(body=full, gzip=True, cut_compressed=40, content_type=RSS_TYPE),
    }


@pytest.mark.parametrize("fault", sorted(_cut_replies()))
def test_cut_off_body_keeps_the_source_events(
    agenda: Agenda, server: FaultServer, fault: str
) -> None:
    assert agenda.cli("run")[0] == 0
    assert agenda.titles("bad") == BAD

    server.set("/bad.rss", _cut_replies()[fault])
    code, output = agenda.cli("run")
    assert code == 0, output
    assert "1 failed" in output
    assert agenda.titles("bad") == BAD, "a cut-off download removed stored events"
    assert agenda.titles("good") == GOOD
    health = agenda.health("bad")
    assert health["last_outcome"] == "failed" and health["last_error"]

    server.set("/bad.rss", Reply(body=rss(3), content_type=RSS_TYPE))
    assert agenda.cli("run")[0] == 0
    assert agenda.titles("bad") == BAD


def test_cut_calendar_keeps_the_source_events(agenda: Agenda, server: FaultServer) -> None:
    assert agenda.cli("run")[0] == 0
    full = ics(3)
    server.set("/good.ics", Reply(body=full[: full.rindex(b"END:VEVENT")], content_type=ICS_TYPE))
    code, output = agenda.cli("run")
    assert code == 0, output
    assert "cut off" in output
    assert agenda.titles("good") == GOOD
    assert agenda.titles("bad") == BAD


# -- 5. a 200 replaces the validators ----------------------------------------------------------


def test_a_200_without_validators_clears_the_old_ones(agenda: Agenda, server: FaultServer) -> None:
    server.set("/bad.rss", Reply(body=rss(3), content_type=RSS_TYPE, etag='"v1"'))
    assert agenda.cli("run")[0] == 0
    assert agenda.health("bad")["etag"] == '"v1"'

    # A new version without any validator: the old ETag must not survive it.
    server.set("/bad.rss", Reply(body=rss(4), content_type=RSS_TYPE))
    assert agenda.cli("run")[0] == 0
    assert agenda.health("bad")["etag"] is None
    assert len(agenda.titles("bad")) == 4

    # The server is back at the first version with its ETag: it must be downloaded, not 304'd.
    server.set("/bad.rss", Reply(body=rss(3), content_type=RSS_TYPE, etag='"v1"'))
    assert agenda.cli("run")[0] == 0
    assert "if-none-match" not in server.headers_for("/bad.rss")[-1]
    assert agenda.titles("bad") == BAD


def test_an_unreadable_200_does_not_keep_its_validator(agenda: Agenda, server: FaultServer) -> None:
    assert agenda.cli("run")[0] == 0
    cut = rss(3)[:-150]
    server.set("/bad.rss", Reply(body=cut, content_type=RSS_TYPE, etag='"cut"'))
    assert agenda.cli("run")[0] == 0
    assert agenda.health("bad")["etag"] is None
    # Healthy again under the same ETag: a 304 would leave the source on its broken state.
    server.set("/bad.rss", Reply(body=rss(2), content_type=RSS_TYPE, etag='"cut"'))
    assert agenda.cli("run")[0] == 0
    assert "if-none-match" not in server.headers_for("/bad.rss")[-1]
    assert len(agenda.titles("bad")) == 2


# -- 6. mostly-valid UTF-8 ---------------------------------------------------------------------


def test_one_invalid_byte_does_not_turn_utf8_into_mojibake(
    agenda: Agenda, server: FaultServer
) -> None:
    body = ics(3).replace(b"Atelier r\xc3\xa9paration 1", b"Atelier r\xe9paration 1")
    server.set("/good.ics", Reply(body=body, content_type="text/calendar"))
    code, output = agenda.cli("run")
    assert code == 0, output
    titles = agenda.titles("good")
    assert "Atelier réparation 0 à Plouzané" in titles
    assert "Atelier r\ufffdparation 1 à Plouzané" in titles
    assert not any("Ã" in title for title in titles)
    warnings = json.loads(str(agenda.health("good")["warnings"]))
    assert any("not valid UTF-8" in w and "1 invalid byte sequence" in w for w in warnings)


# -- 8. one run at a time, migrations, SQLite errors -------------------------------------------


def test_second_run_names_the_running_one(agenda: Agenda) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from aggregator.runlock import run_lock\n"
            f"with run_lock({str(agenda.db)!r}):\n    print('held', flush=True); time.sleep(30)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, output = agenda.cli("run", "--lock-wait", "0.3")
        assert code == 1
        assert f"pid {holder.pid}" in output and "started 20" in output
        assert "another aggregator run" in output
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the killed holder's lock: the next run goes ahead.
    assert agenda.cli("run", "--lock-wait", "0")[0] == 0


def test_second_run_waits_for_the_first(agenda: Agenda) -> None:
    with run_lock(agenda.db):
        process = agenda.subprocess("run", "--lock-wait", "30")
        time.sleep(1.0)
        assert process.poll() is None, "the second run did not wait for the lock"
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert agenda.titles() == sorted(GOOD + BAD)


def test_two_runs_at_once_on_a_fresh_database(agenda: Agenda) -> None:
    runs = [agenda.subprocess("run", "--lock-wait", "60") for _ in range(2)]
    for process in runs:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "Traceback" not in err
    with Store(agenda.db) as store:
        version = store.db.execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION
    assert agenda.cli("run")[0] == 0


def test_concurrent_opens_of_a_fresh_database_migrate_once(tmp_path: Path) -> None:
    """Readers take no run lock: migrations themselves must be safe to race."""
    db = tmp_path / "fresh.db"
    script = textwrap.dedent(
        f"""
        from aggregator.store import Store
        with Store({str(db)!r}) as store:
            print(store.db.execute("PRAGMA user_version").fetchone()[0])
        """
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert out.strip() == str(SCHEMA_VERSION).encode()


def test_a_half_migrated_database_is_repaired(tmp_path: Path) -> None:
    """A database left with schema 2's columns but user_version 1 (by an older, racing run)."""
    db = tmp_path / "half.db"
    with Store(db):
        pass
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 1")
    with Store(db) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_file_that_is_not_a_database_is_a_message(agenda: Agenda) -> None:
    agenda.db.parent.mkdir(parents=True)
    agenda.db.write_bytes(b"this is not a database" * 100)
    for command in (["run"], ["sources", "list"]):
        result = runner.invoke(
            app, [*command, "--config", str(agenda.config), "--db", str(agenda.db)]
        )
        assert isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code == 1, result.output
        assert "error:" in result.output and "not a database" in result.output


def test_a_locked_database_is_a_message(agenda: Agenda) -> None:
    assert agenda.cli("run")[0] == 0
    blocker = sqlite3.connect(agenda.db, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        code, output = agenda.cli("run")
    finally:
        blocker.rollback()
        blocker.close()
    assert code == 1
    assert "database is locked" in output and "error:" in output


# -- 9. redirects may not lead from a public host to an internal address ----------------------

PUBLIC = "http://93.184.215.14"  # never contacted: HTTP_PROXY sends everything to loopback


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/secret.ics",
        "http://localhost:{port}/secret.ics",
        "http://169.254.169.254/secret.ics",
        "http://[::1]:{port}/secret.ics",
        "http://10.0.0.7/secret.ics",
    ],
)
def test_redirect_from_public_to_internal_is_refused(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.proxy)
    monkeypatch.setenv("NO_PROXY", "")
    server.set("/good.ics", Reply(body=ics(3), content_type=ICS_TYPE))
    server.set("/agenda.ics", Reply(status=302, location=target.format(port=server.port)))
    server.set("/secret.ics", Reply(body=ics(2, "Secret"), content_type=ICS_TYPE))
    agenda = Agenda(tmp_path, {"good": f"{PUBLIC}/good.ics", "public": f"{PUBLIC}/agenda.ics"})
    code, output = agenda.cli("run")
    assert code == 0, output
    assert server.hits("/good.ics") == 1, "the proxy did not carry the requests"
    assert server.hits("/secret.ics") == 0
    assert "refused" in output and "private or link-local" in output
    assert agenda.titles() == GOOD


def test_redirects_between_public_hosts_and_from_loopback_are_followed(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.proxy)
    monkeypatch.setenv("NO_PROXY", "")
    server.set("/moved.ics", Reply(status=301, location="http://93.184.215.15/new.ics"))
    server.set("/new.ics", Reply(body=ics(3), content_type=ICS_TYPE))
    server.set("/local.rss", Reply(status=302, location=server.url("/bad.rss")))
    server.set("/bad.rss", Reply(body=rss(3), content_type=RSS_TYPE))
    agenda = Agenda(tmp_path, {"good": f"{PUBLIC}/moved.ics", "local": server.url("/local.rss")})
    code, output = agenda.cli("run")
    assert code == 0, output
    assert agenda.titles() == sorted(GOOD + BAD)


def test_a_public_page_may_not_lead_to_an_internal_calendar(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.proxy)
    monkeypatch.setenv("NO_PROXY", "")
    page = (
        f'<html><body><a href="{server.url("/secret.ics")}">interne</a>'
        '<a href="http://93.184.215.15/public.ics">agenda</a></body></html>'
    ).encode()
    server.set("/page.html", Reply(body=page, content_type="text/html; charset=utf-8"))
    server.set("/public.ics", Reply(body=ics(3), content_type=ICS_TYPE))
    server.set("/secret.ics", Reply(body=ics(2, "Secret"), content_type=ICS_TYPE))
    agenda = Agenda(tmp_path, {"page": f"{PUBLIC}/page.html"})
    agenda.config.write_text(
        agenda.config.read_text("utf-8") + "    type: html\n    follow: [ical]\n", "utf-8"
    )
    code, output = agenda.cli("run")
    assert code == 0, output
    assert server.hits("/secret.ics") == 0
    assert agenda.titles() == GOOD
    warnings = json.loads(str(agenda.health("page")["warnings"]))
    assert any("secret.ics: refused" in w for w in warnings)


# -- 10. gzip bombs and huge descriptions ------------------------------------------------------

_PEAK_RSS = textwrap.dedent(
    """
    import resource, sys
    from aggregator.cli import app
    try:
        app(sys.argv[1:], prog_name="aggregator")
    finally:
        print("peak-rss-kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
    """
)


def test_gzip_bomb_stops_at_the_cap_without_inflating(agenda: Agenda, server: FaultServer) -> None:
    server.set("/bad.rss", Reply(raw_gzip=gzip_bomb(300 << 20), content_type=RSS_TYPE))
    process = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *agenda.args("run")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert "larger than 10 MB limit" in process.stdout
    peak_mb = int(process.stderr.split("peak-rss-kb")[1].split()[0]) / 1024
    # 300 MB inflated at once would show; the cap keeps the run near its usual size.
    assert peak_mb < 200, f"peak RSS {peak_mb:.0f} MB"
    assert agenda.titles() == GOOD


def test_huge_description_is_capped(agenda: Agenda, server: FaultServer) -> None:
    description = "Atelier de réparation de vélos et d'ordinateurs. " * 100_000  # 5 MB
    server.set("/good.ics", Reply(body=ics(2, description=description), content_type=ICS_TYPE))
    code, output = agenda.cli("run")
    assert code == 0, output
    events = json.loads((agenda.out / "events.json").read_text("utf-8"))
    descriptions = [e["description"] for e in events if e["title"].startswith("Atelier")]
    assert len(descriptions) == 2
    assert all(20_000 - 100 < len(d) <= 20_000 and d.endswith("…") for d in descriptions)
    total = sum(p.stat().st_size for p in agenda.out.rglob("*") if p.is_file())
    assert total < 5 << 20, f"outputs take {total} bytes"


# -- 2 and the parse budget: pathological documents end as that source's failure ---------------


def test_deeply_nested_page_fails_quickly_and_keeps_the_source_events(
    agenda: Agenda, server: FaultServer
) -> None:
    assert agenda.cli("run")[0] == 0
    page = b"<html><body>" + b'<b class="h-event">' * 8000 + b"fin</body></html>"
    server.set("/bad.rss", Reply(body=page, content_type="text/html; charset=utf-8"))
    code, output = agenda.cli("run", "--parse-timeout", "20")
    assert code == 0, output
    assert "nests elements more than 256 deep" in output
    assert agenda.titles("bad") == BAD
    assert agenda.titles("good") == GOOD


def test_a_parse_past_its_time_budget_fails_that_source_only(
    agenda: Agenda, server: FaultServer
) -> None:
    assert agenda.cli("run")[0] == 0
    row = b'<div class="h-event"><p class="p-name">Atelier</p> texte texte texte</div>\n'
    page = b"<html><body>" + row * 60_000 + b"</body></html>"  # 4 MB: html5lib needs seconds
    server.set("/bad.rss", Reply(body=page, content_type="text/html; charset=utf-8"))
    code, output = agenda.cli("run", "--parse-timeout", "0.5")
    assert code == 0, output
    assert "took longer than 0.5 s" in output
    assert agenda.titles("bad") == BAD
    assert agenda.titles("good") == GOOD


def test_a_parse_past_its_memory_budget_fails_that_source_only(
    agenda: Agenda, server: FaultServer
) -> None:
    assert agenda.cli("run")[0] == 0
    server.set("/bad.rss", Reply(body=ics(1)[:-15] + _many_events(40_000), content_type=ICS_TYPE))
    code, output = agenda.cli("run", "--parse-memory", "32")
    assert code == 0, output
    assert "more than 32 MB" in output or "parser process stopped" in output
    assert agenda.titles("bad") == BAD
    assert agenda.titles("good") == GOOD


def _many_events(count: int) -> bytes:
    return (
        "".join(
            f"BEGIN:VEVENT\r\nUID:m{i}\r\nDTSTART:20260520T100000Z\r\nSUMMARY:Réunion {i}\r\n"
            "END:VEVENT\r\n"
            for i in range(count)
        )
        + "END:VCALENDAR\r\n"
    ).encode()


def test_hanging_and_resetting_servers_fail_alone(agenda: Agenda, server: FaultServer) -> None:
    assert agenda.cli("run")[0] == 0
    for reply in (Reply(hang=True), Reply(reset=True)):
        server.set("/bad.rss", reply)
        code, output = agenda.cli("run")
        assert code == 0, output
        assert agenda.titles("bad") == BAD
        assert agenda.titles("good") == GOOD


def test_a_worker_that_died_while_idle_is_replaced_without_blaming_the_next_source() -> None:
    now = datetime.fromisoformat(NOW)
    context = ParseContext(
        now.tzinfo, Window(now - timedelta(days=1), now + timedelta(days=90)), now
    )
    source = Source(id="good", name="Good", url="http://127.0.0.1/good.ics")
    body = ics(3)
    document = Document(url=source.url, content=body, text=body.decode(), content_type=ICS_TYPE)
    with ParseSandbox(timeout=30) as sandbox:
        sandbox.start()
        first = sandbox.worker_pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        time.sleep(0.2)
        result = sandbox.parse(document, source, context)
        assert sorted(e.title for e in result.events) == GOOD
        assert sandbox.worker_pid != first
