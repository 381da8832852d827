"""Benchmark: our parse of bench_run's documents, in-process (issue 13).

The same documents as `bench_run.py` (a third iCalendar, a third RSS with the event module, a
third HTML pages with schema.org JSON-LD, 50 events each), decoded as the fetcher decodes them
and parsed with `aggregator.parsers.parse_document` in this process: no server, no store, no
worker, so the figure is the parsers' own CPU and varies little on a shared machine. The raw
libraries' CPU on the same bytes (bench_run's baseline) is measured in the same invocation.

    .venv/bin/python bench/bench_parse.py                      # 300 sources, best of 3
    .venv/bin/python bench/bench_parse.py --sources 60 --runs 1
    .venv/bin/python bench/bench_parse.py --profile ical       # cProfile of one kind, top 40
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_publish import NOW, make_config
from bench_run import CONTENT_TYPE, KINDS, Site, make_sites, raw_parse_cpu

from aggregator.config import Source
from aggregator.fetch import decode_document
from aggregator.models import Document, ParseContext
from aggregator.parsers import get_parser, parse_document
from aggregator.pipeline import agenda_window


def documents(sites: list[Site]) -> list[tuple[Document, Source, ParseContext]]:
    """Each site's body as a fetched Document, with the Source and context a run would use."""
    config = make_config(len(sites))
    by_id = {s.id: s for s in config.sources}
    context = ParseContext(
        tz=config.source_timezone(config.sources[0]), window=agenda_window(config, NOW), now=NOW
    )
    out = []
    for site in sites:
        content_type = CONTENT_TYPE[site.kind]
        text, encoding, warnings = decode_document(site.body, content_type)
        document = Document(
            url=f"http://{site.host}{site.path}",
            content=site.body,
            text=text,
            content_type=content_type,
            encoding=encoding,
            warnings=tuple(warnings),
        )
        source = by_id[site.source_id].model_copy(update={"type": site.kind, "city": site.city})
        out.append((document, source, context))
    return out


def parse_all(batch: list[tuple[Document, Source, ParseContext]]) -> tuple[float, int]:
    """CPU seconds to parse every document, and the events found."""
    events = 0
    c0 = time.process_time()
    for document, source, context in batch:
        events += len(parse_document(document, source, context).events)
    return time.process_time() - c0, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3, help="runs (the best is reported)")
    parser.add_argument("--profile", choices=(*KINDS, "all"), help="cProfile one kind (or all)")
    parser.add_argument("--top", type=int, default=40, help="profile rows to print")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw-library baseline")
    args = parser.parse_args()
    for kind in KINDS:
        get_parser(kind)  # imports outside the measure, as the worker does before forking
    sites = make_sites(args.sources)
    batch = documents(sites)
    size = sum(len(s.body) for s in sites) / 1e6
    print(f"{len(sites)} documents, {size:.1f} MB")
    if args.profile:
        chosen = [b for b in batch if args.profile in ("all", b[1].type)]
        parse_all(chosen[:3])  # warm caches
        profile = cProfile.Profile()
        profile.enable()
        parse_all(chosen)
        profile.disable()
        stats = pstats.Stats(profile).strip_dirs().sort_stats("cumulative")
        stats.print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        return
    for kind in KINDS:
        chosen = [b for b in batch if b[1].type == kind]
        best = min(parse_all(chosen)[0] for _ in range(args.runs))
        print(f"  {kind:5}: {best:6.2f} s CPU ({len(chosen)} documents)")
    runs = [parse_all(batch) for _ in range(args.runs)]
    cpu = min(r[0] for r in runs)
    print(f"our parse: {cpu:.2f} s CPU, {runs[0][1]} events (best of {args.runs})")
    if not args.no_raw:
        with tempfile.TemporaryDirectory() as tmp:
            raw = min(raw_parse_cpu(sites, Path(tmp)) for _ in range(args.runs))
        print(f"raw libraries: {raw:.2f} s CPU; ours / raw {cpu / raw:.2f}")


if __name__ == "__main__":
    main()
