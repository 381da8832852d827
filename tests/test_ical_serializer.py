"""Our content-line writer (publish/contentline.py) against icalendar, the reference it replaces.

calendar.ics and the per-event files are written line by line for speed; these tests hold those
bytes to the ones icalendar writes for the same event (an icalendar rendering kept here as the
reference), and check escaping, folding and reading back on tricky text.
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, vDuration
from icalendar import Event as VEvent
from icalendar.parser.string import _foldline
from icalendar.prop import vText
from publish_helpers import CONFIG, PARIS, REFS, agenda_events, event

from aggregator.config import Agenda, Config
from aggregator.errors import PublishError
from aggregator.models import CANCELLED, Event, Location
from aggregator.publish.atomic import write_many
from aggregator.publish.contentline import DateTimeWriter, escape_text, fold
from aggregator.publish.html import all_day_span, event_link, public_uid, sort_events
from aggregator.publish.ical import (
    PRODID,
    REFRESH,
    UNKNOWN_STAMP,
    _local,
    description_with_sources,
    display_title,
    render_calendar,
    render_event_calendar,
    render_event_files,
    split_calendar,
)
from aggregator.publish.vtimezone import build_vtimezone

TRICKY_TEXTS = [
    "",
    "Apéro numérique à Plouzané",
    "x\r\nATTENDEE:mailto:evil@example.org",
    "a;b,c\\d",
    "lone\rCR and LF\nend",
    "fin avec antislash \\",
    "🎉 Fête du libre 🐧 " * 9,
    "é" * 80,
    "a" * 73 + "é" + "b" * 10,
    "a" * 72 + "\\" + "b" * 10,
    "a" * 73 + "^" + "b" * 10,
    "a" * 71 + ";" * 5,
    "Creac'h Gwen – « ANNULÉ » " * 7,
    "\t tabulation et espaces  ",
]


def _reference_vevent(item: Event, agenda: Agenda) -> VEvent:
    """The VEVENT as publish/ical.py built it with icalendar before it wrote its own lines."""
    tz = agenda.tz
    vevent = VEvent()
    vevent.add("uid", public_uid(item))
    stamp = item.last_modified.astimezone(UTC) if item.last_modified else UNKNOWN_STAMP
    vevent.add("dtstamp", stamp)
    if item.last_modified:
        vevent.add("last-modified", stamp)
    vevent.add("sequence", item.sequence)
    vevent.add("summary", display_title(item, agenda))
    if item.all_day:
        first, last = all_day_span(item, tz)
        vevent.add("dtstart", first)
        vevent.add("dtend", last + timedelta(days=1))
    else:
        vevent.add("dtstart", _local(item.start, tz))
        if item.end is not None and item.end > item.start:
            vevent.add("dtend", _local(item.end, tz))
    description = description_with_sources(item)
    if description:
        vevent.add("description", description)
    if not item.location.is_empty():
        vevent.add("location", item.location.one_line())
    link = event_link(item)
    if link:
        vevent.add("url", link)
    if item.categories:
        vevent.add("categories", list(item.categories))
    vevent.add("status", "CANCELLED" if item.status == CANCELLED else "CONFIRMED")
    return vevent


def _reference_calendar(events: list[Event], config: Config) -> bytes:
    agenda = config.agenda
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", agenda.title)
    calendar.add("x-wr-caldesc", agenda.description)
    calendar.add("x-wr-timezone", agenda.timezone)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))
    first = min(e.start.astimezone(agenda.tz).year for e in events)
    last = max(e.effective_end.astimezone(agenda.tz).year for e in events)
    calendar.add_component(build_vtimezone(agenda.timezone, first, last))
    for item in sort_events(events):
        calendar.add_component(_reference_vevent(item, agenda))
    return calendar.to_ical()


def tricky_events() -> list[Event]:
    """Every tricky text in every text field, plus DST edges, all-day and open-ended events."""
    day = datetime(2026, 10, 20, 18, 0, tzinfo=PARIS)
    items = []
    for index, text in enumerate(TRICKY_TEXTS):
        items.append(
            event(
                f"tricky-{index}",
                text or "sans titre",
                day + timedelta(days=index),
                description=text,
                location=Location(text or None, text or None, "29280", "Plouzané"),
                categories=tuple(c for c in (text[:20], "repair café") if c),
                url=f"https://tyfab.example/{index}?a=1,b;2",
                sequence=index,
            )
        )
    # The hour repeated when DST ends (published in UTC) and the one skipped when it starts.
    items.append(event("ambiguous", "Nuit", datetime(2026, 10, 25, 2, 30, tzinfo=PARIS)))
    items.append(event("spring", "Printemps", datetime(2027, 3, 28, 1, 30, tzinfo=PARIS)))
    items.append(
        event("allday", "Journée", datetime(2026, 11, 2, tzinfo=PARIS), all_day=True, end=None)
    )
    items.append(event("open", "Sans fin", day, end=None, last_modified=None))
    items.append(event("cancelled", "Annulé", day, status=CANCELLED, sources=(REFS["tyfab"],)))
    return items


def _unfold(data: bytes) -> bytes:
    return data.replace(b"\r\n ", b"")


@pytest.mark.parametrize("text", [*TRICKY_TEXTS, "a" * 74, "a" * 75, "é" * 37 + "a"])
def test_fold_matches_icalendar_and_stays_within_75_octets(text: str) -> None:
    line = f"DESCRIPTION:{escape_text(text)}"
    folded = fold(line.encode())
    assert folded == _foldline(line).encode()
    for physical in folded.split(b"\r\n"):
        assert len(physical) <= 75
        physical.decode("utf-8")  # never cut inside a character
    assert _unfold(folded) == line.encode()


def test_fold_keeps_an_escape_on_one_line() -> None:
    line = ("X:" + "a" * 71 + "\\,b").encode()
    first, second = fold(line).split(b"\r\n")
    assert first.endswith(b"a") and second == b" \\,b"


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_escape_text_matches_icalendar(text: str) -> None:
    assert escape_text(text).encode() == vText(text).to_ical()
    assert "\r" not in escape_text(text) and "\n" not in escape_text(text)


def test_escape_text_keeps_a_literal_backslash_n() -> None:
    # icalendar turns the two characters "\N" into a line break; a Windows path keeps its "\".
    escaped = escape_text("C:\\Nouveau")
    assert escaped == "C:\\\\Nouveau"
    calendar = Calendar.from_ical(
        f"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:{escaped}\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    assert str(calendar.events[0]["SUMMARY"]) == "C:\\Nouveau"


def test_datetime_writer_forms() -> None:
    paris = DateTimeWriter(PARIS)
    moment = datetime(2026, 5, 14, 16, 0, 5, tzinfo=UTC)
    assert (
        paris.line("DTSTART", moment.astimezone(PARIS))
        == "DTSTART;TZID=Europe/Paris:20260514T180005"
    )
    assert paris.line("DTSTART", moment) == "DTSTART:20260514T160005Z"
    assert DateTimeWriter(ZoneInfo("UTC")).line("X", moment) == "X:20260514T160005Z"


def test_calendar_is_byte_identical_to_icalendar() -> None:
    events = agenda_events() + tricky_events()
    assert render_calendar(events, CONFIG) == _reference_calendar(events, CONFIG)


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "UTC"])
def test_calendar_in_other_zones_is_byte_identical_to_icalendar(zone: str) -> None:
    config = CONFIG.model_copy(
        update={"agenda": CONFIG.agenda.model_copy(update={"timezone": zone})}
    )
    events = tricky_events()
    assert render_calendar(events, config) == _reference_calendar(events, config)


def test_tricky_text_reads_back_without_injected_properties() -> None:
    events = tricky_events()
    calendar = Calendar.from_ical(render_calendar(events, CONFIG))
    by_uid = {str(v["UID"]): v for v in calendar.events}
    assert len(by_uid) == len(events)
    for item in events:
        vevent = by_uid[public_uid(item)]
        assert "ATTENDEE" not in vevent
        title = display_title(item, CONFIG.agenda)
        expected = title.replace("\r\n", "\n").replace("\r", "\n")
        assert str(vevent["SUMMARY"]) == expected
        if item.description:
            assert str(vevent["DESCRIPTION"]).startswith(
                item.description.strip().replace("\r\n", "\n").replace("\r", "\n")
            )


def test_event_files_reuse_calendar_blocks_with_the_same_bytes() -> None:
    events = agenda_events() + tricky_events()
    calendar = render_calendar(events, CONFIG)
    reused = render_event_files(events, CONFIG, calendar)
    assert reused == render_event_files(events, CONFIG)
    blocks = split_calendar(calendar)
    assert blocks is not None
    for item in events:
        data = reused[f"events/{public_uid(item)}.ics"]
        assert data == render_event_calendar(item, CONFIG)
        assert blocks.events[public_uid(item)] in data
        parsed = Calendar.from_ical(data)
        assert [str(v["UID"]) for v in parsed.events] == [public_uid(item)]


def test_event_files_ignore_a_calendar_of_other_events() -> None:
    events = agenda_events()
    other = render_calendar(events[:2], CONFIG)
    assert render_event_files(events, CONFIG, other) == render_event_files(events, CONFIG)


def test_write_many_writes_only_changed_files(tmp_path: Path) -> None:
    same, changed, new = tmp_path / "same.ics", tmp_path / "changed.ics", tmp_path / "new.ics"
    same.write_bytes(b"same")
    changed.write_bytes(b"old")
    os.utime(same, (1_000_000, 1_000_000))
    written = write_many({same: b"same", changed: b"new bytes", new: b"fresh"})
    assert written == [changed, new]
    assert same.stat().st_mtime == 1_000_000
    assert changed.read_bytes() == b"new bytes" and new.read_bytes() == b"fresh"
    assert stat.S_IMODE(new.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["changed.ics", "new.ics", "same.ics"]


def test_write_many_keeps_the_old_mode(tmp_path: Path) -> None:
    target = tmp_path / "event.ics"
    target.write_bytes(b"old")
    target.chmod(0o640)
    write_many({target: b"new"})
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_write_many_failure_is_a_publish_error_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "event.ics"
    target.write_bytes(b"old")
    with pytest.raises(PublishError, match=r"cannot write .*missing"):
        write_many({target: b"new", tmp_path / "missing" / "x.ics": b"lost"})
    # Nothing is renamed into place unless every file could be written.
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["event.ics"]
