"""changes.xml: an RSS feed of what changed in the agenda, for people who relay it elsewhere.

Each publication is compared with the previous one, kept in a small JSON state file: an event that
appears is "Nouveau", one whose date or place changed is "Déplacé" / "Changement de lieu", one that
gets cancelled is "Annulé" (and "Rétabli" if it comes back), one that disappears before it took
place is "Retiré". Events that simply end are not news. The first publication (no state yet) only
records the agenda, so a new installation does not announce every event at once.

The state file lives next to the database when the pipeline publishes (the database's folder is
what survives between scheduled runs), else in the output folder. It keeps the changes of the last
`KEEP_DAYS` days (at most `KEEP_ITEMS`), so the feed has a history readers can catch up on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aggregator.config import Config
from aggregator.models import CANCELLED, Event
from aggregator.publish.html import (
    CHANGES_FILE,
    event_link,
    headline_when,
    place_line,
    public_uid,
    sort_events,
)
from aggregator.publish.record import encoded_members
from aggregator.publish.rss import Channel, channel_for, render_channel, rss_date, xml_text

log = logging.getLogger(__name__)

STATE_FILE = "publish-state.json"
STATE_VERSION = 1
KEEP_DAYS = 30
KEEP_ITEMS = 500

ADDED = "ajout"
MOVED = "deplacement"
PLACE = "lieu"
CANCELLED_KIND = "annulation"
RESTORED = "retablissement"
REMOVED = "retrait"
_PREFIX = {
    ADDED: "Nouveau",
    MOVED: "Déplacé",
    PLACE: "Changement de lieu",
    CANCELLED_KIND: "Annulé",
    RESTORED: "Rétabli",
    REMOVED: "Retiré de l’agenda",
}


def _snapshot(event: Event, config: Config) -> dict[str, Any]:
    """What we remember of a published event: enough to tell what changed and to say it."""
    tz = config.agenda.tz
    return {
        "title": event.title,
        "start": event.start.isoformat(),
        "end": event.end.isoformat() if event.end else None,
        "effective_end": event.effective_end.isoformat(),
        "when": headline_when(event, tz),
        "place": place_line(event.location),
        "status": event.status,
        "link": event_link(event, config),
    }


def load_state(path: Path) -> dict[str, Any] | None:
    """The previous publication's state, or None if there is none or it cannot be read.

    An unreadable state only costs one publication's changes, so it is logged, not fatal.
    """
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable publication state %s: %s", path, exc)
        return None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        log.warning("ignoring publication state %s of an unknown version", path)
        return None
    return state


def _change(kind: str, uid: str, at: datetime, now_snapshot: dict[str, Any], **extra: Any) -> dict:
    return {"kind": kind, "uid": uid, "at": at.isoformat(), **now_snapshot, **extra}


def compute_changes(
    previous: dict[str, Any] | None,
    events: Sequence[Event],
    config: Config,
    now: datetime,
    key: Callable[[Event], str] | None = None,
) -> dict[str, Any]:
    """The new state: the current snapshot plus the change log updated with this publication.

    With `key`, a hash of everything an event's snapshot depends on (its value, the
    configuration, the code), the state keeps each event's key, and the next publication
    takes the snapshot of an event whose key is the same from the previous state.
    """
    current, keys = _snapshots(previous, sort_events(events), config, key)
    if previous is None:
        since = now.isoformat()
        state = {"version": STATE_VERSION, "since": since, "events": current, "changes": []}
        return state if keys is None else {**state, "keys": keys}
    before: dict[str, dict[str, Any]] = previous.get("events", {})
    new: list[dict[str, Any]] = []
    for uid, snap in current.items():
        old = before.get(uid)
        if old is None:
            new.append(_change(ADDED, uid, now, snap))
            continue
        if old["status"] != snap["status"]:
            kind = CANCELLED_KIND if snap["status"] == CANCELLED else RESTORED
            new.append(_change(kind, uid, now, snap))
        elif (old["start"], old["end"]) != (snap["start"], snap["end"]):
            new.append(_change(MOVED, uid, now, snap, previous_when=old["when"]))
        elif old["place"] != snap["place"]:
            new.append(_change(PLACE, uid, now, snap, previous_place=old["place"]))
    for uid, old in before.items():
        # Gone before it ended: withdrawn, which residents should know; gone after: just past.
        if uid not in current and datetime.fromisoformat(old["effective_end"]) > now:
            new.append(_change(REMOVED, uid, now, old))
    horizon = now - timedelta(days=KEEP_DAYS)
    kept = [c for c in previous.get("changes", []) if datetime.fromisoformat(c["at"]) >= horizon]
    changes = (new + kept)[:KEEP_ITEMS]
    state = {
        "version": STATE_VERSION,
        "since": previous.get("since", now.isoformat()),
        "events": current,
        "changes": changes,
    }
    return state if keys is None else {**state, "keys": keys}


def _snapshots(
    previous: dict[str, Any] | None,
    events: Sequence[Event],
    config: Config,
    key: Callable[[Event], str] | None,
) -> tuple[dict[str, dict[str, Any]], dict[str, str] | None]:
    """Each event's snapshot by public UID, and (with `key`) each one's key."""
    if key is None:
        return {public_uid(e): _snapshot(e, config) for e in events}, None
    # A run where one source changed would otherwise make every event's snapshot again: its
    # date in words and its link cost more than the rest of this comparison.
    before: dict[str, Any] = previous.get("events", {}) if previous else {}
    known: dict[str, Any] = previous.get("keys", {}) if previous else {}
    if not isinstance(before, dict) or not isinstance(known, dict):
        before, known = {}, {}
    current: dict[str, dict[str, Any]] = {}
    keys: dict[str, str] = {}
    for event in events:
        uid = public_uid(event)
        keys[uid] = found = key(event)
        old = before.get(uid)
        reuse = old is not None and known.get(uid) == found and isinstance(old, dict)
        current[uid] = old if reuse else _snapshot(event, config)
    return current, keys


def render_state(state: dict[str, Any]) -> bytes:
    """The state file's bytes: `json.dumps(state, ensure_ascii=False, sort_keys=True)`, compact,
    and a newline."""
    # Compact, so json's C encoder does the work (indent forces the slow one). The events are
    # encoded a batch at a time: a large agenda's whole text, held with its copies (its
    # characters take two bytes each once one is not Latin-1), was the run's peak of memory.
    out = [b"{"]
    for index, name in enumerate(sorted(state)):
        value = state[name]
        out.append(f"{',' if index else ''}{_state_json(name)}:".encode())
        if name == "events" and isinstance(value, dict):
            members = ((uid, value[uid]) for uid in sorted(value))
            out.append(b"{")
            out += (text.encode("utf-8") for text in encoded_members(members, _state_json))
            out.append(b"}")
        else:
            out.append(_state_json(value).encode("utf-8"))
    out.append(b"}\n")
    return b"".join(out)


def _state_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _item(change: dict[str, Any]) -> bytes:
    title = f"{_PREFIX[change['kind']]} : {change['when']} – {change['title']}"
    lines = [change["place"]] if change.get("place") else []
    if change.get("previous_when"):
        lines.append(f"Au lieu de : {change['previous_when']}")
    if change.get("previous_place"):
        lines.append(f"Ancien lieu : {change['previous_place']}")
    at = datetime.fromisoformat(change["at"])
    guid = f"{change['uid']}#{change['kind']}-{at:%Y%m%dT%H%M%S}"
    parts = [
        "    <item>",
        f"      <title>{xml_text(title)}</title>",
    ]
    if change.get("link"):
        parts.append(f"      <link>{xml_text(change['link'])}</link>")
    if lines:
        parts.append(f"      <description>{xml_text(chr(10).join(lines))}</description>")
    parts += [
        f'      <guid isPermaLink="false">{xml_text(guid)}</guid>',
        f"      <pubDate>{rss_date(at)}</pubDate>",
        "    </item>\n",
    ]
    return "\n".join(parts).encode("utf-8")


def render_changes(state: dict[str, Any], config: Config) -> bytes:
    """changes.xml from the state's change log, newest first."""
    agenda = config.agenda
    base = channel_for(
        config,
        CHANGES_FILE,
        f"{agenda.title} – changements",
        "Les événements ajoutés, déplacés, annulés ou retirés de l’agenda",
        (),
    )
    stamps = [datetime.fromisoformat(c["at"]) for c in state["changes"]]
    since = datetime.fromisoformat(state["since"])
    channel = Channel(
        title=base.title,
        description=base.description,
        self_url=base.self_url,
        link=base.link,
        build_date=max(stamps) if stamps else since,
    )
    return render_channel(channel, (_item(c) for c in state["changes"]))
