"""The store: provenance, idempotence, updates, removals and failure isolation."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from aggregator import pipeline
from aggregator import store as store_module
from aggregator.config import Config, parse_config
from aggregator.dedupe import engine
from aggregator.dedupe.model import PRIOR, MatchSettings, TermFrequencies, stored_frequencies
from aggregator.dedupe.text import normalize_title, normalize_url, title_tokens
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
from aggregator.store import _MIGRATIONS, SCHEMA_VERSION, SourceChanges, Store

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


def run_source(
    config: Config, store: Store, source_id: str, events: list[Event], now: datetime, **kw: Any
) -> tuple[SourceChanges, engine.RematchReport]:
    """What a run does with one source: store its records, then the run's matching pass."""
    source = config.source(source_id)
    changes = pipeline.store_source(
        store, source, ok(source_id), ParseResult(events=events), now, **kw
    )
    return changes, pipeline.match_changes(config, store, [changes], now)


def save(store: Store, source_id: str, events: list[Event], now: datetime = NOW) -> SourceChanges:
    return run_source(CONFIG, store, source_id, events, now)[0]


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


def test_many_not_modified_are_written_at_once_as_one_by_one(tmp_path: Path) -> None:
    """`record_not_modified` writes what `record_fetch` writes for each 304, in order."""
    later = NOW + timedelta(hours=1)
    tables: list[tuple[list[Any], list[Any]]] = []
    for name, batch in (("one", False), ("all", True)):
        with Store(tmp_path / f"{name}.db") as s:
            s.sync_sources(CONFIG.sources)
            for source in CONFIG.sources:
                first = ok(source.id)
                first.etag = f'"{source.id}-v1"'
                s.record_fetch(source, first, ParseResult(), NOW)
            version = s.events_version()
            results = [
                (
                    source,
                    # As fetch_sources returns a 304: with the validators that were sent.
                    FetchResult(
                        source.id,
                        source.url,
                        FETCH_NOT_MODIFIED,
                        http_status=304,
                        etag=f'"{source.id}-v1"',
                    ),
                )
                for source in CONFIG.sources
            ]
            if batch:
                s.record_not_modified(results, later)
            else:
                for source, result in results:
                    s.record_fetch(source, result, None, later)
            assert s.events_version() == version
            assert s.validators()["bidouille"] == ('"bidouille-v1"', None)
            sources = [tuple(r) for r in s.db.execute("SELECT * FROM sources ORDER BY id")]
            attempts = [
                tuple(r)
                for r in s.db.execute(
                    "SELECT source_id, at, outcome, http_status FROM fetch_attempts"
                )
            ]
            tables.append((sources, attempts))
    assert tables[0] == tables[1]
    assert [a[0] for a in tables[1][1][-len(CONFIG.sources) :]] == [s.id for s in CONFIG.sources]
    assert {a[2] for a in tables[1][1][-len(CONFIG.sources) :]} == {FETCH_NOT_MODIFIED}


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

    monkeypatch.setattr(store, "update_events", broken)
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


# -- deduplication across sources (issue 5) --------------------------------------------------------

MANY = parse_config(
    "sources:\n"
    + "".join(
        f"  - id: s{i}\n    name: Source {i}\n    url: https://s{i}.example.org/a.ics\n"
        for i in range(8)
    )
)


def save_many(
    store: Store, source_id: str, events: list[Event], now: datetime = NOW, **kw: Any
) -> SourceChanges:
    return run_source(MANY, store, source_id, events, now, **kw)[0]


def test_variant_titles_from_two_sources_are_one_event_with_stable_uid(store: Store) -> None:
    save(
        store,
        "bidouille",
        [event("bidouille", "a", "[Agenda] Apéro numérique – La Vilaine Bidouille", 3)],
    )
    [alone] = store.upcoming(CONFIG, NOW)
    later = NOW + timedelta(hours=1)
    save(store, "cantine", [event("cantine", "p", "Apéro numérique", 3, url="https://c/1")], later)
    [merged] = store.upcoming(CONFIG, later)
    assert merged.uid == alone.uid
    assert [s.id for s in merged.sources] == ["bidouille", "cantine"]
    # Re-running both sources on the same input changes nothing at all.
    before = store.dump_events()
    save(
        store,
        "bidouille",
        [event("bidouille", "a", "[Agenda] Apéro numérique – La Vilaine Bidouille", 3)],
        later,
    )
    save(store, "cantine", [event("cantine", "p", "Apéro numérique", 3, url="https://c/1")], later)
    assert store.dump_events() == before


def test_higher_origin_joining_takes_precedence_and_bumps_sequence_once(store: Store) -> None:
    save(
        store, "cantine", [event("cantine", "p", "Apéro numérique à la cantine", 3, origin="prose")]
    )
    [first] = store.upcoming(CONFIG, NOW)
    later = NOW + timedelta(hours=1)
    ical = event("bidouille", "a", "Apéro numérique", 3, origin="ical", description="Détails")
    save(store, "bidouille", [ical], later)
    [merged] = store.upcoming(CONFIG, later)
    assert merged.uid == first.uid
    assert merged.title == "Apéro numérique"
    assert merged.sequence == first.sequence + 1
    rows = list(store.db.query("SELECT source_id, origin FROM source_events ORDER BY source_id"))
    assert rows == [
        {"source_id": "bidouille", "origin": "ical"},
        {"source_id": "cantine", "origin": "prose"},
    ]
    save(store, "bidouille", [ical], later + timedelta(hours=1))
    [again] = store.upcoming(CONFIG, later)
    assert again.sequence == merged.sequence


def test_cancellation_by_the_primary_source_cancels_but_not_by_a_listing(store: Store) -> None:
    organizer = event("bidouille", "a", "Apéro numérique", 3, origin="ical")
    listing = event("cantine", "p", "Apéro numérique", 3, origin="feed")
    save(store, "bidouille", [organizer])
    save(store, "cantine", [listing.with_changes(status=CANCELLED)])
    [still] = store.upcoming(CONFIG, NOW)
    assert still.status != CANCELLED
    save(store, "bidouille", [organizer.with_changes(status=CANCELLED)])
    [cancelled] = store.upcoming(CONFIG, NOW)
    assert cancelled.status == CANCELLED and cancelled.uid == still.uid


def test_event_dropped_by_every_source_leaves_upcoming_but_is_kept(store: Store) -> None:
    save(store, "bidouille", [event("bidouille", "a", "Apéro numérique", 3)])
    save(store, "cantine", [event("cantine", "p", "Apéro numérique", 3)])
    save(store, "bidouille", [])
    assert len(store.upcoming(CONFIG, NOW)) == 1
    save(store, "cantine", [])
    assert store.upcoming(CONFIG, NOW) == []
    [history] = store.dump_events()
    assert history["title"] == "Apéro numérique" and history["active"] == 0


def test_a_record_that_stops_matching_leaves_and_the_event_keeps_its_uid(store: Store) -> None:
    save(store, "bidouille", [event("bidouille", "a", "Apéro numérique", 3)])
    save(store, "cantine", [event("cantine", "p", "Apéro numérique", 3)])
    [merged] = store.upcoming(CONFIG, NOW)
    save(store, "cantine", [event("cantine", "p", "Atelier Scratch", 3)])
    events = {e.title: e for e in store.upcoming(CONFIG, NOW)}
    assert set(events) == {"Apéro numérique", "Atelier Scratch"}
    assert events["Apéro numérique"].uid == merged.uid
    assert events["Atelier Scratch"].uid != merged.uid


def test_hard_negatives_stay_apart_in_the_store(store: Store) -> None:
    redon = Location(None, None, "35600", "Redon")
    rennes = Location(None, None, "35000", "Rennes")
    save(store, "bidouille", [event("bidouille", "a", "Atelier réparation", 3, location=redon)])
    save(store, "cantine", [event("cantine", "b", "Atelier réparation", 3, location=rennes)])
    save(
        store,
        "cantine",
        [
            event("cantine", "b", "Atelier réparation", 3, location=rennes),
            event("cantine", "c", "Atelier réparation", 10, location=redon),
        ],
    )
    assert len(store.upcoming(CONFIG, NOW)) == 3


def test_uid_rotation_is_detected_and_published_uids_do_not_change(store: Store) -> None:
    def export(run: int) -> list[Event]:
        # Same five events; the server invents new UIDs at every request.
        return [
            event("s0", f"{run}-{i}@random", f"Atelier {name}", 2 + i)
            for i, name in enumerate(["Arduino", "Scratch", "Blender", "Linux", "Inkscape"])
        ]

    save_many(store, "s0", export(1))
    config = MANY
    before = {e.title: e.uid for e in store.upcoming(config, NOW)}
    for run in (2, 3, 4):
        later = NOW + timedelta(hours=run)
        changes = save_many(store, "s0", export(run), later)
        assert (changes.new, changes.removed) == (0, 0)
        after = {e.title: e.uid for e in store.upcoming(config, later)}
        assert after == before
    [health] = store.health([MANY.source("s0")])
    assert health.uid_unstable and health.notice and "UIDs" in health.notice
    # Content changes still reach subscribers under fingerprint identity: an added event is new.
    more = [*export(5), event("s0", "new@random", "Atelier KiCad", 9)]
    assert save_many(store, "s0", more, NOW + timedelta(hours=5)).new == 1


def test_mass_deletion_is_held_until_accepted(store: Store) -> None:
    full = [event("s1", f"e{i}", f"Atelier {i}", 2 + i) for i in range(6)]
    save_many(store, "s1", full)
    changes = save_many(store, "s1", full[:1], NOW + timedelta(hours=1))
    assert (changes.removed, changes.held) == (0, 5)
    assert len(store.upcoming(MANY, NOW)) == 6
    [health] = store.health([MANY.source("s1")])
    assert health.notice and "--accept-removals s1" in health.notice
    changes = save_many(store, "s1", full[:1], NOW + timedelta(hours=2), accept_removals=True)
    assert changes.removed == 5
    assert len(store.upcoming(MANY, NOW)) == 1
    assert store.health([MANY.source("s1")])[0].notice is None


def test_mass_deletion_goes_through_after_three_runs(store: Store) -> None:
    full = [event("s1", f"e{i}", f"Atelier {i}", 2 + i) for i in range(6)]
    save_many(store, "s1", full)
    held = [save_many(store, "s1", [], NOW + timedelta(hours=h)) for h in (1, 2, 3)]
    assert [c.held for c in held] == [6, 6, 0]
    assert held[2].removed == 6
    assert store.upcoming(MANY, NOW) == []


def test_a_small_removal_is_not_held(store: Store) -> None:
    full = [event("s1", f"e{i}", f"Atelier {i}", 2 + i) for i in range(6)]
    save_many(store, "s1", full)
    changes = save_many(store, "s1", full[:4], NOW + timedelta(hours=1))
    assert (changes.removed, changes.held) == (2, 0)


def _busy_store(store: Store) -> list[list[Event]]:
    exports: list[list[Event]] = [[] for _ in range(8)]
    for day in range(30):
        for s in range(8):
            title = f"Atelier {['Arduino', 'Scratch', 'Linux', 'Blender'][s % 4]} {s}"
            exports[s].append(event(f"s{s}", f"{s}-{day}", title, 2 + day, hour=10 + s))
        # Every day, the same apéro announced by three sources.
        for s in (0, 1, 2):
            exports[s].append(event(f"s{s}", f"apero-{day}", "Apéro numérique", 2 + day, hour=19))
    for s in range(8):
        save_many(store, f"s{s}", exports[s])
    return exports


def test_incremental_run_rematches_only_what_the_source_touched(store: Store) -> None:
    exports = _busy_store(store)
    assert len(store.upcoming(MANY, NOW)) == 30 * 8 + 30
    unchanged, report = run_source(MANY, store, "s3", exports[3], NOW + timedelta(hours=1))
    assert report.stats.compared == 0 and (unchanged.new, unchanged.updated) == (0, 0)
    edited = exports[3][:]
    edited[5] = edited[5].with_changes(title="Atelier Arduino avancé")
    changes, report = run_source(MANY, store, "s3", edited, NOW + timedelta(hours=2))
    assert changes.updated == 1
    # Only the edited record's day is pooled (its 11 records), not the 270 of the store: at
    # most its 55 pairs are compared.
    assert report.records == 11
    assert 0 < report.stats.compared <= 11 * 10 // 2


def test_bulk_rematch_agrees_with_the_incremental_path(store: Store) -> None:
    _busy_store(store)
    before = store.dump_events()
    report = engine.rematch_all(store, MatchSettings(), NOW + timedelta(days=1))
    assert report.moved == 0
    assert report.records == 30 * 8 + 30 * 3 and report.clusters == 30 * 8 + 30
    assert store.dump_events() == before


def test_bulk_rematch_merges_what_a_stricter_threshold_kept_apart(store: Store) -> None:
    strict = CONFIG.model_copy(
        update={"agenda": CONFIG.agenda.model_copy(update={"dedupe_threshold": 0.999})}
    )
    redon = Location(city="Redon")
    first = event("bidouille", "x", "Apéro numérique", 3, location=redon)
    second = event("cantine", "y", "Apéro numérique !", 3, location=redon)
    second = second.with_changes(start=second.start + timedelta(minutes=15))
    for hours, e in enumerate((first, second)):
        run_source(strict, store, e.source_id, [e], NOW + timedelta(hours=hours))
    assert len(store.upcoming(CONFIG, NOW)) == 2
    first_uid = store.upcoming(CONFIG, NOW)[0].uid
    report = engine.rematch_all(store, MatchSettings(), NOW)
    assert report.moved == 1  # into the older event: its UID is the one subscribers know
    [merged] = store.upcoming(CONFIG, NOW)
    assert merged.uid == first_uid


def test_explain_lists_records_scores_and_near_misses(store: Store) -> None:
    save(
        store,
        "bidouille",
        [
            event("bidouille", "a", "Apéro numérique", 3),
            event("bidouille", "b", "Apéro numérique et jeux", 3, hour=21),
        ],
    )
    save(store, "cantine", [event("cantine", "p", "Apéro numérique", 3)])
    uid = next(e.uid for e in store.upcoming(CONFIG, NOW) if len(e.sources) == 2)
    assert uid is not None
    x = engine.explain(store, uid, MatchSettings())
    assert [r.source_id for r in x.records] == ["bidouille", "cantine"]
    [pair] = x.merged
    assert pair.same and pair.score >= x.threshold
    # Each field's contribution is shown, and they add up to the weight.
    assert {c.field for c in pair.contributions} == {"title", "time", "place", "url", "source"}
    assert pair.weight == pytest.approx(PRIOR + sum(c.weight for c in pair.contributions), abs=0.01)
    assert "title +" in pair.describe() and "time +3.0 (same start" in pair.describe()
    [(miss, decision)] = x.near_misses
    assert miss.title == "Apéro numérique et jeux"
    assert not decision.same and decision.contradiction and "hours apart" in decision.contradiction
    with pytest.raises(StoreError, match="no event with UID"):
        engine.explain(store, "nope", MatchSettings())


def test_a_schema_1_database_is_upgraded_without_losing_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    for statement in _MIGRATIONS[1].split(";"):
        if statement.strip():
            db.execute(statement)
    stamp = "2026-04-30T10:00:00+00:00"
    columns = {
        "title": "Apéro numérique",
        "start": "2026-05-04T16:30:00+00:00",
        "end": "2026-05-04T18:30:00+00:00",
        "effective_end": "2026-05-04T18:30:00+00:00",
        "tz": "Europe/Paris",
        "all_day": 0,
        "location_name": "Maison des associations",
        "address": "2 rue de la Gare",
        "postcode": "35600",
        "city": "Redon",
        "url": None,
        "description": "",
        "categories": "[]",
        "status": "confirmed",
    }
    e = Event(
        source_id="bidouille",
        source_uid="a",
        title="Apéro numérique",
        start=datetime(2026, 5, 4, 18, 30, tzinfo=PARIS),
        end=datetime(2026, 5, 4, 20, 30, tzinfo=PARIS),
        location=Location("Maison des associations", "2 rue de la Gare", "35600", "Redon"),
    )
    record_hash = store_module._content_hash(store_module._event_columns(e))
    uid = "0123456789abcdef01234567@agenda-numerique-bretagne"

    def insert(table: str, row: dict[str, Any]) -> None:
        db.execute(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
            list(row.values()),
        )

    insert("sources", {"id": "bidouille", "name": "La Vilaine Bidouille", "url": "https://x/"})
    insert(
        "events",
        columns
        | {
            "uid": uid,
            "match_key": "k",
            "sequence": 2,
            "created": stamp,
            "last_modified": stamp,
            "content_hash": "old",
            "active": 1,
        },
    )
    insert(
        "source_events",
        columns
        | {
            "id": "r1",
            "source_id": "bidouille",
            "source_uid": "a",
            "event_uid": uid,
            "content_hash": record_hash,
            "first_seen": stamp,
            "last_seen": stamp,
        },
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Store(path) as s:
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        version = s.events_version()
        [row] = s.db.query("SELECT * FROM source_events")
        assert row["origin"] == "" and row["fingerprint"].startswith("fp:")
        # Schema 4's terms, made for the records already there.
        assert (row["terms"], row["page"]) == ("apero numerique", "")
        assert row["first_seen"] == stamp and row["event_uid"] == uid
        [upcoming] = s.upcoming(CONFIG, NOW)
        assert upcoming.uid == uid and upcoming.sequence == 2
        # The same input after the upgrade is recognised: nothing new, nothing removed.
        changes = save(s, "bidouille", [e])
        assert (changes.new, changes.updated, changes.removed) == (0, 0, 0)
        [again] = s.upcoming(CONFIG, NOW)
        assert again.uid == uid
        # Schema 3's triggers watch what `upcoming` reads.
        s.db.conn.execute("UPDATE source_events SET active = 0")
        assert s.events_version() != version


def _frequencies_from_titles(store: Store) -> TermFrequencies:
    """The term frequencies made from every active record's title and URL, as stored."""
    counts: dict[str, int] = {}
    urls: dict[str, int] = {}
    rows = list(store.db.query("SELECT title, url FROM source_events WHERE active = 1"))
    for row in rows:
        for token in title_tokens(normalize_title(row["title"])):
            counts[token] = counts.get(token, 0) + 1
        if page := normalize_url(row["url"]):
            urls[page] = urls.get(page, 0) + 1
    return TermFrequencies(counts, len(rows), urls)


def _same_frequencies(a: TermFrequencies, b: TermFrequencies) -> bool:
    return (a.counts, a.total, a.urls) == (b.counts, b.total, b.urls)


def test_stored_terms_count_as_the_titles_would(store: Store) -> None:
    save(
        store,
        "bidouille",
        [
            event("bidouille", "a", "[Agenda] Apéro numérique – 18h30", 3, url="https://x.fr/a"),
            event("bidouille", "b", "Ateliers Arduino débutants", 4, url="https://x.fr/b?utm_x=1"),
            event("bidouille", "c", "Repair café", 5),
        ],
    )
    save(store, "cantine", [event("cantine", "z", "Apéro numérique", 3, url="https://x.fr/a/")])
    save(store, "bidouille", [event("bidouille", "a", "Apéro numérique", 3)])  # b, c leave
    stored = stored_frequencies(store.active_terms())
    assert stored.total == 2 and stored.counts["apero"] == 2 and "arduino" not in stored.counts
    assert _same_frequencies(stored, _frequencies_from_titles(store))
    # A title another program rewrites (a volunteer's sqlite3 shell) is counted as it now is.
    store.db.conn.execute("UPDATE source_events SET title = 'Fête du logiciel libre'")
    store.db.conn.commit()
    assert (
        store.db.execute("SELECT COUNT(*) FROM source_events WHERE terms IS NULL").fetchone()[0]
        == store.db.execute("SELECT COUNT(*) FROM source_events").fetchone()[0]
    )
    stored = stored_frequencies(store.active_terms())
    assert stored.counts["fete"] == 2 and "apero" not in stored.counts
    assert _same_frequencies(stored, _frequencies_from_titles(store))


def test_stored_terms_are_made_again_when_the_code_making_them_changed(tmp_path: Path) -> None:
    path = tmp_path / "agenda.db"
    with Store(path) as s:
        save(s, "bidouille", [event("bidouille", "a", "Apéro numérique", 3)])
        s.db.conn.execute("UPDATE source_events SET terms = 'stale', page = 'stale'")
        s.db.conn.execute("UPDATE store_state SET value = 'older' WHERE name = 'terms_code'")
        s.db.conn.commit()
    with Store(path) as s:
        [row] = s.db.query("SELECT terms, page FROM source_events")
        assert (row["terms"], row["page"]) == ("apero numerique", "")
        assert _same_frequencies(stored_frequencies(s.active_terms()), _frequencies_from_titles(s))


# -- order independence (issue 12) ----------------------------------------------------------------


def _announcements() -> dict[str, list[Event]]:
    """Five sources announcing overlapping events the way real feeds do."""
    cantine = Location("Cantine numérique", "12 rue de la Gare", "35600", "Redon")
    variant = Location(None, "12, r. de la gare", None, "REDON")
    day = NOW.replace(hour=18, minute=30) + timedelta(days=3)
    midnight = day.replace(hour=0, minute=0)
    return {
        "s0": [
            event("s0", "a", "Apéro numérique", 3, location=cantine),
            event("s0", "b", "Atelier Arduino", 3, hour=14, location=cantine),
            event("s0", "c", "Atelier Arduino", 10, hour=14, location=cantine),
        ],
        "s1": [
            event("s1", "x", "[Agenda] Apéro numérique – Source 0", 3, location=variant),
            # The same listing twice, as aggregating sites do.
            event("s1", "y", "Atelier Arduino débutants", 3, hour=14, location=variant),
            event("s1", "y2", "Atelier Arduino débutants", 3, hour=14, location=variant),
        ],
        "s2": [
            # The time is not known: a 00:00 placeholder with no duration.
            Event("s2", "p", "APÉRO NUMÉRIQUE", midnight, end=midnight, location=variant),
            event("s2", "q", "Atelier Arduino", 3, hour=10, location=cantine),
        ],
        "s3": [
            Event("s3", "d", "Apéro numérique", day.replace(hour=19, minute=0), location=cantine),
        ],
        "s4": [event("s4", "w", "Atelier Arduino", 10, hour=14, location=Location(city="Redon"))],
    }


def _partition(store: Store) -> set[frozenset[tuple[str, str]]]:
    groups: dict[str, set[tuple[str, str]]] = {}
    for row in store.db.query(
        "SELECT source_id, source_uid, event_uid FROM source_events WHERE active = 1"
    ):
        groups.setdefault(row["event_uid"], set()).add((row["source_id"], row["source_uid"]))
    return {frozenset(g) for g in groups.values()}


@pytest.mark.parametrize("one_run", [True, False], ids=["one run", "a run per source"])
def test_the_events_do_not_depend_on_the_order_of_sources(tmp_path: Path, one_run: bool) -> None:
    data = _announcements()
    orders = [
        ["s0", "s1", "s2", "s3", "s4"],
        ["s4", "s3", "s2", "s1", "s0"],
        ["s2", "s0", "s4", "s1", "s3"],
    ]
    partitions = []
    for n, order in enumerate(orders):
        with Store(tmp_path / f"order{n}{one_run}.db") as s:
            s.sync_sources(MANY.sources)
            changes = []
            for source_id in order:
                source = MANY.source(source_id)
                result = ParseResult(events=data[source_id])
                changes.append(pipeline.store_source(s, source, ok(source_id), result, NOW))
                if not one_run:
                    pipeline.match_changes(MANY, s, changes[-1:], NOW)
            if one_run:
                pipeline.match_changes(MANY, s, changes, NOW)
            partitions.append(_partition(s))
            assert len(s.upcoming(MANY, NOW)) == len(partitions[-1])
    assert partitions[0] == partitions[1] == partitions[2]
    groups = {frozenset(uid for _, uid in g) for g in partitions[0]}
    # The apéro: four sources, one a placeholder, one an hour late (doors vs start).
    assert frozenset({"a", "x", "p", "d"}) in groups
    # The 14:00 workshop with the listing's two copies; the 10:00 one and next week's apart.
    assert frozenset({"b", "y", "y2"}) in groups
    assert frozenset({"q"}) in groups and frozenset({"c", "w"}) in groups


def test_a_matching_empties_the_caches_it_filled(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kept, the features' caches would hold most of a large run's matching memory until the
    # run ends (see text.clear_caches).
    from aggregator.dedupe import model, text

    filled: list[int] = []
    real = model.text_clear_caches

    def clear_caches() -> None:
        filled.append(text._title_words.cache_info().currsize)
        real()

    monkeypatch.setattr(model, "text_clear_caches", clear_caches)
    save(store, "bidouille", [event("bidouille", "a", "Atelier vélo", 2)])
    engine.rematch_all(store, MatchSettings(), NOW)
    assert len(filled) == 2 and min(filled) > 0  # each matching used them, then let go
    assert [f.cache_info().currsize for f in text._CACHED] == [0] * len(text._CACHED)
    assert model._place_tokens.cache_info().currsize == 0
