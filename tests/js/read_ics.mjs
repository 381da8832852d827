// Read an .ics file with Mozilla's ical.js (the parser Thunderbird uses) and print its VEVENTs
// as JSON: [{uid, start, end, summary, status, allDay, rrule, recurrenceId}], one per VEVENT.
// Timed values are UTC ISO instants computed by ical.js from the file's own VTIMEZONE
// (ical.js has no zone database of its own); all-day values are "YYYY-MM-DD".
// Usage: node tests/js/read_ics.mjs path/to/calendar.ics
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

function when(time) {
  if (!time) return null;
  if (time.isDate) return time.toString();
  return time.toJSDate().toISOString();
}

const text = readFileSync(process.argv[2], "utf8");
const root = new ICAL.Component(ICAL.parse(text));
const out = root.getAllSubcomponents("vevent").map((vevent) => {
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
});
process.stdout.write(JSON.stringify(out));
