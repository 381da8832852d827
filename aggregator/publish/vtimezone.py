"""A correct VTIMEZONE for any IANA zone, built from zoneinfo's own transitions.

icalendar's `Timezone.from_tzid` writes each observance's DTSTART in the local time *after* the
change (DAYLIGHT DTSTART:20260329T030000 with TZOFFSETFROM:+0100), one hour late for every
client that follows RFC 5545 §3.6.5, where DTSTART is local time in TZOFFSETFROM (02:00 here).
Clients that trust the file's VTIMEZONE (Mozilla ical.js, vobject, Outlook) would then place
events of the changeover night wrongly.

We find the transitions by scanning the zone, then describe each run of yearly-alike
transitions the way Thunderbird and Outlook do: one STANDARD or DAYLIGHT block with a DTSTART
and a yearly RRULE ("BYMONTH=3;BYDAY=-1SU"); the run that is still in force has no UNTIL, so
events beyond the covered years stay right as long as the zone's rule does.
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard, vRecur

_DAY = timedelta(days=1)
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# Before the first transition of the covered years, a zone without changes in them is described
# from this fixed date (the value every client's zone database starts from).
_EPOCH_START = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class _Transition:
    """One change of offset: `local` is the wall-clock time just before it (in `offset_from`)."""

    local: datetime
    at: datetime  # UTC
    offset_from: timedelta
    offset_to: timedelta
    name: str
    daylight: bool

    def kind(self) -> tuple[timedelta, timedelta, str, bool, int, int, int, int]:
        """What must be equal for two transitions to belong to one yearly rule."""
        local = self.local
        return (
            self.offset_from,
            self.offset_to,
            self.name,
            self.daylight,
            local.month,
            local.hour,
            local.minute,
            local.second,
        )

    def positions(self) -> set[str]:
        """The ways to say which day of its month this is, as RRULE BYDAY / BYMONTHDAY."""
        local = self.local
        weekday = _WEEKDAYS[local.weekday()]
        days_in_month = _calendar.monthrange(local.year, local.month)[1]
        found = {f"{(local.day - 1) // 7 + 1}{weekday}", f"D{local.day}"}
        if local.day + 7 > days_in_month:
            found.add(f"-1{weekday}")
        return found


def _state(zone: ZoneInfo, moment: datetime) -> tuple[timedelta, timedelta, str]:
    local = moment.astimezone(zone)
    return (
        local.utcoffset() or timedelta(0),
        local.dst() or timedelta(0),
        local.tzname() or "",
    )


def transitions(zone: ZoneInfo, first_year: int, last_year: int) -> list[_Transition]:
    """Every change of offset, DST flag or name in [first_year, last_year], in order."""
    found: list[_Transition] = []
    moment = datetime(first_year, 1, 1, tzinfo=UTC) - _DAY
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC) + _DAY
    state = _state(zone, moment)
    while moment < end:
        following = moment + _DAY
        new_state = _state(zone, following)
        if new_state != state:
            # Bisect to the second: zones change at any minute (Lord Howe at 02:00 +10:30).
            low, high = moment, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if _state(zone, middle) == state:
                    low = middle
                else:
                    high = middle
            at = high.replace(microsecond=0)
            if _state(zone, at) != new_state:
                at += timedelta(seconds=1)
            if first_year <= (at + state[0]).year <= last_year:
                found.append(
                    _Transition(
                        local=(at + state[0]).replace(tzinfo=None),
                        at=at,
                        offset_from=state[0],
                        offset_to=new_state[0],
                        name=new_state[2],
                        # Negative DST (Europe/Dublin's winter GMT) is the standard time.
                        daylight=new_state[1] > timedelta(0)
                        or (not new_state[1] and state[1] < timedelta(0)),
                    )
                )
            state = new_state
        moment = following
    return found


def _runs(items: list[_Transition]) -> list[tuple[list[_Transition], str]]:
    """Group transitions into yearly runs: same kind, consecutive years, a shared day rule."""
    runs: list[tuple[list[_Transition], set[str]]] = []
    open_runs: dict[tuple[object, ...], int] = {}
    for item in items:
        index = open_runs.get(item.kind())
        if index is not None:
            run, positions = runs[index]
            common = positions & item.positions()
            if run[-1].local.year + 1 == item.local.year and common:
                run.append(item)
                runs[index] = (run, common)
                continue
        open_runs[item.kind()] = len(runs)
        runs.append(([item], item.positions()))
    result = []
    for run, positions in runs:
        # Prefer what people and clients write: "last Sunday", then "2nd Sunday", then a date.
        best = sorted(positions, key=lambda p: (not p.startswith("-1"), p.startswith("D"), p))[0]
        result.append((run, best))
    return result


def _offset_text(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    sign = "+" if seconds >= 0 else "-"
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{secs:02d}" if secs else "")


def _observance(first: _Transition, rule: vRecur | None) -> TimezoneStandard | TimezoneDaylight:
    component = TimezoneDaylight() if first.daylight else TimezoneStandard()
    component.add("tzname", first.name)
    component.add("dtstart", first.local)
    # icalendar would write "+0100" too, but not the seconds of historic offsets: write our own.
    component.add("tzoffsetfrom", first.offset_from)
    component.add("tzoffsetto", first.offset_to)
    if rule is not None:
        component.add("rrule", rule)
    return component


def build_vtimezone(zone_name: str, first_year: int, last_year: int) -> Timezone:
    """The VTIMEZONE of `zone_name`, exact for every instant of [first_year, last_year].

    The year before `first_year` is described as well, so the first weeks of `first_year` follow
    an observance that already started. Runs of transitions that continue to the last covered
    year stay open (no UNTIL).
    """
    zone = ZoneInfo(zone_name)
    start_year = first_year - 1
    found = transitions(zone, start_year, last_year)
    timezone = Timezone()
    timezone.add("tzid", zone_name)
    if not found:
        offset, dst, name = _state(zone, datetime(first_year, 7, 1, tzinfo=UTC))
        still = _Transition(_EPOCH_START, _EPOCH_START, offset, offset, name, bool(dst))
        timezone.add_component(_observance(still, None))
        return timezone
    for run, position in _runs(found):
        last = run[-1]
        still_in_force = last.local.year == last_year and len(run) > 1
        rule: vRecur | None = None
        if len(run) > 1 or still_in_force:
            rule = vRecur(freq="YEARLY", bymonth=run[0].local.month)
            if position.startswith("D"):
                rule["bymonthday"] = int(position[1:])
            else:
                rule["byday"] = position
            if not still_in_force:
                # RFC 5545 wants UNTIL in UTC; some readers (icalendar, dateutil) compare it with
                # the local onset instead. The later of the two readings includes the last
                # onset for both, and stays a year away from the next.
                until = max(last.at, last.local.replace(tzinfo=UTC))
                rule["until"] = until
        timezone.add_component(_observance(run[0], rule))
    return timezone


__all__ = ["build_vtimezone", "transitions"]
