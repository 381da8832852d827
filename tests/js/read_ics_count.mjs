// Reads every .ics file given on the command line with ical.js (an independent parser) and prints
// one JSON object: {"<path>": {"count": n, "uids": [...], "props": [...names...]}}.
// Exits 1 with the message on stderr if a file cannot be parsed.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const result = {};
for (const path of process.argv.slice(2)) {
  try {
    const component = new ICAL.Component(ICAL.parse(readFileSync(path, "utf8")));
    const events = component.getAllSubcomponents("vevent");
    result[path] = {
      count: events.length,
      uids: events.map((event) => event.getFirstPropertyValue("uid")),
      props: [...new Set(events.flatMap((event) => event.getAllProperties().map((p) => p.name)))],
      summaries: events.map((event) => event.getFirstPropertyValue("summary")),
    };
  } catch (error) {
    process.stderr.write(`${path}: ${error}\n`);
    process.exit(1);
  }
}
process.stdout.write(JSON.stringify(result));
