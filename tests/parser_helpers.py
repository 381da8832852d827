"""Helpers for the parser tests: a fake source, a fixed context, documents loaded by name."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aggregator.config import Source
from aggregator.models import Document, ParseContext, Window

PARIS = ZoneInfo("Europe/Paris")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "parsers"


def corpus_dir() -> Path:
    """The shared real-world corpus: $AGGREGATOR_CORPUS, else ../shared/corpus beside the repo."""
    env = os.environ.get("AGGREGATOR_CORPUS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "corpus"


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
