"""Fixtures shared by the whole test suite: the loopback HTTP server and the fixture folders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.demo.server import LoopbackServer

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture
def fixtures_dir() -> Path:
    """tests/fixtures: our own small files, one per behaviour, named after what they show."""
    return TESTS_DIR / "fixtures"


@pytest.fixture
def corpus_dir() -> Path:
    """The shared real-world corpus (/work/shared/corpus); AGGREGATOR_CORPUS points elsewhere."""
    override = os.environ.get("AGGREGATOR_CORPUS")
    path = Path(override) if override else TESTS_DIR.parents[1] / "shared" / "corpus"
    if not path.is_dir():
        # Never skip: a missing corpus must not turn the parser contract suite green.
        pytest.fail(f"corpus not found at {path}; set AGGREGATOR_CORPUS to its folder")
    return path


@pytest.fixture
def http_server(fixtures_dir: Path) -> Iterator[LoopbackServer]:
    """A real HTTP server on 127.0.0.1 for one test, serving tests/fixtures plus added routes."""
    with LoopbackServer(root=fixtures_dir) as server:
        yield server
