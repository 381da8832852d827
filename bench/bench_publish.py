"""Benchmark: publishing 20,000 upcoming events, every output and every per-filter feed.

Target (issue 13): `publish_all` writes everything (calendar.ics, feed.xml, the pages, events.json,
sources.html, changes.xml, feeds.json and the per-city / per-tag / per-collective .ics and .xml;
since issue 15 also one page per event, the quick-span pages, robots.txt and sitemap.xml) into an
empty folder in under 5 s (issue 6 asked for 10 s), and no HTML page weighs more than 2 MB. The
script prints the median of several runs and its ratio to that budget, and the CPU time (this
process and the children that write the per-event files), which a loaded machine disturbs less
than the wall time. Creating 40,000 files costs what the disk makes it cost: `--dir /dev/shm`
(a tmpfs) tells the rendering from the disk.

Then the incremental publication (issue 13), with the record and the pieces kept in a folder as
the pipeline keeps them beside the database: a first publication, the same events again (nothing
rendered, nothing written) and one collective's events changed (five titles edited, one event
added: only what shows them is rendered).

The events look like a busy regional agenda: 60 collectives in 40 towns, 25 tags, a year of
events, some announced by two collectives, a few cancelled, French descriptions of a few lines.

    .venv/bin/python bench/bench_publish.py [--events 20000] [--runs 5] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aggregator.config import Agenda, Config, Source
from aggregator.models import CANCELLED, CONFIRMED, Event, Location, SourceRef
from aggregator.publish import publish_all

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BUDGET_SECONDS = 5.0
PAGE_BUDGET_BYTES = 2_000_000
TOWNS = [
    "Brest",
    "Rennes",
    "Quimper",
    "Lorient",
    "Vannes",
    "Saint-Brieuc",
    "Saint-Malo",
    "Lannion",
    "Morlaix",
    "Landerneau",
    "Plouzané",
    "Redon",
    "Fougères",
    "Vitré",
    "Dinan",
    "Concarneau",
    "Douarnenez",
    "Guingamp",
    "Pontivy",
    "Ploërmel",
    "Auray",
    "Quimperlé",
    "Carhaix-Plouguer",
    "Paimpol",
    "Lamballe",
    "Loudéac",
    "Dinard",
    "Cesson-Sévigné",
    "Bruz",
    "Lanester",
    "Hennebont",
    "Landivisiau",
    "Crozon",
    "Châteaulin",
    "Pont-l'Abbé",
    "Rostrenen",
    "Josselin",
    "Questembert",
    "Guérande",
    "Saint-Nazaire",
]
TAGS = [
    "fablab",
    "repair-café",
    "logiciel libre",
    "install party",
    "apéro",
    "atelier",
    "conférence",
    "initiation",
    "impression 3D",
    "électronique",
    "couture",
    "vie privée",
    "open data",
    "cartographie",
    "OpenStreetMap",
    "wikipédia",
    "jeux vidéo",
    "code",
    "robotique",
    "radio",
    "médiation numérique",
    "seniors",
    "jeunesse",
    "réemploi",
    "hackathon",
]


def make_config(collectives: int = 60) -> Config:
    sources = tuple(
        Source(
            id=f"collectif-{i:02d}",
            name=f"Collectif numérique n°{i} de {TOWNS[i % len(TOWNS)]}",
            url=f"https://collectif-{i:02d}.example.org/agenda.ics",
            city=TOWNS[i % len(TOWNS)],
            tags=(TAGS[i % len(TAGS)],),
        )
        for i in range(collectives)
    )
    return Config(agenda=Agenda(base_url="https://agenda.example.org/numerique"), sources=sources)


def make_events(count: int, config: Config) -> list[Event]:
    sources = config.sources
    events = []
    first = datetime(2026, 11, 24, 9, 0, tzinfo=PARIS)
    for i in range(count):
        source = sources[i % len(sources)]
        other = sources[(i * 7 + 3) % len(sources)]
        refs = (SourceRef(source.id, source.name, f"https://{source.id}.example.org/"),)
        if i % 10 == 0:
            refs += (SourceRef(other.id, other.name, f"https://{other.id}.example.org/"),)
        start = first + timedelta(minutes=(i * 365 * 24 * 60) // count)
        start = start.replace(minute=(start.minute // 15) * 15)
        all_day = i % 17 == 0
        if all_day:
            start = start.replace(hour=0, minute=0)
        events.append(
            Event(
                source_id=source.id,
                source_uid=f"ev-{i}",
                title=f"Atelier {TAGS[i % len(TAGS)]} n°{i} à {source.city}",
                start=start,
                end=start + (timedelta(days=1) if all_day else timedelta(hours=2)),
                all_day=all_day,
                location=Location(
                    "Cantine numérique", f"{i % 90 + 1} rue de la Gare", "29200", source.city
                ),
                url=f"https://{source.id}.example.org/evenements/{i}",
                description=(
                    "Venez découvrir les logiciels libres, réparer vos objets et rencontrer les "
                    "bénévoles du collectif. Entrée libre, café offert.\n\nPlus d'infos : "
                    f"https://{source.id}.example.org/evenements/{i}"
                ),
                categories=tuple(
                    dict.fromkeys((TAGS[i % len(TAGS)], TAGS[(i * 3 + 1) % len(TAGS)]))
                ),
                status=CANCELLED if i % 50 == 0 else CONFIRMED,
                last_modified=NOW - timedelta(days=i % 30),
                uid=f"ev-{i}@agenda-numerique-bretagne",
                sequence=i % 3,
                sources=refs,
            )
        )
    return events


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_once(events: list[Event], config: Config, out: Path, state: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one publication into an empty folder.

    Each run has a folder of its own, removed only at the end: on ext4 without a journal, the
    files a run creates skip over the inodes freed in the last minutes, so removing the previous
    run's 40,000 files first charged this run for it (see bench_run.py)."""
    assert not out.exists() and not state.exists()
    c0 = _cpu()
    t0 = time.perf_counter()
    publish_all(events, config, out, NOW, state_path=state)
    return time.perf_counter() - t0, _cpu() - c0


def breakdown(events: list[Event], config: Config) -> dict[str, float]:
    """Seconds per renderer (in memory, no writing), to see where the time goes."""
    from aggregator.publish.changes import compute_changes, render_changes
    from aggregator.publish.event_pages import render_event_pages
    from aggregator.publish.feeds import plan_feeds, render_feeds, render_feeds_json
    from aggregator.publish.html import render_pages
    from aggregator.publish.ical import event_ics_path, render_calendar, render_event_files
    from aggregator.publish.json import render_json
    from aggregator.publish.rss import render_rss
    from aggregator.publish.sources_page import render_sources_page

    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], object]) -> object:
        t0 = time.perf_counter()
        result = fn()
        timings[name] = time.perf_counter() - t0
        return result

    calendar = timed("calendar.ics", lambda: render_calendar(events, config, NOW))
    # As publish_all does: each per-event file reuses its VEVENT block from calendar.ics.
    timed("events/<uid>.ics", lambda: render_event_files(events, config, calendar))  # type: ignore[arg-type]
    timed(
        "evenements/<slug>.html",
        lambda: render_event_pages(events, config, NOW, ics_href=event_ics_path),
    )
    planned = timed("plan feeds", lambda: plan_feeds(events, config))
    timed(
        "per-filter .ics + .xml",
        lambda: render_feeds(planned, events, config, calendar, NOW),  # type: ignore[arg-type]
    )
    timed("feeds.json", lambda: render_feeds_json(planned, config))  # type: ignore[arg-type]
    links = [f.link for f in planned]  # type: ignore[attr-defined]
    timed(
        "pages (index + months)",
        lambda: render_pages(events, config, NOW, feeds=links, ics_href=event_ics_path),
    )
    timed("feed.xml", lambda: render_rss(events, config, NOW))
    timed("events.json", lambda: render_json(events, config))
    timed("sources.html", lambda: render_sources_page(config, events, None, NOW))
    timed(
        "changes.xml",
        lambda: render_changes(
            compute_changes(
                {"version": 1, "since": NOW.isoformat(), "events": {}, "changes": []},
                events,
                config,
                NOW,
            ),
            config,
        ),
    )
    return timings


def incremental(events: list[Event], config: Config, folder: Path | None) -> None:
    """Wall and CPU of a first, an unchanged and a one-collective-changed publication with the
    record and pieces kept beside the output (as the pipeline keeps them beside the database)."""
    source = config.sources[7].id
    mine = [i for i, e in enumerate(events) if e.source_id == source]
    changed = list(events)
    for i in mine[:5]:
        changed[i] = changed[i].with_changes(title=changed[i].title + " (complet)")
    extra = events[mine[-1]]
    changed.append(extra.with_changes(source_uid="extra", uid="extra@bench", title="Surprise"))
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        out, cache = Path(tmp) / "output", Path(tmp) / "state"
        cache.mkdir()
        for name, items in (("first", events), ("unchanged", events), ("one changed", changed)):
            c0 = _cpu()
            t0 = time.perf_counter()
            publish_all(
                items, config, out, NOW, state_path=cache / "publish-state.json", cache_dir=cache
            )
            wall, cpu = time.perf_counter() - t0, _cpu() - c0
            print(f"incremental, {name}: {wall:.2f} s, CPU {cpu:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--breakdown", action="store_true", help="also time each renderer")
    parser.add_argument(
        "--dir",
        type=Path,
        help="publish under this folder (default: the system's temporary folder); e.g. a tmpfs "
        "such as /dev/shm, to tell the rendering from the disk, whose cost of creating 40,000 "
        "files varies tenfold on a shared virtual machine",
    )
    args = parser.parse_args()
    config = make_config()
    events = make_events(args.events, config)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        runs = []
        for run in range(args.runs):
            out, state = Path(tmp) / f"output-{run}", Path(tmp) / f"publish-state-{run}.json"
            runs.append(run_once(events, config, out, state))
        times = [wall for wall, _ in runs]
        cpu = statistics.median(c for _, c in runs)
        # The scheduled case: the same events six hours later, into the published folder.
        c0 = _cpu()
        t0 = time.perf_counter()
        publish_all(events, config, out, NOW + timedelta(hours=6), state_path=state)
        again, again_cpu = time.perf_counter() - t0, _cpu() - c0
        files = [p for p in out.rglob("*") if p.is_file()]
        pages = sorted(p for p in files if p.suffix == ".html")
        biggest = max(pages, key=lambda p: p.stat().st_size)
        total = sum(p.stat().st_size for p in files)
        median = statistics.median(times)
        print(f"events: {args.events}, runs: {args.runs}")
        print(
            f"publish_all (all outputs): median {median:.2f} s, runs "
            + ", ".join(f"{t:.2f}" for t in times)
        )
        print(f"ratio to the {BUDGET_SECONDS:.0f} s budget: {median / BUDGET_SECONDS:.2f}")
        print(
            f"CPU (this process + children): median {cpu:.2f} s, runs "
            + ", ".join(f"{c:.2f}" for _, c in runs)
        )
        print(f"republish 6 h later, same events: {again:.2f} s, CPU {again_cpu:.2f} s")
        print(f"files: {len(files)} ({total / 1e6:.1f} MB), HTML pages: {len(pages)}")
        print(
            f"index.html: {(out / 'index.html').stat().st_size / 1e6:.2f} MB; biggest page "
            f"{biggest.relative_to(out)}: {biggest.stat().st_size / 1e6:.2f} MB "
            f"(budget {PAGE_BUDGET_BYTES / 1e6:.0f} MB)"
        )
        incremental(events, config, Path(tmp))  # before the runs' folders are removed
    if args.breakdown:
        timings = breakdown(events, config)
        for name, seconds in timings.items():
            print(f"  {name:<24} {seconds:6.2f} s")
        # calendar.ics comes first; the per-event files and pages are made in the child process.
        ical = ("calendar.ics", "events/<uid>.ics", "evenements/<slug>.html")
        rest = sum(v for k, v in timings.items() if k not in ical)
        print(f"  {'all but the three above':<24} {rest:6.2f} s (pages, feeds, JSON, changes)")


if __name__ == "__main__":
    main()
