"""Recognise the same event announced more than once.

First version: within a source, the source's own UID is the identity; across sources, two
records with the same normalized title and the same start are one event. The store calls
`match_key` when a record first appears and attaches it to the event with the same key.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC

from aggregator.models import Event

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize_title(title: str) -> str:
    """Casefold, strip accents and punctuation: "Apéro  numérique !" → "apero numerique"."""
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", without_marks).strip()


def match_key(event: Event) -> str:
    """The cross-source identity of an event: normalized title + start instant (UTC)."""
    start = event.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    if event.all_day:
        start = event.start.date().isoformat()
    return f"{normalize_title(event.title)}|{start}"
