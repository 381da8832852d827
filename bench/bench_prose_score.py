"""Development score: event extraction on real French posts (../shared/corpus/prose).

Runs the shared scorer (`score.py`, standard library only) with this checkout's interpreter and
prints its figure — precision and recall against 95 hand-labelled real items, and how many
cancelled events were published as confirmed — next to the issue's targets (P ≥ 0.95,
R ≥ 0.85, none cancelled-as-confirmed). The set is a development sample, read to change the
engine generally; it is not part of the repository, so without ../shared this says where it
was looked for and exits with status 2 instead of failing with a traceback.

    .venv/bin/python bench/bench_prose_score.py [--verbose] [--scorer PATH]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCORER = ROOT.parent / "shared" / "corpus" / "prose" / "score.py"
TARGET_PRECISION = 0.95
TARGET_RECALL = 0.85
_FIGURE_RE = re.compile(r"prose-dev: P=(?P<p>[\d.]+) R=(?P<r>[\d.]+)")
_CANCELLED_RE = re.compile(r"(?P<n>\d+) published as confirmed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scorer", type=Path, default=SCORER, help="path of score.py")
    parser.add_argument("--verbose", "-v", action="store_true", help="list every miss")
    args = parser.parse_args()
    if not args.scorer.is_file():
        print(
            f"prose score: {args.scorer} not found. The labelled French prose set is reference "
            "material kept outside the repository (../shared/corpus/prose); give its scorer "
            "with --scorer PATH.",
            file=sys.stderr,
        )
        return 2
    command = [sys.executable, str(args.scorer), "--python", sys.executable]
    if args.verbose:
        command.append("--verbose")
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    print(proc.stdout, end="")
    figure = _FIGURE_RE.search(proc.stdout)
    if proc.returncode != 0 or figure is None:
        print(f"prose score: the scorer failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return 1
    precision, recall = float(figure["p"]), float(figure["r"])
    cancelled = _CANCELLED_RE.search(proc.stdout)
    wrong_cancel = int(cancelled["n"]) if cancelled else 0
    met = precision >= TARGET_PRECISION and recall >= TARGET_RECALL and wrong_cancel == 0
    print(
        f"prose score: P {precision:.2f} (target {TARGET_PRECISION}), "
        f"R {recall:.2f} (target {TARGET_RECALL}), "
        f"{wrong_cancel} cancelled published as confirmed (target 0): "
        + ("targets met" if met else "targets NOT met")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
