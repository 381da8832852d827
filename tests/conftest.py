"""Fixtures shared by the whole test suite: the loopback HTTP server and the fixture folders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus import FETCH_COMMAND, corpus_root, missing_files

from aggregator.demo.server import LoopbackServer

TESTS_DIR = Path(__file__).resolve().parent
CORPUS_MARK = "corpus"
_NOT_RUN = pytest.StashKey[int]()


def _needs_corpus(item: pytest.Item) -> bool:
    return item.get_closest_marker(CORPUS_MARK) is not None or "corpus_dir" in getattr(
        item, "fixturenames", ()
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{CORPUS_MARK}: reads the real-world corpus")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the corpus, its checks are set aside and counted, unless CI=true.

    On CI they stay in, so a missing corpus fails them (each says how to fetch it) instead of
    quietly turning the contract suite green.
    """
    if os.environ.get("CI", "").lower() == "true" or not missing_files():
        return
    kept, set_aside = [], []
    for item in items:
        (set_aside if _needs_corpus(item) else kept).append(item)
    if set_aside:
        config.hook.pytest_deselected(items=set_aside)
        items[:] = kept
        config.stash[_NOT_RUN] = len(set_aside)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    count = terminalreporter.config.stash.get(_NOT_RUN, 0)
    if count:
        terminalreporter.write_line(
            f"{count} corpus checks did not run: the real-world corpus is not in "
            f"{corpus_root()}; fetch it with `{FETCH_COMMAND}`",
            yellow=True,
        )


@pytest.fixture
def fixtures_dir() -> Path:
    """tests/fixtures: our own small files, one per behaviour, named after what they show."""
    return TESTS_DIR / "fixtures"


@pytest.fixture
def corpus_dir() -> Path:
    """The real-world corpus (.cache/corpus, filled by `python3 tasks.py corpus`)."""
    path = corpus_root()
    if missing := missing_files(path):
        pytest.fail(f"{len(missing)} corpus files missing in {path}; run `{FETCH_COMMAND}`")
    return path


@pytest.fixture
def http_server(fixtures_dir: Path) -> Iterator[LoopbackServer]:
    """A real HTTP server on 127.0.0.1 for one test, serving tests/fixtures plus added routes."""
    with LoopbackServer(root=fixtures_dir) as server:
        yield server
