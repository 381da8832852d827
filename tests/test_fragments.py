"""The piece cache (publish-cache.sqlite): read back as written, a kind at a time; about the size
of its pieces on disk; another schema, another scope or a damaged row is never used."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import zlib
from pathlib import Path

import publish_helpers as helpers
import pytest

import aggregator.publish.fragments as fragments_module
from aggregator.publish.fragments import CACHE_FILE, Fragments, FragmentStore

SCOPE = b"\x01" * 16


def key(kind: str, n: int) -> bytes:
    return kind.encode() + b":" + hashlib.blake2b(str(n).encode(), digest_size=16).digest()


def piece(n: int, size: int = 1500) -> bytes:
    """`size` bytes that differ from one piece to the next (as events do)."""
    seed = hashlib.sha256(str(n).encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def rows(path: Path) -> dict[bytes, bytes]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return dict(db.execute("SELECT key, data FROM fragments"))


def filled(path: Path, count: int = 20, scope: bytes = SCOPE) -> dict[bytes, bytes]:
    """A cache holding `count` pieces of two kinds; returns them."""
    store = FragmentStore(path, scope)
    pieces = {key(kind, n): piece(n) for kind in ("vevent", "card") for n in range(count)}
    for k, data in pieces.items():
        store.put(k, data)
    store.save(set(pieces))
    return pieces


def test_pieces_are_read_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / CACHE_FILE
    pieces = filled(path)
    store = FragmentStore(path, SCOPE)
    assert {k: store.get(k) for k in pieces} == pieces
    assert store.get(key("vevent", 999)) is None
    assert store.get(key("rss", 1)) is None  # a kind with nothing stored


def test_the_file_is_about_the_size_of_its_pieces(tmp_path: Path) -> None:
    path = tmp_path / CACHE_FILE
    pieces = filled(path, count=1500)
    data = sum(map(len, pieces.values())) + sum(map(len, pieces))
    # A WITHOUT ROWID table put most of each piece in an overflow page of its own (about 3x).
    assert path.stat().st_size < data * 1.25 + 100_000
    with contextlib.closing(sqlite3.connect(path)) as db:
        [(sql,)] = db.execute("SELECT sql FROM sqlite_master WHERE name = 'fragments'")
    assert "WITHOUT ROWID" not in sql.upper()


def test_a_cache_of_the_old_schema_is_started_afresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / CACHE_FILE
    old = key("vevent", 1)
    with contextlib.closing(sqlite3.connect(path)) as db, db:  # as schema 2 wrote it
        db.execute(
            "CREATE TABLE fragments (key BLOB PRIMARY KEY, data BLOB NOT NULL,"
            " checksum INTEGER NOT NULL) WITHOUT ROWID"
        )
        db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('schema', '2'), ('scope', ?)", (SCOPE.hex(),))
        db.execute(
            "INSERT INTO fragments VALUES (?, ?, ?)",
            (old, b"old", zlib.crc32(b"old", zlib.crc32(old))),
        )
    store = FragmentStore(path, SCOPE)
    with caplog.at_level(logging.WARNING, logger="aggregator.publish.fragments"):
        assert store.get(old) is None
    assert "schema 2" in caplog.text
    new = key("vevent", 2)
    store.put(new, b"new")
    store.save({new})
    assert rows(path) == {new: b"new"}
    assert FragmentStore(path, SCOPE).get(new) == b"new"


def test_a_damaged_row_is_rendered_again_and_repaired(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / CACHE_FILE
    [event, other, *_] = helpers.lively_events()
    renders: list[str] = []

    def publication() -> tuple[bytes, bytes]:
        fragments = Fragments(helpers.CONFIG, FragmentStore(path))
        made = tuple(
            fragments.piece("json", e, lambda e=e: renders.append(e.title) or e.title.encode())
            for e in (event, other)
        )
        fragments.save()
        return made  # type: ignore[return-value]

    first = publication()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        [(damaged,)] = db.execute("SELECT key FROM fragments ORDER BY key LIMIT 1")
        db.execute("UPDATE fragments SET data = CAST('piégé' AS BLOB) WHERE key = ?", (damaged,))
    renders.clear()
    with caplog.at_level(logging.WARNING, logger="aggregator.publish.fragments"):
        assert publication() == first
    assert len(renders) == 1  # the damaged piece only
    assert "1 damaged pieces ignored" in caplog.text
    renders.clear()
    assert publication() == first
    assert renders == []  # repaired in the file


def test_released_pieces_are_in_the_file_and_read_again(tmp_path: Path) -> None:
    path = tmp_path / CACHE_FILE
    fragments = Fragments(helpers.CONFIG, FragmentStore(path))
    event = helpers.lively_events()[0]
    made = fragments.piece("vevent", event, lambda: b"BEGIN:VEVENT\r\n")
    fragments.release("vevent")
    assert list(rows(path).values()) == [made]  # written before the publication ends
    count = fragments.rendered
    assert fragments.piece("vevent", event, lambda: b"other") == made  # read, not rendered
    assert fragments.rendered == count


def test_pieces_of_another_scope_are_never_read(tmp_path: Path) -> None:
    path = tmp_path / CACHE_FILE
    theirs = filled(path, scope=b"\x02" * 16)
    store = FragmentStore(path, SCOPE)
    assert all(store.get(k) is None for k in theirs)
    mine = key("vevent", 100)
    store.put(mine, b"mine")
    store.save({mine, *theirs})
    assert rows(path) == {mine: b"mine"}


def test_stale_pieces_are_dropped_once_pieces_were_read(tmp_path: Path) -> None:
    path = tmp_path / CACHE_FILE
    pieces = filled(path)
    kept = key("vevent", 1)
    untouched = FragmentStore(path, SCOPE)
    untouched.save({kept})  # nothing read nor written: the file is not even opened
    assert rows(path) == pieces
    store = FragmentStore(path, SCOPE)
    assert store.get(kept) == pieces[kept]
    store.save({kept})
    assert rows(path) == {kept: pieces[kept]}


def test_an_unreadable_cache_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / CACHE_FILE
    path.write_bytes(b"not a database at all" * 100)
    store = FragmentStore(path, SCOPE)
    assert store.get(key("card", 1)) is None
    store.put(key("card", 1), b"card")
    store.save({key("card", 1)})
    assert FragmentStore(path, SCOPE).get(key("card", 1)) == b"card"


def test_new_pieces_are_written_a_few_megabytes_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fragments_module, "_WRITE_BYTES", 4000)
    path = tmp_path / CACHE_FILE
    store = FragmentStore(path, SCOPE)
    for n in range(3):
        store.put(key("card", n), piece(n))
    # Before any release or save: the first pieces beyond the threshold are in the file.
    assert rows(path) == {key("card", n): piece(n) for n in range(3)}
    store.put(key("card", 3), piece(3))
    store.save({key("card", n) for n in range(4)})
    assert rows(path) == {key("card", n): piece(n) for n in range(4)}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")
def test_a_child_process_never_touches_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # However many pieces it renders: it keeps them for the parent (`take`).
    monkeypatch.setattr(fragments_module, "_WRITE_BYTES", 1)
    path = tmp_path / CACHE_FILE
    pieces = filled(path)
    store = FragmentStore(path, SCOPE)
    vevent = key("vevent", 1)
    assert store.get(vevent) == pieces[vevent]  # the parent read the VEVENT blocks
    before = path.read_bytes(), path.stat().st_mtime_ns
    pid = os.fork()
    if pid == 0:  # the child (as write_in_background's): has what was read, nothing more
        ok = store.get(vevent) == pieces[vevent] and store.get(key("card", 1)) is None
        store.put(key("card", 1), b"from the child")
        ok = ok and store.take() == {key("card", 1): b"from the child"}
        store.put(key("card", 2), b"from the child")
        store.release("card")
        store.save(set())
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
