"""Our iCal reading against Mozilla ical.js (Thunderbird's), occurrence by occurrence.

The fast subset of bench/bench_ical_diff.py: our own fixtures, one per class where the two
readers used to disagree (tests/fixtures/ical/diff/) plus the issue-3 fixtures, compared over
the agenda window near their events. Each file must agree exactly, or differ only in the
documented ways (tests/ical_diff.py: DOCUMENTED) that the file was written to show.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ical_diff import (
    DOCUMENTED,
    FileReport,
    compare,
    differential,
    order_dependence,
    parse_ours,
    reference_windows,
    run_icaljs,
)
from parser_helpers import corpus_dir

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ical"
# The documented difference each fixture shows; every other fixture must agree exactly.
EXPECTED_REASONS = {
    "all-day-with-timed-dtend.ics": ["mixed-type-end"],
    "dense-minutely-series.ics": ["capped"],
    "dtstart-not-matching-rrule.ics": ["dtstart-first"],
    "dst-transition-days.ics": ["dst-edge"],
    "latin1-bytes-lf-no-wrapper.ics": ["not-utf8"],
    "varied-collective-calendar.ics": ["dst-edge"],
    "x-wr-timezone-google.ics": ["x-wr-timezone"],
    "windows-tzid-without-vtimezone.ics": ["tzid-by-name"],
    "floating-dtstart-utc-exdate.ics": ["exdate-form"],
    "exdate-other-forms.ics": ["exdate-form"],
    "negative-duration.ics": ["reversed-end"],
    "yearly-by-week-number.ics": ["dtstart-first", "yearly-weeks"],
    "x-wr-timezone-utc-series.ics": ["x-wr-timezone"],
    "recurrence-on-a-missing-day.ics": ["missing-day"],
    "garbled-dtend.ics": ["reversed-end"],
    "summary-with-unknown-value-type.ics": ["unknown-value-text"],
    "impossible-date.ics": ["impossible-date"],
    "invalid-duration-overflow.ics": ["end-beyond-9999"],
    "override-dtend-before-dtstart.ics": ["reversed-end"],
    "recurrence-id-date-on-datetime-series.ics": ["recurrence-id-type"],
    "rrule-unknown-part-and-bad-count.ics": ["dtstart-first", "invalid-count"],
    "orphan-overrides-with-own-rules.ics": ["dtstart-first"],
    "rdate-only-series.ics": ["dtstart-first"],
    "several-rrules-union.ics": ["duplicate-instance", "first-rule-ends"],
    "vtimezone-not-covering-the-event.ics": ["zone-database"],
    "older-copy-of-a-uid.ics": ["superseded-copy"],
    "orphan-override-after-rule-edit.ics": ["orphan-override"],
    "all-day-series-until-date-time.ics": ["exdate-form", "until-local-day"],
    # ical.js refuses these too (the truncated rule is for bodies it reads anyway).
    "truncated-after-an-event.ics": ["refused-by-both"],
    "truncated-mid-line.ics": ["refused-by-both"],
}


def fixture_files() -> list[Path]:
    return sorted([*FIXTURES.glob("diff/*.ics"), *FIXTURES.glob("*.ics")])


@pytest.fixture(scope="module")
def reports() -> dict[str, FileReport]:
    return {Path(r.path).name: r for r in differential(fixture_files())}


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: p.name)
def test_fixture_reads_like_icaljs(path: Path, reports: dict[str, FileReport]) -> None:
    report = reports[path.name]
    assert report.status in ("agree", "documented"), (
        f"{path.name}: {report.status} {report.error}\n"
        f"  only in ical.js: {report.only_theirs[:5]}\n  only in ours: {report.only_ours[:5]}"
    )
    assert sorted(set(report.reasons)) == EXPECTED_REASONS.get(path.name, [])
    if path.name.startswith("truncated-"):
        return
    assert report.occurrences > 0, "the window must hold some of the file's events"


def test_every_documented_difference_has_a_fixture() -> None:
    shown = {reason for reasons in EXPECTED_REASONS.values() for reason in reasons}
    assert {name for name, _reason, _rule in DOCUMENTED} - {"untitled", "truncated"} <= shown


def test_the_last_day_of_an_all_day_series_does_not_depend_on_its_exdates() -> None:
    # recurring_ical_events moves an all-day series into the zone of a zoned EXDATE and
    # compares UNTIL there: the last day came and went with the EXDATE (and its zone).
    data = (FIXTURES / "diff" / "all-day-series-until-date-time.ics").read_bytes()
    [window] = reference_windows(data.decode())
    result = parse_ours(data, window)
    last = {}
    for event in result.events:
        last[event.title] = max(last.get(event.title, event.start), event.start)
    assert last["Marché du vendredi"].date().isoformat() == "2026-04-10"
    assert last["Permanence du vendredi"] == last["Marché du vendredi"]
    assert last["Atelier couture"].date().isoformat() == "2026-04-08"  # UNTIL=20260408
    days = {e.start.date().isoformat() for e in result.events if e.title == "Atelier couture"}
    assert "2026-03-18" not in days  # its EXDATE still applies
    assert result.warnings == []


def test_a_disagreement_is_reported_as_a_failure(tmp_path: Path) -> None:
    # The harness must be able to fail: ical.js reads an edited copy, we read the original.
    original = (FIXTURES / "diff" / "folded-before-colon.ics").read_bytes()
    edited = tmp_path / "edited.ics"
    edited.write_bytes(original.replace(b"Permanence", b"Perm"))
    [report] = differential([edited])
    assert report.status == "agree"
    windows = reference_windows(original.decode())
    job = {
        "path": str(edited),
        "zones": {},
        "windows": [[w.start.isoformat(), w.end.isoformat()] for w in windows],
    }
    reference = run_icaljs([job])[str(edited)]
    mismatch = compare(str(edited), original, windows, reference)
    assert mismatch.status == "differ"
    assert [o[2] for o in mismatch.only_theirs] == ["Perm"]
    assert [o[2] for o in mismatch.only_ours] == ["Permanence"]


@pytest.mark.corpus
def test_reading_does_not_depend_on_what_was_parsed_before() -> None:
    corpus = sorted((corpus_dir() / "ics").glob("*.ics"))
    assert len(corpus) >= 40
    assert order_dependence([*corpus, *fixture_files()]) == []
