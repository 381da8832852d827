"""Errors the aggregator raises, written for the person who must fix the input.

    AggregatorError
     ├── ConfigError        sources.yaml is unreadable or invalid (carries every problem found)
     ├── SourceError        one source failed; the run goes on without it
     │    ├── FetchError    network, HTTP status, size cap, timeout
     │    └── ParseError    the document could not be read as the expected format
     │         └── ParseBudgetExceeded   reading it took too long or too much memory
     ├── StoreError         the SQLite database cannot be opened or written
     │    └── DatabaseBusy  another run holds the database's lock
     └── PublishError       an output file could not be written

Foreign exceptions are translated at the boundary (`raise FetchError(...) from exc`).
"""

from __future__ import annotations

from dataclasses import dataclass


class AggregatorError(Exception):
    """Base class for every error the aggregator reports to a user."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in the configuration file, with where it is and how to fix it."""

    file: str
    line: int | None
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.field}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class ConfigError(AggregatorError):
    """The configuration is invalid. `problems` lists every problem found, not just the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        count = len(problems)
        header = f"{count} problem{'s' if count != 1 else ''} in the configuration:"
        super().__init__("\n".join([header, *(f"  {p}" for p in problems)]))


class SourceError(AggregatorError):
    """A problem with one source. The run records it and goes on with the other sources."""

    def __init__(self, source_id: str, message: str, *, url: str | None = None) -> None:
        self.source_id = source_id
        self.url = url
        self.reason = message
        where = f"source {source_id!r}" + (f" ({url})" if url else "")
        super().__init__(f"{where}: {message}")


class FetchError(SourceError):
    """The source could not be downloaded (network error, HTTP error, too large, timeout)."""

    def __init__(
        self, source_id: str, message: str, *, url: str | None = None, status: int | None = None
    ) -> None:
        self.status = status
        super().__init__(source_id, message, url=url)


class ParseError(SourceError):
    """The downloaded document could not be read as the expected format."""


class StoreError(AggregatorError):
    """The database could not be opened, migrated or written."""


class PublishError(AggregatorError):
    """An output file could not be written."""


class DatabaseBusy(StoreError):
    """Another run holds the database's run lock (see aggregator/runlock.py)."""

    def __init__(self, db_path: str, message: str) -> None:
        self.db_path = db_path
        super().__init__(f"database {db_path}: {message}")


class ParseBudgetExceeded(ParseError):
    """Reading one source's document took more time or memory than its budget allows."""
