"""Benchmark: reading events from the French prose of 2,000 feed items.

Target (issues 4 and 11): under 2 s on this machine for 2,000 items. The items look like a year of
a busy collective's blog: half announce an event in words (weekday + day + month, dd/mm, ranges,
"ce jeudi", monthly meetups, times written "14h30" / "18 h 30" / "20:00", the meeting time a
paragraph after the date), an eighth are programmes (six dated lines with hour ranges in
brackets, or a date heading with two timed sessions below), a quarter mention dates that are not
events (retrospectives, deadlines, publication dates, opening hours) and an eighth have no date
at all. Days, months, times, places and wording vary (seeded), so caching cannot answer for the
work.

Two figures are printed, each the median of several runs in one warm process (wall clock, and
CPU time, which varies less when other jobs share the machine):
- `extract_events` alone on the 2,000 (title, text, publication date) items: the prose cost;
- `feed.parse` of one RSS document holding the same 2,000 items: what a source costs end to end
  (feedparser, HTML to text, then prose), for scale.
The baseline the issue names is the 2 s budget; the ratio printed is median / 2 s.

    .venv/bin/python bench/bench_prose.py [--items 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import format_datetime
from html import escape
from zoneinfo import ZoneInfo

from aggregator.config import Source
from aggregator.models import Document, ParseContext, Window
from aggregator.parsers import feed, french
from aggregator.parsers.prose import extract_events

PARIS = ZoneInfo("Europe/Paris")
BUDGET = 2.0
WEEKDAYS = french.WEEKDAYS
MONTHS = french.MONTH_NAMES
VENUES = (
    "à la Maison des associations, 12 rue de la Gare, 35600 Redon",
    "au fablab",
    "à la Cantine numérique, 7 rue de la Porte, 29200 Brest",
    "salle Creac'h Gwen, 29280 Plouzané",
    "à la médiathèque de Landerneau",
    "au bar Le Tempo, à Morlaix",
    "place de la République, 29120 Pont-l'Abbé",
)
EVENTS = ("Atelier Linux", "Repair café", "Apéro numérique", "Install party", "Conférence")
FILLER = (
    "Le collectif réunit des bénévoles passionnés de logiciels libres et de réparation.",
    "Nous remercions la commune pour son soutien et le prêt de la salle.",
    "Pensez à apporter vos câbles, vos questions et votre bonne humeur.",
    "L'association compte aujourd'hui plus de cent adhérents dans le pays de Redon.",
    "Les supports des ateliers précédents sont disponibles sur notre site.",
)


def clock(rng: random.Random) -> str:
    hour, minute = rng.randint(9, 21), rng.choice((0, 0, 15, 30, 45))
    style = rng.randrange(4)
    if style == 0:
        return f"{hour}h{minute:02d}" if minute else f"{hour}h"
    if style == 1:
        return f"{hour} h {minute:02d}"
    if style == 2:
        return f"{hour}:{minute:02d}"
    return f"{hour}h{minute:02d} à {hour + 2}h"


def programme(rng: random.Random, day: datetime, filler: str) -> str:
    """Six dated lines with hour ranges in brackets, or a date heading over two sessions."""
    if rng.random() < 0.5:
        lines = []
        for offset in range(6):
            session = day + timedelta(days=2 * offset)
            hour = rng.randint(9, 19)
            lines.append(
                f"{WEEKDAYS[session.weekday()].capitalize()} {session:%d/%m} : "
                f"{rng.choice(EVENTS)} ({hour}h - {hour + 2}h)"
            )
        return f"{filler} Le programme :\n\n" + "\n\n".join(lines)
    heading = f"{WEEKDAYS[day.weekday()].capitalize()} {day.day} {MONTHS[day.month - 1]}"
    return (
        f"{filler}\n\n{heading}\n\n{rng.choice(EVENTS)} (10h - 12h)\n\n"
        f"{rng.choice(EVENTS)} (14h-17h30)"
    )


def make_items(count: int, seed: int = 4) -> list[tuple[str, str, datetime]]:
    """(title, text, publication date) of `count` varied items."""
    rng = random.Random(seed)
    items = []
    start = datetime(2025, 1, 1, 9, tzinfo=PARIS)
    for i in range(count):
        published = start + timedelta(hours=4 * i + rng.randint(0, 3))
        day = published + timedelta(days=rng.randint(2, 60))
        when = f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]}"
        event = rng.choice(EVENTS)
        filler = " ".join(rng.sample(FILLER, 2))
        kind = i % 8
        if kind == 0:
            text = f"Rendez-vous {when} à partir de {clock(rng)} {rng.choice(VENUES)}. {filler}"
        elif kind == 1:
            text = (
                f"{filler} L'atelier aura lieu le {day:%d/%m} de {clock(rng)} {rng.choice(VENUES)}."
            )
        elif kind == 2:
            later = day + timedelta(days=2)
            text = f"Du {day.day} au {later.day} {MONTHS[later.month - 1]} : festival. {filler}"
        elif kind == 3:
            text = f"Tous les premiers jeudis du mois à {clock(rng)} {rng.choice(VENUES)}. {filler}"
        elif kind == 4:
            past = published - timedelta(days=rng.randint(2, 20))
            text = (
                f"Retour sur la soirée du {past.day} {MONTHS[past.month - 1]} : nous étions "
                f"{rng.randint(10, 80)}. {filler}"
            )
        elif kind == 5:
            text = (
                f"Publié le {published.day} {MONTHS[published.month - 1]} {published.year}. "
                f"Le fablab est ouvert du mardi au samedi de 14h à 18h. {filler}"
            )
        elif kind == 6:
            text = programme(rng, day, filler)
        elif kind == 7 and i % 16 == 7:
            text = (
                f"Notre prochain {event.lower()} aura lieu {when} {rng.choice(VENUES)}.\n\n"
                f"{filler}\n\nLe rendez-vous est fixé à {clock(rng)}."
            )
        else:
            text = f"{filler} {rng.choice(FILLER)} Projet lancé en novembre 2017."
        items.append((f"{event} n°{i}", text, published))
    return items


def paragraphs(text: str) -> str:
    return "".join(f"<p>{block}</p>" for block in text.split("\n\n"))


def as_feed(items: list[tuple[str, str, datetime]]) -> bytes:
    parts = ['<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>b</title>']
    for i, (title, text, published) in enumerate(items):
        parts.append(
            f"<item><title>{escape(title)}</title><link>https://example.org/{i}</link>"
            f"<guid>bench-{i}</guid><pubDate>{format_datetime(published)}</pubDate>"
            f"<description>{escape(paragraphs(text))}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def timed(fn: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of each run (CPU time is steadier on a shared machine)."""
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    items = make_items(args.items)
    content = as_feed(items)
    document = Document(url="https://example.org/feed", content=content, text=content.decode())
    source = Source(id="bench", name="Bench", url="https://example.org/", city="Redon")
    now = datetime(2026, 1, 1, tzinfo=PARIS)
    context = ParseContext(
        tz=PARIS, window=Window(now - timedelta(days=800), now + timedelta(days=400)), now=now
    )

    def prose_only() -> int:
        found = 0
        for title, text, published in items:
            result = extract_events(
                text, title=title, published=published, tz=PARIS, default_city="Redon"
            )
            found += len(result.events)
        return found

    events = prose_only()  # warm-up: loads dateparser's French data once
    print(f"{args.items} items, {events} events found, {args.runs} runs")
    for label, fn in (
        ("extract_events", prose_only),
        ("feed.parse (whole RSS)", lambda: feed.parse(document, source, context)),
    ):
        walls, cpus = timed(fn, args.runs)
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        print(
            f"{label}: median {wall:.3f} s (runs {', '.join(f'{t:.3f}' for t in walls)}), "
            f"CPU median {cpu:.3f} s; ratio to the {BUDGET:.0f} s budget {wall / BUDGET:.2f}"
        )


if __name__ == "__main__":
    main()
