"""Each event's rendered pieces, made once per publication and kept between publications.

Every output is a join of per-event pieces: calendar.ics and the per-filter .ics of VEVENT blocks,
feed.xml and the per-filter feeds of <item>s, events.json of one line per event, the list pages of
cards and JSON-LD objects. `Fragments` renders each piece once per publication, whatever the number
of outputs it appears in, and with a `FragmentStore` (publish-cache.sqlite, beside the database)
keeps them for the next publication: a run where one source changed renders that source's pieces
and joins the others as they were.

A piece is stored under the hash of everything it is made from: the event's content (`event_key`:
its whole value, every field) and whatever else the piece shows (a card's page depth, its series'
other dates…), in a store that holds the pieces of one rendering code and configuration only
(`Fragments.scope`, kept in the file: another scope's pieces are never read), so a stored piece is
the very bytes rendering it would give. Each row also carries a checksum of its bytes: a
row that does not match (an edited or damaged cache) is ignored and the piece rendered again, and
a cache that cannot be read at all, or written by another schema, is started afresh.

Pieces are held by kind (b"vevent:…" keys, see `Fragments.piece_key`): publish_all renders the
outputs kind by kind and `Fragments.release`s each kind once its outputs are rendered, so what
is held at a time is about one kind's pieces, read from the store a kind at a time.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import logging
import marshal
import os
import sqlite3
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, BinaryIO

from aggregator.config import Config
from aggregator.models import Event

__all__ = [
    "CACHE_FILE",
    "FragmentStore",
    "Fragments",
    "code_fingerprint",
    "event_key",
    "key_of",
    "keys_of",
]

log = logging.getLogger(__name__)

CACHE_FILE = "publish-cache.sqlite"
_SCHEMA = 3
_PACKAGE = Path(__file__).resolve().parent.parent
# The distributions the rendering code calls into (their upgrade may change the bytes).
_LIBRARIES = ("babel", "icalendar", "jinja2", "markupsafe", "nh3", "pydantic", "tzdata")


@functools.cache
def code_fingerprint() -> str:
    """The rendering code: the files of aggregator/publish (templates and static files too) and
    of the package's top-level modules (models, config, normalize, clashes… which publishing
    imports; the parsers and the matcher only shape the events, already hashed), by name, size
    and modification time; the Python and library versions. An upgrade or an edit changes it."""
    digest = hashlib.sha256(sys.version.encode())
    for name in _LIBRARIES:
        try:
            digest.update(f"{name}={version(name)}\n".encode())
        except PackageNotFoundError:
            digest.update(f"{name}=-\n".encode())
    files = [*_PACKAGE.glob("*.py"), *(_PACKAGE / "publish").rglob("*")]
    for path in sorted(files):
        if path.is_file() and "__pycache__" not in path.parts:
            stat = path.stat()
            line = f"{path.relative_to(_PACKAGE)}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
            digest.update(line.encode())
    return digest.hexdigest()


def _encoded(parts: Iterable[bytes | str | int | None]) -> bytes:
    """`parts` as one byte string that tells them apart (the repr of their tuple: quoted,
    escaped, None and 1 unlike "" and "1")."""
    return repr(tuple(parts)).encode("utf-8", "surrogatepass")


def key_of(*parts: bytes | str | int | None) -> bytes:
    """A 16-byte hash of `parts` (each told apart from the next, None from "")."""
    return hashlib.blake2b(_encoded(parts), digest_size=16).digest()


def keys_of(head: Iterable[bytes | str | int | None], keys: Iterable[bytes]) -> bytes:
    """`key_of(*head, *keys)` for many 16-byte `keys` (an output's pieces), in one pass."""
    digest = hashlib.blake2b(_encoded(head) + b"keys:", digest_size=16)
    digest.update(b"".join(keys))
    return digest.digest()


def event_key(event: Event) -> bytes:
    """The hash of the event's whole value: every field, provenance included (its `repr`, which
    a frozen dataclass of strings, numbers, tuples and aware datetimes spells out in full)."""
    return hashlib.blake2b(repr(event).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _check(key: bytes, data: bytes) -> int:
    """A checksum of a stored piece (against damage: a changed byte, a truncated row)."""
    return zlib.crc32(data, zlib.crc32(key))


def _kind_of(key: bytes) -> bytes:
    """The kind a piece's key starts with (`Fragments.piece_key`: b"vevent:…")."""
    return key.partition(b":")[0]


# A child hands its pieces back this many bytes at a time (`Fragments.handed`), and new pieces
# are written to the file this many at a time.
_CHUNK_BYTES = 1 << 20
_WRITE_BYTES = 8 << 20

# What the store knows of its file: not looked at yet; missing (or unreadable, then removed);
# holding this scope's pieces; holding another scope's (never read, dropped at the first write);
# not to be used any more (a write failed).
_UNKNOWN, _ABSENT, _OURS, _FOREIGN, _BROKEN = "unknown", "absent", "ours", "foreign", "broken"


class FragmentStore:
    """The pieces of the last publications, in one SQLite file.

    The pieces of one kind (all the VEVENT blocks, all the cards…) are read together, at the
    first one asked for, and let go of by `release`, once the outputs joined from them are
    rendered; the pieces rendered meanwhile are written then, and the rest by `save`, which
    also drops the pieces no output uses any more. So the memory held is about one kind's
    pieces, not all of them. Only the process that made the store reads or writes the file:
    in a child (forked to write some of the outputs) it only has the pieces read before, and
    keeps those it renders for the parent to `take` and store.
    """

    def __init__(self, path: Path, scope: bytes = b"") -> None:
        self.path = Path(path)
        # The code and configuration the pieces were rendered with: pieces of another scope are
        # never read (and dropped at the next write).
        self.scope = scope.hex()
        self._owner = os.getpid()
        self._state = _UNKNOWN
        self._had_pieces = False  # the file held this scope's pieces: some may be stale
        self._used = False  # pieces were read or written: drop the stale ones at `save`
        self._read: dict[bytes, dict[bytes, bytes]] = {}  # by kind
        self._new: dict[bytes, dict[bytes, bytes]] = {}  # by kind
        self._pending = 0  # bytes in `_new`
        self._spool: BinaryIO | None = None  # in a child: pieces set aside (`spool`)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path)
        try:
            self._prepare(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _prepare(self, connection: sqlite3.Connection) -> None:
        """The tables, in a new file; raises `sqlite3.DatabaseError` for another schema's."""
        # A rowid table: its rows (a kilobyte or two each) are kept whole in the table's pages.
        # WITHOUT ROWID, which suits small rows only, put most of each piece in an overflow
        # page of its own (schema 2: 371 MB of file for 119 MB of pieces). Pages of 16 KB, set
        # when the file is created, leave less of each page unused than 4 KB ones (which hold
        # one row of 2.1 KB: half empty).
        connection.execute("PRAGMA page_size = 16384")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS fragments"
            " (key BLOB PRIMARY KEY, data BLOB NOT NULL, checksum INTEGER NOT NULL)"
        )
        connection.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        row = connection.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        if row is None:
            connection.execute("INSERT INTO meta VALUES ('schema', ?)", (str(_SCHEMA),))
        elif row[0] != str(_SCHEMA):
            raise sqlite3.DatabaseError(f"schema {row[0]}, not {_SCHEMA}")
        connection.commit()

    def _scope_of(self, connection: sqlite3.Connection) -> str | None:
        row = connection.execute("SELECT value FROM meta WHERE name = 'scope'").fetchone()
        return row[0] if row is not None else None

    def _usable(self) -> bool:
        """Whether this process may use the file; the first time, what the file holds."""
        if self._state == _UNKNOWN and os.getpid() == self._owner:
            self._state = _ABSENT
            if self.path.exists():
                try:
                    with contextlib.closing(self._connect()) as connection:
                        if self._scope_of(connection) == self.scope:
                            self._state = _OURS
                            self._had_pieces = True
                        else:
                            self._state = _FOREIGN
                            log.info("%s: pieces of other code or settings, not used", self.path)
                except sqlite3.Error as exc:
                    log.warning("ignoring the unreadable publication cache %s: %s", self.path, exc)
                    self._discard()
        return self._state not in (_UNKNOWN, _BROKEN) and os.getpid() == self._owner

    def _load(self, kind: bytes) -> dict[bytes, bytes]:
        stored: dict[bytes, bytes] = {}
        self._read[kind] = stored
        if not self._usable() or self._state != _OURS:
            return stored
        self._used = True
        damaged = 0
        try:
            with contextlib.closing(self._connect()) as connection:
                rows = connection.execute(
                    "SELECT key, data, checksum FROM fragments WHERE key >= ? AND key < ?",
                    (kind + b":", kind + b";"),
                )
                for key, data, checksum in rows:
                    if _check(key, data) == checksum:
                        stored[key] = data
                    else:
                        damaged += 1
        except sqlite3.Error as exc:
            log.warning("ignoring the unreadable publication cache %s: %s", self.path, exc)
            self._discard()
            self._state = _ABSENT
            stored.clear()
        if damaged:
            log.warning("%s: %d damaged pieces ignored", self.path, damaged)
        return stored

    def _write(self, rows: list[tuple[bytes, bytes, int]]) -> None:
        """Store `rows` (claiming the file if it held another scope's pieces); a failure only
        costs rendering them next time."""
        if not self._usable():
            return
        try:
            with contextlib.closing(self._connect()) as connection, connection:
                if self._state != _OURS or self._scope_of(connection) != self.scope:
                    connection.execute("DELETE FROM fragments")
                    connection.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('scope', ?)", (self.scope,)
                    )
                connection.executemany("INSERT OR REPLACE INTO fragments VALUES (?, ?, ?)", rows)
        except sqlite3.Error as exc:
            log.warning("cannot keep the rendered pieces in %s: %s", self.path, exc)
            self._discard()
            self._state = _BROKEN
            return
        self._state = _OURS
        self._used = True

    def _discard(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                Path(f"{self.path}{suffix}").unlink()

    def get(self, key: bytes) -> bytes | None:
        kind = _kind_of(key)
        stored = self._read.get(kind)
        if stored is None:
            stored = self._load(kind)
        return stored.get(key)

    def put(self, key: bytes, data: bytes) -> None:
        # Kept in a child too (never written there): it hands them to the parent (`take`).
        self._new.setdefault(_kind_of(key), {})[key] = data
        self._pending += len(data)
        # Written a few megabytes at a time: a cold publication renders all of them.
        if self._pending < _WRITE_BYTES:
            return
        if os.getpid() == self._owner:
            self._write(_rows(self.take()))
        elif self._spool is not None:
            marshal.dump(list(self.take().items()), self._spool)

    def spool(self) -> None:
        """In a child: from now on keep the pieces made, past a few megabytes, in a temporary
        file beside the cache (not in memory) until they are taken (`take_spooled`)."""
        # Closed by take_spooled (or with the child process): it outlives this call.
        self._spool = tempfile.TemporaryFile(dir=self.path.parent)  # noqa: SIM115

    def take_spooled(self) -> Iterator[list[tuple[bytes, bytes]]]:
        """The pieces `spool` set aside, a few megabytes at a time (then the file is gone)."""
        spool, self._spool = self._spool, None
        if spool is None:
            return
        with spool:
            spool.seek(0)
            while True:
                try:
                    yield marshal.load(spool)
                except EOFError:
                    return

    def write(self, pieces: dict[bytes, bytes]) -> None:
        """Store `pieces` now (made elsewhere: not held here)."""
        self._write(_rows(pieces))

    def load(self, kind: str) -> None:
        """Read the pieces of `kind` now, if not read yet: a child forked next has them."""
        if kind.encode() not in self._read:
            self._load(kind.encode())

    def take(self) -> dict[bytes, bytes]:
        """The pieces made since they were last written or taken (forgotten here)."""
        new = {key: data for pieces in self._new.values() for key, data in pieces.items()}
        self._new.clear()
        self._pending = 0
        return new

    def release(self, kind: str) -> None:
        """Write the pieces of `kind` made since they were read, and let go of them all."""
        kind_bytes = kind.encode()
        self._read.pop(kind_bytes, None)
        new = self._new.pop(kind_bytes, None)
        self._pending -= sum(map(len, new.values())) if new else 0
        if new:
            self._write(_rows(new))

    def save(self, live: Iterable[bytes]) -> None:
        """Store the pieces made since their kind was last released and drop those no output
        uses any more (when pieces were read or written); a failure only costs rendering
        them next time."""
        new = _rows(self.take())
        if new or self._state == _FOREIGN:
            self._write(new)
        if not (self._had_pieces and self._used and self._state == _OURS and self._usable()):
            return
        keep = live if isinstance(live, (set, frozenset)) else set(live)
        try:
            with contextlib.closing(self._connect()) as connection, connection:
                stale = [(k,) for (k,) in connection.execute("SELECT key FROM fragments")]
                stale = [row for row in stale if row[0] not in keep]
                connection.executemany("DELETE FROM fragments WHERE key = ?", stale)
        except sqlite3.Error as exc:
            log.warning("cannot keep the rendered pieces in %s: %s", self.path, exc)
            self._discard()
            self._state = _BROKEN


def _rows(pieces: dict[bytes, bytes]) -> list[tuple[bytes, bytes, int]]:
    """`pieces` as rows, in the order of their keys (the key index is filled in order)."""
    return [(key, pieces[key], _check(key, pieces[key])) for key in sorted(pieces)]


class Fragments:
    """The pieces of one publication: each rendered once, from the store when it has it, and
    held until `release` says the outputs joined from that kind of piece are all rendered."""

    def __init__(
        self, config: Config, store: FragmentStore | None = None, *, keyed: bool | None = None
    ) -> None:
        self.config = config
        self.store = store
        # Without a store nor a record to compare with, keys are not worth computing: each
        # piece is then made once per event object (`piece`) and outputs have no key.
        self.keyed = store is not None if keyed is None else keyed
        # The code and the configuration: every piece depends on both.
        self.scope = key_of(code_fingerprint(), config.model_dump_json())
        if store is not None:
            store.scope = self.scope.hex()
        self.live: set[bytes] = set()
        self._prefixes: dict[str, tuple[bytes, Any]] = {}
        # By kind: each event object's piece (`piece`), and each key's (`get`).
        self._pieces: dict[str, dict[int, tuple[Event, bytes]]] = {}
        self._memo: dict[bytes, dict[bytes, bytes]] = {}
        self._keys: dict[int, tuple[Event, bytes]] = {}
        self.rendered = 0  # pieces rendered (not found), for the tests and the log

    def key(self, event: Event) -> bytes:
        """`event_key(event)`, computed once per event object."""
        found = self._keys.get(id(event))
        if found is not None and found[0] is event:
            return found[1]
        key = event_key(event)
        self._keys[id(event)] = (event, key)
        return key

    def piece_key(self, kind: str, event: Event, *extra: bytes | str | int | None) -> bytes:
        """The key of one of `event`'s pieces, b"<kind>:" and a hash; the piece counts as in
        use (see `save`)."""
        found = self._prefixes.get(kind)
        if found is None:
            hasher = hashlib.blake2b(_encoded((kind,)), digest_size=16)
            found = self._prefixes[kind] = (kind.encode() + b":", hasher)
        prefix, hasher = found
        if not extra:
            # The event's key as it is: the store holds pieces of one scope (code and
            # configuration) only, see FragmentStore.
            key = prefix + self.key(event)
        else:
            digest = hasher.copy()
            digest.update(self.key(event))
            digest.update(_encoded(extra))
            key = prefix + digest.digest()
        self.live.add(key)
        return key

    def get(self, key: bytes, render: Callable[[], bytes], *, hold: bool = True) -> bytes:
        """The piece stored under `key`, rendered by `render` when no publication made it yet;
        kept for the rest of the publication unless not `hold` (a piece that one output only
        shows, such as a card of a page's depth)."""
        self.live.add(key)
        kind = _kind_of(key)
        memo = self._memo.get(kind)
        if memo is None:
            memo = self._memo[kind] = {}
        data = memo.get(key)
        if data is not None:
            return data
        if self.store is not None:
            data = self.store.get(key)
        if data is None:
            data = render()
            self.rendered += 1
            if self.store is not None:
                self.store.put(key, data)
        if hold:
            memo[key] = data
        return data

    def piece(
        self,
        kind: str,
        event: Event,
        render: Callable[[], bytes],
        *extra: bytes | str | int | None,
        hold: bool = True,
    ) -> bytes:
        """The piece `kind` of `event` (with `extra`: see `piece_key`; `hold`: see `get`)."""
        if extra or not hold:
            key = self.piece_key(kind, event, *extra)
            return self.get(key, render, hold=hold) if self.keyed else render()
        pieces = self._pieces.get(kind)
        if pieces is None:
            pieces = self._pieces[kind] = {}
        found = pieces.get(id(event))
        if found is not None and found[0] is event:
            return found[1]
        if self.keyed:
            data = self.get(self.piece_key(kind, event), render)
        else:
            data = render()
            self.rendered += 1
        pieces[id(event)] = (event, data)
        return data

    def preload(self, *kinds: str) -> None:
        """Read the stored pieces of `kinds` now: a child process forked next renders from them
        (it cannot read the store) and hands back what it rendered (`handed`, `adopt`)."""
        if self.store is not None:
            for kind in kinds:
                self.store.load(kind)

    def in_child(self) -> None:
        """In a child process just forked: forget the pieces the parent made and has to store,
        so that `handed` gives only this process's, and set those made here aside in a file
        as they are made (they wait there, not in memory, until the parent takes them)."""
        self.rendered = 0
        if self.store is not None:
            self.store.take()
            with contextlib.suppress(OSError):  # else they wait in memory
                self.store.spool()

    def handed(self) -> Iterator[bytes]:
        """In a child: the pieces rendered here, and how many, a few megabytes at a time, for
        the parent's `adopt`."""
        count = self.rendered
        pieces: Iterable[tuple[bytes, bytes]] = ()
        if self.store is not None:
            spooled = itertools.chain.from_iterable(self.store.take_spooled())
            pieces = itertools.chain(spooled, self.store.take().items())
        chunk: list[tuple[bytes, bytes]] = []
        size = 0
        for key, data in pieces:
            chunk.append((key, data))
            size += len(data)
            if size >= _CHUNK_BYTES:
                yield marshal.dumps((count, chunk))
                chunk, size, count = [], 0, 0
        yield marshal.dumps((count, chunk))

    def adopt(self, handed: bytes) -> None:
        """One chunk of the pieces a child rendered (`handed`): stored at once, as if rendered
        here and released."""
        rendered, pieces = marshal.loads(handed)
        self.rendered += rendered
        if self.store is not None and pieces:
            self.store.write(dict(pieces))

    def release(self, *kinds: str) -> None:
        """Let go of the pieces of `kinds` (every output joined from them is rendered), those
        rendered handed to the store first; a piece asked for again is read or made again."""
        for kind in kinds:
            self._pieces.pop(kind, None)
            self._memo.pop(kind.encode(), None)
            if self.store is not None:
                self.store.release(kind)

    def save(self) -> None:
        """Keep the pieces for the next publication: those of every output planned, rendered or
        not (their keys were asked for), and no other."""
        if self.store is not None:
            self.store.save(self.live)
