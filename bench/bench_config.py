"""`sources check` on a very large registry: 100,000 sources (issue 10's figure: 73 s, 1.3 GB).

Each run is a fresh child process (`aggregator sources check`), so the figures include start-up;
peak memory is the child's ru_maxrss. Prints the median of the runs.

    .venv/bin/python bench/bench_config.py [--sources 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CITIES = ["Redon", "Plouzané", "Landerneau", "Quimper", "Lannion", "Pont-l'Abbé"]


def registry(count: int) -> str:
    lines = ["agenda:", "  title: Agenda de test", "sources:"]
    for i in range(count):
        city = CITIES[i % len(CITIES)]
        lines += [
            f"  - id: collectif-{i}",
            f'    name: "Collectif n°{i} de {city}"',
            f"    url: https://collectif-{i}.example.org/agenda.ics",
            f'    city: "{city}"',
            "    tags: [fablab, repair-café]",
        ]
        if i % 10 == 0:
            lines += [
                "    type: html",
                "    selectors: {event: article.event, start: time@datetime}",
            ]
    return "\n".join(lines) + "\n"


def one_run(path: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(
        [str(Path(sys.executable).with_name("aggregator")), "sources", "check", "--config", path],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"sources check failed:\n{result.stdout}{result.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sources.yaml"
        path.write_text(registry(args.sources), encoding="utf-8")
        size = path.stat().st_size / 1e6
        results = [one_run(path) for _ in range(args.runs)]
    walls = [w for w, _ in results]
    print(f"registry: {args.sources} sources, {size:.1f} MB")
    print(
        f"sources check wall: median {statistics.median(walls):.2f} s over {args.runs} runs "
        f"({', '.join(f'{w:.2f}' for w in walls)})"
    )
    print(f"peak RSS (largest child): {max(m for _, m in results):.0f} MB")


if __name__ == "__main__":
    main()
