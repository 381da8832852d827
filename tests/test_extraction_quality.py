"""Precision and recall of event extraction from French prose, over a labelled set.

tests/fixtures/prose/labelled.yaml holds announcements of every shape (dates in words, dd/mm,
ranges, "ce jeudi", monthly meetups, Breton places) and hard negatives (retrospectives, press
articles, job offers, publication dates, opening hours, project histories). Items go through the
feed adapter and pages through the HTML adapter, as real documents would, so the figures
measure what the agenda would show.

A predicted event is correct when its local start equals an expected start: the date, and the
time when one is expected. Precision = correct predictions / predictions; recall = expected
events found / expected events. Run with `-s` to see the figures (they are also printed in the
terminal summary of a verbose run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

import pytest
import yaml
from parser_helpers import PARIS, document_from_bytes, make_context

from aggregator.config import Source
from aggregator.models import CONFIRMED, ORIGIN_PROSE, Event
from aggregator.parsers import feed, html

LABELLED = Path(__file__).resolve().parent / "fixtures" / "prose" / "labelled.yaml"
MIN_PRECISION = 0.95
MIN_RECALL = 0.85


def load_set() -> list[dict[str, Any]]:
    entries = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))
    assert isinstance(entries, list)
    return entries


def source_for(entry: dict[str, Any]) -> Source:
    return Source(
        id="labelled", name="Labelled", url="https://example.org/", city=entry.get("city")
    )


def as_feed(entry: dict[str, Any]) -> bytes:
    """One RSS item carrying the entry's title, text (as HTML paragraphs) and pubDate."""
    published = datetime.fromisoformat(entry["published"])
    # A blank line in the YAML text separates paragraphs; wrapped lines belong to one.
    paragraphs = "".join(
        f"<p>{escape(' '.join(block.split()))}</p>" for block in entry["text"].split("\n\n")
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>{escape(entry['title'])}</title>"
        f"<link>https://example.org/{entry['id']}</link><guid>{entry['id']}</guid>"
        f"<pubDate>{format_datetime(published)}</pubDate>"
        f"<description>{escape(paragraphs)}</description></item></channel></rss>"
    ).encode()


def predict(entry: dict[str, Any]) -> list[Event]:
    context = make_context()
    if entry["kind"] == "page":
        document = document_from_bytes(
            entry["html"].encode(), url=f"https://example.org/{entry['id']}"
        )
        result = html.parse(document, source_for(entry), context)
    else:
        result = feed.parse(document_from_bytes(as_feed(entry)), source_for(entry), context)
    assert all(event.origin == ORIGIN_PROSE for event in result.events)
    return result.events


def matches(event: Event, expected: dict[str, Any]) -> bool:
    """Same local start (date, and time when one is expected) and the same status: a cancelled
    session published as confirmed is a wrong event."""
    if event.status != expected.get("status", CONFIRMED):
        return False
    start = str(expected["start"])
    local = event.start.astimezone(PARIS)
    if len(start) == 10:
        return local.date().isoformat() == start
    return local.strftime("%Y-%m-%d %H:%M") == start


@dataclass
class Score:
    predicted: int = 0
    correct: int = 0
    expected: int = 0
    found: int = 0
    cities_right: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else 1.0

    def line(self, label: str, size: int) -> str:
        return (
            f"{label}: {size} snippets, {self.expected} expected events, {self.predicted} "
            f"predicted: precision {self.precision:.3f}, recall {self.recall:.3f}, "
            f"cities right {self.cities_right}/{self.found}"
        )


def evaluate(entries: list[dict[str, Any]]) -> Score:
    score = Score()
    for entry in entries:
        events = predict(entry)
        expected = entry.get("expected") or []
        score.predicted += len(events)
        score.expected += len(expected)
        for event in events:
            if any(matches(event, wanted) for wanted in expected):
                score.correct += 1
            else:
                score.errors.append(f"{entry['id']}: unexpected {event.start.isoformat()}")
        for wanted in expected:
            hit = next((e for e in events if matches(e, wanted)), None)
            if hit is None:
                score.errors.append(f"{entry['id']}: missed {wanted['start']}")
                continue
            score.found += 1
            if hit.location.city == wanted.get("city"):
                score.cities_right += 1
    return score


def test_labelled_set_is_large_and_varied() -> None:
    entries = load_set()
    assert len(entries) >= 60
    assert len({e["id"] for e in entries}) == len(entries)
    negatives = [e for e in entries if not e["expected"]]
    assert len(negatives) >= 15
    assert sum(e["kind"] == "page" for e in entries) >= 8
    holdout = [e for e in entries if e["part"] == "holdout"]
    assert len(holdout) >= len(entries) // 6


def test_precision_and_recall(capsys: pytest.CaptureFixture[str]) -> None:
    entries = load_set()
    score = evaluate(entries)
    holdout = evaluate([e for e in entries if e["part"] == "holdout"])
    report = [
        score.line("prose extraction, whole set", len(entries)),
        holdout.line("  of which holdout", sum(e["part"] == "holdout" for e in entries)),
        *(f"  {error}" for error in score.errors),
    ]
    with capsys.disabled():
        print("\n" + "\n".join(report))
    assert score.precision >= MIN_PRECISION, "\n".join(report)
    assert score.recall >= MIN_RECALL, "\n".join(report)
