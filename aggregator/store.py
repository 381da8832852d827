"""The SQLite database (via sqlite-utils): sources, fetch attempts, events and provenance.

Tables:
  sources         one row per registered source: HTTP validators and health
  fetch_attempts  one row per fetch of a source (the health history)
  source_events   what each source said about each event (the provenance): one row per
                  (source, source UID), kept forever; `active` is 0 once the source stopped
                  announcing it
  events          the canonical, merged events residents see; `uid` never changes

A source's results are written in one transaction. A failed fetch writes only its health, so
stored events are never lost to a broken source. The canonical event's SEQUENCE and
LAST-MODIFIED move only when what we publish about it really changed, so re-running on the
same input changes nothing.

Persistence only: matching, clustering and merging are aggregator/dedupe/ (its engine reads
the records through the queries below and writes the result back). A new record gets its own
canonical event at once, so the database is consistent after every source's transaction; the
run's matching pass then moves records between events. A canonical UID is born with the first
record of a cluster and kept while any record stays in it.

Misbehaving sources: a source whose UIDs all change between two polls while the content stays
the same is flagged `uid_unstable` and its records are identified by content fingerprint from
then on; a successful fetch that would remove more than half of a source's upcoming events (when
it had at least 4) is held back for up to 3 consecutive runs unless the caller accepts it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlite_utils

from aggregator.config import Config, Source
from aggregator.dedupe.text import (
    content_fingerprint,
    normalize_title,
    normalize_url,
    terms_code,
    title_terms,
)
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
    SourceRef,
)
from aggregator.normalize import local_midnight

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
# The mass-deletion guard: hold removals above this share of a source's upcoming events...
GUARD_MIN_EVENTS = 4
GUARD_SHARE = 0.5
GUARD_RUNS = 3  # ...until the change has persisted over this many consecutive fetches
UID_DOMAIN = "agenda-numerique-bretagne"

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE IF NOT EXISTS sources (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        etag TEXT,
        http_last_modified TEXT,
        last_attempt TEXT,
        last_success TEXT,
        last_outcome TEXT,
        http_status INTEGER,
        events_found INTEGER,
        items_seen INTEGER,
        last_error TEXT,
        warnings TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE IF NOT EXISTS fetch_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source_id TEXT NOT NULL,
        at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        http_status INTEGER,
        size INTEGER,
        elapsed REAL,
        events_found INTEGER,
        new INTEGER, updated INTEGER, removed INTEGER,
        error TEXT
    );
    CREATE INDEX IF NOT EXISTS fetch_attempts_source ON fetch_attempts (source_id, at);
    CREATE TABLE IF NOT EXISTS events (
        uid TEXT PRIMARY KEY,
        match_key TEXT NOT NULL,
        title TEXT NOT NULL,
        start TEXT NOT NULL,
        end TEXT,
        effective_end TEXT NOT NULL,
        tz TEXT,
        all_day INTEGER NOT NULL,
        location_name TEXT, address TEXT, postcode TEXT, city TEXT,
        url TEXT,
        description TEXT NOT NULL DEFAULT '',
        categories TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL,
        sequence INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX IF NOT EXISTS events_match_key ON events (match_key);
    CREATE INDEX IF NOT EXISTS events_effective_end ON events (effective_end);
    CREATE TABLE IF NOT EXISTS source_events (
        id TEXT PRIMARY KEY,
        source_id TEXT NOT NULL,
        source_uid TEXT NOT NULL,
        event_uid TEXT NOT NULL REFERENCES events(uid),
        title TEXT NOT NULL,
        start TEXT NOT NULL,
        end TEXT,
        effective_end TEXT NOT NULL,
        tz TEXT,
        all_day INTEGER NOT NULL,
        location_name TEXT, address TEXT, postcode TEXT, city TEXT,
        url TEXT,
        description TEXT NOT NULL DEFAULT '',
        categories TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL,
        last_modified TEXT,
        source_sequence INTEGER NOT NULL DEFAULT 0,
        content_hash TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        removed_at TEXT
    );
    CREATE INDEX IF NOT EXISTS source_events_source ON source_events (source_id, active);
    CREATE INDEX IF NOT EXISTS source_events_event ON source_events (event_uid);
    """,
    2: """
    ALTER TABLE source_events ADD COLUMN origin TEXT NOT NULL DEFAULT '';
    ALTER TABLE source_events ADD COLUMN fingerprint TEXT;
    CREATE INDEX IF NOT EXISTS source_events_start ON source_events (active, start);
    -- (queries by event_uid write `+active` so that SQLite keeps using source_events_event)
    ALTER TABLE sources ADD COLUMN uid_unstable INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sources ADD COLUMN held_runs INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sources ADD COLUMN notice TEXT
    """,
    # The version of what `upcoming` reads: a new random token at every change of an event or
    # of a record's provenance, whoever writes it (this code, a volunteer's sqlite3 shell, a
    # restored backup's own history), so an unchanged token proves an unchanged agenda without
    # reading it. Records' `last_seen` (rewritten at every fetch) is not read, so not watched.
    3: """
    CREATE TABLE IF NOT EXISTS store_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT OR IGNORE INTO store_state VALUES ('events_version', lower(hex(randomblob(16))));
    CREATE TRIGGER IF NOT EXISTS events_inserted AFTER INSERT ON events BEGIN {bump}; END;
    CREATE TRIGGER IF NOT EXISTS events_updated AFTER UPDATE ON events BEGIN {bump}; END;
    CREATE TRIGGER IF NOT EXISTS events_deleted AFTER DELETE ON events BEGIN {bump}; END;
    CREATE TRIGGER IF NOT EXISTS records_inserted AFTER INSERT ON source_events BEGIN {bump}; END;
    CREATE TRIGGER IF NOT EXISTS records_updated
        AFTER UPDATE OF event_uid, source_id, url, active, first_seen ON source_events
        BEGIN {bump}; END;
    CREATE TRIGGER IF NOT EXISTS records_deleted AFTER DELETE ON source_events BEGIN {bump}; END
    """.replace(
        "{bump}",
        "UPDATE store_state SET value = lower(hex(randomblob(16))) WHERE name = 'events_version'",
    ),
    # Each record's title words and page as the term frequencies count them (`title_terms`,
    # `normalize_url`), so that a run does not normalize every stored title again. Filled by
    # `_refresh_terms`; a title or address another program changes loses them (NULL: made
    # when read).
    4: """
    ALTER TABLE source_events ADD COLUMN terms TEXT;
    ALTER TABLE source_events ADD COLUMN page TEXT;
    CREATE TRIGGER IF NOT EXISTS records_retitled
        AFTER UPDATE OF title, url ON source_events
        WHEN (NEW.title IS NOT OLD.title OR NEW.url IS NOT OLD.url)
            AND NEW.terms IS OLD.terms AND NEW.page IS OLD.page
        BEGIN UPDATE source_events SET terms = NULL, page = NULL WHERE rowid = NEW.rowid; END
    """,
}


@dataclass(slots=True)
class SourceChanges:
    """What one fetch of one source changed in the store.

    `held` counts removals kept back by the mass-deletion guard. For the run's matching pass:
    `touched` the records that are new or whose matched fields changed, `left` those the
    source withdrew, `dirty` the canonical events whose records changed.
    """

    new: int = 0
    updated: int = 0
    removed: int = 0
    events_found: int = 0
    held: int = 0
    notices: list[str] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A source's last known state, as shown by `aggregator sources list` and sources.html.

    `uid_unstable` marks a source whose UIDs change at every fetch (its events are identified by
    content); `notice` says what the store is holding back or working around, in words.
    """

    id: str
    name: str
    url: str
    last_attempt: datetime | None
    last_success: datetime | None
    last_outcome: str | None
    http_status: int | None
    events_found: int | None
    last_error: str | None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    uid_unstable: bool = False
    notice: str | None = None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record's id with its provenance."""

    id: str
    info: RecordInfo


@dataclass(frozen=True, slots=True)
class RecordInfo:
    """One source's record of an event, for explanations (the provenance)."""

    source_id: str
    source_uid: str
    title: str
    start: datetime
    url: str | None
    origin: str
    first_seen: datetime
    last_seen: datetime
    active: bool


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _from_iso(value: str | None, tz: ZoneInfo | None = None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.astimezone(tz) if tz is not None else parsed


def _zone_name(value: datetime) -> str | None:
    key = getattr(value.tzinfo, "key", None)
    return key if isinstance(key, str) else None


def _zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


def _hash(payload: Any) -> str:
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _event_columns(event: Event) -> dict[str, Any]:
    """The descriptive columns shared by source_events and events."""
    loc = event.location
    return {
        "title": event.title,
        "start": _iso(event.start),
        "end": _iso(event.end),
        "effective_end": _iso(event.effective_end),
        "tz": _zone_name(event.start),
        "all_day": int(event.all_day),
        "location_name": loc.name,
        "address": loc.address,
        "postcode": loc.postcode,
        "city": loc.city,
        "url": event.url,
        "description": event.description,
        "categories": json.dumps(list(event.categories), ensure_ascii=False),
        "status": event.status,
    }


def _content_hash(columns: dict[str, Any]) -> str:
    # The zone name is presentation; the instant is what matters.
    return _hash({k: v for k, v in columns.items() if k != "tz"})


class Store:
    """The aggregator's database. Create it with a path; the schema is created and migrated."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            in_memory = str(path) == ":memory:"
            self.db = sqlite_utils.Database(None if in_memory else str(path), memory=in_memory)
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"cannot open the database {path}: {exc}; check the --db path and that the file "
                "is an aggregator SQLite database"
            ) from exc

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction (a savepoint when already inside one); a database error rolls it
        back and becomes a StoreError."""
        try:
            with self.db.atomic():
                yield
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the database {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database {self.path} was written by a newer aggregator (schema {version}); "
                "upgrade aggregator"
            )
        self.db.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL syncs at checkpoints instead of at every commit (one per source):
        # a crash of the process loses nothing committed, a power cut may lose the last
        # transactions but never corrupts the file — and the next run fetches them again.
        self.db.execute("PRAGMA synchronous = NORMAL")
        # A run writes one transaction per source; checkpointing (copying the log into the
        # file, with its syncs) every 40 MB instead of every 4 MB saves a fifth of the store's
        # time on a cold run. The log is cut back to 64 MB after each checkpoint.
        self.db.execute("PRAGMA wal_autocheckpoint = 10000")
        self.db.execute("PRAGMA journal_size_limit = 67108864")
        if version < SCHEMA_VERSION:
            self._migrate_schema()
        self._refresh_terms()

    @contextmanager
    def _write_locked(self) -> Iterator[sqlite3.Connection]:
        """One transaction that holds the write lock from its start (BEGIN IMMEDIATE), for the
        changes made when the database is opened: a second process opening it meanwhile waits,
        then sees them done; a kill midway leaves the file as it was."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _migrate_schema(self) -> None:
        # user_version is read again under the lock, so two processes opening a fresh database
        # cannot both migrate it (the second sees the new version).
        with self._write_locked() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for target in range(version + 1, SCHEMA_VERSION + 1):
                # executescript() would commit mid-migration; run statement by statement instead.
                # A statement ends with ";" at the end of a line (a trigger's body holds ";").
                for statement in re.split(r";\s*$", _MIGRATIONS[target], flags=re.M):
                    if statement.strip() and not self._column_exists(statement):
                        conn.execute(statement)
                if target == 2:
                    self._backfill_fingerprints()
                conn.execute(f"PRAGMA user_version = {target}")

    def _refresh_terms(self) -> None:
        """Make every record's stored terms again if the code that makes them changed (an
        upgrade; a database from before schema 4)."""
        code = terms_code()
        query = "SELECT value FROM store_state WHERE name = 'terms_code'"
        if (self.db.conn.execute(query).fetchone() or (None,))[0] == code:
            return
        with self._write_locked() as conn:
            if (conn.execute(query).fetchone() or (None,))[0] == code:
                return  # another process did it while this one waited for the lock
            rows = conn.execute("SELECT id, title, url FROM source_events").fetchall()
            conn.executemany(
                "UPDATE source_events SET terms = ?, page = ? WHERE id = ?",
                [(title_terms(title), normalize_url(url), rid) for rid, title, url in rows],
            )
            conn.execute("INSERT OR REPLACE INTO store_state VALUES ('terms_code', ?)", (code,))

    def _column_exists(self, statement: str) -> bool:
        """Whether `statement` adds a column that is already there (a database migrated by an
        older, non-transactional aggregator): skipping it makes migrations idempotent."""
        # re.M: a statement may start with a comment line.
        match = re.search(
            r"^\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)", statement, re.I | re.M
        )
        if match is None:
            return False
        table, column = match.groups()
        rows = self.db.conn.execute(f"PRAGMA table_info({table})").fetchall()
        return any(row[1] == column for row in rows)

    def _backfill_fingerprints(self) -> None:
        """Schema 2 identifies records of UID-unstable sources by content: compute it for the
        records a schema 1 database already holds."""
        rows = self.db.query(
            "SELECT id, title, start, location_name, postcode, city FROM source_events"
        )
        self.db.conn.executemany(
            "UPDATE source_events SET fingerprint = ? WHERE id = ?",
            [(_row_fingerprint(row), row["id"]) for row in list(rows)],
        )

    # -- sources -------------------------------------------------------------------------------

    def validators(self) -> dict[str, tuple[str | None, str | None]]:
        """The ETag / Last-Modified to send for each source's next conditional GET."""
        rows = self.db.query("SELECT id, etag, http_last_modified, url FROM sources")
        return {row["id"]: (row["etag"], row["http_last_modified"]) for row in rows}

    def sync_sources(self, sources: Iterable[Source]) -> None:
        """Record each configured source; forget HTTP validators when its URL changed."""
        with self.db.atomic():
            for source in sources:
                existing = self._source_row(source.id)
                if existing is None:
                    self.db["sources"].insert(
                        {"id": source.id, "name": source.name, "url": source.url}
                    )
                elif existing["url"] != source.url or existing["name"] != source.name:
                    changes: dict[str, Any] = {"name": source.name, "url": source.url}
                    if existing["url"] != source.url:
                        changes |= {"etag": None, "http_last_modified": None}
                    self.db["sources"].update(source.id, changes)

    def _source_row(self, source_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM sources WHERE id = ?", [source_id]))
        return rows[0] if rows else None

    def health(self, sources: Sequence[Source]) -> list[SourceHealth]:
        """Each configured source's last known state, in configuration order."""
        result = []
        for source in sources:
            row = self._source_row(source.id) or {}
            result.append(
                SourceHealth(
                    id=source.id,
                    name=source.name,
                    url=source.url,
                    last_attempt=_from_iso(row.get("last_attempt")),
                    last_success=_from_iso(row.get("last_success")),
                    last_outcome=row.get("last_outcome"),
                    http_status=row.get("http_status"),
                    events_found=row.get("events_found"),
                    last_error=row.get("last_error"),
                    warnings=tuple(json.loads(row.get("warnings") or "[]")),
                    uid_unstable=bool(row.get("uid_unstable")),
                    notice=row.get("notice"),
                )
            )
        return result

    # -- writing a fetch -------------------------------------------------------------------------

    def record_fetch(
        self,
        source: Source,
        result: FetchResult,
        parsed: ParseResult | None,
        now: datetime,
        *,
        error: str | None = None,
        accept_removals: bool = False,
    ) -> SourceChanges:
        """Store one source's fetch outcome and, when it succeeded, its events — atomically.

        `error` (a parse failure) turns an HTTP success into a failed attempt: the source's
        stored events are left exactly as they were. `accept_removals` lets this fetch remove
        more than half of the source's upcoming events (the mass-deletion guard).
        """
        changes = SourceChanges()
        outcome = result.status if error is None else FETCH_FAILED
        try:
            with self.db.atomic():
                flags: dict[str, Any] = {}
                if outcome == FETCH_OK and parsed is not None:
                    changes, flags = self._apply_events(source, parsed.events, now, accept_removals)
                health, attempt = _fetch_rows(source, result, parsed, now, error, changes, flags)
                self._upsert("sources", "id", health)
                self._insert("fetch_attempts", attempt)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot save the results of source {source.id!r}: {exc}") from exc
        return changes

    def record_not_modified(
        self, fetches: Sequence[tuple[Source, FetchResult]], now: datetime
    ) -> None:
        """`record_fetch` for sources that answered 304 (their health and attempt only), in
        two statements: while the downloads go on in another thread, each statement waits for
        the interpreter's lock, so a run of unchanged sources costs what its statements count."""
        if not fetches:
            return
        rows = [
            _fetch_rows(source, result, None, now, None, SourceChanges(), {})
            for source, result in fetches
        ]
        try:
            with self.db.atomic():
                self._upsert_many("sources", "id", [health for health, _ in rows])
                self._insert_many("fetch_attempts", [attempt for _, attempt in rows])
        except sqlite3.Error as exc:
            names = ", ".join(repr(source.id) for source, _ in fetches)
            raise StoreError(f"cannot save the results of sources {names}: {exc}") from exc

    def _apply_events(
        self,
        source: Source,
        events: Sequence[Event],
        now: datetime,
        accept_removals: bool,
    ) -> tuple[SourceChanges, dict[str, Any]]:
        """Write a successful fetch's records, re-match what changed; return the changes and the
        source's new health flags."""
        changes = SourceChanges(events_found=len(events))
        stamp = _iso(now)
        assert stamp is not None
        src = self._source_row(source.id) or {}
        unstable = bool(src.get("uid_unstable"))
        rows = list(self.db.query("SELECT * FROM source_events WHERE source_id = ?", [source.id]))
        incoming: dict[str, tuple[Event, dict[str, Any]]] = {}
        for event in events:
            # A source listing the same UID twice: the first wins.
            if event.source_uid not in incoming:
                incoming[event.source_uid] = (event, _record_columns(event))
        notices: list[str] = []
        if not unstable and _uids_rotated(rows, incoming, stamp):
            unstable = True
            log.warning("source %s regenerates its UIDs; identifying by content", source.id)
        if unstable:
            notices.append(
                "the source changes its event UIDs at every fetch: its events are identified "
                "by title, start and place instead"
            )

        def key_of_row(row: dict[str, Any]) -> str:
            return str(row["fingerprint"] if unstable else row["source_uid"])

        existing: dict[str, dict[str, Any]] = {}
        # Prefer the active, most recently seen row when several share a key (fingerprints).
        for row in sorted(rows, key=lambda r: (r["active"], r["last_seen"])):
            existing[key_of_row(row)] = row
        touched = changes.touched
        dirty = changes.dirty
        seen: set[str] = set()
        unchanged: list[tuple[str, str]] = []
        fresh, known = self._free_uids(
            [
                _record_id(source.id, key)
                for source_uid, (_event, columns) in incoming.items()
                if (key := columns["fingerprint"] if unstable else source_uid) not in existing
            ]
        )
        # New records and their events are written together (two statements per source, not
        # two per record); before anything that reads them back (`_own_event`), and at the end.
        new_records: list[dict[str, Any]] = []
        new_events: list[dict[str, Any]] = []

        def write_new() -> None:
            if new_events:
                self._insert_many("events", new_events)
            if new_records:
                self._insert_many("source_events", new_records, replace=True)
            new_events.clear()
            new_records.clear()

        for source_uid, (_event, columns) in incoming.items():
            key = columns["fingerprint"] if unstable else source_uid
            if key in seen:
                continue
            seen.add(key)
            row = existing.get(key)
            record = columns | {"source_uid": source_uid, "last_seen": stamp, "active": 1}
            record["removed_at"] = None
            if row is None:
                record_id = _record_id(source.id, key)
                record |= {
                    "id": record_id,
                    "source_id": source.id,
                    "event_uid": "",  # its own event, right below; the run's matching may move it
                    "first_seen": stamp,
                }
                uid = fresh.pop(record_id, None)
                if uid is None:
                    write_new()
                    uid = self._own_event(record_id, None, record)
                elif uid not in known:
                    new_events.append(_event_row(uid, record))
                record["event_uid"] = uid
                new_records.append(record)
                touched.append(record_id)
                dirty.add(uid)
                changes.new += 1
                continue
            changed = row["content_hash"] != columns["content_hash"]
            if changed or not row["active"] or row["origin"] != columns["origin"]:
                changes.updated += int(changed or not row["active"])
                if not row["active"] or _match_fields_changed(row, columns):
                    touched.append(row["id"])
                dirty.add(row["event_uid"])
            if all(row[k] == v for k, v in record.items() if k != "last_seen"):
                unchanged.append((stamp, row["id"]))  # the common case: one batched UPDATE
            else:
                self._update("source_events", "id", row["id"], record)
        write_new()
        self.db.conn.executemany("UPDATE source_events SET last_seen = ? WHERE id = ?", unchanged)
        # What the source stopped announcing leaves the agenda. Past events that merely fell out
        # of the source's export are history, not removals.
        upcoming = [r for r in existing.values() if r["active"] and r["effective_end"] >= stamp]
        gone = [r for r in upcoming if key_of_row(r) not in seen]
        held_runs = 0
        if (
            len(upcoming) >= GUARD_MIN_EVENTS
            and len(gone) > GUARD_SHARE * len(upcoming)
            and not accept_removals
        ):
            held_runs = int(src.get("held_runs") or 0) + 1
            if held_runs < GUARD_RUNS:
                changes.held = len(gone)
                notices.append(
                    f"kept {len(gone)} of {len(upcoming)} upcoming events the source no longer "
                    f"lists (run {held_runs} of {GUARD_RUNS}): a broken page or an empty export? "
                    f"Remove them now with --accept-removals {source.id}, or they go after "
                    f"{GUARD_RUNS} runs"
                )
                gone = []
            else:
                held_runs = 0
        for row in gone:
            self._update("source_events", "id", row["id"], {"active": 0, "removed_at": stamp})
            changes.removed += 1
            dirty.add(row["event_uid"])
            changes.left.append(row["id"])
        changes.notices = notices
        flags = {
            "uid_unstable": int(unstable),
            "held_runs": held_runs,
            "notice": "; ".join(notices) or None,
        }
        return changes, flags

    # -- records for matching and merging (aggregator/dedupe/engine.py) ----------------------

    def source_names(self) -> dict[str, str]:
        """Every registered source's name by id (matching cuts them from titles)."""
        return {row["id"]: row["name"] for row in self.db.query("SELECT id, name FROM sources")}

    def match_rows(self, ids: Sequence[str]) -> list[tuple[Any, ...]]:
        """The matched columns (`MATCH_COLUMNS`) of the active records among `ids`."""
        found: list[tuple[Any, ...]] = []
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" for _ in chunk)
            found += self.db.conn.execute(
                f"SELECT {MATCH_COLUMNS} FROM source_events WHERE id IN ({marks}) AND active = 1",
                chunk,
            ).fetchall()
        return found

    def record_days_rows(self, ids: Sequence[str]) -> list[tuple[Any, ...]]:
        """The same for `ids` whatever their state (withdrawn records still say which days
        they occupied)."""
        found: list[tuple[Any, ...]] = []
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" for _ in chunk)
            found += self.db.conn.execute(
                f"SELECT {MATCH_COLUMNS} FROM source_events WHERE id IN ({marks})", chunk
            ).fetchall()
        return found

    def match_rows_around(
        self, spans: Sequence[tuple[date, date]], tz: tzinfo, lookback_days: int
    ) -> list[tuple[Any, ...]]:
        """Active records occupying the local days of `spans` (first, last), counting records
        that started up to `lookback_days` earlier and still run."""
        found: dict[str, tuple[Any, ...]] = {}
        for first, last in spans:
            lower = local_midnight(first, tz)
            upper = local_midnight(last + timedelta(days=1), tz)
            earliest = lower - timedelta(days=lookback_days)
            for row in self.db.conn.execute(
                f"SELECT {MATCH_COLUMNS} FROM source_events WHERE active = 1 AND start >= ? "
                "AND start < ? AND effective_end >= ?",
                [_iso(earliest), _iso(upper), _iso(lower)],
            ):
                found[row[0]] = row
        return list(found.values())

    def match_rows_of_events(self, uids: Sequence[str]) -> list[tuple[Any, ...]]:
        """The active records of the events `uids`."""
        found: list[tuple[Any, ...]] = []
        for chunk in _chunks(list(uids), 500):
            marks = ",".join("?" for _ in chunk)
            found += self.db.conn.execute(
                f"SELECT {MATCH_COLUMNS} FROM source_events WHERE event_uid IN ({marks}) "
                "AND +active = 1",
                chunk,
            ).fetchall()
        return found

    def iter_match_rows(self) -> Iterator[tuple[Any, ...]]:
        """Every active record's matched columns, as plain tuples (the bulk path reads all)."""
        return iter(
            self.db.conn.execute(f"SELECT {MATCH_COLUMNS} FROM source_events WHERE active = 1")
        )

    def active_terms(self) -> Iterator[tuple[str | None, str | None, str, str | None]]:
        """The stored terms and page, title and URL of every active record (for term
        frequencies: `stored_frequencies`)."""
        return iter(
            self.db.conn.execute(
                "SELECT terms, page, title, url FROM source_events WHERE active = 1"
            )
        )

    def event_created(self, uids: Sequence[str]) -> dict[str, str]:
        """For each existing event of `uids`, a key that sorts in creation order (creation time,
        then insertion order for events created in one run)."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(uids), 500):
            marks = ",".join("?" for _ in chunk)
            for uid, created, rowid in self.db.conn.execute(
                f"SELECT uid, created, rowid FROM events WHERE uid IN ({marks})", chunk
            ):
                found[uid] = f"{created}\x1f{rowid:012d}"
        return found

    def create_events_from_records(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Create the events (uid, from the record with this id) that do not exist yet."""
        rows = {row["id"]: row for row in self._rows_by_ids([rid for _, rid in pairs])}
        for uid, record_id in pairs:
            if not list(self.db.query("SELECT 1 FROM events WHERE uid = ?", [uid])):
                self._create_event(uid, rows[record_id])

    def delete_unpublished_empty_events(self, uids: Sequence[str], now: datetime) -> None:
        """Delete the events among `uids` created at `now` that no record refers to."""
        self.db.conn.executemany(
            "DELETE FROM events WHERE uid = ? AND created = ? AND NOT EXISTS "
            "(SELECT 1 FROM source_events WHERE event_uid = events.uid)",
            [(uid, _iso(now)) for uid in uids],
        )

    def move_records(self, moves: Sequence[tuple[str, str]]) -> None:
        """Put each record (event uid, record id) in its new event."""
        self.db.conn.executemany("UPDATE source_events SET event_uid = ? WHERE id = ?", moves)

    def merge_inputs(self, uids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """What merging reads of every record (active or not) of the events `uids`."""
        records: dict[str, list[dict[str, Any]]] = {}
        marks = ",".join("?" for _ in uids)
        for row in self.db.query(
            f"SELECT {_MERGE_COLUMNS} FROM source_events WHERE event_uid IN ({marks})", list(uids)
        ):
            records.setdefault(row["event_uid"], []).append(row)
        return records

    def event_rows(self, uids: Sequence[str]) -> list[dict[str, Any]]:
        """The canonical rows of the events `uids`."""
        marks = ",".join("?" for _ in uids)
        return list(self.db.query(f"SELECT * FROM events WHERE uid IN ({marks})", list(uids)))

    def update_events(self, updates: Sequence[Mapping[str, Any]]) -> None:
        """Write canonical event updates (each with its "uid"), grouped by the columns they set
        so that a bulk refresh is a few executemany calls."""
        groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
        for update in updates:
            groups.setdefault(tuple(sorted(k for k in update if k != "uid")), []).append(update)
        for names, group in groups.items():
            assignments = ", ".join(f"[{name}] = ?" for name in names)
            self.db.conn.executemany(
                f"UPDATE events SET {assignments} WHERE uid = ?",
                [[u[name] for name in names] + [u["uid"]] for u in group],
            )

    # -- explaining ------------------------------------------------------------------------------

    def event_title(self, uid: str) -> str:
        """The title of the event `uid`; a StoreError naming the command to list UIDs if none."""
        rows = list(self.db.query("SELECT title FROM events WHERE uid = ?", [uid]))
        if not rows:
            raise StoreError(
                f"no event with UID {uid!r}; list UIDs with `aggregator events --json`"
            )
        return str(rows[0]["title"])

    def records_of_event(self, uid: str) -> list[StoredRecord]:
        """Every record (active or withdrawn) ever merged into the event `uid`."""
        return [
            StoredRecord(row["id"], _record_info(row))
            for row in self.db.query(
                "SELECT * FROM source_events WHERE event_uid = ? ORDER BY first_seen, source_id",
                [uid],
            )
        ]

    def record_infos(self, ids: Sequence[str]) -> dict[str, RecordInfo]:
        """The provenance of the records `ids`."""
        return {row["id"]: _record_info(row) for row in self._rows_by_ids(ids)}

    def _free_uids(self, record_ids: Sequence[str]) -> tuple[dict[str, str], set[str]]:
        """For new records, the event UID each would get from `_own_event` when nothing else
        holds it (the common case, answered in two queries for the whole batch instead of three
        per record; records whose UID is taken are left out and take the slow path), and which
        of these events already exist."""
        wanted = {new_uid(rid): rid for rid in record_ids}
        held: set[str] = set()
        known: set[str] = set()
        for chunk in _chunks(list(wanted), 500):
            marks = ",".join("?" for _ in chunk)
            held.update(
                row[0]
                for row in self.db.conn.execute(
                    f"SELECT event_uid FROM source_events WHERE event_uid IN ({marks}) "
                    "AND +active = 1",
                    chunk,
                )
            )
            known.update(
                row[0]
                for row in self.db.conn.execute(
                    f"SELECT uid FROM events WHERE uid IN ({marks})", chunk
                )
            )
        return {rid: uid for uid, rid in wanted.items() if uid not in held}, known

    def _own_event(self, record_id: str, before: str | None, row: dict[str, Any]) -> str:
        """The event a record that matches nothing stands for: the one it had when nobody else
        is left in it, else its own (created or revived)."""
        if before and not self._others_in(before, record_id):
            return before
        uid = new_uid(record_id)
        salt = 0
        while self._others_in(uid, record_id):
            salt += 1
            uid = new_uid(f"{record_id}/{salt}")
        if not list(self.db.query("SELECT 1 FROM events WHERE uid = ?", [uid])):
            self._create_event(uid, row)
        return uid

    def _others_in(self, event_uid: str, record_id: str) -> bool:
        return bool(
            list(
                self.db.query(
                    "SELECT 1 FROM source_events WHERE event_uid = ? AND +active = 1 AND id != ?"
                    " LIMIT 1",
                    [event_uid, record_id],
                )
            )
        )

    def _create_event(self, uid: str, row: dict[str, Any]) -> None:
        self._insert("events", _event_row(uid, row))

    # Per-row writes in plain SQL: sqlite-utils' insert/update look the table's schema up on each
    # call (several PRAGMA queries per row); the same SQL text is a prepared statement that
    # sqlite3 keeps in its cache. Values are plain str/int/float/None here.
    def _insert(self, table: str, row: Mapping[str, Any], *, replace: bool = False) -> None:
        self._insert_many(table, [row], replace=replace)

    def _insert_many(
        self, table: str, rows: Sequence[Mapping[str, Any]], *, replace: bool = False
    ) -> None:
        """Insert `rows` (all with the same columns) in one statement."""
        names = ", ".join(f"[{name}]" for name in rows[0])
        marks = ", ".join("?" for _ in rows[0])
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        self.db.conn.executemany(
            f"{verb} INTO [{table}] ({names}) VALUES ({marks})", [list(r.values()) for r in rows]
        )

    def _upsert(self, table: str, key: str, row: Mapping[str, Any]) -> None:
        """Insert `row`, or set its columns on the row with the same `key` (sqlite-utils'
        upsert, in one statement)."""
        self._upsert_many(table, key, [row])

    def _upsert_many(self, table: str, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """`_upsert` of rows with the same columns, in one statement."""
        names = ", ".join(f"[{name}]" for name in rows[0])
        marks = ", ".join("?" for _ in rows[0])
        assignments = ", ".join(f"[{name}] = excluded.[{name}]" for name in rows[0] if name != key)
        self.db.conn.executemany(
            f"INSERT INTO [{table}] ({names}) VALUES ({marks}) "
            f"ON CONFLICT([{key}]) DO UPDATE SET {assignments}",
            [list(row.values()) for row in rows],
        )

    def _update(self, table: str, key: str, value: str, row: Mapping[str, Any]) -> None:
        assignments = ", ".join(f"[{name}] = ?" for name in row)
        self.db.conn.execute(
            f"UPDATE [{table}] SET {assignments} WHERE [{key}] = ?", [*row.values(), value]
        )

    def _rows_by_ids(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" for _ in chunk)
            found += self.db.query(f"SELECT * FROM source_events WHERE id IN ({marks})", chunk)
        return found

    # -- reading ---------------------------------------------------------------------------------

    def upcoming(self, config: Config, now: datetime) -> list[Event]:
        """The canonical events residents see: still announced, not over, inside the window."""
        tz = config.agenda.tz
        names = {s.id: s for s in config.sources if s.enabled}
        if not names:
            return []
        rows = list(self.db.query(*_upcoming_query(names, config, now)))
        refs = self._provenance([row["uid"] for row in rows], names)
        return [_row_to_event(row, tz, refs.get(row["uid"], ())) for row in rows]

    def events_version(self) -> str:
        """A token that changes whenever anything `upcoming` reads is written (schema 3's
        triggers): the same token means the same stored agenda."""
        row = self.db.conn.execute(
            "SELECT value FROM store_state WHERE name = 'events_version'"
        ).fetchone()
        return str(row[0])

    def next_arrival(self, config: Config, now: datetime) -> datetime | None:
        """When the first stored event beyond the window enters `upcoming` (its start comes
        within `future_days`), or None: until then the window's start alone changes what
        `upcoming` returns, which the events' ends tell."""
        horizon = now + timedelta(days=config.agenda.future_days)
        row = self.db.conn.execute(
            "SELECT min(start) FROM events WHERE active = 1 AND start > ?", [_iso(horizon)]
        ).fetchone()
        first = _from_iso(row[0])
        return first - timedelta(days=config.agenda.future_days) if first else None

    def _provenance(
        self, uids: list[str], sources: dict[str, Source]
    ) -> dict[str, tuple[SourceRef, ...]]:
        refs: dict[str, list[SourceRef]] = {}
        for chunk in _chunks(uids, 500):
            for row in self.db.query(_provenance_query(len(chunk)), chunk):
                source = sources.get(row["source_id"])
                if source is None:
                    continue
                url = row["url"] or source.website or source.url
                refs.setdefault(row["event_uid"], []).append(SourceRef(source.id, source.name, url))
        return {uid: tuple(items) for uid, items in refs.items()}

    def event_count(self) -> int:
        return self.db["events"].count

    def dump_events(self) -> list[dict[str, Any]]:
        """Every canonical event row, for tests and debugging."""
        return list(self.db.query("SELECT * FROM events ORDER BY uid"))


def _upcoming_query(
    names: Mapping[str, Source], config: Config, now: datetime
) -> tuple[str, list[Any]]:
    """The canonical events residents see."""
    horizon = now + timedelta(days=config.agenda.future_days)
    marks = ",".join("?" for _ in names)
    return (
        f"SELECT e.* FROM events e WHERE e.active = 1 AND e.effective_end >= ? AND e.start <= ?"
        f" AND EXISTS (SELECT 1 FROM source_events s WHERE s.event_uid = e.uid"
        f" AND +s.active = 1 AND s.source_id IN ({marks})) ORDER BY e.start, e.title, e.uid",
        [_iso(now), _iso(horizon), *names],
    )


def _provenance_query(count: int) -> str:
    """The records of `count` events, for their provenance."""
    marks = ",".join("?" for _ in range(count))
    return (
        f"SELECT event_uid, source_id, url FROM source_events WHERE +active = 1 AND "
        f"event_uid IN ({marks}) ORDER BY first_seen, source_id"
    )


_COLUMN_NAMES = (
    "title",
    "start",
    "end",
    "effective_end",
    "tz",
    "all_day",
    "location_name",
    "address",
    "postcode",
    "city",
    "url",
    "description",
    "categories",
    "status",
)


# What merging and refreshing read of each record (not the bookkeeping columns).
_MERGE_COLUMNS = "event_uid, source_id, origin, first_seen, active, " + ", ".join(
    f"[{name}]" for name in _COLUMN_NAMES
)


def _event_row(uid: str, row: dict[str, Any]) -> dict[str, Any]:
    """The canonical event a new record starts (until merging fills it in)."""
    columns = {k: row[k] for k in _COLUMN_NAMES}
    return columns | {
        "uid": uid,
        "match_key": match_key(row),
        "sequence": 0,
        "created": row["last_seen"],
        "last_modified": row["last_seen"],
        "content_hash": "",
        "active": 1,
    }


def _fetch_rows(
    source: Source,
    result: FetchResult,
    parsed: ParseResult | None,
    now: datetime,
    error: str | None,
    changes: SourceChanges,
    flags: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The source's new health row and its fetch attempt's row (see `Store.record_fetch`)."""
    outcome = result.status if error is None else FETCH_FAILED
    message = error or result.error
    stamp = _iso(now)
    health: dict[str, Any] = {
        "id": source.id,
        "name": source.name,
        "url": source.url,
        "last_attempt": stamp,
        "last_outcome": outcome,
        "http_status": result.http_status,
        **flags,
    }
    if outcome in (FETCH_OK, FETCH_NOT_MODIFIED):
        health |= {"last_success": stamp, "last_error": None}
        # A 200 replaces the validators, also with none: keeping the previous ones
        # could make a server answer 304 to a body we never read in full.
        health |= {"etag": result.etag, "http_last_modified": result.last_modified}
    else:
        health["last_error"] = message
        if error is not None:
            # A 200 we could not read (cut off, malformed): download it in full next
            # time instead of trusting validators that came with the broken body.
            health |= {"etag": None, "http_last_modified": None}
    if changes.held:
        # Download in full next time (no 304), so the held removals are looked at
        # again: counted towards the 3 runs, or accepted with --accept-removals.
        health |= {"etag": None, "http_last_modified": None}
    if outcome == FETCH_OK and parsed is not None:
        health |= {
            "events_found": len(parsed.events),
            "items_seen": parsed.items,
            "warnings": json.dumps(parsed.warnings[:50], ensure_ascii=False),
        }
    attempt = {
        "source_id": source.id,
        "at": stamp,
        "outcome": outcome,
        "http_status": result.http_status,
        "size": result.size,
        "elapsed": round(result.elapsed, 3),
        "events_found": len(parsed.events) if parsed and outcome == FETCH_OK else None,
        "new": changes.new,
        "updated": changes.updated,
        "removed": changes.removed,
        "error": message if outcome == FETCH_FAILED else None,
    }
    return health, attempt


def _record_id(source_id: str, source_uid: str) -> str:
    return hashlib.sha1(f"{source_id}\x1f{source_uid}".encode()).hexdigest()


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _row_to_event(row: dict[str, Any], tz: ZoneInfo, sources: tuple[SourceRef, ...] = ()) -> Event:
    zone = tz if row.get("all_day") else _zone(row.get("tz"), tz)
    start = _from_iso(row["start"], zone)
    assert start is not None
    return Event(
        source_id=row.get("source_id") or "",
        source_uid=row.get("source_uid") or row.get("uid") or "",
        title=row["title"],
        start=start,
        end=_from_iso(row["end"], zone),
        all_day=bool(row["all_day"]),
        location=Location(row["location_name"], row["address"], row["postcode"], row["city"]),
        url=row["url"],
        description=row["description"] or "",
        categories=tuple(json.loads(row["categories"] or "[]")),
        status=row["status"] if row["status"] == CANCELLED else "confirmed",
        last_modified=_from_iso(row.get("last_modified")),
        uid=row.get("uid"),
        sequence=int(row.get("sequence") or 0),
        sources=sources,
    )


# What matching reads of a record, in this order (aggregator/dedupe/engine.py unpacks it).
MATCH_COLUMNS = (
    "id, source_id, event_uid, title, start, end, all_day, location_name, address, postcode, "
    "city, url, source_uid"
)
_MATCH_FIELDS = (
    "url",
    "title",
    "start",
    "end",
    "all_day",
    "location_name",
    "address",
    "postcode",
    "city",
)
# Share of a source's vanished records that must reappear under new UIDs with the same content
# for the source to be called UID-unstable.
_ROTATION_SHARE = 0.8


def new_uid(record_id: str) -> str:
    """The UID of the event a record is the first of: derived from the record's id, never
    random, so that re-creating it gives the same UID."""
    digest = record_id if "/" not in record_id else hashlib.sha1(record_id.encode()).hexdigest()
    return f"{digest[:24]}@{UID_DOMAIN}"


def _record_columns(event: Event) -> dict[str, Any]:
    """Everything stored about one record besides its identity and bookkeeping."""
    columns = _event_columns(event)
    loc = event.location
    return columns | {
        "content_hash": _content_hash(columns),
        "origin": event.origin or "",
        "fingerprint": content_fingerprint(
            event.title, event.start, name=loc.name, postcode=loc.postcode, city=loc.city
        ),
        "terms": title_terms(event.title),
        "page": normalize_url(event.url),
        "last_modified": _iso(event.last_modified),
        "source_sequence": event.source_sequence,
    }


def _row_fingerprint(row: dict[str, Any]) -> str:
    start = datetime.fromisoformat(row["start"])
    return content_fingerprint(
        row["title"], start, name=row["location_name"], postcode=row["postcode"], city=row["city"]
    )


def _match_fields_changed(row: dict[str, Any], columns: dict[str, Any]) -> bool:
    return any(row[name] != columns[name] for name in _MATCH_FIELDS)


def _uids_rotated(
    rows: Sequence[dict[str, Any]], incoming: dict[str, tuple[Event, dict[str, Any]]], stamp: str
) -> bool:
    """Most upcoming records vanished and as many came back under new UIDs, same content."""
    upcoming = [r for r in rows if r["active"] and r["effective_end"] >= stamp]
    missing = [r for r in upcoming if r["source_uid"] not in incoming]
    if len(missing) < 2 or len(missing) <= GUARD_SHARE * len(upcoming):
        return False
    known = {r["source_uid"] for r in rows}
    fresh = Counter(cols["fingerprint"] for uid, (_, cols) in incoming.items() if uid not in known)
    hits = 0
    for row in missing:
        if fresh[row["fingerprint"]] > 0:
            fresh[row["fingerprint"]] -= 1
            hits += 1
    return hits >= _ROTATION_SHARE * len(missing)


def match_key(row: Mapping[str, Any]) -> str:
    """A readable key of a canonical event (normalized title and day), for lookups by hand."""
    return f"{normalize_title(row['title'])}|{row['start'][:10]}"


def _record_info(row: dict[str, Any]) -> RecordInfo:
    start, first, last = (_from_iso(row[k]) for k in ("start", "first_seen", "last_seen"))
    assert start is not None and first is not None and last is not None
    return RecordInfo(
        source_id=row["source_id"],
        source_uid=row["source_uid"],
        title=row["title"],
        start=start,
        url=row["url"],
        origin=row.get("origin") or "",
        first_seen=first,
        last_seen=last,
        active=bool(row["active"]),
    )
