// Reads every RSS file given on the command line with npm rss-parser (an independent parser) and
// prints one JSON object: {"<path>": {"title": ..., "guids": [...], "titles": [...], "links": [...]}}.
// Exits 1 with the message on stderr if a file cannot be parsed.
import { readFileSync } from "node:fs";
import Parser from "rss-parser";

const parser = new Parser();
const result = {};
for (const path of process.argv.slice(2)) {
  try {
    const feed = await parser.parseString(readFileSync(path, "utf8"));
    result[path] = {
      title: feed.title,
      link: feed.link ?? null,
      guids: feed.items.map((item) => item.guid ?? null),
      titles: feed.items.map((item) => item.title ?? null),
      links: feed.items.map((item) => item.link ?? null),
    };
  } catch (error) {
    process.stderr.write(`${path}: ${error}\n`);
    process.exit(1);
  }
}
process.stdout.write(JSON.stringify(result));
