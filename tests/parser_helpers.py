"""Helpers for the parser tests: a fake source, a fixed context, documents loaded by name.

`check_parser_contract` is the behaviour every adapter owes on any input (the corpus files and
our own quirk fixtures alike), in the manner of vdirsyncer's StorageTests.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from corpus import corpus_root

from aggregator.config import Source
from aggregator.errors import ParseError
from aggregator.models import STATUSES, Document, Event, ParseContext, ParseResult, Window
from aggregator.parsers import get_parser

PARIS = ZoneInfo("Europe/Paris")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "parsers"


def corpus_dir() -> Path:
    """The real-world corpus: $AGGREGATOR_CORPUS, else .cache/corpus (`python3 tasks.py corpus`).

    Tests that read it carry the `corpus` mark (or use the `corpus_dir` fixture), so that the
    suite can count them as not run on a fresh clone without the corpus.
    """
    return corpus_root()


def make_source(city: str | None = None, source_id: str = "corpus") -> Source:
    """A registered source as the parsers see it."""
    return Source(id=source_id, name="Corpus", url="https://example.org/", city=city)


def make_context(
    start: datetime = datetime(2000, 1, 1, tzinfo=PARIS),
    end: datetime = datetime(2040, 1, 1, tzinfo=PARIS),
) -> ParseContext:
    """Paris time, a wide window and a fixed 'now', so results never depend on the clock."""
    return ParseContext(tz=PARIS, window=Window(start, end), now=datetime(2024, 1, 1, tzinfo=PARIS))


def document_from_bytes(
    content: bytes, url: str = "https://example.org/agenda/", content_type: str | None = None
) -> Document:
    """A downloaded document; `text` is a best-effort UTF-8 decoding, as the fetcher makes."""
    return Document(
        url=url,
        content=content,
        text=content.decode("utf-8", "replace"),
        content_type=content_type,
    )


def fixture_document(name: str, **kwargs: str) -> Document:
    """tests/fixtures/parsers/<name> as a Document."""
    return document_from_bytes((FIXTURES / name).read_bytes(), **kwargs)


def parse_bytes(kind: str, content: bytes, url: str = "https://example.org/") -> ParseResult:
    """Run the adapter for `kind` ("ical", "feed", "html") on raw bytes, as the pipeline would."""
    document = document_from_bytes(content, url=url)
    return get_parser(kind)(document, make_source(), make_context())


def check_parser_contract(kind: str, content: bytes) -> ParseResult | None:
    """Assert what every adapter owes on any input; the first result, None after a ParseError.

    It returns a ParseResult or raises ParseError with a message, never anything else; events
    have titles and aware times, ends after starts, known statuses, clean categories and
    descriptions, unique source_uids, and the same source_uids on a second parse.
    """
    try:
        first = parse_bytes(kind, content)
    except ParseError as exc:
        assert exc.reason.strip(), "a ParseError must say what is wrong"
        assert exc.source_id == "corpus"
        return None
    assert isinstance(first, ParseResult)
    assert first.items >= 0
    assert all(isinstance(w, str) and w for w in first.warnings)
    for event in first.events:
        assert isinstance(event, Event)
        assert event.title.strip() == event.title and event.title
        assert event.source_id == "corpus" and event.source_uid
        assert event.start.tzinfo is not None and event.start.utcoffset() is not None
        if event.end is not None:
            assert event.end.utcoffset() is not None
            assert event.end >= event.start
        if event.all_day:
            local = event.start.astimezone(PARIS)
            assert (local.hour, local.minute) == (0, 0)
        assert event.status in STATUSES
        assert len(set(event.categories)) == len(event.categories) and all(event.categories)
        assert "<p>" not in event.description and "&amp;" not in event.description
    uids = [e.source_uid for e in first.events]
    assert len(uids) == len(set(uids)), "source_uid must be unique inside one document"
    second = parse_bytes(kind, content)
    assert set(uids) == {e.source_uid for e in second.events}
    return first
