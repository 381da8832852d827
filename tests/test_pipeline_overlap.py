"""Fetching, parsing and storing overlap: each document is read as it arrives, the store still
takes the sources in configuration order, and a failure while storing stops the parsing."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator import pipeline
from aggregator.config import parse_config
from aggregator.demo.server import LoopbackServer
from aggregator.errors import StoreError
from aggregator.store import Store

NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def calendar(n: int) -> bytes:
    start = (NOW + timedelta(days=n + 1)).strftime("%Y%m%dT%H%M%SZ")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//FR\r\nBEGIN:VEVENT\r\n"
        f"UID:ev-{n}@test\r\nDTSTAMP:20260401T000000Z\r\nDTSTART:{start}\r\n"
        f"SUMMARY:Atelier n°{n} à Plouzané\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def config_for(server: LoopbackServer, count: int, *, slow_first: float = 0.0) -> Any:
    for n in range(count):
        server.add(
            f"/s{n}.ics",
            calendar(n),
            content_type="text/calendar; charset=utf-8",
            delay=slow_first if n == 0 else 0.0,
        )
    entries = "".join(
        f"  - id: s{n}\n    name: Collectif {n}\n    url: {server.url(f'/s{n}.ics')}\n"
        for n in range(count)
    )
    return parse_config("sources:\n" + entries)


def test_sources_are_stored_in_configuration_order_whatever_answers_first(
    tmp_path: Path, http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_for(http_server, 6, slow_first=0.5)
    parsed: list[str] = []
    stored: list[str] = []
    real_parse, real_store = pipeline.parse_fetched, pipeline.store_source

    def parse(*args: Any, **kwargs: Any) -> Any:
        parsed.append(args[1].id)
        return real_parse(*args, **kwargs)

    def store_source(store: Store, source: Any, *args: Any, **kwargs: Any) -> Any:
        stored.append(source.id)
        return real_store(store, source, *args, **kwargs)

    monkeypatch.setattr(pipeline, "parse_fetched", parse)
    monkeypatch.setattr(pipeline, "store_source", store_source)
    with Store(tmp_path / "agenda.db") as store:
        report = pipeline.fetch(config, store, NOW)
        titles = [e.title for e in store.upcoming(config, NOW)]

    order = [f"s{n}" for n in range(6)]
    assert parsed[0] != "s0"  # the slow source was read after others had arrived
    assert stored == order
    assert [s.source_id for s in report.sources] == order
    assert [s.events_found for s in report.sources] == [1] * 6
    assert titles == [f"Atelier n°{n} à Plouzané" for n in range(6)]


def test_a_store_failure_stops_the_parsing(
    tmp_path: Path, http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_for(http_server, 10)
    failed = threading.Event()
    parsed: list[str] = []
    real_parse = pipeline.parse_fetched

    def parse(*args: Any, **kwargs: Any) -> Any:
        parsed.append(args[1].id)
        if len(parsed) > 1:  # the others wait until the store has failed, then take a while
            failed.wait(10)
            time.sleep(0.2)
        return real_parse(*args, **kwargs)

    def store_source(*args: Any, **kwargs: Any) -> Any:
        # Fail once the parsing is ahead of the store (reading the second source), so the test
        # does not depend on how fast the downloads arrive.
        deadline = time.monotonic() + 10
        while len(parsed) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        failed.set()
        raise StoreError("disk full")

    monkeypatch.setattr(pipeline, "parse_fetched", parse)
    monkeypatch.setattr(pipeline, "store_source", store_source)
    with Store(tmp_path / "agenda.db") as store, pytest.raises(StoreError, match="disk full"):
        pipeline.fetch(config, store, NOW)
    for thread in threading.enumerate():
        if thread.name == "aggregator-parse":
            thread.join(10)  # let it run out: it must stop, not read every source
    assert 2 <= len(parsed) < 10


@pytest.mark.parametrize("budget", [1, 10**9])
def test_downloads_pause_while_the_bodies_waiting_to_be_read_fill_the_budget(
    tmp_path: Path,
    http_server: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
    budget: int,
) -> None:
    config = config_for(http_server, 6)
    delivered: list[str] = []
    ahead: list[int] = []  # bodies downloaded but not yet read, each time one is read
    real_parse = pipeline.parse_fetched

    def parse(*args: Any, **kwargs: Any) -> Any:
        ahead.append(len(delivered) - len(ahead))
        time.sleep(0.1)  # a slow reader: the servers answer at once
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(pipeline, "PENDING_BYTES", budget)
    monkeypatch.setattr(pipeline, "parse_fetched", parse)
    with Store(tmp_path / "agenda.db") as store:
        report = pipeline.fetch(config, store, NOW, on_result=lambda r: delivered.append(r.url))

    assert [s.events_found for s in report.sources] == [1] * 6
    if budget == 1:
        # Each body is read before the next one is let in.
        assert max(ahead) == 1
    else:
        assert max(ahead) > 1  # without a budget the downloads run ahead of the reading
