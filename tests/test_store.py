"""The store: provenance, idempotence, updates, removals and failure isolation."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.config import Config, parse_config
from aggregator.errors import StoreError
from aggregator.models import (
    CANCELLED,
    FETCH_FAILED,
    FETCH_NOT_MODIFIED,
    FETCH_OK,
    Event,
    FetchResult,
    Location,
    ParseResult,
)
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
  - id: cantine
    name: Cantine numérique de Plouzané
    url: https://cantine.example.org/feed.xml
    website: https://cantine.example.org/
"""
)
BIDOUILLE, CANTINE = CONFIG.sources


def event(source_id: str, uid: str, title: str, days: int, hour: int = 18, **kw: object) -> Event:
    start = (NOW + timedelta(days=days)).replace(hour=hour, minute=30)
    fields: dict[str, object] = {
        "end": start + timedelta(hours=2),
        "location": Location("Maison des associations", "2 rue de la Gare", "35600", "Redon"),
    }
    fields.update(kw)
    return Event(source_id=source_id, source_uid=uid, title=title, start=start, **fields)  # type: ignore[arg-type]


def ok(source_id: str) -> FetchResult:
    return FetchResult(source_id=source_id, url="https://x/", status=FETCH_OK, http_status=200)


def save(store: Store, source_id: str, events: list[Event], now: datetime = NOW):
    source = CONFIG.source(source_id)
    return store.record_fetch(source, ok(source_id), ParseResult(events=events), now)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "agenda.db") as s:
        yield s  # type: ignore[misc]


def test_new_events_are_stored_and_published(store: Store) -> None:
    changes = save(store, "bidouille", [event("bidouille", "a", "Apéro numérique", 3)])
    assert (changes.new, changes.updated, changes.removed) == (1, 0, 0)
    [upcoming] = store.upcoming(CONFIG, NOW)
    assert upcoming.title == "Apéro numérique"
    assert upcoming.start == datetime(2026, 5, 4, 18, 30, tzinfo=PARIS)
    assert upcoming.start.utcoffset() == timedelta(hours=2)
    assert upcoming.location.city == "Redon"
    assert upcoming.uid and upcoming.uid.endswith("@agenda-numerique-bretagne")
    assert [s.id for s in upcoming.sources] == ["bidouille"]


def test_rerun_on_same_input_changes_nothing(store: Store) -> None:
    events = [event("bidouille", "a", "Apéro", 3), event("bidouille", "b", "Atelier", 5)]
    save(store, "bidouille", events)
    before = store.dump_events()
    changes = save(store, "bidouille", events, NOW + timedelta(hours=6))
    assert (changes.new, changes.updated, changes.removed) == (0, 0, 0)
    assert store.dump_events() == before


def test_update_replaces_in_place_and_bumps_sequence(store: Store) -> None:
    save(store, "bidouille", [event("bidouille", "a", "Apéro", 3)])
    [first] = store.upcoming(CONFIG, NOW)
    later = NOW + timedelta(hours=1)
    changes = save(store, "bidouille", [event("bidouille", "a", "Apéro (salle 2)", 3)], later)
    assert changes.updated == 1 and changes.new == 0
    [second] = store.upcoming(CONFIG, later)
    assert second.uid == first.uid
    assert second.title == "Apéro (salle 2)"
    assert second.sequence == first.sequence + 1
    assert second.last_modified == later


def test_failed_fetch_keeps_stored_events(store: Store) -> None:
    save(store, "bidouille", [event("bidouille", "a", "Apéro", 3)])
    before = store.dump_events()
    failed = FetchResult("bidouille", "https://x/", FETCH_FAILED, http_status=500, error="HTTP 500")
    store.record_fetch(BIDOUILLE, failed, None, NOW)
    assert store.dump_events() == before
    assert len(store.upcoming(CONFIG, NOW)) == 1
    [health, _] = store.health(CONFIG.sources)
    assert health.last_outcome == FETCH_FAILED
    assert health.last_error == "HTTP 500"
    assert health.http_status == 500


def test_parse_error_is_a_failure_that_loses_nothing(store: Store) -> None:
    save(store, "bidouille", [event("bidouille", "a", "Apéro", 3)])
    store.record_fetch(
        BIDOUILLE, ok("bidouille"), ParseResult(), NOW, error="not an iCalendar file"
    )
    assert len(store.upcoming(CONFIG, NOW)) == 1
    assert store.health(CONFIG.sources)[0].last_error == "not an iCalendar file"


def test_not_modified_is_a_success(store: Store) -> None:
    save(store, "bidouille", [event("bidouille", "a", "Apéro", 3)])
    result = FetchResult("bidouille", "https://x/", FETCH_NOT_MODIFIED, http_status=304)
    store.record_fetch(BIDOUILLE, result, None, NOW + timedelta(hours=1))
    health = store.health(CONFIG.sources)[0]
    assert health.last_outcome == FETCH_NOT_MODIFIED
    assert health.last_success == NOW + timedelta(hours=1)
    assert health.events_found == 1
    assert len(store.upcoming(CONFIG, NOW)) == 1


def test_validators_are_kept_for_conditional_get(store: Store) -> None:
    result = ok("bidouille")
    result.etag, result.last_modified = '"v1"', "Fri, 01 May 2026 10:00:00 GMT"
    store.record_fetch(BIDOUILLE, result, ParseResult(), NOW)
    assert store.validators()["bidouille"] == ('"v1"', "Fri, 01 May 2026 10:00:00 GMT")


def test_disappeared_event_leaves_upcoming_but_stays_in_history(store: Store) -> None:
    save(store, "bidouille", [event("bidouille", "a", "Apéro", 3), event("bidouille", "b", "X", 4)])
    changes = save(store, "bidouille", [event("bidouille", "a", "Apéro", 3)])
    assert changes.removed == 1
    assert [e.title for e in store.upcoming(CONFIG, NOW)] == ["Apéro"]
    assert {row["title"] for row in store.dump_events()} == {"Apéro", "X"}
    # It comes back with the same identity when the source announces it again.
    uid_before = next(r["uid"] for r in store.dump_events() if r["title"] == "X")
    save(store, "bidouille", [event("bidouille", "a", "Apéro", 3), event("bidouille", "b", "X", 4)])
    [back] = [e for e in store.upcoming(CONFIG, NOW) if e.title == "X"]
    assert back.uid == uid_before


def test_past_events_missing_from_the_export_are_not_removals(store: Store) -> None:
    save(
        store, "bidouille", [event("bidouille", "old", "Passé", 1), event("bidouille", "a", "A", 9)]
    )
    later = NOW + timedelta(days=3)
    changes = save(store, "bidouille", [event("bidouille", "a", "A", 9)], later)
    assert changes.removed == 0


def test_same_title_and_start_across_sources_is_one_event(store: Store) -> None:
    save(store, "bidouille", [event("bidouille", "a", "Apéro numérique", 3)])
    save(
        store, "cantine", [event("cantine", "post-42", "APÉRO  Numérique !", 3, url="https://c/42")]
    )
    [merged] = store.upcoming(CONFIG, NOW)
    assert [s.id for s in merged.sources] == ["bidouille", "cantine"]
    assert merged.sources[1].url == "https://c/42"
    assert merged.title == "Apéro numérique"  # the first source keeps precedence
    uid = merged.uid
    # The first source leaves: identity does not change.
    save(store, "bidouille", [])
    [alone] = store.upcoming(CONFIG, NOW)
    assert alone.uid == uid
    assert [s.id for s in alone.sources] == ["cantine"]


def test_different_starts_stay_apart(store: Store) -> None:
    save(store, "bidouille", [event("bidouille", "a", "Apéro numérique", 3)])
    save(store, "cantine", [event("cantine", "b", "Apéro numérique", 10)])
    assert len(store.upcoming(CONFIG, NOW)) == 2


def test_cancellation_is_published_as_cancelled(store: Store) -> None:
    save(store, "bidouille", [event("bidouille", "a", "Apéro", 3)])
    save(store, "bidouille", [event("bidouille", "a", "Apéro", 3, status=CANCELLED)])
    [cancelled] = store.upcoming(CONFIG, NOW)
    assert cancelled.status == CANCELLED
    assert cancelled.sequence == 1


def test_events_of_removed_sources_leave_the_agenda(store: Store) -> None:
    save(store, "cantine", [event("cantine", "a", "Apéro", 3)])
    only_bidouille = Config(agenda=CONFIG.agenda, sources=(BIDOUILLE,))
    assert store.upcoming(only_bidouille, NOW) == []


def test_all_day_and_unicode_round_trip(store: Store) -> None:
    day = datetime(2026, 5, 9, tzinfo=PARIS)
    e = Event(
        source_id="bidouille",
        source_uid="fete",
        title="Fête du libre à Creac'h Gwen",
        start=day,
        end=day + timedelta(days=2),
        all_day=True,
        location=Location("Salle Ti Kêr", None, "29280", "Plouzané"),
        description="Ateliers, démonstrations — entrée libre.",
        categories=("logiciel libre", "fête"),
    )
    save(store, "bidouille", [e])
    [stored] = store.upcoming(CONFIG, NOW)
    assert stored.title == "Fête du libre à Creac'h Gwen"
    assert stored.all_day is True
    assert stored.start == day and stored.end == day + timedelta(days=2)
    assert stored.location.city == "Plouzané"
    assert stored.location.name == "Salle Ti Kêr"
    assert stored.description == "Ateliers, démonstrations — entrée libre."
    assert stored.categories == ("logiciel libre", "fête")


def test_a_failing_write_leaves_the_source_untouched(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(store, "bidouille", [event("bidouille", "a", "Apéro", 3)])
    before = store.dump_events()

    def broken(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "_refresh_event", broken)
    with pytest.raises(StoreError):
        save(store, "bidouille", [event("bidouille", "a", "Apéro modifié", 3)])
    assert store.dump_events() == before
    rows = list(store.db.query("SELECT title FROM source_events"))
    assert rows == [{"title": "Apéro"}]


def test_database_reopens_and_refuses_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with Store(path) as s:
        save(s, "bidouille", [event("bidouille", "a", "Apéro", 3)])
    with Store(path) as s:
        assert len(s.upcoming(CONFIG, NOW)) == 1
        s.db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer aggregator"):
        Store(path)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_text("this is not sqlite " * 100)
    with pytest.raises(StoreError, match="cannot open the database"):
        Store(path)
