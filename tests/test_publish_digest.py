"""Incremental publishing: a publication whose inputs did not change renders and writes nothing,
and whatever it skips is byte for byte what a full publication writes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from aggregator import pipeline
from aggregator.config import parse_config
from aggregator.models import (
    FETCH_NOT_MODIFIED,
    FETCH_OK,
    Event,
    FetchResult,
    Location,
    ParseResult,
)
from aggregator.publish.digest import DIGEST_FILE, stable_until, unchanged_publication
from aggregator.store import Store

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=PARIS)
CONFIG = parse_config(
    """\
sources:
  - id: bidouille
    name: La Vilaine Bidouille
    url: https://bidouille.example.org/agenda.ics
    city: Redon
"""
)
(SOURCE,) = CONFIG.sources


def events(title: str = "Atelier réparation") -> list[Event]:
    start = (NOW + timedelta(days=3)).replace(hour=18, minute=30)
    return [
        Event(
            source_id=SOURCE.id,
            source_uid=f"ev-{i}",
            title=f"{title} n°{i} à Plouzané",
            start=start + timedelta(days=i),
            end=start + timedelta(days=i, hours=2),
            location=Location("Maison des associations", "2 rue de la Gare", "35600", "Redon"),
        )
        for i in range(3)
    ]


def fill(db: Path, items: list[Event], now: datetime = NOW) -> None:
    result = FetchResult(SOURCE.id, SOURCE.url, FETCH_OK, http_status=200)
    with Store(db) as store:
        store.sync_sources(CONFIG.sources)
        pipeline.store_source(store, SOURCE, result, ParseResult(events=items), now)
        pipeline.match_changes(CONFIG, store, [], now)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the full publications (`publish_all` calls) the pipeline makes."""
    seen: list[int] = []
    real = pipeline.publish_all

    def counted(*args: Any, **kwargs: Any) -> list[Path]:
        seen.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "publish_all", counted)
    return seen


def publish(db: Path, out: Path, now: datetime = NOW) -> list[Path]:
    with Store(db) as store:
        paths, _ = pipeline.publish(CONFIG, store, out, now)
    return paths


def test_unchanged_inputs_render_and_write_nothing(tmp_path: Path, calls: list[int]) -> None:
    db, out = tmp_path / "state" / "agenda.db", tmp_path / "output"
    fill(db, events())
    first = publish(db, out)
    before = snapshot(out)
    assert (db.parent / DIGEST_FILE).exists()

    again = publish(db, out)

    assert calls == [1]  # the second publication was skipped
    assert again == first
    assert snapshot(out) == before  # same bytes, not even rewritten


def test_skipped_outputs_are_those_a_full_publication_writes(
    tmp_path: Path, calls: list[int]
) -> None:
    db, out = tmp_path / "state" / "agenda.db", tmp_path / "output"
    fill(db, events())
    publish(db, out)
    publish(db, out)  # skipped
    (db.parent / DIGEST_FILE).unlink()
    fresh = {k: v[0] for k, v in snapshot(out).items()}
    publish(db, out)  # full, from the same inputs

    assert calls == [1, 1]
    assert {k: v[0] for k, v in snapshot(out).items()} == fresh


@pytest.mark.parametrize("change", ["event", "next day", "deleted file", "edited file"])
def test_any_change_publishes_again(tmp_path: Path, calls: list[int], change: str) -> None:
    db, out = tmp_path / "state" / "agenda.db", tmp_path / "output"
    fill(db, events())
    publish(db, out)
    now = NOW
    if change == "event":
        fill(db, events("Café vie privée"), NOW + timedelta(minutes=5))
    elif change == "next day":
        now = NOW + timedelta(days=1)
    elif change == "deleted file":
        (out / "calendar.ics").unlink()
    else:
        (out / "events.json").write_text("[]", encoding="utf-8")

    publish(db, out, now)

    assert calls == [1, 1]
    assert (out / "calendar.ics").exists()
    assert (out / "events.json").read_text(encoding="utf-8") != "[]"
    if change == "event":
        assert "Café vie privée" in (out / "calendar.ics").read_text(encoding="utf-8")


def test_stored_events_digest_follows_what_upcoming_reads(tmp_path: Path) -> None:
    db = tmp_path / "agenda.db"
    fill(db, events())
    with Store(db) as store:
        first, count = store.upcoming_digest(CONFIG, NOW)
        assert count == len(store.upcoming(CONFIG, NOW)) == 3
        assert store.upcoming_digest(CONFIG, NOW) == (first, count)
        # The window moves past the first event: one event fewer.
        later = NOW + timedelta(days=4)
        assert store.upcoming_digest(CONFIG, later)[1] == len(store.upcoming(CONFIG, later)) == 2
    moved = events()
    moved[1] = moved[1].with_changes(url="https://bidouille.example.org/atelier-2")
    fill(db, moved, NOW + timedelta(minutes=5))
    with Store(db) as store:
        assert store.upcoming_digest(CONFIG, NOW)[0] != first


def test_later_the_same_day_is_skipped(tmp_path: Path, calls: list[int]) -> None:
    db, out = tmp_path / "state" / "agenda.db", tmp_path / "output"
    fill(db, events())
    publish(db, out)
    before = snapshot(out)

    publish(db, out, NOW + timedelta(hours=6))  # no page says when it was generated

    assert calls == [1]
    assert snapshot(out) == before


def test_the_time_an_output_changes_ends_the_record(tmp_path: Path, calls: list[int]) -> None:
    db, out = tmp_path / "state" / "agenda.db", tmp_path / "output"
    items = events()
    fill(db, items)
    publish(db, out)
    first_end = min(e.effective_end for e in items)
    assert stable_until(items, CONFIG, NOW, db.parent / "none.json") == first_end
    record = db.parent / DIGEST_FILE
    digest = json.loads(record.read_text(encoding="utf-8"))["digest"]
    assert unchanged_publication(record, digest, first_end - timedelta(seconds=1)) is not None
    assert unchanged_publication(record, digest, first_end) is None
    assert unchanged_publication(record, digest, NOW - timedelta(seconds=1)) is None


def test_health_the_sources_page_does_not_show_changes_nothing(
    tmp_path: Path, calls: list[int]
) -> None:
    db, out = tmp_path / "state" / "agenda.db", tmp_path / "output"
    fill(db, events())
    publish(db, out)
    with Store(db) as store:  # the same fetch answered 304: only the HTTP status differs
        store.record_fetch(
            SOURCE,
            FetchResult(SOURCE.id, SOURCE.url, FETCH_NOT_MODIFIED, http_status=304),
            None,
            NOW,
        )
    publish(db, out)
    assert calls == [1]
    with Store(db) as store:  # read again later: sources.html says when
        later = NOW + timedelta(minutes=30)
        store.record_fetch(
            SOURCE,
            FetchResult(SOURCE.id, SOURCE.url, FETCH_NOT_MODIFIED, http_status=304),
            None,
            later,
        )
    publish(db, out, later)
    assert calls == [1, 1]
    assert "à 12 h 30" in (out / "sources.html").read_text(encoding="utf-8")
