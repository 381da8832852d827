"""A small but varied published agenda, shared by the output, browser and XSS tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aggregator.config import Agenda, Config, Source
from aggregator.models import CANCELLED, FETCH_FAILED, FETCH_OK, Event, Location, SourceRef
from aggregator.publish import publish_all
from aggregator.publish.atomic import write_many
from aggregator.store import SourceHealth

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 5, 12, 8, 0, tzinfo=UTC)
BASE_URL = "https://agenda.example.org/numerique"

SOURCES = (
    Source(
        id="tyfab",
        name="Ty Fab Plouzané",
        url="https://tyfab.example/agenda.ics",
        city="Plouzané",
        tags=("fablab",),
        website="https://tyfab.example/",
    ),
    Source(
        id="cantine-brest",
        name="Cantine numérique de Brest",
        url="https://cantine.example/feed.xml",
        city="Brest",
        tags=("apéro",),
    ),
    Source(
        id="repair-landerneau",
        name="Repair Café de Landerneau",
        url="https://repair.example/agenda.html",
        city="Landerneau",
        tags=("repair café",),
    ),
)
CONFIG = Config(agenda=Agenda(base_url=BASE_URL), sources=SOURCES)
REFS = {s.id: SourceRef(s.id, s.name, s.website or s.url) for s in SOURCES}
CHANGED = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def event(uid: str, title: str, start: datetime, source: str = "tyfab", **fields: object) -> Event:
    """An event as the store hands it to publishers."""
    values: dict[str, object] = {
        "source_id": source,
        "source_uid": uid,
        "title": title,
        "start": start,
        "end": start + timedelta(hours=2),
        "uid": f"{uid}@agenda-numerique-bretagne",
        "last_modified": CHANGED,
        "sources": (REFS[source],),
    }
    values.update(fields)
    return Event(**values)  # type: ignore[arg-type]


def agenda_events() -> list[Event]:
    """A dozen events over two months: three towns, several tags, one cancelled, all-day ones."""
    day = datetime(2026, 5, 14, 18, 0, tzinfo=PARIS)
    creach = Location("Creac'h Gwen", "12 rue de Brest", "29280", "Plouzané")
    cantine = Location("La Cantine", "3 place de la Liberté", "29200", "Brest")
    repair = Location("Salle Saint-Ernel", None, "29800", "Landerneau")
    return [
        event(
            "apero",
            "Apéro numérique",
            day,
            "cantine-brest",
            location=cantine,
            categories=("apéro",),
            description="On parle de réemploi.\n\nProgramme : https://cantine.example/apero.",
            url="https://cantine.example/apero",
            sources=(REFS["cantine-brest"], REFS["tyfab"]),
        ),
        event(
            "soudure",
            "Atelier soudure",
            day + timedelta(days=1, hours=-4),
            location=creach,
            categories=("fablab", "électronique"),
            description="Apprendre à souder un kit de radio.",
        ),
        event(
            "linux",
            "Atelier Linux",
            day + timedelta(days=2),
            location=creach,
            categories=("logiciel libre",),
            status=CANCELLED,
        ),
        event(
            "repair",
            "Repair café",
            day + timedelta(days=3, hours=-8),
            "repair-landerneau",
            location=repair,
            categories=("repair café",),
            end=day + timedelta(days=3, hours=-4),
        ),
        event(
            "fete",
            "Fête du logiciel libre",
            datetime(2026, 5, 23, tzinfo=PARIS),
            end=datetime(2026, 5, 24, tzinfo=PARIS),
            all_day=True,
            location=creach,
            categories=("logiciel libre", "fête"),
        ),
        event(
            "festival",
            "Festival des communs",
            datetime(2026, 6, 5, tzinfo=PARIS),
            end=datetime(2026, 6, 8, tzinfo=PARIS),
            all_day=True,
            location=cantine,
            source="cantine-brest",
            categories=("communs",),
        ),
        event(
            "install",
            "Install party GNU/Linux",
            datetime(2026, 6, 13, 14, 0, tzinfo=PARIS),
            source="repair-landerneau",
            location=repair,
            categories=("logiciel libre", "install party"),
        ),
        event(
            "osm",
            "Cartopartie OpenStreetMap",
            datetime(2026, 6, 20, 10, 0, tzinfo=PARIS),
            source="cantine-brest",
            location=cantine,
            categories=("OpenStreetMap",),
            end=None,
        ),
        event(
            "plouzane",
            "Café vie privée",
            datetime(2026, 6, 25, 19, 30, tzinfo=PARIS),
            location=Location("Médiathèque", city="plouzane"),  # another spelling, same feed
            categories=("vie privée",),
        ),
    ]


def agenda_health() -> list[SourceHealth]:
    """Two healthy sources and one failing with a 404."""
    ok = datetime(2026, 5, 12, 7, 55, tzinfo=UTC)
    return [
        SourceHealth("tyfab", "Ty Fab Plouzané", SOURCES[0].url, ok, ok, FETCH_OK, 200, 5, None),
        SourceHealth(
            "cantine-brest",
            "Cantine numérique de Brest",
            SOURCES[1].url,
            ok,
            ok,
            FETCH_OK,
            200,
            3,
            None,
        ),
        SourceHealth(
            "repair-landerneau",
            "Repair Café de Landerneau",
            SOURCES[2].url,
            ok,
            datetime(2026, 5, 2, 7, 55, tzinfo=UTC),
            FETCH_FAILED,
            404,
            2,
            "HTTP 404 Not Found: the address does not exist (any more); check it in sources.yaml",
        ),
    ]


def publish_agenda(out: Path, events: list[Event] | None = None, config: Config = CONFIG) -> Path:
    """Publish the sample agenda into `out` (state file beside it); return `out`."""
    publish_all(
        agenda_events() if events is None else events,
        config,
        out,
        NOW,
        health=agenda_health(),
        state_path=out.parent / "publish-state.json",
    )
    return out


def lively_events() -> list[Event]:
    """The sample agenda plus what the quick links and series folding need, seen from NOW
    (Tuesday 12 May 2026, 10:00 in Paris): one event of today already over, one tonight, and a
    weekly atelier every Wednesday for six weeks."""
    today = datetime(2026, 5, 12, tzinfo=PARIS)
    cantine = Location("La Cantine", "3 place de la Liberté", "29200", "Brest")
    over = event(
        "cafe-matin",
        "Café des bénévoles",
        today + timedelta(hours=8),
        "cantine-brest",
        end=today + timedelta(hours=9),
        location=cantine,
        categories=("apéro",),
    )
    tonight = event(
        "permanence",
        "Permanence numérique",
        today + timedelta(hours=18),
        "cantine-brest",
        location=cantine,
        categories=("Médiation numérique",),
    )
    series = [
        event(
            f"code-{n}",
            "Atelier code pour ados",
            today + timedelta(days=1 + 7 * n, hours=17),
            "repair-landerneau",
            location=Location("Salle Saint-Ernel", None, "29800", "Landerneau"),
            categories=("code", "jeunesse"),
        )
        for n in range(6)
    ]
    return [*agenda_events(), over, tonight, *series]


def write_event_files(
    files: Mapping[str, bytes], out_dir: Path, *, proceed: Callable[[], bool] | None = None
) -> list[Path]:
    """A writer for `write_in_background`: `files` (relative to `out_dir`, in events/), all
    written or none."""
    (out_dir / "events").mkdir(exist_ok=True)
    targets = {out_dir / name: data for name, data in sorted(files.items())}
    write_many(targets, proceed=proceed)
    return list(targets)
