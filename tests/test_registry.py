"""The regional registry: every surveyed candidate registered, with its evidence, no invented URL.

The survey is ../shared/sources-candidates.md (read through its path, never copied): a table row
per candidate with its id, URL and confidence ("high", "medium": the URL was seen verbatim;
"pattern": built from a platform's documented pattern).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from corpus import SURVEY

from aggregator.config import load_config

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "sources.yaml"
ROW = re.compile(r"^\| `(?P<id>[a-z0-9-]+)` \|(?P<cells>.*)\|\s*$")


def _candidates() -> dict[str, tuple[str, str]]:
    """id → (URL, confidence) for every row of the survey's tables."""
    if not SURVEY.is_file():
        pytest.fail(f"survey not found at {SURVEY}")
    found: dict[str, tuple[str, str]] = {}
    for line in SURVEY.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if not match:
            continue
        cells = [c.strip() for c in match["cells"].split(" | ")]
        url = next(c.strip("`") for c in cells if c.startswith("`http"))
        confidence = next(
            c.strip("*") for c in cells if c.strip("*") in ("high", "medium", "pattern")
        )
        found[match["id"]] = (url, confidence)
    return found


@pytest.mark.survey
def test_the_survey_lists_47_candidates() -> None:
    assert len(_candidates()) == 47


@pytest.mark.survey
def test_every_candidate_is_registered_with_its_url_and_the_right_state() -> None:
    config = load_config(REGISTRY)
    for ident, (url, confidence) in _candidates().items():
        source = config.source(ident)
        assert unquote(source.url) == unquote(url), ident  # the surveyed address, not another
        if confidence == "pattern":
            assert not source.enabled, f"{ident}: a pattern-derived address must be verified"


@pytest.mark.survey
def test_every_entry_has_its_evidence_comment_and_patterns_say_what_to_verify() -> None:
    lines = REGISTRY.read_text(encoding="utf-8").splitlines()
    config = load_config(REGISTRY)
    patterns = {i for i, (_u, c) in _candidates().items() if c == "pattern"}
    for number, line in enumerate(lines):
        match = re.match(r"^  - id: (?P<id>\S+)$", line)
        if not match:
            continue
        above: list[str] = []
        for previous in reversed(lines[:number]):
            if not previous.startswith("  #"):
                break
            above.insert(0, previous)
        ident = match["id"]
        assert above, f"{ident}: no evidence comment above the entry"
        comment = " ".join(above)
        if ident in patterns:
            assert "PATTERN" in comment and "erif" in comment, ident
        if not config.source(ident).enabled:
            assert re.search(r"PATTERN|paused|Verify", comment), ident
