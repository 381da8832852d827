"""iCal ingestion, issue 3: recurrence rules, overrides and daylight-saving days.

Each case has its own small fixture in tests/fixtures/ical/, named after what it shows. Times are
asserted as exact local wall-clock times in Paris *and* offsets, and counts are exact.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from parser_helpers import document_from_bytes, make_source

from aggregator.config import Agenda
from aggregator.models import CANCELLED, CONFIRMED, ORIGIN_ICAL, Event, ParseContext, Window
from aggregator.parsers import ical

PARIS = ZoneInfo("Europe/Paris")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ical"
# The agenda's default window around a fixed "now": past_days before, future_days after.
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=PARIS)


def default_context(now: datetime = NOW) -> ParseContext:
    agenda = Agenda()
    window = Window(
        now - timedelta(days=agenda.past_days), now + timedelta(days=agenda.future_days)
    )
    return ParseContext(tz=PARIS, window=window, now=now)


def events(name: str, context: ParseContext | None = None) -> list[Event]:
    document = document_from_bytes((FIXTURES / name).read_bytes())
    result = ical.parse(document, make_source(), context or default_context())
    assert result.warnings == []
    assert all(e.origin == ORIGIN_ICAL for e in result.events)
    return sorted(result.events, key=lambda e: e.start)


def local(event: Event) -> str:
    """The start as residents read it: Paris wall-clock time with its offset."""
    return event.start.astimezone(PARIS).isoformat()


def test_daily_count_keeps_the_wall_clock_hour_across_the_march_change() -> None:
    found = events("rrule-daily-count-across-dst.ics")
    assert [local(e) for e in found] == [
        "2026-03-27T18:00:00+01:00",
        "2026-03-28T18:00:00+01:00",
        "2026-03-29T18:00:00+02:00",
        "2026-03-30T18:00:00+02:00",
        "2026-03-31T18:00:00+02:00",
    ]
    assert all(e.end - e.start == timedelta(hours=2) for e in found if e.end)
    # Identity: series UID + original start in UTC, stable across parses.
    assert [e.source_uid for e in found][2] == "daily@example.org/20260329T160000Z"
    assert [e.source_uid for e in events("rrule-daily-count-across-dst.ics")] == [
        e.source_uid for e in found
    ]


def test_weekly_byday_until() -> None:
    found = events("rrule-weekly-byday-until.ics")
    assert [local(e) for e in found] == [
        f"2026-02-{day:02d}T18:30:00+01:00" for day in (3, 5, 10, 12, 17, 19, 24)
    ]


def test_monthly_first_thursday_with_count() -> None:
    context = default_context(datetime(2025, 12, 20, tzinfo=PARIS))
    found = events("rrule-monthly-first-thursday-count.ics", context)
    assert [local(e) for e in found] == [
        "2026-01-01T18:30:00+01:00",
        "2026-02-05T18:30:00+01:00",
        "2026-03-05T18:30:00+01:00",
        "2026-04-02T18:30:00+02:00",
        "2026-05-07T18:30:00+02:00",
        "2026-06-04T18:30:00+02:00",
    ]
    assert all(e.start.astimezone(PARIS).weekday() == 3 for e in found)


def test_occurrences_are_limited_to_the_window() -> None:
    # "Now" is 10 January: the 1 January occurrence is before the window (now - 1 day).
    found = events("rrule-monthly-first-thursday-count.ics")
    assert len(found) == 5
    assert local(found[0]) == "2026-02-05T18:30:00+01:00"
    late = default_context(datetime(2026, 4, 1, tzinfo=PARIS))
    assert len(events("rrule-monthly-first-thursday-count.ics", late)) == 3


def test_rdate_adds_and_exdate_removes() -> None:
    found = events("rdate-and-exdate.ics")
    assert [local(e) for e in found] == [
        "2026-02-07T14:00:00+01:00",
        # 14 February excluded by EXDATE
        "2026-02-21T14:00:00+01:00",
        "2026-02-25T18:00:00+01:00",  # the RDATE, same duration as the series
        "2026-02-28T14:00:00+01:00",
    ]
    assert found[2].end == datetime(2026, 2, 25, 21, 0, tzinfo=PARIS)


def test_recurrence_id_moves_one_occurrence_keeping_its_identity() -> None:
    found = events("recurrence-id-moved-occurrence.ics")
    assert [(local(e), e.title) for e in found] == [
        ("2026-03-03T19:00:00+01:00", "Coding dojo"),
        ("2026-03-12T20:00:00+01:00", "Coding dojo (déplacé au jeudi)"),
        ("2026-03-17T19:00:00+01:00", "Coding dojo"),
        ("2026-03-24T19:00:00+01:00", "Coding dojo"),
    ]
    # The moved occurrence is still known by its original start (10 March 19:00).
    assert found[1].source_uid == "dojo@example.org/20260310T180000Z"


def test_cancelled_override_leaves_exactly_one_cancelled_occurrence() -> None:
    found = events("recurrence-id-cancelled-occurrence.ics")
    assert len(found) == 4
    cancelled = [e for e in found if e.status == CANCELLED]
    assert [(local(e), e.source_uid) for e in cancelled] == [
        ("2026-03-18T14:00:00+01:00", "fablab-open@example.org/20260318T130000Z")
    ]
    assert sum(e.status == CONFIRMED for e in found) == 3


def test_dst_days_land_on_the_right_hour() -> None:
    found = {e.source_uid: e for e in events("dst-transition-days.ics")}
    march = found["march-morning@example.org"]
    assert local(march) == "2026-03-29T10:00:00+02:00"
    assert march.start.astimezone(ZoneInfo("UTC")).hour == 8
    october = found["october-morning@example.org"]
    assert local(october) == "2026-10-25T10:00:00+01:00"
    assert october.start.astimezone(ZoneInfo("UTC")).hour == 9
    overnight = found["overnight@example.org"]
    # 22:00 to 04:00 across the lost hour lasts five hours, not six (compared in UTC: Python
    # subtracts wall-clock times when both share one zone).
    assert overnight.end is not None
    utc = ZoneInfo("UTC")
    assert overnight.end.astimezone(utc) - overnight.start.astimezone(utc) == timedelta(hours=5)
    # 02:30 does not exist on 29 March: RFC 5545 reads it with the offset before the gap.
    assert found["march-gap@example.org"].start.astimezone(ZoneInfo("UTC")) == datetime(
        2026, 3, 29, 1, 30, tzinfo=ZoneInfo("UTC")
    )
    # 02:30 happens twice on 25 October: RFC 5545 means the first one (summer time).
    assert found["october-twice@example.org"].start.astimezone(ZoneInfo("UTC")) == datetime(
        2026, 10, 25, 0, 30, tzinfo=ZoneInfo("UTC")
    )
    weekly = sorted(
        (e for uid, e in found.items() if uid.startswith("sunday-weekly")), key=lambda e: e.start
    )
    assert [local(e) for e in weekly] == [
        "2026-10-18T10:00:00+02:00",
        "2026-10-25T10:00:00+01:00",
        "2026-11-01T10:00:00+01:00",
    ]
