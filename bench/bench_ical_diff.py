"""Differential run: our iCal reading against Mozilla ical.js on calendars nobody here wrote.

Files: the peer projects' test calendars (bench/peer_calendars.json, extracted into
.cache/peer-calendars by `bench/peer_calendars.py extract`) and the shared corpus
(../shared/corpus/ics). For each file, occurrences are compared over agenda windows near its
events (see tests/ical_diff.py); documented differences are counted apart, with their reasons.

Also checks that the reading of each file does not depend on what was parsed before it: every
file is parsed in manifest order, then in reverse order, in one process.

    .venv/bin/python bench/bench_ical_diff.py [--only SUBSTRING] [--show N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from ical_diff import DOCUMENTED, FileReport, differential, order_dependence  # noqa: E402
from peer_calendars import cached_files  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "ics"


def _short(path: str) -> str:
    return path.replace(str(ROOT / ".cache" / "peer-calendars") + "/", "").replace(
        str(CORPUS.parent) + "/", "corpus/"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="compare only paths containing this")
    parser.add_argument("--show", type=int, default=4, help="occurrences shown per failing file")
    parser.add_argument("--json", type=Path, help="write every file's report there")
    parser.add_argument("--no-order", action="store_true", help="skip the two-order check")
    args = parser.parse_args()
    peers = cached_files()
    if not peers:
        print("no peer calendars cached: run bench/peer_calendars.py extract", file=sys.stderr)
        return 2
    paths = [p for p in [*peers, *sorted(CORPUS.glob("*.ics"))] if args.only in str(p)]
    started = time.perf_counter()
    reports = differential(paths, progress=True)
    elapsed = time.perf_counter() - started
    by_status = Counter(r.status for r in reports)
    for report in reports:
        if report.status in ("differ", "crash"):
            _print_failure(report, args.show)
    reasons = Counter(reason for r in reports for reason in set(r.reasons))
    compared = [r for r in reports if r.status != "reference-error"]
    agreeing = sum(1 for r in compared if r.status in ("agree", "documented"))
    print()
    for name, reason, _rule in DOCUMENTED:
        if reasons[name]:
            print(f"documented  {reasons[name]:4d} files  {name}: {reason}")
    for report in reports:
        if report.status == "reference-error":
            print(f"ical.js cannot read {_short(report.path)}: {report.error[:100]}")
    print()
    print(
        f"files: {len(reports)} ({len(peers)} peer calendars, "
        f"{len(reports) - len([p for p in paths if p in peers])} corpus); "
        f"ical.js cannot read {by_status['reference-error']}"
    )
    print(
        f"agree exactly {by_status['agree']}, documented differences {by_status['documented']}, "
        f"differ {by_status['differ']}, crashes {by_status['crash']}"
    )
    print(f"files agreeing / files compared: {agreeing} / {len(compared)}  ({elapsed:.0f} s)")
    if not args.no_order:
        dependent = order_dependence(paths)
        print(f"files read differently after other files: {len(dependent)}")
        for path in dependent:
            print(f"  {_short(path)}")
    if args.json:
        args.json.write_text(
            json.dumps([asdict(r) for r in reports], indent=1, default=str), encoding="utf-8"
        )
    return 0


def _print_failure(report: FileReport, show: int) -> None:
    print(f"{report.status.upper():7s} {_short(report.path)} {report.error[:160]}")
    for occurrence in report.only_theirs[:show]:
        print(f"    ical.js only: {occurrence}")
    if len(report.only_theirs) > show:
        print(f"    ... {len(report.only_theirs) - show} more only in ical.js")
    for occurrence in report.only_ours[:show]:
        print(f"    ours only:    {occurrence}")
    if len(report.only_ours) > show:
        print(f"    ... {len(report.only_ours) - show} more only in ours")


if __name__ == "__main__":
    raise SystemExit(main())
