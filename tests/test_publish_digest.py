"""Incremental publishing: a publication whose inputs did not change renders and writes nothing,
and whatever it skips is byte for byte what a full publication writes."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import publish_helpers as helpers
import pytest

import aggregator.publish
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
from aggregator.publish import publish_all
from aggregator.publish.digest import DIGEST_FILE, Digests, stable_until, unchanged_publication
from aggregator.publish.event_pages import event_page_path
from aggregator.publish.fragments import CACHE_FILE
from aggregator.publish.ical import event_ics_path
from aggregator.publish.record import RECORD_FILE, Streamed, dump_json
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
    return list(paths)


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


def test_the_store_version_follows_what_upcoming_reads(tmp_path: Path) -> None:
    db = tmp_path / "agenda.db"
    fill(db, events())
    with Store(db) as store:
        first = store.events_version()
    # The same events fetched again: records are seen again, nothing `upcoming` reads changed.
    fill(db, events(), NOW + timedelta(minutes=5))
    with Store(db) as store:
        assert store.events_version() == first
    moved = events()
    moved[1] = moved[1].with_changes(url="https://bidouille.example.org/atelier-2")
    fill(db, moved, NOW + timedelta(minutes=10))
    with Store(db) as store:
        second = store.events_version()
        assert second != first
        # Any writer counts, not only this code: the token is kept by the database itself.
        store.db.conn.execute("UPDATE events SET title = title || ' !'")
        store.db.conn.commit()
        assert store.events_version() not in (first, second)


def test_an_event_entering_the_window_ends_the_record(tmp_path: Path, calls: list[int]) -> None:
    """An event beyond `future_days` enters the agenda when its start comes within them: the
    publication of the same day before that moment is skipped, the one after it is not."""
    db, out = tmp_path / "state" / "agenda.db", tmp_path / "output"
    far = events()[0].with_changes(
        source_uid="far",
        title="Assemblée générale",
        start=NOW + timedelta(days=365, hours=2),
        end=NOW + timedelta(days=365, hours=4),
    )
    fill(db, [*events(), far])
    publish(db, out)
    assert "Assemblée générale" not in (out / "calendar.ics").read_text(encoding="utf-8")

    publish(db, out, NOW + timedelta(hours=1))
    assert calls == [1]
    publish(db, out, NOW + timedelta(hours=2))
    assert calls == [1, 1]
    assert "Assemblée générale" in (out / "calendar.ics").read_text(encoding="utf-8")


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
    recorded = json.loads(record.read_text(encoding="utf-8"))
    digest = Digests(recorded["digest"], recorded["rest"])
    assert unchanged_publication(record, digest, first_end - timedelta(seconds=1)) is not None
    assert unchanged_publication(record, digest, first_end) is None
    assert unchanged_publication(record, digest, NOW - timedelta(seconds=1)) is None


def test_health_the_sources_page_does_not_show_changes_nothing(
    tmp_path: Path, calls: list[int]
) -> None:
    db, out = tmp_path / "state" / "agenda.db", tmp_path / "output"
    fill(db, events())
    publish(db, out)
    not_modified(db, NOW)  # the same fetch answered 304: only the HTTP status differs
    publish(db, out)
    assert calls == [1]
    before = stamps(out)
    later = NOW + timedelta(minutes=30)
    not_modified(db, later)  # read again later: sources.html says when, and nothing else
    publish(db, out, later)
    assert calls == [1]  # not a whole publication: sources.html alone
    assert "à 12 h 30" in (out / "sources.html").read_text(encoding="utf-8")
    after = stamps(out)
    assert {name for name in after if after[name] != before[name]} == {"sources.html"}
    # The record knows the new sources.html: the next run with nothing new writes nothing.
    publish(db, out, later + timedelta(minutes=1))
    assert calls == [1] and stamps(out) == after
    # Anything else that changes makes a whole publication again.
    fill(db, events("Café vie privée"), later + timedelta(minutes=2))
    publish(db, out, later + timedelta(minutes=2))
    assert calls == [1, 1]
    assert "Café vie privée" in (out / "calendar.ics").read_text(encoding="utf-8")


# --- per output: only what changed is rendered and written ------------------------------------


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def not_modified(db: Path, at: datetime) -> None:
    """Record that the source answered 304 at `at`."""
    with Store(db) as store:
        result = FetchResult(SOURCE.id, SOURCE.url, FETCH_NOT_MODIFIED, http_status=304)
        store.record_fetch(SOURCE, result, None, at)


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """Inode and modification time: an atomic rewrite gives a new inode, even within one tick."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def incremental(
    out: Path, items: list[Event], caplog: pytest.LogCaptureFixture, **kwargs: Any
) -> tuple[int, int, int]:
    """Publish with the record and pieces in out's parent; (outputs rendered, outputs, pieces
    rendered) as publish_all logs them."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="aggregator.publish"):
        publish_all(
            items,
            helpers.CONFIG,
            out,
            helpers.NOW,
            health=helpers.agenda_health(),
            state_path=out.parent / "publish-state.json",
            cache_dir=out.parent,
            **kwargs,
        )
    [counts] = [r.args for r in caplog.records if r.msg.startswith("rendered %d of %d outputs")]
    assert isinstance(counts, tuple)
    return counts  # type: ignore[return-value]


def from_scratch(tmp_path: Path, items: list[Event]) -> dict[str, bytes]:
    """What a full publication of `items` writes into an empty folder (no record, no pieces)."""
    out = tmp_path / "scratch" / "output"
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "state" / "publish-state.before.json", out.parent / "publish-state.json")
    publish_all(
        items,
        helpers.CONFIG,
        out,
        helpers.NOW,
        health=helpers.agenda_health(),
        state_path=out.parent / "publish-state.json",
    )
    return files(out)


@pytest.fixture
def published(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Path:
    """The lively sample agenda published with a record; the state kept to publish from."""
    out = tmp_path / "state" / "output"
    rendered, total, _ = incremental(out, helpers.lively_events(), caplog)
    assert rendered == total
    shutil.copy(out.parent / "publish-state.json", out.parent / "publish-state.before.json")
    return out


def test_a_warm_publication_renders_and_writes_nothing(
    published: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before, content = stamps(published), files(published)
    assert incremental(published, helpers.lively_events(), caplog)[::2] == (0, 0)
    assert stamps(published) == before
    assert files(published) == content


def test_one_changed_source_rewrites_only_its_outputs(
    tmp_path: Path, published: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = stamps(published)
    items = [
        e.with_changes(title=e.title + " (complet)") if e.source_uid == "repair" else e
        for e in helpers.lively_events()
    ]
    rendered, total, pieces = incremental(published, items, caplog)
    rewritten = {name for name, stamp in stamps(published).items() if before.get(name) != stamp}

    assert files(published) == from_scratch(tmp_path, items)
    assert 0 < rendered < total / 2
    # The pieces of that one event (its VEVENT, item, JSON line, JSON-LD, cards), no other.
    assert 0 < pieces <= 8
    repair = next(e for e in items if e.source_uid == "repair")
    assert {
        "calendar.ics",
        "feed.xml",
        "events.json",
        "index.html",
        "collectifs/repair-landerneau.ics",
        "collectifs/repair-landerneau.xml",
        "villes/landerneau.ics",
        f"evenements/{Path(event_page_path(repair)).name}",
        event_ics_path(repair),
    } <= rewritten
    untouched = {
        "collectifs/tyfab.ics",
        "collectifs/cantine-brest.xml",
        "villes/brest.ics",
        "themes/logiciel-libre.xml",
        "style.css",
        "robots.txt",
    }
    assert not untouched & rewritten
    assert not {n for n in rewritten if n.startswith("events/")} - {event_ics_path(repair)}


@pytest.mark.parametrize("damage", ["deleted", "edited", "same size"])
def test_a_damaged_output_is_written_again(
    tmp_path: Path, published: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    targets = ["calendar.ics", "villes/brest.xml", "events.json"]
    targets.append(next(n for n in files(published) if n.startswith("evenements/")))
    for name in targets:
        path = published / name
        if damage == "deleted":
            path.unlink()
        elif damage == "edited":
            path.write_bytes(b"<!-- edited -->")
        else:  # same length, and even the same modification time as before
            stat = path.stat()
            path.write_bytes(b"x" * stat.st_size)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    rendered, _, _ = incremental(published, helpers.lively_events(), caplog)
    assert rendered == len(targets)
    assert files(published) == from_scratch(tmp_path, helpers.lively_events())


@pytest.mark.parametrize("damage", ["rows", "garbage", "record", "state"])
def test_a_damaged_cache_falls_back_to_rendering(
    tmp_path: Path, published: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    cache = published.parent / CACHE_FILE
    record = published.parent / RECORD_FILE
    if damage == "rows":  # every stored piece edited: their checksums no longer match
        with contextlib.closing(sqlite3.connect(cache)) as db, db:
            db.execute("UPDATE fragments SET data = CAST('<p>piégé</p>' AS BLOB)")
    elif damage == "garbage":
        cache.write_bytes(b"not a database at all" * 100)
    elif damage == "record":  # made by another version of the code, or for another folder
        data = json.loads(record.read_text(encoding="utf-8"))
        record.write_text(json.dumps(data | {"scope": "0" * 32}), encoding="utf-8")
    else:  # read as no state at all, by this publication and by the full one it must equal
        for name in ("publish-state.json", "publish-state.before.json"):
            (published.parent / name).write_text("{}", encoding="utf-8")
    items = [
        e.with_changes(description="Nouveau programme.") if e.source_id == "tyfab" else e
        for e in helpers.lively_events()
    ]
    rendered, total, _ = incremental(published, items, caplog)
    if damage == "record":
        assert rendered == total
    assert files(published) == from_scratch(tmp_path, items)
    assert b"pi\xc3\xa9g\xc3\xa9" not in b"".join(files(published).values())
    # And the cache is sound again for the next publication.
    assert incremental(published, items, caplog)[::2] == (0, 0)


def test_a_failed_publication_is_not_skipped_next_time(
    tmp_path: Path,
    published: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    items = [
        e.with_changes(title="Apéro numérique de printemps") if e.source_uid == "apero" else e
        for e in helpers.lively_events()
    ]
    before = files(published)

    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("renderer crashed")

    with monkeypatch.context() as patch:
        patch.setattr(aggregator.publish, "render_rss_parts", broken)
        with pytest.raises(RuntimeError):
            incremental(published, items, caplog)
    assert files(published) == before  # nothing written
    incremental(published, items, caplog)
    assert files(published) == from_scratch(tmp_path, items)


def test_sources_read_again_rewrite_only_the_sources_page(tmp_path: Path, calls: list[int]) -> None:
    db, out = tmp_path / "state" / "agenda.db", tmp_path / "output"
    fill(db, events())
    publish(db, out)
    before = stamps(out)
    later = NOW + timedelta(hours=2)
    not_modified(db, later)  # every source answered 304, two hours later

    publish(db, out, later)

    # The sources page shows when the sources were read: it alone is written, without a
    # whole publication.
    assert calls == [1]
    assert {name for name, stamp in stamps(out).items() if before[name] != stamp} == {
        "sources.html"
    }
    fresh = tmp_path / "fresh"
    with Store(db) as store:
        publish_all(
            pipeline.upcoming(CONFIG, store, later),
            CONFIG,
            fresh,
            later,
            health=store.health(CONFIG.sources),
            state_path=db.parent / "publish-state.json",
        )
    # Without base_url the feeds link the page in their folder: the same, but for its name.
    moved = {
        k: v.replace(fresh.resolve().as_uri().encode(), out.resolve().as_uri().encode())
        for k, v in files(fresh).items()
    }
    assert files(out) == moved


def test_pieces_of_other_settings_are_not_used(
    tmp_path: Path, published: Path, caplog: pytest.LogCaptureFixture
) -> None:
    renamed = helpers.CONFIG.model_copy(
        update={"agenda": helpers.CONFIG.agenda.model_copy(update={"title": "Agenda du Léon"})}
    )

    def publish_with(out: Path, **kwargs: Any) -> None:
        publish_all(
            helpers.lively_events(),
            renamed,
            out,
            helpers.NOW,
            health=helpers.agenda_health(),
            state_path=out.parent / "publish-state.json",
            **kwargs,
        )

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="aggregator.publish"):
        publish_with(published, cache_dir=published.parent)
    [(rendered, total, pieces)] = [
        r.args for r in caplog.records if r.msg.startswith("rendered %d of %d outputs")
    ]
    assert rendered == total and pieces > 0  # nothing taken from the other settings' pieces
    scratch = tmp_path / "scratch" / "output"
    scratch.parent.mkdir()
    shutil.copy(
        published.parent / "publish-state.before.json", scratch.parent / "publish-state.json"
    )
    publish_with(scratch)
    assert files(published) == files(scratch)
    assert "Agenda du Léon" in (published / "index.html").read_text(encoding="utf-8")


def test_the_history_end_read_from_the_record_is_the_state_files(tmp_path: Path) -> None:
    db, out = tmp_path / "state" / "agenda.db", tmp_path / "output"
    items = events()
    fill(db, items)
    publish(db, out)
    moved = [items[0].with_changes(start=items[0].start + timedelta(hours=1)), *items[1:]]
    fill(db, moved, NOW + timedelta(hours=1))
    publish(db, out, NOW + timedelta(hours=1))
    state = db.parent / "publish-state.json"
    changes = json.loads(state.read_text(encoding="utf-8"))["changes"]
    assert changes  # the moved event: its change leaves changes.xml after KEEP_DAYS
    later = NOW + timedelta(days=7)  # after every event's end: only the history is left
    from_record = stable_until(moved, CONFIG, later, state)
    record = (db.parent / RECORD_FILE).read_bytes()
    (db.parent / RECORD_FILE).unlink()
    assert stable_until(moved, CONFIG, later, state) == from_record is not None
    # A record of the state file as it was is not believed once the file changed.
    (db.parent / RECORD_FILE).write_bytes(record)
    data = json.loads(state.read_text(encoding="utf-8"))
    state.write_text(json.dumps({**data, "changes": []}), encoding="utf-8")
    assert stable_until(moved, CONFIG, later, state) is None


def test_the_digest_is_recorded_from_the_publication_not_from_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, out = tmp_path / "state" / "agenda.db", tmp_path / "output"
    fill(db, events())
    # What publish_all recorded comes back with its paths: nothing reads that record again.
    read: list[Path] = []
    real = aggregator.publish.digest.recorded_stamps

    def recorded_stamps(path: Path) -> dict[str, tuple[int, int]]:
        read.append(path)
        return real(path)

    monkeypatch.setattr(aggregator.publish.digest, "recorded_stamps", recorded_stamps)
    publish(db, out)
    assert read == []
    digest = json.loads((db.parent / DIGEST_FILE).read_text(encoding="utf-8"))
    recorded = json.loads((db.parent / RECORD_FILE).read_text(encoding="utf-8"))
    assert len(digest["files"]) == len(recorded["outputs"]) + 1  # and the state file
    for name, stamp in digest["files"]:
        assert stamp == [os.stat(name).st_size, os.stat(name).st_mtime_ns], name
    # The history's end it carries is the one its record holds.
    items = events()
    moved = [items[0].with_changes(start=items[0].start + timedelta(hours=1)), *items[1:]]
    state = db.parent / "publish-state.json"
    paths = publish_all(moved, CONFIG, out, NOW, state_path=state, cache_dir=db.parent)
    later = NOW + timedelta(days=7)  # after every event's end: only the history is left
    carried = stable_until(moved, CONFIG, later, state, paths)
    assert carried is not None
    assert carried == stable_until(moved, CONFIG, later, state)


def test_streamed_members_are_written_as_one_json_dumps_writes_them(tmp_path: Path) -> None:
    # More members than one batch, an empty object and array, and text that JSON escapes.
    pairs = [(f"evenements/réunion-{i}.html", [f"{i:064x}", i, i * 7]) for i in range(5000)]
    payload = {
        "version": 1,
        "outputs": Streamed(iter(pairs)),
        "files": Streamed((["Plouzané/" + n, v[1:]] for n, v in pairs), pairs=False),
        "nothing": Streamed(iter(())),
        "none": Streamed(iter(()), pairs=False),
        "state": {"path": 'Creac\'h Gwen "2"', "until": None},
    }
    path = tmp_path / RECORD_FILE
    dump_json(path, payload)
    expected = {
        "version": 1,
        "outputs": dict(pairs),
        "files": [["Plouzané/" + n, v[1:]] for n, v in pairs],
        "nothing": {},
        "none": [],
        "state": {"path": 'Creac\'h Gwen "2"', "until": None},
    }
    assert path.read_text(encoding="utf-8") == json.dumps(expected, separators=(",", ":"))
    assert not path.with_name(path.name + ".tmp").exists()
