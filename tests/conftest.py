"""Fixtures shared by the whole test suite: the loopback HTTP server and the fixture folders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus import FETCH_COMMAND, SURVEY, corpus_root, missing_files

from aggregator.demo.server import LoopbackServer

TESTS_DIR = Path(__file__).resolve().parent
CORPUS_MARK = "corpus"
SURVEY_MARK = "survey"
_NOT_RUN = pytest.StashKey[dict[str, int]]()


def _needs_corpus(item: pytest.Item) -> bool:
    return item.get_closest_marker(CORPUS_MARK) is not None or "corpus_dir" in getattr(
        item, "fixturenames", ()
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{CORPUS_MARK}: reads the real-world corpus")
    config.addinivalue_line(
        "markers", f"{SURVEY_MARK}: reads the sources survey, ../shared/sources-candidates.md"
    )
    config.stash[_NOT_RUN] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the corpus (or the survey), their checks are set aside and counted, unless CI=true.

    On CI they stay in, so a missing corpus fails them (each says how to fetch it) instead of
    quietly turning the contract suite green.
    """
    if os.environ.get("CI", "").lower() == "true":
        return
    absent = {CORPUS_MARK: bool(missing_files()), SURVEY_MARK: not SURVEY.is_file()}
    if not any(absent.values()):
        return
    kept, set_aside = [], []
    counts = config.stash[_NOT_RUN]
    for item in items:
        kind = CORPUS_MARK if _needs_corpus(item) else None
        if item.get_closest_marker(SURVEY_MARK) is not None:
            kind = SURVEY_MARK
        if kind and absent[kind]:
            set_aside.append(item)
            counts[kind] = counts.get(kind, 0) + 1
        else:
            kept.append(item)
    if set_aside:
        config.hook.pytest_deselected(items=set_aside)
        items[:] = kept


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Under pytest-xdist each worker collects; the controller prints the summary.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["not_run"] = dict(session.config.stash[_NOT_RUN])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    counts = getattr(node, "workeroutput", {}).get("not_run", {})
    config = node.config  # type: ignore[attr-defined]
    for kind, count in counts.items():
        # Every worker collects the same tests: keep one worker's count.
        config.stash[_NOT_RUN][kind] = max(config.stash[_NOT_RUN].get(kind, 0), count)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = terminalreporter.config.stash[_NOT_RUN]
    if counts.get(CORPUS_MARK):
        terminalreporter.write_line(
            f"{counts[CORPUS_MARK]} corpus checks did not run: the real-world corpus is not in "
            f"{corpus_root()}; fetch it with `{FETCH_COMMAND}`",
            yellow=True,
        )
    if counts.get(SURVEY_MARK):
        terminalreporter.write_line(
            f"{counts[SURVEY_MARK]} registry checks did not run: they compare sources.yaml with "
            f"the survey {SURVEY}, which is not beside this checkout",
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
