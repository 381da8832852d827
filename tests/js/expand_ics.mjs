// Expand .ics files with Mozilla's ical.js (Thunderbird's parser): the reference of the
// differential test (tests/ical_diff.py).
//
// Reads one JSON job on stdin:
//   {"maxIterations": 20000,
//    "files": [{"path": "...", "zones": {"Europe/Paris": "BEGIN:VTIMEZONE..."},
//               "windows": [["2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"], ...]}]}
// and prints one JSON line per file, as soon as it is done (a file that hangs ical.js does not
// lose the others): {"path": "...", "ok": true, "windows": [{"occurrences": [...],
// "capped": false}]}, or {"path": "...", "ok": false, "error": "..."} when ical.js cannot read it.
//
// Each file is read on its own: the time-zone service is reset, then holds only the VTIMEZONEs
// given in "zones" (IANA zones the file names without defining them). Floating times are
// local times of this process: run it with TZ set to the source's zone.
// An occurrence is {uid, start, end, allDay, summary, status}; timed values are UTC ISO
// instants, dates "YYYY-MM-DD". An occurrence belongs to a window when it overlaps it
// (start < window end, and end > window start or a zero-length event starting inside).
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

// A DTSTART/DTEND/EXDATE/RECURRENCE-ID value without "T" is a DATE even when VALUE=DATE is
// missing (many producers omit it): the detection ical.js itself applies to RDATE values.
const detectDate = (value) => (value.indexOf("T") === -1 ? "date" : "date-time");
for (const name of ["dtstart", "dtend", "due", "exdate", "recurrence-id"]) {
  const design = ICAL.design.icalendar.property;
  design[name] = { ...design[name], detectType: detectDate };
}

const job = JSON.parse(readFileSync(0, "utf8"));
const maxIterations = job.maxIterations ?? 20000;
// Occurrences moved into a window can come from a recurrence id a little after it.
const lookAheadSeconds = 62 * 86400;

function when(time) {
  if (time.isDate) return time.toString();
  return time.toJSDate().toISOString();
}

function instant(time) {
  return time.toJSDate().getTime() / 1000;
}

function roots(text) {
  const parsed = ICAL.parse(text);
  // Several top-level components give a list of them.
  const list = typeof parsed[0] === "string" ? [parsed] : parsed;
  return list.map((jcal) => new ICAL.Component(jcal));
}

function vevents(root) {
  if (root.name === "vevent") return [root];
  return root.getAllSubcomponents("vevent");
}

function describe(item, start, end) {
  return {
    uid: item.uid,
    start: when(start),
    end: when(end),
    allDay: start.isDate,
    summary: item.summary ?? null,
    status: item.component.getFirstPropertyValue("status"),
  };
}

function inWindow(start, end, from, to) {
  const s = instant(start);
  const e = instant(end);
  return s < to && (e > from || (e <= s && s >= from));
}

function expandEvent(event, from, to, out) {
  let capped = false;
  if (!event.startDate) return capped;
  if (!event.isRecurring()) {
    const start = event.startDate;
    const end = event.endDate;
    if (inWindow(start, end, from, to)) out.push(describe(event, start, end));
    return capped;
  }
  const iterator = event.iterator();
  let count = 0;
  for (let next = iterator.next(); next; next = iterator.next()) {
    // An RDATE;VALUE=PERIOD instance comes out as a period: its own end, not the series'.
    const period = next instanceof ICAL.Period ? next : null;
    const start = period ? period.start : next;
    if (instant(start) >= to + lookAheadSeconds) break;
    if (++count > maxIterations) {
      capped = true;
      break;
    }
    const details = event.getOccurrenceDetails(start);
    const end = period && details.item === event ? period.getEnd() : details.endDate;
    if (inWindow(details.startDate, end, from, to)) {
      out.push(describe(details.item, details.startDate, end));
    }
  }
  return capped;
}

function expandFile(spec) {
  ICAL.TimezoneService.reset();
  for (const [tzid, text] of Object.entries(spec.zones ?? {})) {
    const component = new ICAL.Component(ICAL.parse(text));
    ICAL.TimezoneService.register(new ICAL.Timezone({ component, tzid }));
  }
  // A client decodes the body with TextDecoder, which drops a UTF-8 byte-order mark.
  const text = readFileSync(spec.path, "utf8").replace(/^\uFEFF/, "");
  const components = roots(text).flatMap(vevents);
  // Group by UID: a master and the exceptions (RECURRENCE-ID) that override its occurrences.
  const groups = new Map();
  components.forEach((component, position) => {
    const uid = component.getFirstPropertyValue("uid") ?? `\u0000${position}`;
    if (!groups.has(uid)) groups.set(uid, { masters: [], exceptions: [] });
    const group = groups.get(uid);
    (component.hasProperty("recurrence-id") ? group.exceptions : group.masters).push(component);
  });
  const windows = spec.windows.map(([from, to]) => {
    const out = [];
    let capped = false;
    const start = Date.parse(from) / 1000;
    const end = Date.parse(to) / 1000;
    for (const { masters, exceptions } of groups.values()) {
      if (masters.length === 0) {
        // Overrides without their series: each one is an event of its own.
        for (const exception of exceptions) {
          capped = expandEvent(new ICAL.Event(exception), start, end, out) || capped;
        }
        continue;
      }
      masters.forEach((master, index) => {
        const event = new ICAL.Event(master, {
          exceptions: index === 0 ? exceptions : [],
          strictExceptions: true,
        });
        capped = expandEvent(event, start, end, out) || capped;
      });
    }
    return { occurrences: out, capped };
  });
  return { ok: true, windows };
}

for (const spec of job.files) {
  let result;
  try {
    result = expandFile(spec);
  } catch (error) {
    result = { ok: false, error: String(error) };
  }
  // Writes to a pipe are synchronous on Linux: a line printed is a line the caller gets.
  process.stdout.write(JSON.stringify({ path: spec.path, ...result }) + "\n");
}
