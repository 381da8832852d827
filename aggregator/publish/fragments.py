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
a cache that cannot be read at all is started afresh.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import sqlite3
import sys
import zlib
from collections.abc import Callable, Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

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
_SCHEMA = 2
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


class FragmentStore:
    """The pieces of the last publications, in one SQLite file (read at the first piece asked
    for, written by `save` after the publication succeeded)."""

    def __init__(self, path: Path, scope: bytes = b"") -> None:
        self.path = Path(path)
        # The code and configuration the pieces were rendered with: pieces of another scope are
        # never read (and dropped at the next save).
        self.scope = scope.hex()
        self._stored: dict[bytes, bytes] | None = None
        self._foreign = False  # the file holds another scope's pieces
        self._new: dict[bytes, bytes] = {}

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path)
        connection.execute(
            "CREATE TABLE IF NOT EXISTS fragments"
            " (key BLOB PRIMARY KEY, data BLOB NOT NULL, checksum INTEGER NOT NULL) WITHOUT ROWID"
        )
        connection.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        row = connection.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        if row is None:
            connection.execute("INSERT INTO meta VALUES ('schema', ?)", (str(_SCHEMA),))
        elif row[0] != str(_SCHEMA):
            raise sqlite3.DatabaseError(f"schema {row[0]}, not {_SCHEMA}")
        connection.commit()
        return connection

    def _scope_of(self, connection: sqlite3.Connection) -> str | None:
        row = connection.execute("SELECT value FROM meta WHERE name = 'scope'").fetchone()
        return row[0] if row is not None else None

    def _load(self) -> dict[bytes, bytes]:
        if self._stored is not None:
            return self._stored
        stored: dict[bytes, bytes] = {}
        if self.path.exists():
            try:
                with contextlib.closing(self._connect()) as connection:
                    if self._scope_of(connection) != self.scope:
                        log.info("%s: pieces of other code or settings, not used", self.path)
                        self._stored = {}
                        self._foreign = True
                        return self._stored
                    rows = connection.execute("SELECT key, data, checksum FROM fragments")
                    damaged = 0
                    for key, data, checksum in rows:
                        if _check(key, data) == checksum:
                            stored[key] = data
                        else:
                            damaged += 1
                    if damaged:
                        log.warning("%s: %d damaged pieces ignored", self.path, damaged)
            except sqlite3.Error as exc:
                log.warning("ignoring the unreadable publication cache %s: %s", self.path, exc)
                self._discard()
                stored = {}
        self._stored = stored
        return stored

    def _discard(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                Path(f"{self.path}{suffix}").unlink()

    def get(self, key: bytes) -> bytes | None:
        stored = self._stored if self._stored is not None else self._load()
        return stored.get(key)

    def put(self, key: bytes, data: bytes) -> None:
        self._new[key] = data

    def save(self, live: Iterable[bytes]) -> None:
        """Store the pieces made since the last save and drop those no output uses any more
        (when the stored ones were read); a failure only costs rendering them next time."""
        keep = set(live)
        new = [(k, d, _check(k, d)) for k, d in self._new.items() if k in keep]
        stale = [(k,) for k in self._stored or () if k not in keep]
        if not new and not stale and not self._foreign:
            return
        try:
            with contextlib.closing(self._connect()) as connection, connection:
                if self._foreign or self._scope_of(connection) != self.scope:
                    connection.execute("DELETE FROM fragments")
                    connection.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('scope', ?)", (self.scope,)
                    )
                    self._foreign = False
                connection.executemany("INSERT OR REPLACE INTO fragments VALUES (?, ?, ?)", new)
                connection.executemany("DELETE FROM fragments WHERE key = ?", stale)
        except sqlite3.Error as exc:
            log.warning("cannot keep the rendered pieces in %s: %s", self.path, exc)
            self._discard()
            return
        if self._stored is not None:
            for (key,) in stale:
                del self._stored[key]
            self._stored.update((k, d) for k, d, _ in new)
        self._new.clear()


class Fragments:
    """The pieces of one publication: each rendered once, from the store when it has it."""

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
        self._prefixes: dict[str, Any] = {}
        self._pieces: dict[tuple[str, int], tuple[Event, bytes]] = {}
        self._memo: dict[bytes, bytes] = {}
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
        """The key of one of `event`'s pieces; the piece counts as in use (see `save`)."""
        if not extra:
            # The kind and the event's key as they are: the store holds pieces of one scope
            # (code and configuration) only, see FragmentStore.
            key = kind.encode() + b":" + self.key(event)
            self.live.add(key)
            return key
        prefix = self._prefixes.get(kind)
        if prefix is None:
            prefix = self._prefixes[kind] = hashlib.blake2b(_encoded((kind,)), digest_size=16)
        digest = prefix.copy()
        digest.update(self.key(event))
        digest.update(_encoded(extra))
        key = digest.digest()
        self.live.add(key)
        return key

    def get(self, key: bytes, render: Callable[[], bytes]) -> bytes:
        """The piece stored under `key`, rendered by `render` when no publication made it yet."""
        self.live.add(key)
        data = self._memo.get(key)
        if data is not None:
            return data
        if self.store is not None:
            data = self.store.get(key)
        if data is None:
            data = render()
            self.rendered += 1
            if self.store is not None:
                self.store.put(key, data)
        self._memo[key] = data
        return data

    def piece(
        self, kind: str, event: Event, render: Callable[[], bytes], *extra: bytes | str | int | None
    ) -> bytes:
        """The piece `kind` of `event` (with `extra`: see `piece_key`)."""
        if extra:
            return self.get(self.piece_key(kind, event, *extra), render) if self.keyed else render()
        found = self._pieces.get((kind, id(event)))
        if found is not None and found[0] is event:
            return found[1]
        if self.keyed:
            data = self.get(self.piece_key(kind, event), render)
        else:
            data = render()
            self.rendered += 1
        self._pieces[kind, id(event)] = (event, data)
        return data

    def save(self) -> None:
        """Keep the pieces for the next publication: those of every output planned, rendered or
        not (their keys were asked for), and no other."""
        if self.store is not None:
            self.store.save(self.live)
