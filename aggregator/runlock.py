"""One run at a time per database: an advisory lock on a file next to it.

Two runs writing one database at once would interleave their fetches and migrations; the second
one waits a bounded time for the lock, then gives up with a message naming the run that holds
it (pid, start time, command). The lock is `flock(2)`, so the kernel releases it when its holder
exits in any way, SIGKILL included: a crashed run never leaves a stale lock behind. Readers
(`sources list`, `events`) do not take it: SQLite's WAL mode lets them read during a run.

Hand-written rather than with the `filelock` package: filelock truncates the lock file when it
tries to acquire it, so the holder could not leave its pid and start time there for the waiter's
message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from aggregator.errors import DatabaseBusy

__all__ = ["DEFAULT_WAIT", "close_inherited", "lock_path", "run_lock"]

DEFAULT_WAIT: Final = 10.0
"""Seconds a second run waits for the first one before giving up."""

_POLL: Final = 0.1
# Descriptors of the locks this process holds, so a forked child (the parse worker) can close
# its copies: a lock shared with a child would outlive its holder if the holder were killed.
_HELD: set[int] = set()


def lock_path(db_path: Path) -> Path:
    """The lock file of a database: `data/aggregator.db` → `data/aggregator.db.lock`."""
    return db_path.with_name(db_path.name + ".lock")


@contextlib.contextmanager
def run_lock(db_path: Path | str, wait: float = DEFAULT_WAIT) -> Iterator[None]:
    """Hold the database's run lock for the duration of the block.

    Waits at most `wait` seconds for another run to finish, then raises `DatabaseBusy` saying
    which run holds the lock. An in-memory database needs no lock.
    """
    if str(db_path) == ":memory:":
        yield
        return
    path = lock_path(Path(db_path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise DatabaseBusy(
            str(db_path), f"cannot create the lock file {path}: {exc.strerror or exc}"
        ) from exc
    try:
        _acquire(fd, path, str(db_path), wait)
        _HELD.add(fd)
        try:
            _write_holder(fd)
            yield
        finally:
            _HELD.discard(fd)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def close_inherited() -> None:
    """In a forked child: close the copies of the parent's lock descriptors."""
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


def _acquire(fd: int, path: Path, db: str, wait: float) -> None:
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise DatabaseBusy(db, _busy_message(path, wait)) from None
            time.sleep(_POLL)


def _write_holder(fd: int) -> None:
    holder = {
        "pid": os.getpid(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200],
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode("utf-8"), 0)


def _busy_message(path: Path, wait: float) -> str:
    """Who holds the lock, as far as its file says."""
    try:
        holder = json.loads(path.read_text("utf-8") or "{}")
    except (OSError, ValueError):
        holder = {}
    if not isinstance(holder, dict):
        holder = {}
    who = "another aggregator run"
    details = []
    if holder.get("pid"):
        details.append(f"pid {holder['pid']}")
    if holder.get("started"):
        details.append(f"started {holder['started']}")
    if holder.get("command"):
        details.append(f"`{holder['command']}`")
    if details:
        who += f" ({', '.join(details)})"
    return (
        f"{who} is using this database; waited {wait:g} s for it to finish. Try again when it "
        "has ended, or give --lock-wait more seconds"
    )
