"""Benchmark: parsing a 10,000-event calendar vs icalendar's own Calendar.from_ical.

Target (issue 3): our parse stays within 1.5x of `Calendar.from_ical` on the same bytes.
The calendar looks like a real collective's export after years of use: mostly past events,
a few recurring ones, TZID times. Our parse reads the bytes once: non-recurring events that ended
before the agenda window are dropped from the text before icalendar builds components, so the
years of history cost a line scan, not a parse.

    .venv/bin/python bench/bench_ical.py [--events 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar

from aggregator.config import Source
from aggregator.models import Document, ParseContext, Window
from aggregator.parsers.ical import parse

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=PARIS)


def make_calendar(count: int) -> bytes:
    """`count` VEVENTs, one every ~8 hours going back from now; 1% weekly recurring."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//aggregator//FR"]
    for i in range(count):
        start = NOW - timedelta(hours=8 * (count - i)) + timedelta(days=30)
        end = start + timedelta(hours=2)
        lines += [
            "BEGIN:VEVENT",
            f"UID:bench-{i}@example.org",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART;TZID=Europe/Paris:{start:%Y%m%dT%H%M%S}",
            f"DTEND;TZID=Europe/Paris:{end:%Y%m%dT%H%M%S}",
            f"SUMMARY:Atelier numéro {i} à Plouzané",
            "LOCATION:Cantine numérique\\, 12 rue de la Gare\\, 29280 Plouzané",
            "DESCRIPTION:Un atelier pour découvrir les logiciels libres\\, "
            "la réparation et la bidouille.",
            "CATEGORIES:atelier,fablab",
        ]
        if i % 100 == 0:
            lines.append("RRULE:FREQ=WEEKLY;COUNT=10")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def timed(fn: object, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    data = make_calendar(args.events)
    source = Source(id="bench", name="Bench", url="https://example.org/agenda.ics")
    context = ParseContext(PARIS, Window(NOW - timedelta(days=1), NOW + timedelta(days=365)), NOW)
    document = Document(
        url=source.url, content=data, text=data.decode("utf-8"), content_type="text/calendar"
    )
    baseline = timed(lambda: Calendar.from_ical(data), args.runs)
    ours = timed(lambda: parse(document, source, context), args.runs)
    result = parse(document, source, context)
    base_median, our_median = statistics.median(baseline), statistics.median(ours)
    print(
        f"calendar: {args.events} VEVENTs, {len(data) / 1e6:.1f} MB; {result.items} looked at, "
        f"{len(result.events)} events kept (window and expanded occurrences)"
    )
    print(f"icalendar Calendar.from_ical  median {base_median * 1000:8.1f} ms  runs {args.runs}")
    print(f"aggregator parsers.ical.parse median {our_median * 1000:8.1f} ms")
    print(f"ratio {our_median / base_median:.2f}x (target <= 1.50x)")


if __name__ == "__main__":
    main()
