"""Benchmark: publishing 20,000 upcoming events, every output and every per-filter feed.

Target (issue 6): `publish_all` writes everything (calendar.ics, feed.xml, the pages, events.json,
sources.html, changes.xml, feeds.json and the per-city / per-tag / per-collective .ics and .xml)
in under 10 s, and no HTML page weighs more than 2 MB. The baseline is that 10 s budget: the
script prints the median of several runs and its ratio to it.

The events look like a busy regional agenda: 60 collectives in 40 towns, 25 tags, a year of
events, some announced by two collectives, a few cancelled, French descriptions of a few lines.

    .venv/bin/python bench/bench_publish.py [--events 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aggregator.config import Agenda, Config, Source
from aggregator.models import CANCELLED, CONFIRMED, Event, Location, SourceRef
from aggregator.publish import publish_all

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BUDGET_SECONDS = 10.0
PAGE_BUDGET_BYTES = 2_000_000
TOWNS = [
    "Brest", "Rennes", "Quimper", "Lorient", "Vannes", "Saint-Brieuc", "Saint-Malo", "Lannion",
    "Morlaix", "Landerneau", "Plouzané", "Redon", "Fougères", "Vitré", "Dinan", "Concarneau",
    "Douarnenez", "Guingamp", "Pontivy", "Ploërmel", "Auray", "Quimperlé", "Carhaix-Plouguer",
    "Paimpol", "Lamballe", "Loudéac", "Dinard", "Cesson-Sévigné", "Bruz", "Lanester",
    "Hennebont", "Landivisiau", "Crozon", "Châteaulin", "Pont-l'Abbé", "Rostrenen", "Josselin",
    "Questembert", "Guérande", "Saint-Nazaire",
]
TAGS = [
    "fablab", "repair-café", "logiciel libre", "install party", "apéro", "atelier", "conférence",
    "initiation", "impression 3D", "électronique", "couture", "vie privée", "open data",
    "cartographie", "OpenStreetMap", "wikipédia", "jeux vidéo", "code", "robotique", "radio",
    "médiation numérique", "seniors", "jeunesse", "réemploi", "hackathon",
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
    return Config(
        agenda=Agenda(base_url="https://agenda.example.org/numerique"), sources=sources
    )


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
                categories=(TAGS[i % len(TAGS)], TAGS[(i * 3) % len(TAGS)]),
                status=CANCELLED if i % 50 == 0 else CONFIRMED,
                last_modified=NOW - timedelta(days=i % 30),
                uid=f"ev-{i}@agenda-numerique-bretagne",
                sequence=i % 3,
                sources=refs,
            )
        )
    return events


def run_once(events: list[Event], config: Config, out: Path, state: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    state.unlink(missing_ok=True)
    t0 = time.perf_counter()
    publish_all(events, config, out, NOW, state_path=state)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    config = make_config()
    events = make_events(args.events, config)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "output"
        state = Path(tmp) / "publish-state.json"
        times = [run_once(events, config, out, state) for _ in range(args.runs)]
        files = [p for p in out.rglob("*") if p.is_file()]
        pages = sorted(p for p in files if p.suffix == ".html")
        biggest = max(pages, key=lambda p: p.stat().st_size)
        total = sum(p.stat().st_size for p in files)
        median = statistics.median(times)
        print(f"events: {args.events}, runs: {args.runs}")
        print(f"publish_all (all outputs): median {median:.2f} s, runs "
              + ", ".join(f"{t:.2f}" for t in times))
        print(f"ratio to the {BUDGET_SECONDS:.0f} s budget: {median / BUDGET_SECONDS:.2f}")
        print(f"files: {len(files)} ({total / 1e6:.1f} MB), HTML pages: {len(pages)}")
        print(f"index.html: {(out / 'index.html').stat().st_size / 1e6:.2f} MB; biggest page "
              f"{biggest.relative_to(out)}: {biggest.stat().st_size / 1e6:.2f} MB "
              f"(budget {PAGE_BUDGET_BYTES / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
