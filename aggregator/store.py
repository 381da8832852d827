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
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlite_utils

from aggregator.config import Config, Source
from aggregator.dedupe import match_key
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

SCHEMA_VERSION = 1
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
}


@dataclass(slots=True)
class SourceChanges:
    """What one fetch of one source changed in the store."""

    new: int = 0
    updated: int = 0
    removed: int = 0
    events_found: int = 0


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A source's last known state, as shown by `aggregator sources list` and sources.html."""

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

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database {self.path} was written by a newer aggregator (schema {version}); "
                "upgrade aggregator"
            )
        self.db.execute("PRAGMA journal_mode = WAL")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.db.atomic():
                # executescript() would commit mid-migration; run statement by statement instead.
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {target}")

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
    ) -> SourceChanges:
        """Store one source's fetch outcome and, when it succeeded, its events — atomically.

        `error` (a parse failure) turns an HTTP success into a failed attempt: the source's
        stored events are left exactly as they were.
        """
        changes = SourceChanges()
        outcome = result.status if error is None else FETCH_FAILED
        message = error or result.error
        stamp = _iso(now)
        try:
            with self.db.atomic():
                if outcome == FETCH_OK and parsed is not None:
                    changes = self._apply_events(source, parsed.events, now)
                health: dict[str, Any] = {
                    "id": source.id,
                    "name": source.name,
                    "url": source.url,
                    "last_attempt": stamp,
                    "last_outcome": outcome,
                    "http_status": result.http_status,
                }
                if outcome in (FETCH_OK, FETCH_NOT_MODIFIED):
                    health |= {"last_success": stamp, "last_error": None}
                    if result.etag is not None or result.last_modified is not None:
                        health |= {"etag": result.etag, "http_last_modified": result.last_modified}
                else:
                    health["last_error"] = message
                if outcome == FETCH_OK and parsed is not None:
                    health |= {
                        "events_found": len(parsed.events),
                        "items_seen": parsed.items,
                        "warnings": json.dumps(parsed.warnings[:50], ensure_ascii=False),
                    }
                self.db["sources"].upsert(health, pk="id")
                self.db["fetch_attempts"].insert(
                    {
                        "source_id": source.id,
                        "at": stamp,
                        "outcome": outcome,
                        "http_status": result.http_status,
                        "size": result.size,
                        "elapsed": round(result.elapsed, 3),
                        "events_found": len(parsed.events)
                        if parsed and outcome == FETCH_OK
                        else None,
                        "new": changes.new,
                        "updated": changes.updated,
                        "removed": changes.removed,
                        "error": message if outcome == FETCH_FAILED else None,
                    }
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot save the results of source {source.id!r}: {exc}") from exc
        return changes

    def _apply_events(
        self, source: Source, events: Sequence[Event], now: datetime
    ) -> SourceChanges:
        changes = SourceChanges(events_found=len(events))
        stamp = _iso(now)
        existing = {
            row["source_uid"]: row
            for row in self.db.query(
                "SELECT id, source_uid, event_uid, content_hash, active, effective_end "
                "FROM source_events WHERE source_id = ?",
                [source.id],
            )
        }
        dirty: set[str] = set()
        seen: set[str] = set()
        for event in events:
            if event.source_uid in seen:
                continue  # a source listing the same UID twice: the first wins
            seen.add(event.source_uid)
            columns = _event_columns(event)
            content_hash = _content_hash(columns)
            row = existing.get(event.source_uid)
            record = columns | {
                "last_modified": _iso(event.last_modified),
                "source_sequence": event.source_sequence,
                "content_hash": content_hash,
                "last_seen": stamp,
                "active": 1,
                "removed_at": None,
            }
            if row is None:
                event_uid = self._attach(source.id, event, now)
                record |= {
                    "id": _record_id(source.id, event.source_uid),
                    "source_id": source.id,
                    "source_uid": event.source_uid,
                    "event_uid": event_uid,
                    "first_seen": stamp,
                }
                self.db["source_events"].insert(record)
                changes.new += 1
                dirty.add(event_uid)
            else:
                if row["content_hash"] != content_hash or not row["active"]:
                    changes.updated += 1
                    dirty.add(row["event_uid"])
                self.db["source_events"].update(row["id"], record)
        # What the source stopped announcing leaves the agenda. Past events that merely fell out
        # of the source's export are history, not removals.
        for source_uid, row in existing.items():
            if source_uid in seen or not row["active"]:
                continue
            if row["effective_end"] < stamp:
                continue
            self.db["source_events"].update(row["id"], {"active": 0, "removed_at": stamp})
            changes.removed += 1
            dirty.add(row["event_uid"])
        for event_uid in dirty:
            self._refresh_event(event_uid, now)
        return changes

    def _attach(self, source_id: str, event: Event, now: datetime) -> str:
        """Find the canonical event this new record belongs to, or create one; return its UID."""
        key = match_key(event)
        for row in self.db.query(
            "SELECT e.uid FROM events e WHERE e.match_key = ? AND NOT EXISTS ("
            " SELECT 1 FROM source_events s WHERE s.event_uid = e.uid AND s.source_id = ?"
            " AND s.active = 1) ORDER BY e.created LIMIT 1",
            [key, source_id],
        ):
            return str(row["uid"])
        uid = f"{_record_id(source_id, event.source_uid)[:24]}@{UID_DOMAIN}"
        columns = _event_columns(event)
        stamp = _iso(now)
        self.db["events"].insert(
            columns
            | {
                "uid": uid,
                "match_key": key,
                "sequence": 0,
                "created": stamp,
                "last_modified": stamp,
                "content_hash": "",
                "active": 1,
            },
            pk="uid",
        )
        return uid

    def _refresh_event(self, uid: str, now: datetime) -> None:
        """Recompute a canonical event from its records; bump SEQUENCE only on a real change."""
        records = list(
            self.db.query(
                "SELECT * FROM source_events WHERE event_uid = ? ORDER BY active DESC, first_seen, "
                "source_id",
                [uid],
            )
        )
        current = next(self.db.query("SELECT * FROM events WHERE uid = ?", [uid]))
        active = [r for r in records if r["active"]]
        primary = active[0] if active else records[0]
        columns = {k: primary[k] for k in _COLUMN_NAMES}
        published = columns | {"sources": sorted(r["source_id"] for r in active)}
        content_hash = _hash(published)
        update: dict[str, Any] = columns | {
            "active": int(bool(active)),
            "match_key": match_key(_row_to_event(primary, ZoneInfo("UTC"))),
        }
        if content_hash != current["content_hash"]:
            update["content_hash"] = content_hash
            if current["content_hash"]:
                update["sequence"] = current["sequence"] + 1
                update["last_modified"] = _iso(now)
        self.db["events"].update(uid, update)

    # -- reading ---------------------------------------------------------------------------------

    def upcoming(self, config: Config, now: datetime) -> list[Event]:
        """The canonical events residents see: still announced, not over, inside the window."""
        tz = config.agenda.tz
        horizon = now + timedelta(days=config.agenda.future_days)
        names = {s.id: s for s in config.sources if s.enabled}
        if not names:
            return []
        marks = ",".join("?" for _ in names)
        rows = self.db.query(
            f"SELECT e.* FROM events e WHERE e.active = 1 AND e.effective_end >= ? AND e.start <= ?"
            f" AND EXISTS (SELECT 1 FROM source_events s WHERE s.event_uid = e.uid AND s.active = 1"
            f" AND s.source_id IN ({marks})) ORDER BY e.start, e.title, e.uid",
            [_iso(now), _iso(horizon), *names],
        )
        events = [_row_to_event(row, tz) for row in rows]
        refs = self._provenance([e.uid for e in events if e.uid], names)
        return [e.with_changes(sources=refs.get(e.uid or "", ())) for e in events]

    def _provenance(
        self, uids: list[str], sources: dict[str, Source]
    ) -> dict[str, tuple[SourceRef, ...]]:
        refs: dict[str, list[SourceRef]] = {}
        for chunk in _chunks(uids, 500):
            marks = ",".join("?" for _ in chunk)
            for row in self.db.query(
                f"SELECT event_uid, source_id, url FROM source_events WHERE active = 1 AND "
                f"event_uid IN ({marks}) ORDER BY first_seen, source_id",
                chunk,
            ):
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


def _record_id(source_id: str, source_uid: str) -> str:
    return hashlib.sha1(f"{source_id}\x1f{source_uid}".encode()).hexdigest()


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _row_to_event(row: dict[str, Any], tz: ZoneInfo) -> Event:
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
    )
