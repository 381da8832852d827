"""Lighthouse audit of the demo agenda: accessibility, best practices and SEO >= 95, performance
>= 90 (issue 15). Slow (a minute or two): run by hand or in a scheduled job, not in the test suite.

The demo pipeline publishes into a temporary folder, the loopback server serves it, and npm's
`lighthouse` (pinned in package.json, installed by `npm ci`) drives Debian's chromium through
CHROME_PATH; it never downloads a browser. Lighthouse's default mobile profile is used (simulated
slow 4G and a 4x slower CPU), so the performance score is the phone one. Every page named on the
command line is audited (default: the home page, a quick span and an event's page).

    .venv/bin/python bench/bench_lighthouse.py [--now 2026-05-12T10:00:00+02:00] [PAGE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aggregator.demo.runner import run_demo
from aggregator.demo.server import LoopbackServer

ROOT = Path(__file__).resolve().parents[1]
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
THRESHOLDS = {"performance": 90, "accessibility": 95, "best-practices": 95, "seo": 95}


def audit(url: str) -> dict[str, int]:
    """The four category scores (0-100) of one page."""
    done = subprocess.run(
        [
            str(LIGHTHOUSE),
            url,
            "--output=json",
            "--output-path=stdout",
            "--quiet",
            "--only-categories=" + ",".join(THRESHOLDS),
            "--chrome-flags=--headless --no-sandbox --disable-gpu",
        ],
        env={**os.environ, "CHROME_PATH": CHROMIUM},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"lighthouse failed on {url}:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    scores = {key: round(100 * (cat["score"] or 0)) for key, cat in report["categories"].items()}
    for key, cat in report["categories"].items():
        if scores[key] < 100:
            missed = [
                report["audits"][ref["id"]]["title"]
                for ref in cat["auditRefs"]
                if ref["weight"] and (report["audits"][ref["id"]]["score"] or 0) < 1
            ]
            print(f"    {key}: below 100 because of: {'; '.join(missed)}")
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--now", default="2026-05-12T10:00:00+02:00")
    parser.add_argument("pages", nargs="*")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        raise SystemExit("lighthouse is missing: run `npm ci` first")
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: install Debian's chromium package")
    now = datetime.fromisoformat(args.now).astimezone(ZoneInfo("Europe/Paris"))
    failed = False
    with tempfile.TemporaryDirectory(prefix="lighthouse-") as tmp:
        out = Path(tmp) / "output"
        run_demo(out, Path(tmp) / "agenda.db", now)
        event_page = sorted((out / "evenements").glob("*.html"))[0].relative_to(out).as_posix()
        pages = args.pages or ["index.html", "quand/ce-mois-ci.html", event_page]
        with LoopbackServer(root=out) as server:
            for page in pages:
                print(f"{page}:")
                scores = audit(server.url("/" + page))
                for key, minimum in THRESHOLDS.items():
                    ok = scores[key] >= minimum
                    failed |= not ok
                    print(f"  {key:<15} {scores[key]:3d}  (>= {minimum}) {'ok' if ok else 'LOW'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
