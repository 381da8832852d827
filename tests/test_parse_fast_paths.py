"""The parsers' fast paths give exactly what the full libraries give (issue 13).

Each fast path reads the common case itself (lxml for well-formed RSS 2.0 instead of feedparser)
and leaves anything unusual to the full path. Every corpus file, every quirk fixture and a set
of generated documents exercising what the fast paths accept go through both paths here: the
events (every field, time zones included), warnings, item counts and errors must be the same.
The eligibility tests check that the unusual cases are left to the libraries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import feedparser
import icalendar
import pytest
from corpus import load_manifest
from icalendar.prop import vBroken
from parser_helpers import corpus_dir, document_from_bytes, make_context, make_source

from aggregator.errors import ParseError
from aggregator.models import Document, Event, ParseResult
from aggregator.parsers import feed, ical, ical_fast

QUIRKS = Path(__file__).resolve().parent / "fixtures" / "quirks"
BENCH = Path(__file__).resolve().parent.parent / "bench"


# --- comparing both paths -------------------------------------------------------------------


def _event_key(event: Event) -> tuple[Any, ...]:
    """Every field of an event, with the zones of its times (== on datetimes ignores them)."""
    zones = tuple(
        (str(moment.tzinfo), moment.utcoffset()) if moment is not None else None
        for moment in (event.start, event.end, event.last_modified)
    )
    return (event, repr(event), zones)


def _outcome(parse: Callable[[], ParseResult]) -> tuple[Any, ...]:
    try:
        result = parse()
    except ParseError as exc:
        return ("error", exc.reason)
    return (
        "ok",
        [_event_key(e) for e in result.events],
        result.warnings,
        result.items,
        result.links,
    )


def _both_feed_paths(document: Document, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    fast = _outcome(lambda: feed.parse(document, make_source(), make_context()))
    with monkeypatch.context() as patch:
        patch.setattr(feed, "read_simple_rss", lambda *_: None)
        full = _outcome(lambda: feed.parse(document, make_source(), make_context()))
    return fast, full


def _corpus_files(folder: str) -> list[Path]:
    root = corpus_dir()
    return [root / e.path for e in load_manifest() if e.path.split("/")[0] == folder]


def _quirk_files(folder: str) -> list[Path]:
    return sorted((QUIRKS / folder).iterdir())


# --- feeds: generated documents covering what the fast path reads ------------------------------

_RSS_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<rss version="2.0" xmlns:ev="http://purl.org/rss/1.0/modules/event/" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" '
    'xmlns:c="http://example.org/cms/">\n<channel><title>Agenda</title>'
    "<link>https://example.org/</link><description>Les rendez-vous</description>"
    '<atom:link href="https://example.org/feed" rel="self" type="application/rss+xml"/>\n'
)

_ITEMS = {
    "event-module": (
        "<item><title>Atelier réparation</title><link>https://example.org/a</link>"
        '<guid isPermaLink="false">a-1</guid><description>Venez réparer vos objets.</description>'
        "<pubDate>Mon, 02 Sep 2024 10:00:00 +0200</pubDate>"
        "<ev:startdate>2024-09-14T14:00:00+02:00</ev:startdate>"
        "<ev:enddate>2024-09-14T17:00:00+02:00</ev:enddate>"
        "<ev:location>Maison de quartier, 2 rue de la Gare, 35600 Redon</ev:location>"
        "<ev:organizer>Collectif</ev:organizer></item>"
    ),
    "all-day-and-categories": (
        "<item><title>Fête du numérique</title><guid>https://example.org/fete</guid>"
        "<category>Numérique</category><category>numerique</category><category></category>"
        "<category> Fête </category><ev:startdate>2024-10-05</ev:startdate>"
        "<ev:enddate>2024-10-06</ev:enddate></item>"
    ),
    "markup-in-title-and-description": (
        "<item><title>Tom &amp; Jerry &lt;b&gt;en vrai&lt;/b&gt; &amp;eacute;</title>"
        '<description><![CDATA[<p>Le <b>12 mars</b>, salle <a href="/salle">des fêtes</a>'
        "<script>alert(1)</script> &amp; café</p>]]></description>"
        "<link>https://example.org/t?a=1&amp;b=2&amp;c;=3</link>"
        "<ev:startdate>2024-03-12T20:00:00+01:00</ev:startdate></item>"
    ),
    "guid-as-link": (
        "<item><title>Permalien</title><guid>/relative/guid</guid>"
        "<ev:startdate>2024-03-13T20:00:00+01:00</ev:startdate></item>"
    ),
    "guid-empty-permalink-attribute": (
        '<item><title>Permalien vide</title><guid isPermaLink="">x-2</guid>'
        "<ev:startdate>2024-03-14T20:00:00+01:00</ev:startdate></item>"
    ),
    "link-after-guid": (
        "<item><title>Lien après</title><guid>https://example.org/g</guid>"
        "<link>https://example.org/l</link><link-extra>x</link-extra>"
        "<ev:startdate>2024-03-15T20:00:00+01:00</ev:startdate></item>"
    ),
    "custom-fields": (
        "<item><title>Conférence</title><link>https://example.org/c</link>"
        "<date_from>2024-11-20</date_from><hour_from>18:30</hour_from>"
        "<event_start_date>2024-11-21</event_start_date><lieu>Médiathèque, Rennes</lieu>"
        '<c:date_debut type="date">2024-11-22</c:date_debut><c:lieu>Salle B</c:lieu></item>'
    ),
    "cms-namespace-dates": (
        "<item><title>Visite</title><c:date_debut>2024-12-01</c:date_debut>"
        "<c:date_fin>2024-12-03</c:date_fin><c:status>Annulé</c:status><!-- a comment -->"
        "<dc:creator>Marie</dc:creator><author>m@example.org</author>"
        '<enclosure url="https://example.org/i.jpg" type="image/jpeg" length="1"/></item>'
    ),
    "mojibake-and-c1": (
        "<item><title>CafÃ© rÃ©paration &#x92;s &#150; fin</title>"
        "<description>L\u2019atelier du \u0093jeudi\u0094.</description>"
        "<ev:startdate>2024-05-02T18:00:00+02:00</ev:startdate></item>"
    ),
    "mojibake-title": (
        "<item><title>CafÃ© rÃ©paration</title><ev:location>MÃ©diathÃ¨que</ev:location>"
        "<ev:startdate>2024-05-03T18:00:00+02:00</ev:startdate></item>"
    ),
    "content-encoded": (
        "<item><title>Concert</title><description>Résumé court.</description>"
        "<content:encoded><![CDATA[<p>Samedi 12 avril 2025 à 20 h, au <em>Ty Anna</em>."
        "</p><p><del>Vendredi 11 avril</del></p>]]></content:encoded>"
        "<dc:date>2025-03-01T10:00:00Z</dc:date></item>"
    ),
    "prose-only": (
        "<item><title>Repair café de printemps</title><link>https://example.org/rc</link>"
        "<description>Rendez-vous samedi 12 avril 2025 de 14 h à 17 h à la salle des fêtes "
        "de Plouzané.</description><pubDate>Tue, 01 Apr 2025 08:00:00 GMT</pubDate></item>"
    ),
    "no-title-and-blank": (
        "<item><description>   </description><ev:startdate>2024-06-01</ev:startdate>"
        "</item><item><title>  Espaces   et\n retours  </title><description>\n  Ligne 1\n\n"
        "Ligne 2  \n</description><ev:startdate> 2024-06-02T10:00:00+02:00 </ev:startdate>"
        "</item><item><title>Rien de daté</title><description>Un billet.</description></item>"
    ),
    "status-cancelled": (
        "<item><title>Annulé : atelier</title><ev:startdate>2024-07-01T10:00:00+02:00"
        "</ev:startdate><ev:type>cancelled</ev:type><c:eventstatus>cancelled</c:eventstatus>"
        "</item>"
    ),
    "end-before-start": (
        "<item><title>À l'envers</title><ev:startdate>2024-07-02T10:00:00+02:00</ev:startdate>"
        "<ev:enddate>2024-07-01T10:00:00+02:00</ev:enddate></item>"
    ),
}


def _rss(*items: str, head: str = _RSS_HEAD) -> bytes:
    return (head + "\n".join(items) + "\n</channel>\n</rss>\n").encode("utf-8")


def _generated_feeds() -> Iterator[tuple[str, bytes]]:
    for name, item in _ITEMS.items():
        yield name, _rss(item)
    yield "all-items", _rss(*_ITEMS.values())
    yield "no-items", _rss()


def _documents(kind: str) -> Iterator[Any]:
    """The corpus and quirk files of one kind ("feeds", "ics"), as test parameters."""
    for path in _corpus_files(kind):
        yield pytest.param(path, id=f"corpus/{path.name}", marks=pytest.mark.corpus)
    for path in _quirk_files(kind):
        yield pytest.param(path, id=f"quirks/{path.name}")


@pytest.mark.parametrize("path", list(_documents("feeds")))
def test_feed_files_read_alike_by_both_paths(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = document_from_bytes(path.read_bytes())
    fast, full = _both_feed_paths(document, monkeypatch)
    assert fast == full


@pytest.mark.parametrize(
    "content_type", [None, "application/rss+xml; charset=utf-8", "text/xml; charset=UTF-8"]
)
@pytest.mark.parametrize("name, body", list(_generated_feeds()), ids=lambda v: str(v)[:30])
def test_generated_feeds_read_alike_by_both_paths(
    name: str, body: bytes, content_type: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    assert feed.simple_rss_refusal(body, headers) is None, "the fast path should read it"
    document = document_from_bytes(body, content_type=content_type)
    fast, full = _both_feed_paths(document, monkeypatch)
    assert fast == full


def test_generated_feeds_give_feedparsers_entries() -> None:
    # Stronger than the events: each key the adapter reads, as feedparser gives it.
    body = _rss(*_ITEMS.values())
    simple = feed.read_simple_rss(body, {})
    assert simple is not None
    entries, raw_items = simple
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    assert len(entries) == len(parsed.entries) == len(raw_items)
    assert raw_items == feed._raw_items(body)
    for ours, theirs in zip(entries, parsed.entries, strict=True):
        for key in ("title", "link", "id", "summary", "published_parsed", "updated_parsed"):
            assert ours.get(key) == dict.get(theirs, key), key
        assert [c["value"] for c in ours.get("content", [])] == [
            c["value"] for c in theirs.get("content", [])
        ]
        assert [t["term"] for t in ours.get("tags", [])] == [
            t["term"] for t in theirs.get("tags", [])
        ]

        def extra(entry: Any) -> dict[str, str]:
            return {k: v for k, v in entry.items() if isinstance(v, str) and "_" in k}

        assert extra(ours) == extra(theirs)
        assert list(extra(ours)) == list(extra(theirs))


def _bench_sites(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_run

    sites: list[Any] = bench_run.make_sites(6)
    return sites


def test_bench_feed_is_read_by_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    site = next(s for s in _bench_sites(monkeypatch) if s.kind == "feed")
    headers = {"content-type": "application/rss+xml; charset=utf-8"}
    assert feed.simple_rss_refusal(site.body, headers) is None
    document = document_from_bytes(site.body, content_type=headers["content-type"])
    fast, full = _both_feed_paths(document, monkeypatch)
    assert fast == full


# --- feeds: what is left to feedparser ----------------------------------------------------------

_ITEM = "<item><title>T</title><ev:startdate>2024-01-01</ev:startdate></item>"


@pytest.mark.parametrize(
    "body, headers, reason",
    [
        (_rss(_ITEM)[:-20], {}, "not well-formed XML"),
        (b"\xef\xbb\xbf" + _rss(_ITEM), {}, "a BOM"),
        (b"  " + _rss(_ITEM), {}, "a BOM"),
        (_rss(_ITEM), {"content-type": "text/html"}, "media type"),
        (_rss(_ITEM), {"content-type": "text/xml"}, "media type"),  # us-ascii by RFC 3023
        (
            _rss(_ITEM).replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"'),
            {},
            "media type",
        ),
        (
            _rss(_ITEM).replace(b"?>\n", b'?>\n<!DOCTYPE rss [<!ENTITY e "x">]>\n', 1),
            {},
            "DOCTYPE",
        ),
        (_rss(_ITEM).replace(b'version="2.0"', b'version="0.91"'), {}, "not RSS 2.0"),
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>T</title></entry></feed>',
            {},
            "not RSS 2.0",
        ),
        (_rss(_ITEM.replace("<title>", '<title type="html">')), {}, "attributes on <title>"),
        (_rss(_ITEM.replace("<title>T", "<title><b>T</b>")), {}, "markup inside <title>"),
        (_rss(_ITEM.replace("<title>T", "<title>T<!-- c -->")), {}, "markup inside <title>"),
        (_rss(_ITEM.replace("</title>", "</title><title>U</title>")), {}, "repeated"),
        (_rss(_ITEM.replace("<item>", '<item xml:base="https://x/">')), {}, "xml:base"),
        (_rss(_ITEM.replace("<item>", '<item rdf:about="x" xmlns:rdf="u">')), {}, "below"),
        (_rss(_ITEM.replace("</item>", "<atom:link href='x'/></item>")), {}, "in an item"),
        (_rss(_ITEM.replace("</item>", "<source url='x'>S</source></item>")), {}, "<source>"),
        (_rss(_ITEM.replace("</item>", "<dc:subject>S</dc:subject></item>")), {}, "subject"),
        (_rss(_ITEM.replace("</item>", "<date>2024</date></item>")), {}, "<date>"),
        (
            _rss(_ITEM.replace("<category>", "")).replace(
                b"</channel>", b"<item/><x><item/></x></channel>"
            ),
            {},
            "outside",
        ),
        (
            _rss(_ITEM.replace("</item>", '<category domain="d">C</category></item>')),
            {},
            "attributes",
        ),
        (_rss(_ITEM.replace("<title>T", "<title>&eacute;")), {}, "not well-formed"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_unusual_feeds_are_left_to_feedparser(
    body: bytes, headers: dict[str, str], reason: str
) -> None:
    refusal = feed.simple_rss_refusal(body, headers)
    assert refusal is not None and reason in refusal
    assert feed.read_simple_rss(body, headers) is None


def test_html_passes_change_nothing_without_markup() -> None:
    # The fast path skips feedparser's HTML resolver and sanitizer on text without '<', '&' or
    # CR; this is the property that makes the skip exact.
    from feedparser.sanitizer import _sanitize_html
    from feedparser.urls import resolve_relative_uris

    samples = [
        "Entrée libre > 18 ans ; « gratuit » — 10 € “ok” 'quote' \"dq\"",
        "a\nb\tc  d\u00a0e\u2028f\x85g ] ]]> =/#%?",
        "L’atelier · réemploi, sobriété : café !",
        "",
    ]
    for text in samples:
        resolved = resolve_relative_uris(text, "", "utf-8", "text/html")
        assert _sanitize_html(resolved, "utf-8", "text/html") == text


# --- iCalendar ----------------------------------------------------------------------------------


def _both_ical_paths(document: Document, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    fast = _outcome(lambda: ical.parse(document, make_source(), make_context()))
    with monkeypatch.context() as patch:
        patch.setattr(ical_fast, "parse", lambda *_: None)
        full = _outcome(lambda: ical.parse(document, make_source(), make_context()))
    return fast, full


@pytest.mark.parametrize("path", list(_documents("ics")))
def test_ical_files_read_alike_by_both_paths(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = document_from_bytes(path.read_bytes())
    fast, full = _both_ical_paths(document, monkeypatch)
    assert fast == full


@pytest.mark.parametrize("path", list(_documents("ics")))
def test_ical_fast_components_are_icalendars(path: Path) -> None:
    # Stronger than the events: every property of every component, as icalendar builds it.
    text = ical._decode(document_from_bytes(path.read_bytes()))
    repaired = ical._repair_lines(text)
    try:
        body, _zones = ical_fast._split_zones(repaired.lines, *_fake_request())
        ours = ical_fast._calendar(body)
    except ical_fast._NotSimple:
        return  # read the full way
    theirs = icalendar.Calendar.from_ical("\r\n".join(body) + "\r\n")
    _assert_same_component(ours, theirs)


def _fake_request() -> tuple[Document, Any, Any]:
    return document_from_bytes(b""), make_source(), make_context()


def _assert_same_component(ours: Any, theirs: Any) -> None:
    assert ours.name == theirs.name
    assert list(ours.keys()) == list(theirs.keys())
    for name in ours:
        mine, other = ours[name], theirs[name]
        if isinstance(other, list):
            assert isinstance(mine, list) and len(mine) == len(other), name
            pairs = list(zip(mine, other, strict=True))
        else:
            pairs = [(mine, other)]
        for a, b in pairs:
            assert type(a) is type(b), name
            assert dict(a.params) == dict(b.params), name
            assert a.to_ical() == b.to_ical(), name
            if isinstance(b, vBroken):
                assert str(a) == str(b), name
                continue
            if hasattr(b, "dt"):
                assert a.dt == b.dt and type(a.dt) is type(b.dt), name
                assert str(getattr(a.dt, "tzinfo", None)) == str(getattr(b.dt, "tzinfo", None))
            if hasattr(b, "cats"):
                assert [str(c) for c in a.cats] == [str(c) for c in b.cats]
            assert str(a) == str(b), name
    assert len(ours.subcomponents) == len(theirs.subcomponents)
    for a, b in zip(ours.subcomponents, theirs.subcomponents, strict=True):
        _assert_same_component(a, b)


_VEVENT = (
    "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T120000Z\r\nSUMMARY:{summary}\r\n"
    "DTSTART{start}\r\n{extra}END:VEVENT\r\n"
)


def _calendar_text(*events: str, header: str = "", zones: str = "") -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//fast//FR\r\n"
        + header
        + zones
        + "".join(events)
        + "END:VCALENDAR\r\n"
    ).encode("utf-8")


_PARIS_ZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"
    "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
)
_CUSTOM_ZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:Ma zone\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0300\r\n"
    "TZOFFSETTO:+0300\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
)


def _event(uid: str, start: str, summary: str = "Atelier", extra: str = "") -> str:
    return _VEVENT.format(uid=uid, summary=summary, start=start, extra=extra)


_ICAL_CASES = {
    "zoned": _calendar_text(
        _event(
            "a",
            ";TZID=Europe/Paris:20240914T140000",
            extra="DTEND;TZID=Europe/Paris:"
            "20240914T170000\r\nLOCATION:Salle\\, 2 rue de la Gare\\, 35600 Redon\r\n",
        ),
        zones=_PARIS_ZONE,
    ),
    "utc-floating-date": _calendar_text(
        _event("b", ":20240914T140000Z", extra="DTEND:20240914T160000Z\r\n"),
        _event("c", ":20240915T140000", extra="DURATION:PT2H\r\n"),
        _event("d", ";VALUE=DATE:20240916", extra="DTEND;VALUE=DATE:20240918\r\n"),
        _event("e", ":20240917"),
    ),
    "text-escapes": _calendar_text(
        _event(
            "f",
            ":20240914T140000Z",
            summary="Tom & Jerry\\; \\\\o/ \\, le retour",
            extra="DESCRIPTION:Ligne 1\\nLigne 2\\N<b>gras</b> &amp; co\r\n"
            "CATEGORIES:Numérique,Atelier\\,s,numerique\r\nCATEGORIES:Fête\r\n"
            "URL:https://example.org/a\\,b?c=1\r\nSTATUS:CANCELLED\r\nSEQUENCE:3\r\n"
            "LAST-MODIFIED:20240101T100000Z\r\nX-CUSTOM;X-P=1:valeur\r\n"
            'ATTENDEE;CN="Doe, J";ROLE=REQ-PARTICIPANT:mailto:j@example.org\r\n',
        )
    ),
    "custom-zone-and-windows-name": _calendar_text(
        _event("g", ";TZID=Ma zone:20240914T140000"),
        _event("h", ";TZID=Romance Standard Time:20240914T150000"),
        _event("i", ';TZID="Europe/Paris":20240914T160000'),
        zones=_CUSTOM_ZONE + _PARIS_ZONE,
    ),
    "recurring-and-overrides": _calendar_text(
        _event(
            "r",
            ";TZID=Europe/Paris:20240902T180000",
            extra="RRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE;TZID=Europe/Paris:20240909T180000\r\n",
        ),
        _event(
            "r",
            ";TZID=Europe/Paris:20240917T190000",
            summary="Déplacé",
            extra="RECURRENCE-ID;TZID=Europe/Paris:20240916T180000\r\n",
        ),
        _event("s", ":20240903T100000Z"),
        zones=_PARIS_ZONE,
    ),
    "duplicates-and-versions": _calendar_text(
        _event("u", ":20240914T140000Z", extra="SEQUENCE:1\r\n"),
        _event("u", ":20240914T150000Z", extra="SEQUENCE:2\r\n"),
        _event("v", ":20240914T140000Z"),
        _event("v", ":20240915T140000Z"),
    ),
    "odd-values": _calendar_text(
        _event("w", ":20240914T140000Z", extra="DTEND:20240914T130000Z\r\n"),
        _event("x", ":2024091"),
        _event("y", ":20240914T140000Z", summary=""),
        _event("z", ":20240914T140000Z", extra="SEQUENCE:abc\r\nDURATION:-PT1H\r\n"),
    ),
    "x-wr-timezone": _calendar_text(
        _event("xw", ":20240914T140000Z"),
        _event("xf", ":20240914T140000"),
        header="X-WR-TIMEZONE:America/New_York\r\nX-WR-CALNAME:Agenda\r\n",
    ),
    "alarm-and-past": _calendar_text(
        _event(
            "al",
            ":20240914T140000Z",
            extra="BEGIN:VALARM\r\nACTION:DISPLAY\r\n"
            "TRIGGER:-PT15M\r\nDESCRIPTION:Rappel\r\nEND:VALARM\r\n",
        ),
        _event("old", ":19990101T100000Z"),
    ),
}


@pytest.mark.parametrize("name", list(_ICAL_CASES))
def test_generated_calendars_read_alike_by_both_paths(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = document_from_bytes(_ICAL_CASES[name])
    assert ical_fast.parse(document, make_source(), make_context()) is not None
    fast, full = _both_ical_paths(document, monkeypatch)
    assert fast == full
    # Twice in a row: the second read takes its zones from the cache.
    assert _both_ical_paths(document, monkeypatch) == (fast, full)


def test_bench_calendar_is_read_by_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    site = next(s for s in _bench_sites(monkeypatch) if s.kind == "ical")
    document = document_from_bytes(site.body, content_type="text/calendar; charset=utf-8")
    assert ical_fast.parse(document, make_source(), make_context()) is not None
    fast, full = _both_ical_paths(document, monkeypatch)
    assert fast == full


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not a calendar", id="not-ical"),
        pytest.param(_calendar_text(_event("t", ":20240914T140000Z"))[:-30], id="cut-off"),
        pytest.param(_calendar_text(_event("a", ":20240914T140000Z")) * 2, id="two-calendars"),
        pytest.param(
            _calendar_text(
                _event("b", ":20240914T140000Z"),
                zones="BEGIN:VTIMEZONE\r\nTZID:X\r\nTZOFFSETTO:garbage\r\nEND:VTIMEZONE\r\n",
            ),
            id="broken-vtimezone",
        ),
        pytest.param(
            _calendar_text(_event("c", ":20240914T140000Z"), header='BAD;P="x:y\r\n'),
            id="broken-calendar-line",
        ),
    ],
)
def test_unusual_calendars_are_read_the_full_way(
    body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = document_from_bytes(body)
    assert ical_fast.parse(document, make_source(), make_context()) is None
    fast, full = _both_ical_paths(document, monkeypatch)
    assert fast == full


def test_plain_lines_split_as_icalendar_splits_them() -> None:
    from icalendar.parser.content_line import Contentline

    for line in [
        "SUMMARY:a\\,b;c:d\\nx",
        "DTSTART;TZID=Europe/Paris:20240101T100000",
        "DTSTART;VALUE=DATE:20240101",
        "URL:https://example.org/a?b=c:d",
        "X-A-B:1",
    ]:
        match = ical_fast._PLAIN_RE.fullmatch(line)
        assert match is not None
        name, params, value = Contentline(line).parts()
        assert match[1] == name
        assert ({match[2]: match[3]} if match[2] else {}) == dict(params)
        assert ical_fast.unescape_backslash(match[4]) == value
    for line in ['DTSTART;TZID="Europe/Paris":2024', "A\\B:x", "DTSTART;tzid=X:1", "N;A=1;B=2:x"]:
        assert ical_fast._PLAIN_RE.fullmatch(line) is None
