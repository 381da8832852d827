// Read an .ics file with Mozilla's ical.js (the parser Thunderbird uses) and print its VEVENTs
// as JSON: [{uid, start, end, summary, status, allDay, rrule, recurrenceId}], one per VEVENT.
// Timed values are UTC ISO instants computed by ical.js from the file's own VTIMEZONE
// (ical.js has no zone database of its own); all-day values are "YYYY-MM-DD".
// Usage: node tests/js/read_ics.mjs path/to/calendar.ics
//        node tests/js/read_ics.mjs a.ics b.ics ...   (prints {"a.ics": [...], "b.ics": [...]})
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

function when(time) {
  if (!time) return null;
  if (time.isDate) return time.toString();
  return time.toJSDate().toISOString();
}

function read(path) {
  const root = new ICAL.Component(ICAL.parse(readFileSync(path, "utf8")));
  return root.getAllSubcomponents("vevent").map(describe);
}

function describe(vevent) {
  const event = new ICAL.Event(vevent);
  return {
    uid: event.uid,
    start: when(event.startDate),
    end: when(event.endDate),
    summary: event.summary,
    status: vevent.getFirstPropertyValue("status"),
    allDay: event.startDate.isDate,
    rrule: vevent.hasProperty("rrule"),
    recurrenceId: vevent.hasProperty("recurrence-id"),
    sequence: event.sequence,
  };
}

const paths = process.argv.slice(2);
const out = paths.length === 1 ? read(paths[0]) : Object.fromEntries(paths.map((p) => [p, read(p)]));
process.stdout.write(JSON.stringify(out));
