"""Our own quirk fixtures: one small file per quirk class of the real-world corpus.

The corpus stays out of the repository (tests/corpus-manifest.json, `python3 tasks.py corpus`),
so a fresh clone runs every parser on every quirk through these files instead.
tests/fixtures/quirks/manifest.yaml maps each class to its fixture, the corpus files that show
it and the events the parser must return. Each fixture goes through the same contract suite as
the corpus (`parser_helpers.check_parser_contract`), then its events are compared exactly with
the manifest.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from parser_helpers import check_parser_contract, document_from_bytes, parse_bytes

from aggregator.demo.server import LoopbackServer
from aggregator.errors import ParseError
from aggregator.models import CONFIRMED, FEED, HTML, ICAL, Event
from aggregator.parsers import detect_type

QUIRKS = Path(__file__).resolve().parent / "fixtures" / "quirks"
MANIFEST = QUIRKS / "manifest.yaml"
CORPUS_MANIFEST = Path(__file__).resolve().parent / "corpus-manifest.json"
KINDS = {"ics": ICAL, "feeds": FEED, "html": HTML}

# Classes whose expectation fails because of a parser bug another agent is fixing right now
# (issue 16, iCal ingestion). Strict: the day the fix lands the test says so, and the entry goes.
KNOWN_BUGS: dict[str, str] = {}


def load_classes() -> dict[str, dict[str, Any]]:
    classes = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["classes"]
    assert isinstance(classes, dict) and classes
    return classes


CLASSES = load_classes()


def fixture_bytes(spec: dict[str, Any]) -> bytes:
    return (QUIRKS / spec["fixture"]).read_bytes()


def with_known_bugs(class_ids: list[str]) -> list[Any]:
    return [
        pytest.param(class_id, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[class_id]))
        if class_id in KNOWN_BUGS
        else class_id
        for class_id in class_ids
    ]


# --- the manifest itself ------------------------------------------------------------------------


def test_every_class_has_its_own_fixture() -> None:
    # PyYAML keeps the last of two equal keys silently: count the class ids as written.
    written = re.findall(r"^  ([a-z0-9-]+):$", MANIFEST.read_text(encoding="utf-8"), re.M)
    assert sorted(written) == sorted(CLASSES), "a class id is used twice in the manifest"
    fixtures = [spec["fixture"] for spec in CLASSES.values()]
    assert len(fixtures) == len(set(fixtures)), "one fixture per class"
    on_disk = {
        str(path.relative_to(QUIRKS))
        for folder in KINDS
        for path in (QUIRKS / folder).iterdir()
        if path.is_file()
    }
    assert set(fixtures) == on_disk, "every fixture file belongs to exactly one class"
    for class_id, spec in CLASSES.items():
        folder = spec["fixture"].split("/", 1)[0]
        assert KINDS[folder] == spec["kind"], class_id
        assert spec["quirk"].strip() and spec["corpus"], class_id
        assert "error" in spec["expect"] or "events" in spec["expect"], class_id


def test_every_corpus_file_is_covered_by_a_quirk_class() -> None:
    """The coverage claim, checked from the two manifests only (no corpus needed)."""
    corpus = {
        entry["path"]
        for entry in json.loads(CORPUS_MANIFEST.read_text(encoding="utf-8"))["files"]
        if entry["path"].split("/", 1)[0] in KINDS
    }
    assert len(corpus) == 74
    claimed = {path for spec in CLASSES.values() for path in spec["corpus"]}
    assert claimed - corpus == set(), "the manifest names corpus files that do not exist"
    assert corpus - claimed == set(), "corpus files whose quirks no fixture covers"
    for class_id, spec in CLASSES.items():
        # A class is exercised by the parser of the corpus files that show it.
        assert {KINDS[path.split("/", 1)[0]] for path in spec["corpus"]} == {spec["kind"]}, class_id


def test_fixture_bytes_are_what_the_classes_say() -> None:
    """Guards against an editor or a git filter 'fixing' the quirks away."""
    raw = {class_id: fixture_bytes(spec) for class_id, spec in CLASSES.items()}
    assert raw["ics-utf8-bom"].startswith(b"\xef\xbb\xbfBEGIN:VCALENDAR\r\n")
    assert raw["feed-bom-before-declaration"].startswith(b"\xef\xbb\xbf<?xml")
    assert b"\r" not in raw["ics-lf-line-endings"]
    assert raw["ics-windows-zone-names"].count(b"\r\n") == raw["ics-windows-zone-names"].count(
        b"\n"
    )
    assert raw["ics-bad-parameters"].endswith(b"END:VCALENDAR")
    assert b"\r\n\t" in raw["ics-folding-edge-cases"]
    assert "Quimperlé".encode("latin-1") in raw["feed-latin-1"]
    assert b"\x93jeux libres\x94" in raw["feed-cp1252-bytes-declared-latin1"]
    assert "喆".encode("gbk") in raw["feed-gbk-labelled-gb2312"]
    with pytest.raises(UnicodeDecodeError):
        raw["feed-gbk-labelled-gb2312"].decode("gb2312")


# --- the parsers on each fixture ----------------------------------------------------------------


@pytest.mark.parametrize("class_id", list(CLASSES))
def test_fixture_passes_the_parser_contract(class_id: str) -> None:
    spec = CLASSES[class_id]
    content = fixture_bytes(spec)
    assert detect_type(document_from_bytes(content)) == spec["kind"]
    check_parser_contract(spec["kind"], content)


@pytest.mark.parametrize("class_id", with_known_bugs(list(CLASSES)))
def test_fixture_gives_the_expected_events(class_id: str) -> None:
    spec = CLASSES[class_id]
    expect = spec["expect"]
    content = fixture_bytes(spec)
    if expect.get("error"):
        with pytest.raises(ParseError) as caught:
            parse_bytes(spec["kind"], content)
        assert caught.value.reason.strip()
        return
    result = parse_bytes(spec["kind"], content)
    if "items" in expect:
        assert result.items == expect["items"]
    wanted = sorted(expect["events"], key=lambda e: (_instant(e["start"]), e["title"]))
    found = sorted(result.events, key=lambda e: (e.start, e.title))
    observed = [
        _observe(event, wanted[i] if i < len(wanted) else {}) for i, event in enumerate(found)
    ]
    assert observed == [_normalise(e) for e in wanted], "\n".join(result.warnings)


def test_external_entity_is_not_fetched_from_the_fixture(http_server: LoopbackServer) -> None:
    """The DTD's external entity points at a live loopback server, which must see no request.

    A real server catches fetches from C code (libxml2) as well as from Python's sockets.
    """
    spec = CLASSES["feed-dtd-external-entity"]
    content = fixture_bytes(spec)
    placeholder = b"http://127.0.0.1:9/"
    assert placeholder in content
    served = content.replace(placeholder, http_server.url("/").encode())
    result = parse_bytes(spec["kind"], served)
    assert http_server.requests == []
    assert [e.title for e in result.events] == [e["title"] for e in spec["expect"]["events"]]


# --- comparison helpers -------------------------------------------------------------------------


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.utcoffset() is not None, f"{text}: expected times carry their offset"
    return value


def _when(value: datetime | None) -> str | None:
    """A moment as UTC text: equal for the same instant whatever offset it is written with."""
    return None if value is None else value.astimezone(UTC).isoformat()


def _normalise(wanted: dict[str, Any]) -> dict[str, Any]:
    normal = dict(wanted)
    normal["start"] = _when(_instant(wanted["start"]))
    normal["end"] = _when(_instant(wanted["end"])) if wanted["end"] is not None else None
    normal.setdefault("all_day", False)
    normal.setdefault("status", CONFIRMED)
    if "categories" in normal:
        normal["categories"] = list(normal["categories"])
    return normal


def _observe(event: Event, wanted: dict[str, Any]) -> dict[str, Any]:
    """The event seen through the keys the manifest gives (the main ones for an extra event)."""
    seen: dict[str, Any] = {
        "title": event.title,
        "start": _when(event.start),
        "end": _when(event.end),
        "all_day": event.all_day,
        "status": event.status,
    }
    for key in wanted:
        if key == "uid":
            seen[key] = event.source_uid
        elif key == "zone":
            seen[key] = getattr(event.start.tzinfo, "key", None) or str(event.start.tzinfo)
        elif key == "url":
            seen[key] = event.url
        elif key == "categories":
            seen[key] = list(event.categories)
        elif key == "location":
            seen[key] = {part: getattr(event.location, part) for part in wanted[key]}
        elif key == "description_contains":
            seen[key] = [
                text if text in event.description else f"not in {event.description!r}"
                for text in wanted[key]
            ]
    return seen
