"""Blocking, pair scoring over a pool of records, clustering, and which UID each cluster keeps.

Pure functions over `MatchRecord`s and plain mappings; no database.

  1. Blocking: two records are compared only when their LOCAL days overlap and their titles
     share the stem (first 4 letters) of a distinctive word, or they link the same event page,
     or their venues share their first distinctive word (titles worded with generic words only:
     "Sunday Sessions" / "Summer Sessions" at one winery).
     Cost grows with the records per day, not n².
  2. `model.compare` weighs each blocked pair.
  3. `cluster` joins records along their strongest links, best first; two clusters never join
     when any pair across them is a real contradiction (`model.contradiction`), or two records
     of one source that are not twins of each other. A record that matches one member strongly
     joins though another member's title is worded differently: no pair needs to match all.
     The result depends only on the records, never on the order they came in.
  4. `assign_uids`: each cluster keeps the UID most of its records already had (the oldest on a
     tie), so published UIDs survive re-matching.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from aggregator.dedupe.model import (
    DEFAULT_THRESHOLD,
    NO_FREQUENCIES,
    Decision,
    MatchRecord,
    TermFrequencies,
    cannot_match,
    certainly_apart,
    compare,
    contradiction,
)


@dataclass(slots=True)
class MatchStats:
    """How much work a matching run did (the benchmark and the incremental test read it)."""

    compared: int = 0
    matched: int = 0


def comparable(a: MatchRecord, b: MatchRecord) -> bool:
    """The blocking rule on titles: one title's distinctive words (all its words when it has
    only generic ones, e.g. "Apéro numérique") share a stem with the other's words."""
    return not a.keys.isdisjoint(b.stems) or not b.keys.isdisjoint(a.stems)


Block = dict[tuple[date, str], list[int]]


def _block(records: Sequence[MatchRecord]) -> tuple[Block, Block]:
    """Two indexes by (local day, stem): of every word (and page), and of the distinctive
    words (and page)."""
    by_stem: Block = defaultdict(list)
    by_key: Block = defaultdict(list)
    for i, rec in enumerate(records):
        for day in rec.days:
            for stem in rec.stems:
                by_stem[(day, stem)].append(i)
            for key in rec.keys:
                by_key[(day, key)].append(i)
            for extra in rec.blocks:
                by_stem[(day, extra)].append(i)
    return by_stem, by_key


def match_pairs(
    queries: Sequence[MatchRecord],
    pool: Sequence[MatchRecord] | None = None,
    *,
    tf: TermFrequencies = NO_FREQUENCIES,
    threshold: float = DEFAULT_THRESHOLD,
    stats: MatchStats | None = None,
    keep: Callable[[Decision], bool] | None = None,
) -> list[Decision]:
    """Compare every query with every record of `pool` sharing a local day and a word stem
    (no pool: the queries among themselves, each unordered pair once). Returns the decisions
    that `keep` accepts (default: the matches)."""
    stats = stats if stats is not None else MatchStats()
    only_matches = keep is None
    accept = keep or (lambda d: d.same)
    bulk = pool is None
    others: Sequence[MatchRecord] = queries if pool is None else pool
    by_stem, by_key = _block(others)
    result: list[Decision] = []
    for qi, query in enumerate(queries):
        # `comparable` is symmetric: look a query's keys up among all stems, and its stems up
        # among the keys.
        found: set[int] = set()
        for day in query.days:
            for key in query.keys:
                found.update(by_stem.get((day, key), ()))
            for stem in query.stems:
                found.update(by_key.get((day, stem), ()))
            for extra in query.blocks:
                found.update(by_stem.get((day, extra), ()))
        for oi in found:
            if bulk and oi <= qi:
                continue
            other = others[oi]
            if other.key == query.key:
                continue
            stats.compared += 1
            if only_matches and (
                certainly_apart(query, other) or cannot_match(query, other, tf, threshold)
            ):
                continue
            decision = compare(query, other, tf, threshold, explain=not only_matches)
            if decision.same:
                stats.matched += 1
            if accept(decision):
                result.append(decision)
    return result


# Two records of one source whose own match weight is below this are two events the source
# lists side by side (parallel sessions): they never share a cluster. Above it, a source's
# reworded second listing may join through other sources' records.
SAME_SOURCE_APART: Final = -4.0


def cluster(
    records: Sequence[MatchRecord],
    decisions: Iterable[Decision],
    tf: TermFrequencies = NO_FREQUENCIES,
) -> list[list[str]]:
    """Group records into events along matching pairs, strongest first, refusing a join that
    would put a contradiction, or two records of one source that do not match each other, in
    one cluster (`SAME_SOURCE_APART`). Sorted, and independent of the order of `records` and
    `decisions`."""
    by_key = {r.key: r for r in records}
    members: dict[str, list[str]] = {key: [key] for key in sorted(by_key)}
    owner: dict[str, str] = {key: key for key in by_key}
    links = sorted(
        ((d.weight, min(d.a, d.b), max(d.a, d.b)) for d in decisions if d.same),
        key=lambda link: (-link[0], link[1], link[2]),
    )
    matched = {(a, b) for _, a, b in links} | {(b, a) for _, a, b in links}
    for _, a, b in links:
        ra, rb = owner[a], owner[b]
        if ra == rb:
            continue
        left, right = members[ra], members[rb]
        if not _can_join(left, right, by_key, matched, tf):
            continue
        if (len(left), rb) < (len(right), ra):
            ra, rb, left, right = rb, ra, right, left
        left.extend(right)
        for key in right:
            owner[key] = ra
        del members[rb]
    return sorted((sorted(group) for group in members.values()), key=lambda g: g[0])


def _can_join(
    left: list[str],
    right: list[str],
    by_key: Mapping[str, MatchRecord],
    matched: set[tuple[str, str]],
    tf: TermFrequencies,
) -> bool:
    for x in left:
        rx = by_key[x]
        for y in right:
            if (x, y) in matched:
                continue
            ry = by_key[y]
            if contradiction(rx, ry) is not None:
                return False
            if rx.source_id == ry.source_id and compare(rx, ry, tf).weight < SAME_SOURCE_APART:
                return False  # one source's two different events
    return True


def assign_uids(
    clusters: Sequence[Sequence[str]],
    current: Mapping[str, str],
    created: Mapping[str, str],
    make_uid: Callable[[str], str],
) -> dict[str, str]:
    """The event UID of every clustered record. A cluster keeps the UID most of its records
    have (the oldest event on a tie); a cluster left without one gets `make_uid` of its first
    record (salted when taken). Larger clusters choose first, then those holding the record an
    event was created for."""
    claimed: set[str] = set()
    result: dict[str, str] = {}

    def founded(group: Sequence[str]) -> bool:
        # Holds a record still in the event it was the first of: on a tie, that cluster is
        # the event, the other one is what left it.
        return any(current.get(r) == make_uid(r) for r in group)

    for group in sorted(clusters, key=lambda g: (-len(g), not founded(g), g[0])):
        votes: dict[str, int] = {}
        for record_id in group:
            uid = current.get(record_id)
            if uid:
                votes[uid] = votes.get(uid, 0) + 1
        ranked = sorted(votes, key=lambda u: (-votes[u], created.get(u, "~"), u))
        chosen = next((u for u in ranked if u not in claimed and u in created), None)
        if chosen is None:
            chosen = make_uid(group[0])
            salt = 0
            while chosen in claimed:
                salt += 1
                chosen = make_uid(f"{group[0]}/{salt}")
        claimed.add(chosen)
        for record_id in group:
            result[record_id] = chosen
    return result
