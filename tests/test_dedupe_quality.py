"""Matcher quality on a labelled set of record pairs (tests/fixtures/dedupe/pairs.yaml).

Pairwise precision (merged pairs that really are one event) and recall (true pairs merged) with
the default threshold; both are printed (`pytest -s`) and must stay above the issue's targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from aggregator.dedupe import (
    DEFAULT_THRESHOLD,
    Decision,
    MatchRecord,
    SourceNames,
    TermFrequencies,
    compare,
    make_record,
    source_names,
    term_frequencies,
)

PARIS = ZoneInfo("Europe/Paris")
PAIRS = Path(__file__).parent / "fixtures" / "dedupe" / "pairs.yaml"


@dataclass(frozen=True)
class Pair:
    same: bool
    note: str
    a: MatchRecord
    b: MatchRecord


def _when(value: str) -> tuple[datetime, bool]:
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), PARIS), True
    return datetime.fromisoformat(value.replace("Z", "+00:00")), False


def _record(key: str, raw: dict[str, Any], names: SourceNames) -> MatchRecord:
    start, all_day = _when(raw["start"])
    end = _when(raw["end"])[0] if "end" in raw else (start + timedelta(days=1) if all_day else None)
    return make_record(
        key,
        raw["source"],
        raw["title"],
        start,
        end,
        all_day,
        name=raw.get("name"),
        address=raw.get("address"),
        postcode=raw.get("postcode"),
        city=raw.get("city"),
        url=raw.get("url"),
        uid=raw.get("uid", key),
        tz=PARIS,
        strip=(names.by_id[raw["source"]],),
        hosts=names.hosts,
    )


def load_pairs() -> list[Pair]:
    data = yaml.safe_load(PAIRS.read_text(encoding="utf-8"))
    names = source_names(data["sources"])
    return [
        Pair(p["same"], p["note"], _record(f"{i}a", p["a"], names), _record(f"{i}b", p["b"], names))
        for i, p in enumerate(data["pairs"])
    ]


def frequencies(pairs: list[Pair]) -> TermFrequencies:
    """Title-word frequencies over every labelled record: the labelled set is the store."""
    return term_frequencies([r for p in pairs for r in (p.a, p.b)])


def evaluate(threshold: float) -> tuple[float, float, list[tuple[Pair, Decision]]]:
    tp = fp = fn = 0
    wrong: list[tuple[Pair, Decision]] = []
    pairs = load_pairs()
    tf = frequencies(pairs)
    for pair in pairs:
        decision = compare(pair.a, pair.b, tf, threshold)
        if decision.same and pair.same:
            tp += 1
        elif decision.same:
            fp += 1
            wrong.append((pair, decision))
        elif pair.same:
            fn += 1
            wrong.append((pair, decision))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, wrong


def test_labelled_set_is_big_and_balanced_enough() -> None:
    pairs = load_pairs()
    assert len(pairs) >= 80
    assert sum(p.same for p in pairs) >= 30 and sum(not p.same for p in pairs) >= 30


def test_pairwise_precision_and_recall() -> None:
    precision, recall, wrong = evaluate(DEFAULT_THRESHOLD)
    print(
        f"\ndedupe quality: {len(load_pairs())} pairs, "
        f"precision {precision:.3f}, recall {recall:.3f}"
    )
    for pair, decision in wrong:
        print(
            f"  wrong ({'same' if pair.same else 'different'}): {pair.note}: {decision.describe()}"
        )
    assert precision >= 0.98, f"precision {precision:.3f}"
    assert recall >= 0.90, f"recall {recall:.3f}"


@pytest.mark.parametrize("threshold", [0.6, 0.9])
def test_threshold_moves_the_tradeoff(threshold: float) -> None:
    # A lower threshold never loses recall, a higher one never loses precision.
    base_p, base_r, _ = evaluate(DEFAULT_THRESHOLD)
    p, r, _ = evaluate(threshold)
    if threshold < DEFAULT_THRESHOLD:
        assert r >= base_r
    else:
        assert p >= base_p
