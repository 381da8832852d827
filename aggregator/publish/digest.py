"""Skip a publication that would write exactly what is already published.

A run where no source changed still has to publish (cron does not know nothing changed), and
rendering every page and feed of a large agenda costs far more than the run's fetching. The
outputs are a pure function of their inputs: the events, the configuration, what sources.html
shows of the sources' health, the day (the pages mark today and say which year is the current
one), the previous publication state (for changes.xml), the output folder, and the code that
renders them. `publication_digests` hashes all of these; `unchanged_publication` returns the
previous publication's paths when the digest is the one recorded after it, the time is inside
the span the record holds for (`stable_until`: the next moment at which the time itself changes
an output) and every file it wrote is still there as it was left (same size and modification
time). Anything else — an edited or deleted output, another day, one changed event, an upgraded
aggregator — means a publication (see publish_all for what it then renders), so the outputs
are the same bytes a full publication would write.

The record lives next to the database (the folder kept between scheduled runs), never in the
published folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aggregator.config import Config
from aggregator.models import Event
from aggregator.publish.atomic import PathList
from aggregator.publish.changes import KEEP_DAYS, load_state
from aggregator.publish.fragments import code_fingerprint
from aggregator.publish.record import (
    RECORD_FILE,
    Publication,
    Streamed,
    dump_json,
    recorded_history_end,
    recorded_stamps,
)
from aggregator.publish.sources_page import CLASH_DAYS, shown_health

if TYPE_CHECKING:
    from aggregator.store import SourceHealth

__all__ = [
    "DIGEST_FILE",
    "Digests",
    "Previous",
    "code_fingerprint",
    "forget_publication",
    "publication_digests",
    "remember_publication",
    "stable_until",
    "unchanged_publication",
]

log = logging.getLogger(__name__)

DIGEST_FILE = "publish-digest.json"
_VERSION = 3


@dataclass(frozen=True, slots=True)
class Digests:
    """A publication's digest (`whole`) and the same without the sources' health (`rest`:
    what sources.html alone shows changes at every run, see `unchanged_publication`)."""

    whole: str
    rest: str


def publication_digests(
    events: str,
    config: Config,
    out_dir: Path,
    now: datetime,
    *,
    health: Iterable[SourceHealth] | None,
    state_path: Path,
) -> Digests:
    """The hash of everything a publication's bytes depend on (see the module docstring), with
    and without the sources' health; `events` stands for the stored events (their version,
    `Store.events_version`).

    The publication state enters as the state file's bytes. Call it again after publishing
    and record that: the next publication from the same inputs computes, from that file, the
    very state it holds (compute_changes adds nothing when no event changed and the time is
    the same), so its changes.xml and state file would be the same bytes.
    """
    out_dir = Path(out_dir)
    try:
        state = hashlib.sha256(Path(state_path).read_bytes()).hexdigest()
    except OSError:
        state = "-"
    digest = hashlib.sha256()
    parts: list[str] = [
        f"v{_VERSION}",
        code_fingerprint(),
        str(out_dir.resolve()),
        str(Path(state_path).resolve()),
        state,
        # The day, not the time: `stable_until` covers what changes within a day.
        now.astimezone(config.agenda.tz).date().isoformat(),
        config.model_dump_json(),
        events,
    ]
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    rest = digest.hexdigest()
    shown = repr(shown_health(list(health) if health is not None else None))
    digest.update(shown.encode("utf-8", "surrogatepass"))
    return Digests(digest.hexdigest(), rest)


def _file_stamp(path: Path | str) -> list[int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def stable_until(
    events: Iterable[Event],
    config: Config,
    now: datetime,
    state_path: Path,
    published: Sequence[Path] = (),
) -> datetime | None:
    """The first moment after `now` at which the outputs of these events would change with the
    time alone (besides the day, which the digest holds): an event's end (the page greys it),
    an event entering sources.html's clash window, a change leaving changes.xml's history.
    None: no such moment. `published`, the publication just made, may say when its history
    ends (see record.Publication)."""
    moments: list[datetime] = []
    window = timedelta(days=CLASH_DAYS)
    for event in events:
        end = event.effective_end
        if end > now:
            moments.append(end)
        if event.start - window > now:
            moments.append(event.start - window)
    # The publication just made recorded it beside the state: reading the state again would
    # parse every event's snapshot.
    if isinstance(published, Publication) and published.stamps is not None:
        known, history_end = True, published.history_end
    else:
        known, history_end = recorded_history_end(state_path.parent / RECORD_FILE, state_path)
    if known and (history_end is None or history_end > now):
        if history_end is not None:
            moments.append(history_end)
    else:
        state = load_state(state_path) or {}
        for change in state.get("changes", []):
            try:
                moments.append(datetime.fromisoformat(change["at"]) + timedelta(days=KEEP_DAYS))
            except (KeyError, TypeError, ValueError):
                return now  # unreadable: never skip on it
    later = [m for m in moments if m > now]
    return min(later) if later else None


@dataclass(frozen=True, slots=True)
class Previous:
    """The previous publication, still what the outputs should be (`health_only`: all but
    sources.html, whose sources' health changed)."""

    paths: Sequence[Path]
    count: int
    since: datetime
    until: datetime | None
    health_only: bool = False


def unchanged_publication(record: Path, digests: Digests, now: datetime) -> Previous | None:
    """The previous publication if `digests.whole` is its digest (or only `digests.rest`, the
    digest of all but the sources' health, is its: then `health_only`), `now` is inside the span
    it holds for and its files are intact."""
    try:
        data: dict[str, Any] = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        return None
    if data.get("digest") == digests.whole:
        health_only = False
    elif data.get("rest") == digests.rest:
        health_only = True
    else:
        return None
    try:
        since = datetime.fromisoformat(data["since"])
        until = datetime.fromisoformat(data["until"]) if data.get("until") else None
    except (KeyError, TypeError, ValueError):
        return None
    if now < since or (until is not None and now >= until):
        log.info("publication digest: the time has changed what the outputs show")
        return None
    files = data.get("files")
    count = data.get("count")
    if not isinstance(files, list) or not isinstance(count, int):
        return None
    for entry in files:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            return None
        if _file_stamp(entry[0]) != entry[1]:
            log.info("publication digest: %s changed since it was written", entry[0])
            return None
    return Previous(PathList([name for name, _ in files]), count, since, until, health_only)


def remember_publication(
    record: Path,
    digests: Digests,
    paths: Sequence[Path],
    *,
    since: datetime,
    until: datetime | None,
    count: int,
    rewritten: Iterable[Path] = (),
) -> None:
    """Record the publication just written (of `count` events) with its `digests`, valid from
    `since` until `until` (see `stable_until`). A failure to record only costs a publication
    next time.

    The files' stamps are those publish_all just recorded beside it (publish-outputs.json):
    those `paths` carry when they are its `Publication`, else read from that record. A file's
    is read again when it does not hold it and for those `rewritten` since."""
    names = paths.strings() if isinstance(paths, PathList) else [str(path) for path in paths]
    if isinstance(paths, Publication) and paths.stamps is not None:
        stamps: Iterable[tuple[int, int] | None] = paths.stamps
    else:
        recorded = recorded_stamps(record.parent / RECORD_FILE)
        stamps = (recorded.get(name) for name in names)
    again = {str(path) for path in rewritten}

    def files() -> Iterator[list[Any]]:
        for name, stamp in zip(names, stamps, strict=True):
            if stamp is None or name in again:
                yield [name, _file_stamp(name)]
            else:
                yield [name, list(stamp)]

    payload = {
        "version": _VERSION,
        "digest": digests.whole,
        "rest": digests.rest,
        "since": since.isoformat(),
        "until": until.isoformat() if until is not None else None,
        "files": Streamed(files(), pairs=False),
        "count": count,
    }
    try:
        dump_json(record, payload)
    except OSError as exc:
        log.warning("cannot record the publication digest in %s: %s", record, exc)


def forget_publication(record: Path) -> None:
    """Drop the record (before publishing: a publication that fails half-way is never skipped)."""
    try:
        record.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot remove the publication digest %s: %s", record, exc)
