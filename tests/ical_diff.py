"""Differential reading of iCalendar files: our parser against Mozilla ical.js (Thunderbird's).

For each file, one or two reference times are picked near its events (its first and last
DTSTART); both readers expand the file over the agenda window around each reference time
(1 day back, 365 days ahead, as the default agenda). ical.js reads the file's VTIMEZONEs, IANA
zones for TZIDs the file names without defining (VTIMEZONEs built from tzdata), and floating
times in the source's zone (Europe/Paris, the process's TZ). Occurrences are compared as
(start, end, title, cancelled, all-day).

A file whose occurrences differ is checked against the documented differences (`DOCUMENTED`):
each is a deliberate reading of ours, with the reason and the RFC 5545 clause that allows it.
A difference none of them explains is a failure. Used by tests/test_ical_diff.py (our own
fixtures, in the suite) and bench/bench_ical_diff.py (the peer projects' calendars and the
shared corpus).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from dateutil.rrule import rrulestr

from aggregator.config import Source
from aggregator.errors import ParseError
from aggregator.fetch import decode_document
from aggregator.models import CANCELLED, Document, Event, ParseContext, ParseResult, Window
from aggregator.normalize import clean_title
from aggregator.parsers import ical
from aggregator.publish.vtimezone import build_vtimezone

ROOT = Path(__file__).resolve().parents[1]
EXPANDER = ROOT / "tests" / "js" / "expand_ics.mjs"
PARIS = ZoneInfo("Europe/Paris")
PAST_DAYS = 1
FUTURE_DAYS = 365
# ical.js iterations per series and window; our own cap is lower (see ical.MAX_OCCURRENCES).
MAX_ITERATIONS = 20_000

Occurrence = tuple[str, str, str, bool, bool]  # start, end, title, cancelled, all-day


@dataclass(slots=True)
class FileReport:
    """The outcome of one file: "agree", "documented", "differ", "crash" or "reference-error"."""

    path: str
    status: str
    windows: int = 0
    occurrences: int = 0
    reasons: list[str] = field(default_factory=list)
    only_ours: list[Occurrence] = field(default_factory=list)
    only_theirs: list[Occurrence] = field(default_factory=list)
    error: str = ""


# --- reference windows ------------------------------------------------------------------------

_DTSTART_RE = re.compile(r"^DTSTART[^:\n]*:\s*(\d{4})(\d{2})(\d{2})", re.I | re.M)


def unfold(text: str) -> str:
    return re.sub(r"\r?\n[ \t]", "", text.replace("\r\n", "\n"))


def reference_windows(text: str) -> list[Window]:
    """Agenda windows around the file's first and last DTSTART (one when they are close)."""
    days: list[date] = []
    for match in _DTSTART_RE.finditer(unfold(text)):
        try:
            day = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            continue
        if 1900 <= day.year <= 2100:
            days.append(day)
    if not days:
        return []
    references = [min(days)]
    if (max(days) - min(days)).days > FUTURE_DAYS - 30:
        references.append(max(days))
    windows = []
    for day in references:
        now = datetime(day.year, day.month, day.day, 12, tzinfo=PARIS)
        windows.append(Window(now - timedelta(days=PAST_DAYS), now + timedelta(days=FUTURE_DAYS)))
    return windows


# --- our reading ------------------------------------------------------------------------------


def _when(value: datetime, all_day: bool) -> str:
    if all_day:
        return value.astimezone(PARIS).date().isoformat()
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def overlaps(start: datetime, end: datetime, window: Window) -> bool:
    return start < window.end and (end > window.start or (end <= start and start >= window.start))


def our_occurrences(result: ParseResult, window: Window) -> list[Occurrence]:
    found = []
    for event in result.events:
        end = event.effective_end
        if overlaps(event.start, end, window):
            found.append(_ours(event, end))
    return sorted(found)


def _ours(event: Event, end: datetime) -> Occurrence:
    return (
        _when(event.start, event.all_day),
        _when(end, event.all_day),
        event.title,
        event.status == CANCELLED,
        event.all_day,
    )


class ParseTimeout(BaseException):
    """Our parse of one file ran past its time budget (a hang, for the differential).

    A BaseException, so that the parser's own "skip what cannot be read" handlers cannot
    swallow it and go on expanding."""


@contextmanager
def time_budget(seconds: int) -> Iterator[None]:
    """Raise ParseTimeout in the main thread after `seconds` (SIGALRM; POSIX only)."""

    def expire(_signum: int, _frame: object) -> None:
        raise ParseTimeout(f"parse took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


PARSE_BUDGET = 120
"""Seconds one parse of one file may take before the differential counts it as a crash (the
1.6 MB benchmark calendar of python-recurring-ical-events takes ~30 s in icalendar alone on a
loaded 2-core machine)."""


def parse_ours(data: bytes, window: Window) -> ParseResult:
    source = Source(id="diff", name="Diff", url="https://example.org/calendar.ics")
    # Decoded as the fetcher decodes a body (mostly-valid UTF-8 stays UTF-8).
    text, encoding, _warnings = decode_document(data, "text/calendar")
    document = Document(
        url=source.url, content=data, text=text, content_type="text/calendar", encoding=encoding
    )
    now = window.start + timedelta(days=PAST_DAYS)
    with time_budget(PARSE_BUDGET):
        return ical.parse(document, source, ParseContext(tz=PARIS, window=window, now=now))


# --- ical.js's reading ------------------------------------------------------------------------

_TZID_PARAM_RE = re.compile(r";TZID=(\"[^\"]*\"|[^;:]*)", re.I)
_TZID_DEF_RE = re.compile(r"^TZID[^:\n]*:(.*)$", re.I | re.M)


@lru_cache(maxsize=512)
def _vtimezone_text(name: str, first_year: int, last_year: int) -> str:
    return build_vtimezone(name, first_year, last_year).to_ical().decode("utf-8")


def missing_zones(text: str, windows: list[Window]) -> dict[str, str]:
    """VTIMEZONEs for the IANA TZIDs the file uses without defining them."""
    unfolded = unfold(text)
    defined = _defined_tzids(unfolded)
    used = {m.strip('"') for m in _TZID_PARAM_RE.findall(unfolded)}
    first = min(w.start.year for w in windows) - 1
    last = max(w.end.year for w in windows) + 1
    zones = {}
    for name in sorted(used - defined):
        if not name or name.startswith("/") or ".." in name:
            continue
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        zones[name] = _vtimezone_text(name, first, last)
    return zones


def _defined_tzids(unfolded: str) -> set[str]:
    """The TZIDs the file's VTIMEZONEs define: the first TZID of each (a second one inside
    the same VTIMEZONE defines nothing, for ical.js as for us)."""
    found = set()
    for block in re.findall(
        r"^BEGIN:VTIMEZONE\s*$(.*?)^END:VTIMEZONE", unfolded, re.I | re.M | re.S
    ):
        match = _TZID_DEF_RE.search(block)
        if match:
            found.add(match[1].strip().strip('"'))
    return found


def node() -> str:
    found = shutil.which("node")
    assert found, "node (v18+) is needed to run Mozilla ical.js"
    assert (ROOT / "node_modules" / "ical.js").is_dir(), "run `npm install` at the repo root"
    return found


def run_icaljs(jobs: list[dict[str, object]], timeout: float = 20) -> dict[str, dict]:
    """Run tests/js/expand_ics.mjs on `jobs`, {path: result}.

    A file that hangs ical.js (or kills it) is reported as its error (after `timeout` s plus
    1 s per file); the files after it run in a new process.
    """
    results: dict[str, dict] = {}
    env = {**os.environ, "TZ": "Europe/Paris"}
    pending = list(jobs)
    while pending:
        payload = json.dumps({"maxIterations": MAX_ITERATIONS, "files": pending})
        with subprocess.Popen(
            [node(), str(EXPANDER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,  # node resolves "ical.js" from the repo's node_modules
            text=True,
            env=env,
        ) as process:
            try:
                out, err = process.communicate(payload, timeout=timeout + len(pending))
                problem = err[-300:] or f"ical.js exited with {process.returncode}"
            except subprocess.TimeoutExpired:
                process.kill()
                out, _err = process.communicate()
                problem = "ical.js did not finish (timed out)"
        for line in out.splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of a process killed while writing it
            results[item.pop("path")] = item
        done = [job for job in pending if str(job["path"]) in results]
        pending = pending[len(done) :]
        if pending:
            results[str(pending[0]["path"])] = {"ok": False, "error": problem}
            pending = pending[1:]
    return results


def their_occurrences(raw: Iterable[dict]) -> list[Occurrence]:
    found = []
    for item in raw:
        found.append(
            (
                item["start"],
                item["end"],
                clean_title(item["summary"] or ""),
                str(item.get("status") or "").upper() == "CANCELLED",
                bool(item["allDay"]),
            )
        )
    return sorted(found)


# --- documented differences -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """What the documented rules look at: one file, one window, what is left unmatched."""

    text: str
    result: ParseResult
    only_ours: list[Occurrence]
    only_theirs: list[Occurrence]
    matched: list[Occurrence] = field(default_factory=list)


Explained = tuple[list[Occurrence], list[Occurrence]]
Rule = Callable[[Case], Explained]
"""A documented difference: the occurrences (only ical.js's, only ours) it accounts for."""


def _vevents(text: str) -> list[dict[str, list[str]]]:
    """The top-level VEVENTs of a file as {NAME: [whole lines]} (evidence for the rules)."""
    found: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] | None = None
    depth = 0
    for line in unfold(text).split("\n"):
        upper = line.upper().strip()
        if upper == "BEGIN:VEVENT" and current is None:
            current, depth = {}, 0
            continue
        if current is None:
            continue
        if upper.startswith("BEGIN:"):
            depth += 1
        elif upper == "END:VEVENT" and depth == 0:
            found.append(current)
            current = None
        elif upper.startswith("END:"):
            depth -= 1
        elif depth == 0:
            name = re.split(r"[;:]", line, maxsplit=1)[0].upper()
            current.setdefault(name, []).append(line)
    return found


def _value(line: str) -> str:
    """The value of a content line (after the first colon outside quotes)."""
    match = re.match(r'(?:[^":]|"[^"]*")*:(.*)$', line)
    return match[1].strip() if match else ""


def _pair(case: Case, matches: Callable[[Occurrence, Occurrence], bool]) -> Explained:
    """Each of ical.js's occurrences with the first of ours not yet taken that `matches` it
    (`matches(ours, theirs)`): the pairs a rule explains."""
    theirs: list[Occurrence] = []
    ours: list[Occurrence] = []
    for item in case.only_theirs:
        for twin in case.only_ours:
            if twin not in ours and matches(twin, item):
                theirs.append(item)
                ours.append(twin)
                break
    return theirs, ours


def _warned(case: Case, words: str) -> bool:
    return any(words in warning for warning in case.result.warnings)


def _untitled(case: Case) -> Explained:
    # The warning, or (for a VEVENT nested in a component we do not read) the file's structure.
    untitled = any(not clean_title(_value(v.get("SUMMARY", [""])[0])) for v in _vevents(case.text))
    if not (untitled or _warned(case, "SUMMARY (title) missing")):
        return [], []
    return [o for o in case.only_theirs if o[2] == ""], []


def _uid_of(vevent: dict[str, list[str]]) -> str:
    return _value(vevent.get("UID", [""])[0])


def _title_of(vevent: dict[str, list[str]]) -> str:
    return clean_title(_value(vevent.get("SUMMARY", [""])[0]))


def _duplicate_instance(case: Case) -> Explained:
    """Occurrences ical.js lists more often than we do, where the file can generate an
    instance twice: several RRULE/RDATE in one VEVENT, or several copies of one UID."""
    vevents = _vevents(case.text)
    uids = Counter((_uid_of(v), _value(v.get("RECURRENCE-ID", [""])[0])) for v in vevents)
    titles = {
        _title_of(v)
        for v in vevents
        if len(v.get("RRULE", [])) + len(v.get("RDATE", [])) >= 2
        or uids[(_uid_of(v), _value(v.get("RECURRENCE-ID", [""])[0]))] >= 2
    }
    # An EXDATE removes an instance however many times it was generated; ical.js removes one.
    excluded = {
        (_title_of(v), day)
        for v in vevents
        if len(v.get("RRULE", [])) + len(v.get("RDATE", [])) >= 2
        for day in _exdate_days(v)
    }
    ours = Counter(o for o in our_occurrences_of(case))
    theirs = [
        o
        for o in case.only_theirs
        if o[2] in titles and (ours[o] > 0 or (o[2], _local_day(o[0])) in excluded)
    ]
    return theirs, []


def _exdate_days(vevent: dict[str, list[str]]) -> set[str]:
    """The local days (source's zone) an EXDATE of the VEVENT names."""
    days = set()
    for line in vevent.get("EXDATE", []):
        for value in _value(line).split(","):
            value = value.strip()
            if len(value) < 8 or not value[:8].isdigit():
                continue
            day = f"{value[:4]}-{value[4:6]}-{value[6:8]}"
            if value.upper().endswith("Z") and len(value) >= 15:
                day = _local_day(f"{day}T{value[9:11]}:{value[11:13]}:{value[13:15]}.000Z")
            days.add(day)
    return days


def our_occurrences_of(case: Case) -> list[Occurrence]:
    """Our occurrences in the case's window (those matched and those left over)."""
    return case.matched + case.only_ours


def _first_rule_ends(case: Case) -> Explained:
    """Occurrences of a several-RRULE series after ical.js stopped: it ends the whole series
    when its first rule runs out."""
    ours: list[Occurrence] = []
    for vevent in _vevents(case.text):
        if len(vevent.get("RRULE", [])) < 2:
            continue
        title = _title_of(vevent)
        theirs = [o for o in case.matched + case.only_theirs if o[2] == title]
        if not theirs:
            continue
        last = max(
            _instant(o[0]) or datetime.fromisoformat(o[0]).replace(tzinfo=PARIS) for o in theirs
        )
        for item in case.only_ours:
            moment = _instant(item[0]) or datetime.fromisoformat(item[0]).replace(tzinfo=PARIS)
            if item[2] == title and moment > last and item not in ours:
                ours.append(item)
    return [], ours


def _invalid_count(case: Case) -> Explained:
    titles = {
        clean_title(match[1])
        for warning in case.result.warnings
        if (match := re.match(r"event '(.*?)'(?: \(UID .*\))?: RRULE COUNT=.* ignored", warning))
    }
    return [], [o for o in case.only_ours if o[2] in titles]


_OFFSET_RE = re.compile(r"^TZOFFSET(?:FROM|TO)[^:\n]*:\s*([+-])(\d{2})(\d{2})", re.I | re.M)


def _vtimezone_offsets(text: str) -> dict[str, set[timedelta]]:
    """TZID → the offsets (whole minutes) its VTIMEZONE in the file declares."""
    found: dict[str, set[timedelta]] = {}
    for block in re.findall(
        r"^BEGIN:VTIMEZONE\s*$(.*?)^END:VTIMEZONE", unfold(text), re.I | re.M | re.S
    ):
        name = _TZID_DEF_RE.search(block)
        if name is None:
            continue
        offsets = found.setdefault(name[1].strip().strip('"'), set())
        for sign, hours, minutes in _OFFSET_RE.findall(block):
            delta = timedelta(hours=int(hours), minutes=int(minutes))
            offsets.add(delta if sign == "+" else -delta)
    return found


def _zone_database(case: Case) -> Explained:
    """A TZID naming a zone of the database, read with it although the file's VTIMEZONE of
    that name says otherwise; ical.js reads the file's definition (and UTC outside it)."""
    defined = _vtimezone_offsets(case.text)
    zones: list[tuple[ZoneInfo | timezone, set[timedelta]]] = []
    for name, offsets in defined.items():
        zone = ical._resolve_tzid(name, "Europe/Paris", exact=True)
        if zone is not None:
            zones.append((zone, offsets | {timedelta(0)}))
    if not zones:
        return [], []

    def same_wall(ours: str, theirs: str) -> bool:
        a, b = _instant(ours), _instant(theirs)
        if a is None or b is None:
            return ours == theirs
        return any(
            (b + offset).replace(tzinfo=None) == a.astimezone(zone).replace(tzinfo=None)
            for zone, offsets in zones
            for offset in offsets
        )

    return _pair(
        case,
        lambda twin, item: (
            twin[2:] == item[2:] and same_wall(twin[0], item[0]) and same_wall(twin[1], item[1])
        ),
    )


_SEQUENCE_RE = re.compile(r"^\s*(-?\d+)\s*$")


def _text_version(vevent: dict[str, list[str]]) -> tuple[int, str, str]:
    sequence = _SEQUENCE_RE.match(_value(vevent.get("SEQUENCE", ["0"])[0]))

    def stamp(name: str) -> str:
        return _value(vevent.get(name, [""])[0]).upper().rstrip("Z")

    return (int(sequence[1]) if sequence else 0, stamp("DTSTAMP"), stamp("LAST-MODIFIED"))


def _superseded_copy(case: Case) -> Explained:
    """Occurrences of older copies of a component (same UID and RECURRENCE-ID, lower
    SEQUENCE/DTSTAMP/LAST-MODIFIED), which ical.js expands next to the newest one; and the
    newest overrides, where ical.js applied an older one."""
    groups: dict[tuple[str, str], list[dict[str, list[str]]]] = {}
    for vevent in _vevents(case.text):
        key = (_uid_of(vevent), _value(vevent.get("RECURRENCE-ID", [""])[0]))
        groups.setdefault(key, []).append(vevent)
    old_titles: set[str] = set()
    new_titles: set[str] = set()
    for (uid, _rid), copies in groups.items():
        versions = [_text_version(v) for v in copies]
        if not uid or len(copies) < 2 or len(set(versions)) < 2:
            continue
        newest = max(versions)
        for vevent, version in zip(copies, versions, strict=True):
            (new_titles if version == newest else old_titles).add(_title_of(vevent))
    # An override older than a master copy that excludes its instance (EXDATE) was deleted.
    for (uid, rid), copies in groups.items():
        if not rid or not uid:
            continue
        masters = groups.get((uid, ""), [])
        for vevent in copies:
            deleted = any(
                _text_version(master) > _text_version(vevent)
                and any(rid[:8] in _value(line) for line in master.get("EXDATE", []))
                for master in masters
            )
            if deleted:
                old_titles.add(_title_of(vevent))
    # Instances of an older series copy on a day the newest copy excludes (same title).
    excluded = {
        (_title_of(v), day)
        for (uid, rid), copies in groups.items()
        if uid and not rid and len({_text_version(c) for c in copies}) > 1
        for v in copies
        if _text_version(v) == max(_text_version(c) for c in copies)
        for day in _exdate_days(v)
    }
    # ical.js applies the overrides to the first series copy only: the others still produce
    # the instance an override moved away.
    for uid, rid in groups:
        masters = groups.get((uid, ""), [])
        if uid and rid and len({_text_version(m) for m in masters}) > 1:
            excluded |= {(_title_of(m), f"{rid[:4]}-{rid[4:6]}-{rid[6:8]}") for m in masters}
    if not old_titles:
        return [], []
    theirs = [
        o
        for o in case.only_theirs
        if o[2] in old_titles - new_titles or (o[2], _local_day(o[0])) in excluded
    ]
    ours = [o for o in case.only_ours if o[2] in new_titles - old_titles]
    return theirs, ours


def _day_after(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def _reversed_end(case: Case) -> Explained:
    warned = any(
        _warned(case, words)
        for words in ("DTEND before DTSTART", "end before DTSTART", "DTEND cannot be read")
    )
    theirs, ours = [], []
    for item in case.only_theirs:
        # An all-day DTEND equal to DTSTART is read as one day, as a missing one (no warning).
        zero_day = item[4] and (item[1] == item[0] or ("T" in item[1] and item[1][:10] <= item[0]))
        if not (zero_day or (warned and item[1] < item[0])):
            continue
        default_end = _day_after(item[0]) if item[4] else item[0]
        twin = (item[0], default_end, *item[2:])
        if twin in case.only_ours and twin not in ours:
            theirs.append(item)
            ours.append(twin)
    return theirs, ours


def _end_beyond_9999(case: Case) -> Explained:
    if not _warned(case, "ends after the year 9999"):
        return [], []
    theirs, ours = [], []
    for item in case.only_theirs:
        if not item[1].startswith("+"):
            continue
        twin = (item[0], _day_after(item[0]) if item[4] else item[0], *item[2:])
        if twin in case.only_ours and twin not in ours:
            theirs.append(item)
            ours.append(twin)
    return theirs, ours


def _capped(case: Case) -> Explained:
    if _warned(case, "events in this calendar: only the first"):
        return list(case.only_theirs), []
    titles = {
        clean_title(match[1])
        for warning in case.result.warnings
        if (match := re.match(r"event '(.*)' \(UID .*\): more than \d+ occurrences", warning))
        or (match := re.match(r"event '(.*)': more than \d+ occurrences", warning))
    }
    if not titles or any(o[2] in titles for o in case.only_ours):
        return [], []
    return [o for o in case.only_theirs if o[2] in titles], []


_FLOATING_RE = re.compile(r"^DTSTART(?:;VALUE=DATE-TIME)?:\s*\d{8}T\d{6}\s*$", re.I)
_UTC_VALUE_RE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")


_LOCAL_VALUE_RE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?!\d|Z)")


def _floating_utc_exdate(case: Case) -> Explained:
    """Instances ical.js keeps although an EXDATE of another form than DTSTART names them."""
    unfolded = unfold(case.text)
    defined = {m.strip().strip('"') for m in _TZID_DEF_RE.findall(unfolded)}
    instants: set[str] = set()
    days: set[tuple[str, str]] = set()
    for vevent in _vevents(case.text):
        start = vevent.get("DTSTART", [""])[0]
        tzid = re.search(r';TZID=("[^"]*"|[^;:]*)', start, re.I)
        name = tzid[1].strip('"') if tzid else ""
        # Floating for ical.js: no zone, or a TZID it has no definition of and we cannot name.
        floating = _FLOATING_RE.match(start) is not None or (
            bool(name)
            and name not in defined
            and ical._resolve_tzid(name, "Europe/Paris") is None
            and not _value(start).upper().endswith("Z")
        )
        zoned = bool(name) and not floating
        all_day = "T" not in _value(start)
        title = _title_of(vevent)
        values = Counter()
        for line in vevent.get("EXDATE", []):
            value = _value(line)
            values.update(v.strip().upper() for v in value.split(","))
            line_zoned = re.search(r";TZID=", line, re.I) is not None
            if floating:  # a UTC EXDATE on a floating series
                for y, mo, d, h, mi, sec in _UTC_VALUE_RE.findall(value):
                    instants.add(f"{y}-{mo}-{d}T{h}:{mi}:{sec}.000Z")
            if zoned and not line_zoned:  # a floating EXDATE on a zoned series
                for y, mo, d, h, mi, sec in _LOCAL_VALUE_RE.findall(value):
                    wall = datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec))
                    instants.add(_when(wall.replace(tzinfo=PARIS), False))
            if all_day:  # a date-time EXDATE on an all-day series
                for y, mo, d, *_time in _LOCAL_VALUE_RE.findall(value):
                    days.add((title, f"{y}-{mo}-{d}"))
        # The same EXDATE value twice: ical.js then keeps the next excluded instance.
        if any(count > 1 for count in values.values()):
            days |= {(title, day) for day in _exdate_days(vevent)}
    return [o for o in case.only_theirs if o[0] in instants or (o[2], _local_day(o[0])) in days], []


def _recurrence_id_type(case: Case) -> Explained:
    masters: dict[str, dict[str, list[str]]] = {}
    overrides: list[dict[str, list[str]]] = []
    for vevent in _vevents(case.text):
        if "RECURRENCE-ID" in vevent:
            overrides.append(vevent)
        else:
            masters.setdefault(_value(vevent.get("UID", [""])[0]), vevent)
    theirs: list[Occurrence] = []
    ours: list[Occurrence] = []
    for override in overrides:
        master = masters.get(_value(override.get("UID", [""])[0]))
        if master is None or "DTSTART" not in master:
            continue
        rid_value = _value(override["RECURRENCE-ID"][0])
        start_value = _value(master["DTSTART"][0])
        if ("T" in rid_value) == ("T" in start_value):
            continue  # same value type: not this rule's business
        day = f"{rid_value[:4]}-{rid_value[4:6]}-{rid_value[6:8]}"
        master_title = clean_title(_value(master.get("SUMMARY", [""])[0]))
        title = clean_title(_value(override.get("SUMMARY", [""])[0])) or master_title
        theirs += [
            o
            for o in case.only_theirs
            if o[2] == master_title and _local_day(o[0]) == day and o not in theirs
        ]
        ours += [o for o in case.only_ours if o[2] == title and o not in ours]
    return theirs, ours


def _instant(moment: str) -> datetime | None:
    if "T" not in moment or moment.startswith("+"):
        return None
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _near_transition(moment: datetime, zones: list[tzinfo]) -> bool:
    """Whether a zone changes its offset within three hours of `moment`."""
    span = timedelta(hours=3)
    return any(
        (moment - span).astimezone(z).utcoffset() != (moment + span).astimezone(z).utcoffset()
        for z in zones
    )


def _file_zones(text: str) -> list[tzinfo]:
    """The zones the file's own VTIMEZONEs define (as icalendar builds them)."""
    zones: list[tzinfo] = []
    for block in re.findall(
        r"^BEGIN:VTIMEZONE\s*$.*?^END:VTIMEZONE", unfold(text), re.I | re.M | re.S
    ):
        try:
            calendar = icalendar.Calendar.from_ical(f"BEGIN:VCALENDAR\n{block}\nEND:VCALENDAR\n")
            zones += [c.to_tz(lookup_tzid=False) for c in calendar.walk("VTIMEZONE")]
        except Exception:  # an unusable definition: no zone from it
            continue
    return zones


def _dst_edge(case: Case) -> Explained:
    zones = [PARIS]
    for name in {m.strip('"') for m in _TZID_PARAM_RE.findall(unfold(case.text))}:
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue
    if "BEGIN:VTIMEZONE" in case.text.upper():
        zones += _file_zones(case.text)

    def close(ours: str, theirs: str) -> bool:
        if ours == theirs:
            return True
        a, b = _instant(ours), _instant(theirs)
        return (
            a is not None
            and b is not None
            and abs(a - b) == timedelta(hours=1)
            and _near_transition(a, zones)
        )

    return _pair(
        case,
        lambda twin, item: (
            twin[2:] == item[2:]
            and (twin[0] != item[0] or twin[1] != item[1])
            and close(twin[0], item[0])
            and close(twin[1], item[1])
        ),
    )


def _same_text(ours: str, theirs: str) -> bool:
    """Whether `theirs` is `ours` read as UTF-8 when it was not (U+FFFD where bytes were)."""
    if "\ufffd" not in theirs:
        return ours == theirs
    pattern = ".+?".join(re.escape(part) for part in re.split("\ufffd+", theirs))
    return re.fullmatch(pattern, ours) is not None


def _not_utf8(case: Case) -> Explained:
    return _pair(
        case,
        lambda twin, item: (
            (twin[0], twin[1], *twin[3:]) == (item[0], item[1], *item[3:])
            and _same_text(twin[2], item[2])
        ),
    )


_X_WR_RE = re.compile(r"^X-WR-TIMEZONE[^:\n]*:(.*)$", re.I | re.M)


def _x_wr_timezone(case: Case) -> Explained:
    found = _X_WR_RE.search(unfold(case.text))
    if found is None:
        return [], []
    try:
        zone = ZoneInfo(found[1].strip())
    except (ZoneInfoNotFoundError, ValueError):
        return [], []

    # The first instants of the series written in UTC: they recur at that wall time of the
    # X-WR-TIMEZONE zone (Google's reading), ical.js keeps the UTC clock.
    firsts = [
        _instant(f"{y}-{mo}-{d}T{h}:{mi}:{sec}.000Z")
        for vevent in _vevents(case.text)
        if "RRULE" in vevent
        for y, mo, d, h, mi, sec in _UTC_VALUE_RE.findall(vevent.get("DTSTART", [""])[0])
    ]

    def shifted(ours: str, theirs: str) -> bool:
        a, b = _instant(ours), _instant(theirs)
        if a is None or b is None:
            return ours == theirs
        # The same wall time, read in X-WR-TIMEZONE (ours) and in the source's zone (ical.js).
        if a.astimezone(zone).replace(tzinfo=None) == b.astimezone(PARIS).replace(tzinfo=None):
            return True
        return a.date() == b.date() and any(
            first is not None
            and b.time() == first.time()
            and a.astimezone(zone).time() == first.astimezone(zone).time()
            for first in firsts
        )

    def same_length(ours: Occurrence, theirs: Occurrence) -> bool:
        a0, a1, b0, b1 = (_instant(v) for v in (ours[0], ours[1], theirs[0], theirs[1]))
        return None not in (a0, a1, b0, b1) and a1 - a0 == b1 - b0  # type: ignore[operator]

    return _pair(
        case,
        lambda twin, item: (
            twin[2:] == item[2:]
            and shifted(twin[0], item[0])
            and (shifted(twin[1], item[1]) or same_length(twin, item))
        ),
    )


def _tzid_by_name(case: Case) -> Explained:
    unfolded = unfold(case.text)
    defined = {m.strip().strip('"') for m in _TZID_DEF_RE.findall(unfolded)}
    zones = []
    for name in {m.strip('"') for m in _TZID_PARAM_RE.findall(unfolded)} - defined:
        try:
            ZoneInfo(name)
            continue  # an IANA name: ical.js was given its VTIMEZONE
        except (ZoneInfoNotFoundError, ValueError):
            pass
        zone = ical._resolve_tzid(name, "Europe/Paris")
        if zone is not None:
            zones.append(zone)
    if not zones:
        return [], []

    def same_wall(ours: str, theirs: str) -> bool:
        a, b = _instant(ours), _instant(theirs)
        if a is None or b is None:
            return ours == theirs
        wall = b.astimezone(PARIS).replace(tzinfo=None)
        return any(a.astimezone(z).replace(tzinfo=None) == wall for z in zones)

    return _pair(
        case,
        lambda twin, item: (
            twin[2:] == item[2:] and same_wall(twin[0], item[0]) and same_wall(twin[1], item[1])
        ),
    )


def _dtstart_first(case: Case) -> Explained:
    ours: list[Occurrence] = []
    vevents = _vevents(case.text)
    # An override whose series is not in the file is read as a series of its own.
    masters = {_uid_of(v) for v in vevents if "RECURRENCE-ID" not in v}
    for vevent in vevents:
        recurring = "RRULE" in vevent or "RDATE" in vevent
        override = "RECURRENCE-ID" in vevent and _uid_of(vevent) in masters
        if not recurring or override or "DTSTART" not in vevent:
            continue
        line = vevent["DTSTART"][0]
        value = _value(line).upper()
        tzid = re.search(r';TZID=("[^"]*"|[^;:]*)', line, re.I)
        title = clean_title(_value(vevent.get("SUMMARY", [""])[0]))
        zone = UTC if value.endswith("Z") else PARIS
        if tzid and not value.endswith("Z"):
            zone = ical._resolve_tzid(tzid[1].strip('"'), "Europe/Paris") or PARIS
        for item in case.only_ours:
            if item[2] != title or item in ours:
                continue
            if item[4]:
                same = item[0].replace("-", "") == value[:8]
            else:
                moment = _instant(item[0])
                wall = moment.astimezone(zone).strftime("%Y%m%dT%H%M%S") if moment else ""
                same = wall == value.rstrip("Z")
                if not same and moment is not None and tzid:
                    # A zone only the file defines: the series' earliest instance on that day.
                    first = min(e.start for e in case.result.events if e.title == title)
                    day = date(int(value[:4]), int(value[4:6]), int(value[6:8]))
                    same = first == moment and abs((moment.date() - day).days) <= 1
            if same:
                ours.append(item)
    return [], ours


def _mixed_type_end(case: Case) -> Explained:
    return _pair(
        case,
        lambda twin, item: (
            item[4]
            and "T" in item[1]
            and (twin[0], *twin[2:]) == (item[0], *item[2:])
            and "T" not in twin[1]
            and abs((date.fromisoformat(twin[1]) - date.fromisoformat(item[1][:10])).days) <= 1
        ),
    )


def _local_day(moment: str) -> str:
    if "T" not in moment:
        return moment
    return (
        datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(PARIS).date().isoformat()
    )


DOCUMENTED: list[tuple[str, str, Rule]] = [
    (
        "untitled",
        "a VEVENT without SUMMARY is skipped with a warning: an agenda entry needs a title "
        "(SUMMARY is optional in RFC 5545 §3.6.1, so ical.js shows an empty one)",
        _untitled,
    ),
    (
        "reversed-end",
        "a DTEND before its DTSTART (or a negative DURATION, or a DTEND that cannot be read) is "
        "ignored with a warning (RFC 5545 §3.8.2.2: DTEND MUST be later), an all-day one equal "
        "to it means one day; ical.js keeps the span as written",
        _reversed_end,
    ),
    (
        "end-beyond-9999",
        "a DURATION ending after the year 9999 is ignored with a warning (Python dates end "
        "there; ical.js computes the far end)",
        _end_beyond_9999,
    ),
    (
        "capped",
        "a series denser than 1000 occurrences in the window, or a calendar of more than 20,000 "
        "events, is cut there with a warning in the source's health (issue 10)",
        _capped,
    ),
    (
        "exdate-form",
        "an EXDATE removes the instance it names whatever its form: in UTC on a floating series "
        "(or one in a zone nobody can name), floating on a zoned series (local time of the "
        "source, RFC 5545 §3.3.5), a date-time on an all-day series (that day, §3.8.5.1: the "
        "types MUST match), or the same value written twice; ical.js compares UTC and floating "
        "as if both were UTC, date-times with dates, and skips the exclusion after a repeated "
        "value, keeping the instance",
        _floating_utc_exdate,
    ),
    (
        "recurrence-id-type",
        "an override whose RECURRENCE-ID is a DATE on a timed series (or a date-time on an "
        "all-day one) replaces that day's instance (RFC 5545 §3.8.4.4: the types MUST match); "
        "ical.js matches no instance and drops the override",
        _recurrence_id_type,
    ),
    (
        "dst-edge",
        "a local time that does not exist (spring gap) is read with the offset before the gap, "
        "one that occurs twice (autumn) as its first occurrence (RFC 5545 §3.3.5); ical.js "
        "moves both by an hour",
        _dst_edge,
    ),
    (
        "not-utf8",
        "a body that is not UTF-8 is decoded as Windows-1252 (what such producers write); "
        "ical.js, given UTF-8, shows U+FFFD",
        _not_utf8,
    ),
    (
        "x-wr-timezone",
        "floating times of a calendar with X-WR-TIMEZONE are read in that zone, and a series "
        "written in UTC recurs at its wall time there (Google's and Apple's convention, as the "
        "x-wr-timezone library applies it); ical.js ignores the property",
        _x_wr_timezone,
    ),
    (
        "tzid-by-name",
        "a TZID the file does not define but that names a zone (Windows names, Outlook display "
        "names, vendor-prefixed IANA names) is read in that zone; ical.js, without a zone "
        "database, reads such times as floating",
        _tzid_by_name,
    ),
    (
        "dtstart-first",
        "the DTSTART of a recurring event is its first instance even when the RRULE would not "
        'produce it (RFC 5545 §3.8.5.3: it "always counts as the first occurrence"); ical.js '
        "skips it",
        _dtstart_first,
    ),
    (
        "mixed-type-end",
        "an all-day event whose DTEND is a date-time ends on that day, at midnight of the day "
        "after (RFC 5545 §3.8.2.2: DTEND MUST have DTSTART's type); ical.js keeps the instant",
        _mixed_type_end,
    ),
]

DOCUMENTED += [
    (
        "duplicate-instance",
        "an instance generated twice (two RRULEs or an RDATE that meet, two copies of one "
        "UID) is published once (RFC 5545 §3.8.5.3: where duplicate instances are generated, "
        '"only one recurrence is considered"; §3.8.4.7: a UID names one component); ical.js '
        "lists it each time",
        _duplicate_instance,
    ),
    (
        "first-rule-ends",
        "a VEVENT with several RRULEs recurs on the union of their instances (RFC 5545 "
        "§3.8.5.3; RFC 2445 allowed several RRULEs, producers still write them); ical.js stops "
        "the whole series when its first rule runs out",
        _first_rule_ends,
    ),
    (
        "invalid-count",
        "an RRULE COUNT that is not a positive integer is ignored with a warning and the rest "
        "of the rule applies (RFC 5545 §3.3.10: COUNT is a positive integer, and MUST NOT be "
        "combined with UNTIL); ical.js stops after the first instance",
        _invalid_count,
    ),
    (
        "zone-database",
        "a TZID that names a zone of the time-zone database (an IANA or Windows name) is read "
        "with that zone even when the file's VTIMEZONE of that name covers other years or "
        "other offsets (truncated or invented definitions; Thunderbird itself reads known TZIDs "
        "from its own database, RFC 7809 §1 lets standard zones be taken by reference); "
        "ical.js applies the file's definition, and UTC where it cannot (before its first "
        "observance, or an RDATE observance)",
        _zone_database,
    ),
    (
        "superseded-copy",
        "of several copies of one component (same UID and RECURRENCE-ID), the newest - highest "
        "SEQUENCE, then DTSTAMP, then LAST-MODIFIED - is the one read, and an override older "
        "than a series copy that excludes its instance is deleted (RFC 5546 §2.1.5, RFC 5545 "
        "§3.8.7.4); ical.js expands every copy and applies the first override it meets",
        _superseded_copy,
    ),
]

_WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def _rule_parts(line: str) -> dict[str, str]:
    return {
        key.strip().upper(): value.strip().upper()
        for key, _eq, value in (part.partition("=") for part in _value(line).split(";"))
    }


def _yearly_days(parts: dict[str, str], years: range) -> set[str] | None:
    """The days a FREQ=YEARLY rule with BYWEEKNO, or with an ordinal BYDAY ("20MO": the 20th
    Monday of the year), names in `years`, computed here from RFC 5545 §3.3.10 alone (ISO
    weeks, WKST=MO); None for any other rule."""
    allowed = {"FREQ", "BYWEEKNO", "BYDAY", "WKST", "COUNT", "UNTIL"}
    if parts.get("FREQ") != "YEARLY" or set(parts) - allowed:
        return None
    if parts.get("WKST", "MO") != "MO" or parts.get("INTERVAL", "1") != "1":
        return None
    byday = [d for d in parts.get("BYDAY", "").split(",") if d]
    days: set[str] = set()
    if "BYWEEKNO" in parts:
        if any(not d.isalpha() for d in byday):
            return None
        weekdays = [_WEEKDAYS.index(d) + 1 for d in byday] or list(range(1, 8))
        for year in years:
            weeks = date(year, 12, 28).isocalendar()[1]
            for raw in parts["BYWEEKNO"].split(","):
                week = int(raw)
                week = week if week > 0 else weeks + 1 + week
                if 1 <= week <= weeks:
                    days |= {date.fromisocalendar(year, week, d).isoformat() for d in weekdays}
        return days
    match = re.fullmatch(r"([+-]?\d{1,2})(MO|TU|WE|TH|FR|SA|SU)", ",".join(byday))
    if match is None:
        return None
    nth, weekday = int(match[1]), _WEEKDAYS.index(match[2])
    for year in years:
        matching = [
            date(year, 1, 1) + timedelta(days=n)
            for n in range((date(year + 1, 1, 1) - date(year, 1, 1)).days)
            if (date(year, 1, 1) + timedelta(days=n)).weekday() == weekday
        ]
        if 1 <= abs(nth) <= len(matching):
            days.add(matching[nth - 1 if nth > 0 else nth].isoformat())
    return days


def _yearly_weeks(case: Case) -> Explained:
    """Yearly rules by week number or by the nth weekday of the year, checked against the
    days RFC 5545 gives them: ical.js's instances that are not such days, ours that are."""
    theirs: list[Occurrence] = []
    ours: list[Occurrence] = []
    for vevent in _vevents(case.text):
        rules = vevent.get("RRULE", [])
        if len(rules) != 1 or "DTSTART" not in vevent:
            continue
        first = _value(vevent["DTSTART"][0])[:8]
        if not first.isdigit():
            continue
        years = range(int(first[:4]), int(first[:4]) + 3)
        days = _yearly_days(_rule_parts(rules[0]), years)
        if days is None:
            continue
        days.add(f"{first[:4]}-{first[4:6]}-{first[6:8]}")  # DTSTART is always an instance
        title = _title_of(vevent)
        theirs += [
            o for o in case.only_theirs if o[2] == title and _wall_day(o, vevent) not in days
        ]
        ours += [o for o in case.only_ours if o[2] == title and _wall_day(o, vevent) in days]
    return theirs, ours


def _wall_day(item: Occurrence, vevent: dict[str, list[str]]) -> str:
    """The day of an occurrence in the zone its series is written in (else the source's)."""
    moment = _instant(item[0])
    if moment is None:
        return item[0]
    tzid = re.search(r';TZID=("[^"]*"|[^;:]*)', vevent["DTSTART"][0], re.I)
    zone = ical._resolve_tzid(tzid[1].strip('"'), "Europe/Paris") if tzid else None
    return moment.astimezone(zone or PARIS).date().isoformat()


def _impossible_date(case: Case) -> Explained:
    """Events whose DTSTART names a day that does not exist (February 30), which we skip with
    a warning and ical.js rolls over into the next month."""
    titles = set()
    for vevent in _vevents(case.text):
        value = _value(vevent.get("DTSTART", [""])[0])
        if len(value) < 8 or not value[:8].isdigit():
            continue
        try:
            date(int(value[:4]), int(value[4:6]), int(value[6:8]))
        except ValueError:
            title = _title_of(vevent)
            if any(title in w and "cannot be read" in w for w in case.result.warnings):
                titles.add(title)
    return [o for o in case.only_theirs if o[2] in titles], []


def _unknown_value_text(case: Case) -> Explained:
    """A SUMMARY with a VALUE parameter ical.js does not know: it shows the raw escapes."""
    if not any(
        re.match(r"SUMMARY;(?:[^:]*;)?VALUE=", line, re.I)
        for v in _vevents(case.text)
        for line in v.get("SUMMARY", [])
    ):
        return [], []

    def unescaped(raw: str) -> str:
        return clean_title(
            re.sub(r"\\([nN,;\\])", lambda m: {"n": "\n", "N": "\n"}.get(m[1], m[1]), raw)
        )

    return _pair(
        case,
        lambda twin, item: (
            (twin[:2], twin[3:]) == (item[:2], item[3:]) and unescaped(item[2]) == twin[2]
        ),
    )


def _missing_day(case: Case) -> Explained:
    """ical.js's instances of a yearly series on a day the year lacks (February 29), moved
    to the next days; RFC 5545 §3.3.10 says such instances are ignored."""
    theirs: list[Occurrence] = []
    for vevent in _vevents(case.text):
        rules = vevent.get("RRULE", [])
        if len(rules) != 1 or "DTSTART" not in vevent:
            continue
        parts = _rule_parts(rules[0])
        if parts.get("FREQ") != "YEARLY" or any(p.startswith("BY") for p in parts):
            continue
        first = _value(vevent["DTSTART"][0])[:8]
        if not first.isdigit():
            continue
        month, day = int(first[4:6]), int(first[6:8])
        title = _title_of(vevent)
        for item in case.only_theirs:
            when = date.fromisoformat(_wall_day(item, vevent))
            last = (
                (date(when.year, month % 12 + 1, 1) - timedelta(days=1)).day if month < 12 else 31
            )
            lacking = last < day and when.month == month % 12 + 1 and when.day <= day - last
            if item[2] == title and lacking and item not in theirs:
                theirs.append(item)
    return theirs, []


_MOMENT_RE = re.compile(r"(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")


def _moment(line: str) -> date | datetime | None:
    """The value of a DTSTART-like line: a date, or a date-time (UTC, in its TZID's zone, or
    naive when floating); None when it cannot be read or its zone cannot be named."""
    match = _MOMENT_RE.match(_value(line).upper())
    if match is None:
        return None
    y, mo, d, h, mi, sec, z = match.groups()
    try:
        if h is None:
            return date(int(y), int(mo), int(d))
        moment = datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec))
    except ValueError:
        return None
    if z:
        return moment.replace(tzinfo=UTC)
    tzid = re.search(r';TZID=("[^"]*"|[^;:]*)', line, re.I)
    if tzid is None:
        return moment
    zone = ical._resolve_tzid(tzid[1].strip('"'), "Europe/Paris")
    return moment.replace(tzinfo=zone) if zone is not None else None


def _as_start(value: date | datetime, like: datetime) -> datetime:
    """`value` in the form of a series' start `like` (naive or aware), for dateutil."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=like.tzinfo)
    if like.tzinfo is None and value.tzinfo is not None:
        return value.astimezone(PARIS).replace(tzinfo=None)  # floating: the source's zone
    if like.tzinfo is not None and value.tzinfo is None:
        return value.replace(tzinfo=PARIS)
    return value


def _generates(master: dict[str, list[str]], instant: date | datetime) -> bool | None:
    """Whether the series `master` has an instance starting at `instant` (its DTSTART, its
    RDATEs, its RRULEs as RFC 5545 §3.3.10 expands them, EXDATEs not applied); None when
    that cannot be told here (an unreadable or zone-less value, a type mismatch, a rule too
    dense to walk)."""
    first = _moment(master.get("DTSTART", [""])[0])
    if first is None or isinstance(first, datetime) != isinstance(instant, datetime):
        return None
    start = first if isinstance(first, datetime) else datetime.combine(first, time())
    target = _as_start(instant, start)
    if _as_start(first, start) == target:
        return True
    for line in master.get("RDATE", []):
        for value in _value(line).split(","):
            moment = _moment(f"{line.split(':', 1)[0]}:{value.strip()}")
            if moment is not None and _as_start(moment, start) == target:
                return True
    for line in master.get("RRULE", []):
        parts = _rule_parts(line)
        until_value = parts.pop("UNTIL", "")
        try:
            rule = rrulestr(";".join(f"{k}={v}" for k, v in parts.items() if k), dtstart=start)
            if until_value:
                until = _moment(f"UNTIL:{until_value}")
                if until is None:
                    return None
                if not isinstance(until, datetime):  # a DATE: the whole day
                    until = datetime.combine(until, time(23, 59, 59))
                rule = rule.replace(until=_as_start(until, start))
        except (ValueError, TypeError, OverflowError):
            return None
        for count, moment in enumerate(rule):
            if moment == target:
                return True
            if moment > target:
                break
            if count > 200_000:
                return None
    return False


def _orphan_override(case: Case) -> Explained:
    """Overrides whose RECURRENCE-ID names no instance of their series (the rule was edited
    after the override was written): we publish the override as written, ical.js drops it."""
    vevents = _vevents(case.text)
    masters: dict[str, dict[str, list[str]]] = {}
    for vevent in vevents:
        if "RECURRENCE-ID" not in vevent and ("RRULE" in vevent or "RDATE" in vevent):
            masters.setdefault(_uid_of(vevent), vevent)
    ours: list[Occurrence] = []
    for vevent in vevents:
        master = masters.get(_uid_of(vevent))
        if master is None or "RECURRENCE-ID" not in vevent or "DTSTART" not in vevent:
            continue
        if "RRULE" in vevent or "RDATE" in vevent:
            continue  # an override with rules of its own: another reading, not this one
        rid = _moment(vevent["RECURRENCE-ID"][0])
        if rid is None or _generates(master, rid) is not False:
            continue
        start = _moment(vevent["DTSTART"][0])
        end = _moment(vevent["DTEND"][0]) if "DTEND" in vevent else None
        if start is None or ("DTEND" in vevent and end is None):
            continue
        all_day = not isinstance(start, datetime)
        title = _title_of(vevent) or _title_of(master)

        def when(value: date | datetime, all_day: bool = all_day) -> str:
            if all_day:
                return value.isoformat()[:10]
            aware = value if value.tzinfo is not None else value.replace(tzinfo=PARIS)
            return _when(aware, False)

        for item in case.only_ours:
            same_end = end is None or item[1] == when(end)
            same = (item[0], item[2], item[4]) == (when(start), title, all_day)
            if same and same_end and item not in ours:
                ours.append(item)
    return [], ours


def _until_local_day(case: Case) -> Explained:
    """The last day of an all-day series whose UNTIL is a UTC date-time at (or after) the
    source's midnight of that day: we keep it, ical.js compares the day as midnight UTC."""
    ours: list[Occurrence] = []
    for vevent in _vevents(case.text):
        start = _moment(vevent.get("DTSTART", [""])[0])
        if start is None or isinstance(start, datetime):
            continue
        title = _title_of(vevent)
        for line in vevent.get("RRULE", []):
            until = _moment(f"UNTIL:{_rule_parts(line).get('UNTIL', '')}")
            if not isinstance(until, datetime) or until.tzinfo is None:
                continue
            utc_day, local_day = until.date(), until.astimezone(PARIS).date()
            ours += [
                o
                for o in case.only_ours
                if o[2] == title
                and o[4]
                and utc_day < date.fromisoformat(o[0]) <= local_day
                and o not in ours
            ]
    return [], ours


DOCUMENTED += [
    (
        "impossible-date",
        "an event whose DTSTART names a day that does not exist (20240230) is skipped with a "
        "warning (RFC 5545 §3.3.4: date-mday is the day of that month); ical.js rolls it over "
        "into the next month",
        _impossible_date,
    ),
    (
        "unknown-value-text",
        "a SUMMARY whose VALUE parameter names no known type is still read as TEXT, its escapes "
        "decoded (SUMMARY's type is TEXT, RFC 5545 §3.8.1.12, and §3.3.11 says how TEXT is "
        "escaped); ical.js shows the raw value with its backslashes",
        _unknown_value_text,
    ),
    (
        "missing-day",
        "a yearly series started on a day some years lack (February 29) has no instance in "
        "those years (RFC 5545 §3.3.10: recurrence instances with an invalid date MUST be "
        "ignored); ical.js moves them to the following days",
        _missing_day,
    ),
    (
        "yearly-weeks",
        "a FREQ=YEARLY rule with BYWEEKNO (every listed day of that ISO week, all seven "
        "without BYDAY) or an ordinal BYDAY (BYDAY=20MO: the 20th Monday of the year) recurs "
        "on the days RFC 5545 §3.3.10 gives (checked here independently of both readers); "
        "ical.js expands such rules to other days (every week, or none)",
        _yearly_weeks,
    ),
    (
        "orphan-override",
        "an override whose RECURRENCE-ID names no instance of its series (Google and Outlook "
        "keep such overrides after the series' rule is edited) is published as written, with "
        "its own DTSTART, DTEND and SUMMARY: it is a complete VEVENT the organiser published, "
        "and RFC 5545 §3.8.4.4 defines RECURRENCE-ID as naming the instance it replaces but "
        "says nothing of discarding an override whose instance the rule no longer generates; "
        "ical.js drops it",
        _orphan_override,
    ),
    (
        "until-local-day",
        "an all-day series whose UNTIL is a UTC date-time (Exchange writes the local midnight "
        "of the last day) keeps the days that begin, at the source's local midnight, on or "
        "before UNTIL (RFC 5545 §3.3.10: UNTIL bounds the instances inclusively, and a DATE "
        "is floating, §3.3.4; an UNTIL synchronized with an instance is the last one); "
        "ical.js compares the day as midnight UTC and drops the last day",
        _until_local_day,
    ),
]

# Rules that pair one of ours with one of ical.js's run before those that explain one side only
# (dtstart-first would otherwise take the first instance of a series read in another zone).
DOCUMENTED.insert(
    [name for name, _reason, _rule in DOCUMENTED].index("dtstart-first"),
    DOCUMENTED.pop([name for name, _reason, _rule in DOCUMENTED].index("zone-database")),
)

TRUNCATED = (
    "truncated",
    "a body that ends inside a component (no END:VCALENDAR) is a malformed fetch: the source's "
    "stored events are kept (issue 10); ical.js reads what arrived",
)


def compare(path: str, data: bytes, windows: list[Window], reference: dict) -> FileReport:
    """Compare our reading of `data` with ical.js's `reference` over each window."""
    report = FileReport(path=path, status="agree", windows=len(windows))
    if not reference.get("ok"):
        report.status, report.error = "reference-error", str(reference.get("error"))
        try:
            parse_ours(data, windows[0])
        except ParseError:
            report.status = "agree"  # both readers refuse the file
            report.reasons.append("refused-by-both")
        except (Exception, ParseTimeout) as exc:
            report.status, report.error = "crash", f"{type(exc).__name__}: {exc}"
        return report
    text = data.decode("utf-8", "replace")
    for window, theirs_raw in zip(windows, reference["windows"], strict=True):
        theirs = their_occurrences(theirs_raw["occurrences"])
        try:
            result = parse_ours(data, window)
        except ParseError as exc:
            if not theirs:
                continue
            if "cut off" in exc.reason:
                report.reasons.append(TRUNCATED[0])
                report.status = "documented" if report.status == "agree" else report.status
                continue
            report.status, report.error = "differ", exc.reason
            report.only_theirs += theirs
            continue
        except (Exception, ParseTimeout) as exc:  # counted as crashes, the run goes on
            report.status, report.error = "crash", f"{type(exc).__name__}: {exc}"
            return report
        ours = our_occurrences(result, window)
        report.occurrences += len(theirs)
        if ours == theirs:
            continue
        theirs_count, ours_count = Counter(theirs), Counter(ours)
        case = Case(
            text,
            result,
            sorted((ours_count - theirs_count).elements()),
            sorted((theirs_count - ours_count).elements()),
            sorted((ours_count & theirs_count).elements()),
        )
        for name, _reason, rule in DOCUMENTED:
            explained_theirs, explained_ours = rule(case)
            if explained_theirs or explained_ours:
                report.reasons.append(name)
                case = Case(
                    text,
                    result,
                    _without(case.only_ours, explained_ours),
                    _without(case.only_theirs, explained_theirs),
                    case.matched,
                )
        if not case.only_ours and not case.only_theirs:
            if report.status == "agree":
                report.status = "documented"
            continue
        report.status = "differ"
        report.only_theirs += case.only_theirs
        report.only_ours += case.only_ours
    return report


def _without(items: list[Occurrence], removed: list[Occurrence]) -> list[Occurrence]:
    return sorted((Counter(items) - Counter(removed)).elements())


def differential(paths: list[Path], chunk: int = 40, progress: bool = False) -> list[FileReport]:
    """Compare every file of `paths` (ical.js runs once per `chunk` files)."""
    reports: list[FileReport] = []
    for first in range(0, len(paths), chunk):
        batch = paths[first : first + chunk]
        datas: dict[str, bytes] = {}
        plans: dict[str, list[Window]] = {}
        jobs = []
        for path in batch:
            data = path.read_bytes()
            text = data.decode("utf-8", "replace")
            windows = reference_windows(text)
            datas[str(path)], plans[str(path)] = data, windows
            if windows:
                jobs.append(
                    {
                        "path": str(path),
                        "zones": missing_zones(text, windows),
                        "windows": [
                            [w.start.astimezone(UTC).isoformat(), w.end.astimezone(UTC).isoformat()]
                            for w in windows
                        ],
                    }
                )
        references = run_icaljs(jobs)
        if progress:
            print(f"{first + len(batch)} / {len(paths)} files", file=sys.stderr, flush=True)
        for path in batch:
            key = str(path)
            if not plans[key]:
                reports.append(_no_dates(key, datas[key]))
                continue
            reports.append(compare(key, datas[key], plans[key], references[key]))
    return reports


def _no_dates(path: str, data: bytes) -> FileReport:
    """A file without any dated VEVENT: ours must still not crash."""
    window = Window(datetime(2024, 1, 1, tzinfo=PARIS), datetime(2025, 1, 1, tzinfo=PARIS))
    try:
        parse_ours(data, window)
    except ParseError:
        pass
    except (Exception, ParseTimeout) as exc:
        return FileReport(path=path, status="crash", error=f"{type(exc).__name__}: {exc}")
    return FileReport(path=path, status="agree")


def _digest(data: bytes, window: Window) -> object:
    try:
        result = parse_ours(data, window)
    except ParseError as exc:
        return ("ParseError", exc.reason)
    except (Exception, ParseTimeout) as exc:
        return ("crash", type(exc).__name__)
    return sorted(
        (e.source_uid, e.start.isoformat(), str(e.end), e.title, e.status, e.all_day)
        for e in result.events
    )


def _digests(paths: list[str]) -> dict[str, object]:
    """Parse `paths` in the order given, in this process: {path: what was read}."""
    found: dict[str, object] = {}
    for path in paths:
        data = Path(path).read_bytes()
        windows = reference_windows(data.decode("utf-8", "replace"))
        window = (
            windows[0]
            if windows
            else Window(datetime(2024, 1, 1, tzinfo=PARIS), datetime(2025, 1, 1, tzinfo=PARIS))
        )
        found[path] = _digest(data, window)
    return found


def order_dependence(paths: list[Path]) -> list[str]:
    """The files read differently when a fresh process parses them in order, then in reverse.

    Each order runs in its own new process, so that what one order leaves in process-wide
    state (zone caches) cannot hide what the other order would read.
    """
    names = [str(p) for p in paths]
    forward = _digests_elsewhere(names)
    backward = _digests_elsewhere(names[::-1])
    return [name for name in names if forward[name] != backward[name]]


def _digests_elsewhere(paths: list[str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__],
        input=json.dumps(paths),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(done.stdout)


if __name__ == "__main__":
    # The worker of order_dependence: paths as JSON on stdin, digests as JSON on stdout.
    print(json.dumps(_digests(json.load(sys.stdin)), default=str))
