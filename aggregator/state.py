"""The run's state as one snapshot file: the database plus the previous publication's state.

A scheduled run on GitHub keeps its database in the Actions cache, which GitHub evicts after
seven days without use; the history (first seen dates, provenance, changes.xml) would then be
lost without a word. `save_snapshot` writes a verified, compressed copy of both files that the
workflow publishes with the site; `restore_snapshot` brings it back (from a path or a URL) when
the cache is empty, so the next run publishes the same UIDs.

A snapshot is a gzip-compressed tar holding `aggregator.db` (a consistent copy taken with
SQLite's backup API, checked with `PRAGMA integrity_check`) and, when there is one,
`publish-state.json`.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tarfile
import tempfile
from pathlib import Path

import httpx

from aggregator.errors import StoreError
from aggregator.publish.changes import STATE_FILE

SNAPSHOT_NAME = "aggregator-state.tar.gz"
DB_MEMBER = "aggregator.db"
# A snapshot is a few megabytes per thousand events; refuse what cannot be one.
MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024


class SnapshotMissing(StoreError):
    """There is no snapshot at that address yet (the agenda's first run)."""


def _check_database(path: Path) -> int:
    """Raise StoreError unless `path` is a sound aggregator database; return its schema version."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            [result] = conn.execute("PRAGMA integrity_check").fetchone()
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"{path} is not a readable SQLite database: {exc}") from exc
    if result != "ok":
        raise StoreError(f"{path} is damaged (integrity check: {result})")
    if not version or not {"events", "sources"} <= tables:
        raise StoreError(f"{path} is not an aggregator database (no events/sources tables)")
    return int(version)


def save_snapshot(db_path: Path, target: Path) -> Path:
    """Write the snapshot of `db_path` (and its publish-state.json) to `target`, atomically.

    The copy is verified before anything is written, so a failed or damaged run never replaces
    a good snapshot with a broken one.
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        raise StoreError(f"no database at {db_path}: nothing to save")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        copy = Path(tmp) / DB_MEMBER
        try:
            source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
            destination = sqlite3.connect(copy)
            try:
                source.backup(destination)
            finally:
                destination.close()
                source.close()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot copy the database {db_path}: {exc}") from exc
        _check_database(copy)
        staged = Path(tmp) / "snapshot.tar.gz"
        with tarfile.open(staged, "w:gz") as archive:
            archive.add(copy, arcname=DB_MEMBER)
            state = db_path.parent / STATE_FILE
            if state.is_file():
                json.loads(state.read_text(encoding="utf-8"))  # never save a torn state file
                archive.add(state, arcname=STATE_FILE)
        with staged.open("rb") as handle:
            os.fsync(handle.fileno())
        staged.replace(target)
    return target


def _read_source(source: str, timeout: float) -> bytes:
    if source.startswith(("http://", "https://")):
        try:
            with httpx.stream("GET", source, timeout=timeout, follow_redirects=True) as response:
                if response.status_code == 404:
                    raise SnapshotMissing(f"no snapshot at {source} (HTTP 404)")
                response.raise_for_status()
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_SNAPSHOT_BYTES:
                        raise StoreError(f"{source} is larger than a snapshot can be")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise StoreError(f"cannot download the snapshot {source}: {exc}") from exc
    path = Path(source)
    if not path.exists():
        raise SnapshotMissing(f"no snapshot at {path}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read the snapshot {path}: {exc.strerror or exc}") from exc


def restore_snapshot(
    source: str, db_path: Path, *, overwrite: bool = False, timeout: float = 60.0
) -> int:
    """Bring a snapshot (a path or an http(s) URL) back as `db_path` and its publish state.

    Refuses to replace an existing database unless `overwrite`; verifies the database before
    putting anything in place. Returns the number of events in the restored database.
    """
    db_path = Path(db_path)
    if db_path.exists() and not overwrite:
        raise StoreError(
            f"{db_path} already exists; restoring would replace it (pass --force to do so)"
        )
    data = _read_source(source, timeout)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=db_path.parent) as tmp:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
                members = {m.name: m for m in archive.getmembers() if m.isfile()}
                if DB_MEMBER not in members:
                    raise StoreError(f"{source} holds no {DB_MEMBER}: not an aggregator snapshot")
                staged: dict[str, Path] = {}
                for name in (DB_MEMBER, STATE_FILE):
                    if name in members:
                        extracted = archive.extractfile(members[name])
                        assert extracted is not None
                        staged[name] = Path(tmp) / name
                        staged[name].write_bytes(extracted.read())
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise StoreError(f"{source} is not a readable snapshot: {exc}") from exc
        _check_database(staged[DB_MEMBER])
        if STATE_FILE in staged:
            try:
                json.loads(staged[STATE_FILE].read_text(encoding="utf-8"))
            except ValueError as exc:
                raise StoreError(f"{source}: its {STATE_FILE} is damaged: {exc}") from exc
            staged[STATE_FILE].replace(db_path.parent / STATE_FILE)
        for suffix in ("-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        staged[DB_MEMBER].replace(db_path)
    conn = sqlite3.connect(db_path)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()
