"""Where events are merged: the store's records in, the pure functions of this package, the
store's writes out.

  `refresh(store, uids, now)`       recompute canonical events from their records (merge.py)
  `reconcile(store, changes, ...)`  once per run: re-cluster the records on the local days the
                                    run touched (new, changed or withdrawn records), with title
                                    term frequencies counted once over the store
  `rematch_all(store, ...)`         the same over every active record (`aggregator dedupe`)
  `explain(store, uid, ...)`        each field's contribution to the pairs of one event, and the
                                    near misses kept apart

Both paths run the same blocking, model and clustering on a pool of records, so a run's result
depends only on what the sources say, not on the order they were fetched in.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from aggregator.dedupe.linkage import MatchStats, assign_uids, cluster, match_pairs
from aggregator.dedupe.merge import refreshed
from aggregator.dedupe.model import (
    MAX_BLOCK_DAYS,
    Decision,
    MatchRecord,
    MatchSettings,
    TermFrequencies,
    TitleFeatures,
    clear_caches,
    compare,
    make_record,
    stored_frequencies,
    term_frequencies,
)
from aggregator.dedupe.text import SourceNames, source_names
from aggregator.store import RecordInfo, SourceChanges, Store, new_uid


@dataclass(slots=True)
class RematchReport:
    """What a matching pass did: records pooled, events they form, records moved."""

    records: int = 0
    clusters: int = 0
    moved: int = 0
    stats: MatchStats = field(default_factory=MatchStats)


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a canonical event is made of its records: pair decisions inside, near misses
    outside."""

    uid: str
    title: str
    records: tuple[RecordInfo, ...]
    merged: tuple[Decision, ...]
    near_misses: tuple[tuple[RecordInfo, Decision], ...]
    threshold: float
    labels: Mapping[str, str] = field(default_factory=dict)  # record id -> "source «title»"


@contextmanager
def _matching() -> Iterator[None]:
    # Hundreds of thousands of small objects are built and none form cycles: the cyclic
    # garbage collector would rescan them over and over (measured: a third of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
        # What the features' caches hold is scattered among the matching's freed objects: kept,
        # it holds on to their memory (at 600 sources, 130 MB more for the rest of the run).
        clear_caches()


def _record(
    row: tuple[Any, ...],
    names: SourceNames,
    settings: MatchSettings,
    memo: dict[tuple[str, tuple[str, ...]], TitleFeatures] | None = None,
) -> MatchRecord:
    rid, source_id, _, title, start, end, all_day, name, address, postcode, city, url, uid = row
    own = names.get(source_id)
    return make_record(
        rid,
        source_id,
        title,
        datetime.fromisoformat(start),
        datetime.fromisoformat(end) if end else None,
        bool(all_day),
        name=name,
        address=address,
        postcode=postcode,
        city=city,
        url=url,
        uid=uid,
        tz=settings.tz,
        strip=(own,) if own else (),
        hosts=names.hosts,
        memo=memo,
    )


def refresh(store: Store, uids: Iterable[str], now: datetime) -> None:
    """Bring the canonical events `uids` in line with their records (MERGE_RULES)."""
    wanted = sorted(set(uids) - {""})
    for chunk in _chunks(wanted, 500):
        records = store.merge_inputs(chunk)
        updates = [
            update
            for current in store.event_rows(chunk)
            if (update := refreshed(current, records.get(current["uid"], []), now)) is not None
        ]
        store.update_events(updates)


def reconcile(
    store: Store,
    changes: Iterable[SourceChanges],
    settings: MatchSettings,
    now: datetime,
) -> RematchReport:
    """Re-cluster the records on the local days that this run's `changes` touched (plus the
    other records of their events), and move records where the clusters differ."""
    touched: set[str] = set()
    for change in changes:
        touched.update(change.touched)
        touched.update(change.left)
    if not touched:
        return RematchReport()
    with _matching():
        return _reconcile(store, touched, settings, now)


def _reconcile(
    store: Store, touched: set[str], settings: MatchSettings, now: datetime
) -> RematchReport:
    names = source_names(store.source_names())
    current, records = _pool(store, touched, names, settings)
    tf = stored_frequencies(store.active_terms())
    return _recluster(store, current, records, settings, now, tf)


def _pool(
    store: Store, touched: set[str], names: SourceNames, settings: MatchSettings
) -> tuple[dict[str, str], list[MatchRecord]]:
    """The records on the days of the `touched` records, and the other records of their
    events, with each one's event. The rows they are made from are let go on return: at a
    cold run's size they take about as much memory as the records."""
    memo: dict[tuple[str, tuple[str, ...]], TitleFeatures] = {}
    # Most seeds are active and in the pool below: their records are built once.
    seeds = {
        row: _record(row, names, settings, memo) for row in store.record_days_rows(sorted(touched))
    }
    days = sorted({day for record in seeds.values() for day in record.days})
    # A pooled row equal to a seed's is the seed's tuple (a cold run's pool is its seeds: one
    # copy of every row, not two).
    seed_rows = {row[0]: row for row in seeds}
    rows: dict[str, tuple[Any, ...]] = {}
    for row in store.match_rows_around(_spans(days), settings.tz, MAX_BLOCK_DAYS):
        seed = seed_rows.get(row[0])
        rows[row[0]] = seed if seed == row else row
    del seed_rows
    # The other members of the pooled records' events, so that no event is cut by the pool's
    # edge (a multi-day record, an event spread over days).
    events = {row[2] for row in rows.values()}
    for row in store.match_rows_of_events(sorted(events)):
        rows.setdefault(row[0], row)
    return _records(rows.values(), names, settings, seeds, memo)


def rematch_all(store: Store, settings: MatchSettings, now: datetime) -> RematchReport:
    """Match every active record again (after a threshold change, or to check the incremental
    results) and move records between events where the clusters differ. Each cluster keeps
    the UID most of its records already have, so a re-match of a deduplicated store changes
    nothing."""
    with _matching():
        names = source_names(store.source_names())
        current, records = _records(store.iter_match_rows(), names, settings)
        return _recluster(store, current, records, settings, now, None)


def _records(
    rows: Iterable[tuple[Any, ...]],
    names: SourceNames,
    settings: MatchSettings,
    built: Mapping[tuple[Any, ...], MatchRecord] | None = None,
    memo: dict[tuple[str, tuple[str, ...]], TitleFeatures] | None = None,
) -> tuple[dict[str, str], list[MatchRecord]]:
    """Each row's event (by record id) and its record (`built` already, or made)."""
    current: dict[str, str] = {}
    records: list[MatchRecord] = []
    built = built or {}
    memo = {} if memo is None else memo
    for row in rows:  # streamed: the bulk path reads every active record
        current[row[0]] = row[2]
        record = built.get(row)
        records.append(record if record is not None else _record(row, names, settings, memo))
    return current, records


def _recluster(
    store: Store,
    current: Mapping[str, str],
    records: list[MatchRecord],
    settings: MatchSettings,
    now: datetime,
    tf: TermFrequencies | None,
) -> RematchReport:
    report = RematchReport()
    report.records = len(records)
    if tf is None:
        tf = term_frequencies(records)
    decisions = match_pairs(records, tf=tf, threshold=settings.threshold, stats=report.stats)
    clusters = cluster(records, decisions, tf)
    report.clusters = len(clusters)
    del decisions
    created = store.event_created(sorted(set(current.values())))
    assignment = assign_uids(clusters, current, created, new_uid)
    moves = [(uid, rid) for rid, uid in assignment.items() if current[rid] != uid]
    report.moved = len(moves)
    if moves:
        fresh = {uid: rid for uid, rid in moves if uid not in created}
        store.create_events_from_records(sorted(fresh.items()))
        store.move_records(moves)
        left = {current[rid] for _, rid in moves}
        # An event made this run for a record that then joined another was never published.
        store.delete_unpublished_empty_events(sorted(left), now)
        refresh(store, {uid for uid, _ in moves} | left, now)
    return report


def explain(store: Store, uid: str, settings: MatchSettings) -> Explanation:
    """Which records make up an event and every pair's decision field by field, plus the
    records of the same days kept apart with the best weights (near misses)."""
    event = store.event_title(uid)
    names = source_names(store.source_names())
    members = store.records_of_event(uid)
    active_ids = [r.id for r in members if r.info.active]
    recs = [_record(row, names, settings) for row in store.match_rows(active_ids)]
    tf = stored_frequencies(store.active_terms())
    merged = tuple(
        compare(a, b, tf, settings.threshold) for i, a in enumerate(recs) for b in recs[i + 1 :]
    )
    days = sorted({day for record in recs for day in record.days})
    member_ids = {r.id for r in members}
    pool = [
        _record(row, names, settings)
        for row in store.match_rows_around(_spans(days), settings.tz, MAX_BLOCK_DAYS)
        if row[0] not in member_ids
    ]
    nearest: dict[str, Decision] = {}
    for d in match_pairs(
        recs, pool, tf=tf, threshold=settings.threshold, keep=lambda d: d.part("title").weight > 0
    ):
        if d.b not in nearest or d.weight > nearest[d.b].weight:
            nearest[d.b] = d
    misses = sorted(nearest.values(), key=lambda d: (-d.weight, d.b))[:10]
    infos = store.record_infos([d.b for d in misses])
    return Explanation(
        uid=uid,
        title=event,
        records=tuple(r.info for r in members),
        merged=merged,
        near_misses=tuple((infos[d.b], d) for d in misses),
        threshold=settings.threshold,
        labels={r.id: f"{r.info.source_id} «{r.info.title}»" for r in members},
    )


def _spans(days: Sequence[date]) -> list[tuple[date, date]]:
    """Consecutive days merged into (first, last) spans, for range queries."""
    spans: list[tuple[date, date]] = []
    for day in days:
        if spans and (day - spans[-1][1]) <= timedelta(days=1):
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return spans


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
