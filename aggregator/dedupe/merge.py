"""Merging: the canonical fields of one event from its records, and when it changed.

Pure functions over plain rows (mappings of the stored columns). `MERGE_RULES` is the field
precedence table. Cancellation: the status is that of the first record in precedence order (the
organizer's own calendar, in practice); a secondary listing saying "cancelled" does not cancel
the event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from aggregator.dedupe.text import has_bracket_prefix, normalize_title
from aggregator.models import (
    CANCELLED,
    ORIGIN_FEED,
    ORIGIN_ICAL,
    ORIGIN_PROSE,
    ORIGIN_SELECTOR,
    ORIGIN_STRUCTURED,
)

# -- merging -------------------------------------------------------------------------------------

# Which source's word wins, from the most to the least trusted way of finding an event.
ORIGIN_RANK: Final[Mapping[str, int]] = {
    ORIGIN_ICAL: 0,
    ORIGIN_STRUCTURED: 1,
    ORIGIN_FEED: 2,
    ORIGIN_SELECTOR: 2,
    ORIGIN_PROSE: 3,
    "": 4,  # records stored before origins were recorded
}

# THE field precedence table: how each canonical field is chosen among a cluster's records,
# all of which are first ordered by `precedence_key` (origin rank, then who announced it first).
MERGE_RULES: Final[Mapping[str, str]] = {
    "title": "first record in precedence order, skipping titles with a "
    "bracketed prefix ('[Agenda] …') while another of the same origin rank has none",
    "start, end, all_day": "an explicit time over date-only, then precedence order",
    "location": "the most specific place (most parts filled), then precedence order",
    "description": "the longest description (already cleaned by the parsers)",
    "url": "first record in precedence order that has one",
    "categories": "union, in precedence order, first spelling wins",
    "status": "the primary (first in precedence order) record's status: the organizer's word",
}

_PLACE_PARTS = ("location_name", "address", "postcode", "city")


def precedence_key(row: Mapping[str, Any]) -> tuple[int, str, str]:
    """Order of trust between records: origin (iCal first), then first seen, then source id."""
    return (ORIGIN_RANK.get(row.get("origin") or "", 4), row["first_seen"], row["source_id"])


def merge(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The canonical columns of one cluster from its active records (see MERGE_RULES)."""
    ordered = sorted(rows, key=precedence_key)
    primary = ordered[0]
    best_rank = ORIGIN_RANK.get(primary.get("origin") or "", 4)
    titled = next(
        (
            r
            for r in ordered
            if ORIGIN_RANK.get(r.get("origin") or "", 4) == best_rank
            and not has_bracket_prefix(r["title"])
        ),
        primary,
    )
    timed = [r for r in ordered if not r["all_day"]]
    when = timed[0] if timed else primary
    place = max(ordered, key=lambda r: sum(1 for p in _PLACE_PARTS if r[p]))  # first max wins
    description = max((r["description"] or "" for r in ordered), key=len)
    url = next((r["url"] for r in ordered if r["url"]), None)
    categories: list[str] = []
    folded: set[str] = set()
    for row in ordered:
        for name in json.loads(row["categories"] or "[]"):
            if name.casefold() not in folded:
                folded.add(name.casefold())
                categories.append(name)
    return {
        "title": titled["title"],
        "start": when["start"],
        "end": when["end"],
        "effective_end": when["effective_end"],
        "tz": when["tz"],
        "all_day": when["all_day"],
        "location_name": place["location_name"],
        "address": place["address"],
        "postcode": place["postcode"],
        "city": place["city"],
        "url": url,
        "description": description,
        "categories": json.dumps(categories, ensure_ascii=False),
        "status": CANCELLED if primary["status"] == CANCELLED else "confirmed",
    }


def content_hash(payload: Any) -> str:
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def match_key(row: Mapping[str, Any]) -> str:
    """A readable key of a canonical event (normalized title and day), for lookups by hand."""
    return f"{normalize_title(row['title'])}|{row['start'][:10]}"


def refreshed(
    current: Mapping[str, Any], records: Sequence[Mapping[str, Any]], now: datetime
) -> dict[str, Any] | None:
    """The update that brings a canonical event in line with its records, or None. SEQUENCE
    and LAST-MODIFIED move only when what is published (fields and sources) changed."""
    if not records:
        # Every record moved to another event: this one is gone (kept as history).
        return {"uid": current["uid"], "active": 0} if current["active"] else None
    active = [r for r in records if r["active"]]
    columns = merge(active or records)
    published = columns | {"sources": sorted(r["source_id"] for r in active)}
    digest = content_hash(published)
    update: dict[str, Any] = columns | {
        "uid": current["uid"],
        "active": int(bool(active)),
        "match_key": match_key(columns),
    }
    if digest != current["content_hash"]:
        update["content_hash"] = digest
        if current["content_hash"]:
            update["sequence"] = current["sequence"] + 1
            update["last_modified"] = now.astimezone(UTC).isoformat()
    if all(current.get(k) == v for k, v in update.items()):
        return None
    return update
