"""Development score of the deduplication: the shared multi-source set, labelled by hand.

Runs `../shared/corpus/dedupe/score.py` (real feeds of one city served over loopback HTTP, the
whole `aggregator run`, then pairwise precision and recall of the merges against the labels)
and prints its summary, ending with the figure:

    dedupe-dev: pairP=0.xx pairR=0.xx events=N/TRUE

Targets (issue 12): pairP >= 0.98, pairR >= 0.90. A development set: read its failures to
change the engine generally, never to fit one item.

    .venv/bin/python bench/bench_dedupe_score.py [--corpus DIR] [--full]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "dedupe"
TARGET_P, TARGET_R = 0.98, 0.90
FIGURE = re.compile(r"pairP=(?P<p>[\d.]+) pairR=(?P<r>[\d.]+)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the dedupe set")
    parser.add_argument("--full", action="store_true", help="print every wrong and missed merge")
    args = parser.parse_args()
    scorer = args.corpus / "score.py"
    if not scorer.is_file():
        print(
            f"bench_dedupe_score: no scorer at {scorer}: the shared dedupe set is not here "
            "(expected ../shared/corpus/dedupe next to the repository); nothing measured"
        )
        return 0
    aggregator = Path(sys.executable).with_name("aggregator")
    command = [sys.executable, str(scorer), "--python", sys.executable]
    if aggregator.exists():
        command += ["--aggregator", str(aggregator)]
    if not args.full:
        command.append("--quiet")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    print(done.stdout, end="")
    if done.returncode != 0:
        print(
            f"bench_dedupe_score: score.py failed (exit {done.returncode}):\n{done.stderr[-3000:]}"
        )
        return 1
    found = FIGURE.search(done.stdout)
    if found is None:
        print("bench_dedupe_score: score.py printed no dedupe-dev figure")
        return 1
    precision, recall = float(found["p"]), float(found["r"])
    verdict = "meets" if precision >= TARGET_P and recall >= TARGET_R else "misses"
    print(
        f"figure: pairwise precision {precision:.2f} (target {TARGET_P}), recall {recall:.2f} "
        f"(target {TARGET_R}): {verdict} the targets"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
