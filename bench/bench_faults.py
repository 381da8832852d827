"""Randomized fault runs against one persistent database (issue 10).

Four good sources (two iCal files, two feeds) and one hostile source are served by the loopback
fault server (tests/fault_server.py); every request, including those to the "public" hosts the
redirect faults use, goes through it as HTTP_PROXY, so nothing leaves 127.0.0.1. Each round
picks a fault for the hostile source (or lets it recover) and one way to run: a normal run, a
run killed with SIGKILL at a random moment, or two runs at once. After every round the database
is checked (integrity, schema version, `sources list` works) and, after every completed run, the
published events: each good source's events must all be there, and the hostile source's events
published while it was healthy must still be there while it is faulty and after it recovers.

Reports: runs, hangs (a run past --max-wall), crashes (a traceback or an exit code other than
0 and 1 — 1 is documented: lock busy, database error), events lost, unusable databases,
orphaned worker processes, peak RSS (a run's own and its parse worker's, from ru_maxrss), max
wall. Targets: 0 hangs, 0 crashes, 0 events lost, 0 unusable databases, peak RSS <= 300 MB.

    .venv/bin/python bench/bench_faults.py [--rounds 40] [--seed 1]
    .venv/bin/python bench/bench_faults.py --overhead   # the parse sandbox's cost per source
    # before: git archive 7e5e53c | tar -x -C /tmp/before, then
    .venv/bin/python bench/bench_faults.py --aggregator-root /tmp/before --legacy
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fault_server import FaultServer, Reply, gzip_bomb  # noqa: E402

NOW = "2026-05-01T12:00:00+02:00"
PUBLIC = "http://93.184.215.14"  # carried by the proxy (the fault server): never contacted
ICS_TYPE = "text/calendar; charset=utf-8"
RSS_TYPE = "application/rss+xml"

# The CLI in a child that reports its own and its children's (the parse worker's) peak RSS.
_WRAPPER = textwrap.dedent(
    """
    import resource, sys
    from aggregator.cli import app
    try:
        app(sys.argv[1:], prog_name="aggregator")
    finally:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"peak-rss-kb {own} {kids}", file=sys.stderr)
    """
)


def ics(prefix: str, count: int, first_day: int = 1) -> bytes:
    """`count` events on consecutive days of May 2026 (each source its own days, so the
    deduplication never merges two sources' events and each keeps its own titles)."""
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:{prefix}-{i}@example.org\r\n"
        f"DTSTART:202605{first_day + i:02d}T160000Z\r\nDTEND:202605{first_day + i:02d}T180000Z\r\n"
        f"SUMMARY:{prefix} atelier {i} à Plouzané\r\nEND:VEVENT\r\n"
        for i in range(count)
    )
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//b//EN\r\n"
    return f"{head}{events}END:VCALENDAR\r\n".encode()


def rss(prefix: str, count: int, first_day: int = 1) -> bytes:
    items = "".join(
        f"<item><title>{prefix} café {i}</title><link>http://example.org/{prefix}/{i}</link>"
        f"<guid>{prefix}-{i}</guid><description>Rencontre à Creac'h Gwen</description>"
        f"<ev:startdate>2026-05-{first_day + i:02d}T18:00:00+02:00</ev:startdate></item>\n"
        for i in range(count)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:ev="http://purl.org/rss/1.0/modules/event/"><channel><title>t</title>'
        f"<link>http://example.org/</link><description>d</description>\n{items}</channel></rss>\n"
    ).encode()


GOOD = {
    "ical-a": ("/a.ics", ics("Redon", 5, 2), ICS_TYPE),
    "ical-b": ("/b.ics", ics("Brest", 4, 8), ICS_TYPE),
    "feed-c": ("/c.rss", rss("Quimper", 4, 13), RSS_TYPE),
    "feed-d": ("/d.rss", rss("Lannion", 3, 18), RSS_TYPE),
}
HOSTILE_PATH = "/hostile.rss"
HOSTILE_OK = rss("Morlaix", 4, 22)


def hostile_faults(port: int) -> dict[str, Reply]:
    """What the hostile source may serve; each must leave its stored events as they were."""
    cut = HOSTILE_OK[: HOSTILE_OK.rindex(b"<item>")]
    nested = b"<html><body>" + b'<b class="h-event">' * 20_000 + b"</body></html>"
    row = b'<div class="h-event"><p class="p-name">Atelier</p> texte texte</div>\n'
    return {
        "feed-cut": Reply(body=cut, content_type=RSS_TYPE),
        "calendar-cut": Reply(body=ics("Vannes", 3, 27)[:-40], content_type=ICS_TYPE),
        "length-too-long": Reply(
            body=HOSTILE_OK[:-300], declared_length=len(HOSTILE_OK), content_type=RSS_TYPE
        ),
        "length-too-short": Reply(body=HOSTILE_OK, declared_length=len(cut), content_type=RSS_TYPE),
        "gzip-cut": Reply(body=HOSTILE_OK, gzip=True, cut_compressed=30, content_type=RSS_TYPE),
        "gzip-bomb": Reply(raw_gzip=gzip_bomb(1 << 30), content_type=RSS_TYPE),
        "oversized": Reply(body=b"<rss>" + b" " * (12 << 20), content_type=RSS_TYPE),
        "server-error": Reply(status=500, body=b"oops"),
        "reset": Reply(reset=True),
        "hang": Reply(hang=True),
        "garbage": Reply(body=os.urandom(50_000), content_type=RSS_TYPE),
        "redirect-to-loopback": Reply(status=302, location=f"http://127.0.0.1:{port}/a.ics"),
        "redirect-to-metadata": Reply(status=302, location="http://169.254.169.254/latest/"),
        "deep-nesting": Reply(body=nested, content_type="text/html"),
        "slow-parse": Reply(body=b"<html><body>" + row * 80_000, content_type="text/html"),
        "many-events": Reply(
            body=ics("Vannes", 1, 27)[:-15] + _many(60_000), content_type=ICS_TYPE
        ),
    }


def _many(count: int) -> bytes:
    return (
        "".join(
            f"BEGIN:VEVENT\r\nUID:v{i}\r\nDTSTART:20260520T100000Z\r\nSUMMARY:R {i}\r\n"
            "END:VEVENT\r\n"
            for i in range(count)
        )
        + "END:VCALENDAR\r\n"
    ).encode()


@dataclass
class Tally:
    runs: int = 0
    completed: int = 0
    killed: int = 0
    busy: int = 0
    hangs: int = 0
    crashes: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    good_missing: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    unusable: list[str] = field(default_factory=list)
    orphans: int = 0
    peak_rss_mb: float = 0.0
    peak_worker_rss_mb: float = 0.0
    walls: list[float] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)


class Bench:
    def __init__(self, work: Path, server: FaultServer, args: argparse.Namespace) -> None:
        self.work, self.server, self.args = work, server, args
        self.config = work / "sources.yaml"
        self.db = work / "data" / "agenda.db"
        self.out = work / "output"
        entries = [(ident, f"{PUBLIC}{path}") for ident, (path, _, _) in GOOD.items()]
        entries.append(("hostile", f"{PUBLIC}{HOSTILE_PATH}"))
        self.config.write_text(
            'agenda: {title: "Bench", timezone: Europe/Paris}\nsources:\n'
            + "".join(f"  - id: {i}\n    name: Collectif {i}\n    url: {u}\n" for i, u in entries),
            "utf-8",
        )
        for path, body, content_type in GOOD.values():
            server.set(path, Reply(body=body, content_type=content_type, etag=f'"{hash(body)}"'))
        self.expected = {ident: self._titles_of(body) for ident, (_, body, _) in GOOD.items()}
        self.hostile_known: set[str] = set()  # published while it was healthy
        self.tally = Tally()
        code = str(Path(args.aggregator_root).resolve())
        self.env = dict(os.environ, HTTP_PROXY=server.proxy, NO_PROXY="", PYTHONPATH=code)

    @staticmethod
    def _titles_of(body: bytes) -> set[str]:
        text = body.decode()
        if text.startswith("BEGIN:VCALENDAR"):
            return {line[8:] for line in text.split("\r\n") if line.startswith("SUMMARY:")}
        return {part.split("</title>")[0] for part in text.split("<item><title>")[1:]}

    def start(self, lock_wait: float = 30) -> subprocess.Popen[str]:
        command = [
            sys.executable, "-c", _WRAPPER, "run", "--config", str(self.config),
            "--db", str(self.db), "--out", str(self.out), "--now", NOW, "--timeout", "2",
        ]  # fmt: skip
        if not self.args.legacy:
            command += ["--parse-timeout", str(self.args.parse_timeout)]
            command += ["--lock-wait", str(lock_wait)]
        self.tally.runs += 1
        return subprocess.Popen(
            command, cwd=self.work, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )  # fmt: skip

    def finish(self, process: subprocess.Popen[str], started: float) -> bool:
        """Wait for a run; True if it completed and published."""
        try:
            out, err = process.communicate(timeout=self.args.max_wall)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            self.tally.hangs += 1
            return False
        wall = time.monotonic() - started
        for line in err.splitlines():
            if line.startswith("peak-rss-kb"):
                own, kids = (int(v) / 1024 for v in line.split()[1:])
                self.tally.peak_rss_mb = max(self.tally.peak_rss_mb, own, kids)
                self.tally.peak_worker_rss_mb = max(self.tally.peak_worker_rss_mb, kids)
        if "Traceback" in out + err or process.returncode not in (0, 1):
            self.tally.crashes.append(f"exit {process.returncode}: {(err or out)[-600:]}")
            return False
        if process.returncode == 1:
            if "another aggregator run" in out + err:
                self.tally.busy += 1
            else:
                self.tally.crashes.append(f"exit 1 without a known reason: {(err or out)[-600:]}")
            return False
        self.tally.completed += 1
        self.tally.walls.append(wall)
        return True

    def check_published(self, hostile_state: str) -> None:
        events = json.loads((self.out / "events.json").read_text("utf-8"))
        by_source: dict[str, set[str]] = {}
        for event in events:
            for source in event["sources"]:
                by_source.setdefault(source["id"], set()).add(event["title"])
        for ident, titles in self.expected.items():
            missing = titles - by_source.get(ident, set())
            if missing:
                self.tally.good_missing.append(f"{ident}: {sorted(missing)[:3]}")
        hostile = by_source.get("hostile", set())
        foreign = hostile & set().union(*self.expected.values())
        if foreign:
            self.tally.leaked.append(f"hostile ({hostile_state}): {sorted(foreign)[:2]}")
        lost = self.hostile_known - hostile
        if lost:
            self.tally.lost.append(f"hostile ({hostile_state}): {len(lost)} events")
        if hostile_state == "ok":
            self.hostile_known = self._titles_of(HOSTILE_OK)
            if not self.hostile_known <= hostile:
                self.tally.lost.append("hostile (ok): its events were not published")

    def check_database(self) -> None:
        if not self.db.exists():
            return
        try:
            with sqlite3.connect(self.db, timeout=30) as conn:
                integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            if integrity != "ok":
                self.tally.unusable.append(f"integrity: {integrity}")
        except sqlite3.Error as exc:
            self.tally.unusable.append(f"sqlite: {exc}")
            return
        from aggregator.store import SCHEMA_VERSION

        if version != SCHEMA_VERSION:
            self.tally.unusable.append(f"user_version {version} != {SCHEMA_VERSION}")
        listing = subprocess.run(
            [sys.executable, "-m", "aggregator", "sources", "list", "--config",
             str(self.config), "--db", str(self.db)],
            cwd=ROOT, capture_output=True, text=True, env=self.env, timeout=120,
        )  # fmt: skip
        if listing.returncode != 0 or "Traceback" in listing.stderr:
            self.tally.unusable.append(f"sources list: {listing.stderr[-300:]}")

    def count_orphans(self) -> int:
        """Processes still running with this bench's config in their command line."""
        count = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(self.config).encode() in cmdline and b"\x00run\x00" in cmdline:
                count += 1
        return count

    def schedule(self, rng: random.Random, rounds: int) -> list[str]:
        """The hostile source's state in each round: every fault once per cycle, in a random
        order, with a recovery ("ok") after every two or three faults."""
        states: list[str] = []
        while len(states) < rounds:
            cycle = sorted(hostile_faults(self.server.port))
            rng.shuffle(cycle)
            for fault in cycle:
                states.append(fault)
                if rng.random() < 0.4:
                    states.append("ok")
        return states[:rounds]

    def round(self, rng: random.Random, index: int, state: str) -> None:
        faults = hostile_faults(self.server.port)
        self.server.set(
            HOSTILE_PATH,
            Reply(body=HOSTILE_OK, content_type=RSS_TYPE) if state == "ok" else faults[state],
        )
        self.tally.faults[state] += 1
        mode = "pair" if index == 0 else rng.choice(["normal", "normal", "kill", "kill", "pair"])
        started = time.monotonic()
        if mode == "normal":
            if self.finish(self.start(), started):
                self.check_published(state)
        elif mode == "kill":
            process = self.start()
            time.sleep(rng.uniform(0.2, 4.0))
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)  # the run and its parse worker
                process.communicate()
                self.tally.killed += 1
            elif self.finish(process, started):
                self.check_published(state)
        else:
            first, second = self.start(), self.start(lock_wait=rng.choice([0, 30]))
            for process in (first, second):
                if self.finish(process, started):
                    self.check_published(state)
        time.sleep(0.3)
        self.tally.orphans += self.count_orphans()
        self.check_database()
        print(
            f"round {index + 1:3d}: {mode:6s} hostile={state:22s} "
            f"completed={self.tally.completed} busy={self.tally.busy} "
            f"crashes={len(self.tally.crashes)} lost={len(self.tally.lost)}",
            flush=True,
        )


def run_rounds(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp, FaultServer() as server:
        bench = Bench(Path(tmp), server, args)
        for index, state in enumerate(bench.schedule(rng, args.rounds)):
            bench.round(rng, index, state)
        # A last healthy run: everything must be published.
        server.set(HOSTILE_PATH, Reply(body=HOSTILE_OK, content_type=RSS_TYPE))
        if bench.finish(bench.start(), time.monotonic()):
            bench.check_published("ok")
        t = bench.tally
    print()
    print(f"rounds {args.rounds}, runs {t.runs} (completed {t.completed}, killed {t.killed}, "
          f"lock busy {t.busy})")  # fmt: skip
    print(f"hangs {t.hangs}")
    print(f"crashes {len(t.crashes)}")
    for crash in t.crashes[:5]:
        print("   ", crash.replace("\n", "\n    "))
    print(f"events lost {len(t.lost)} {t.lost[:5]}")
    print(f"good sources missing from a completed run {len(t.good_missing)} {t.good_missing[:5]}")
    print(f"someone else's events published as the hostile source's {len(t.leaked)} {t.leaked[:3]}")
    print(f"unusable databases {len(t.unusable)} {t.unusable[:5]}")
    print(f"orphaned processes seen {t.orphans}")
    print(f"peak RSS {t.peak_rss_mb:.0f} MB (parse worker {t.peak_worker_rss_mb:.0f} MB)")
    if t.walls:
        print(f"wall: median {statistics.median(t.walls):.1f} s, max {max(t.walls):.1f} s")
    print("hostile states:", dict(sorted(t.faults.items())))


def overhead(args: argparse.Namespace) -> None:
    """Parse the shared corpus in-process and through the sandbox; print the medians."""
    from datetime import datetime

    from aggregator import pipeline
    from aggregator.config import Config, Source
    from aggregator.fetch import decode_document
    from aggregator.models import FETCH_OK, Document, FetchResult
    from aggregator.sandbox import ParseSandbox

    corpus = Path(args.corpus)
    files = sorted(p for kind in ("ics", "feeds", "html") for p in (corpus / kind).glob("*"))
    config = Config()
    now = datetime.fromisoformat(NOW)
    results = []
    for path in files:
        content = path.read_bytes()
        text, encoding, warnings = decode_document(content, None)
        document = Document(url=f"https://example.org/{path.name}", content=content, text=text,
                            encoding=encoding, warnings=warnings)  # fmt: skip
        source = Source(id="corpus", name="Corpus", url=document.url)
        results.append((source, FetchResult("corpus", document.url, FETCH_OK, document)))

    def once(sandbox: ParseSandbox | None) -> float:
        started = time.perf_counter()
        for source, result in results:
            pipeline.parse_fetched(config, source, result, now, sandbox)
        return time.perf_counter() - started

    once(None)  # warm the parsers' caches in both places
    with ParseSandbox() as sandbox:
        started = time.perf_counter()
        sandbox.start()
        fork = time.perf_counter() - started
        once(sandbox)
        inside, direct = [], []
        for _ in range(args.repeat):  # interleaved, so a busy machine weighs on both alike
            inside.append(once(sandbox))
            direct.append(once(None))
    d, s = statistics.median(direct), statistics.median(inside)
    print(f"{len(files)} corpus documents, median of {args.repeat}:")
    per_document = (s - d) / len(files) * 1000
    print(f"  in-process {d:.3f} s, in the sandbox {s:.3f} s: x{s / d:.2f}")
    print(f"  +{per_document:.1f} ms per document; worker start {fork:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-wall", type=float, default=120.0)
    parser.add_argument("--parse-timeout", type=float, default=5.0)
    parser.add_argument(
        "--aggregator-root",
        default=str(ROOT),
        help="run the aggregator package found there (e.g. an export of an older commit)",
    )
    parser.add_argument(
        "--legacy", action="store_true", help="the code before issue 10: no budget or lock options"
    )
    parser.add_argument("--overhead", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--corpus", default="/work/shared/corpus")
    args = parser.parse_args()
    if args.overhead:
        overhead(args)
    else:
        run_rounds(args)


if __name__ == "__main__":
    main()
