"""The corpus manifest and the command that brings the corpus in, over a real loopback server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import MANIFEST, CorpusError, Entry, fill_cache, load_manifest, missing_files

from aggregator.demo.server import LoopbackServer

FILES = {
    "ics/agenda-plouzane.ics": "BEGIN:VCALENDAR\r\nSUMMARY:Atelier à Plouzané\r\nEND:VCALENDAR\r\n",
    "feeds/creach-gwen.xml": "<rss><channel><title>Creac'h Gwen</title></channel></rss>",
}


def entries_for(files: dict[str, str], *, local_only: str = "") -> list[Entry]:
    return [
        Entry(
            path=path,
            size=len(text.encode()),
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            repo="collectif/agenda",
            commit="0123456789ab",
            source_path=f"upstream/{path}",
            local_only=path == local_only,
        )
        for path, text in files.items()
    ]


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A site laid out like raw.githubusercontent.com: {repo}/{commit}/{path in repo}."""
    root = tmp_path / "origin"
    for path, text in FILES.items():
        target = root / "collectif/agenda/0123456789ab/upstream" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode())
    return root


def test_download_path_fetches_and_verifies_over_http(tmp_path: Path, origin: Path) -> None:
    cache = tmp_path / "cache"
    entries = entries_for(FILES)
    with LoopbackServer(root=origin) as server:
        copied, downloaded = fill_cache(origin=server.base_url, cache=cache, entries=entries)
        assert (copied, downloaded) == (0, 2)
        assert server.hits("/collectif/agenda/0123456789ab/upstream/ics/agenda-plouzane.ics") == 1
        # Already there and verified: nothing is downloaded again.
        assert fill_cache(origin=server.base_url, cache=cache, entries=entries) == (0, 0)
    for path, text in FILES.items():
        assert (cache / path).read_bytes() == text.encode()
    assert missing_files(cache, entries) == []


def test_a_download_with_another_hash_is_refused(tmp_path: Path, origin: Path) -> None:
    served = origin / "collectif/agenda/0123456789ab/upstream/ics/agenda-plouzane.ics"
    served.write_bytes(b"BEGIN:VCALENDAR\r\nSUMMARY:tampered\r\nEND:VCALENDAR\r\n")
    cache = tmp_path / "cache"
    with LoopbackServer(root=origin) as server, pytest.raises(CorpusError) as info:
        fill_cache(origin=server.base_url, cache=cache, entries=entries_for(FILES))
    assert "1 of 2 corpus files could not be had" in str(info.value)
    assert "ics/agenda-plouzane.ics" in str(info.value) and "hash" in str(info.value).lower()
    assert not (cache / "ics/agenda-plouzane.ics").exists()
    assert (cache / "feeds/creach-gwen.xml").is_file()


def test_local_copy_first_and_extracts_only_from_it(tmp_path: Path) -> None:
    local = tmp_path / "shared"
    for path, text in FILES.items():
        (local / path).parent.mkdir(parents=True, exist_ok=True)
        (local / path).write_bytes(text.encode())
    entries = entries_for(FILES, local_only="feeds/creach-gwen.xml")
    cache = tmp_path / "cache"
    assert fill_cache(source=local, origin="http://127.0.0.1:9", cache=cache, entries=entries) == (
        2,
        0,
    )
    # Without the local copy, a file packaged for the corpus cannot be had, and it says why.
    with pytest.raises(CorpusError, match="packaged for the corpus, only a local copy"):
        fill_cache(origin="http://127.0.0.1:9", cache=tmp_path / "other", entries=entries)


def test_local_copy_with_another_hash_is_refused(tmp_path: Path) -> None:
    local = tmp_path / "shared"
    (local / "ics").mkdir(parents=True)
    (local / "ics/agenda-plouzane.ics").write_bytes(b"changed")
    entries = entries_for({"ics/agenda-plouzane.ics": FILES["ics/agenda-plouzane.ics"]})
    with pytest.raises(CorpusError, match="has another sha256"):
        fill_cache(source=local, cache=tmp_path / "cache", entries=entries)


def test_manifest_describes_every_parser_corpus_file_with_its_origin() -> None:
    entries = load_manifest(MANIFEST)
    parser_files = [e for e in entries if e.path.split("/")[0] in ("ics", "feeds", "html")]
    assert len(parser_files) == 74
    assert len({e.path for e in entries}) == len(entries)
    for e in entries:
        assert len(e.sha256) == 64 and e.size >= 0
    assert not [e.path for e in parser_files if e.local_only]
    assert {e.extract for e in parser_files} == {None, "vcr-calendar-body", "markdown-xml-block"}
    for e in parser_files:
        url = e.url("https://raw.githubusercontent.com")
        assert url and e.repo and e.commit and e.source_path
        assert url.startswith(f"https://raw.githubusercontent.com/{e.repo}/{e.commit}/")


CASSETTE = """\
http_interactions:
  - request: {method: get, uri: "https://example.org/x"}
    response:
      status: {code: 301, message: Moved}
      headers: {Content-Type: [text/html]}
      body: {encoding: UTF-8, string: "moved"}
  - request: {method: get, uri: "https://example.org/agenda.ics"}
    response:
      status: {code: 200, message: OK}
      headers: {Content-Type: [text/calendar; charset=utf-8]}
      body:
        encoding: ASCII-8BIT
        string: !binary |-
          QkVHSU46VkNBTEVOREFSDQpTVU1NQVJZOkZlc3Qtbm96IMOgIFBsb3V6YW7DqQ0KRU5EOlZDQUxFTkRBUg0K
"""
MARKDOWN = (
    "# Notes\n\nLe flux :\n\n```xml\n<rss><channel><title>Crêpes</title></channel></rss>\n```\n"
)


@pytest.mark.parametrize(
    ("kind", "upstream", "expected"),
    [
        (
            "vcr-calendar-body",
            CASSETTE,
            "BEGIN:VCALENDAR\r\nSUMMARY:Fest-noz à Plouzané\r\nEND:VCALENDAR\r\n".encode(),
        ),
        (
            "markdown-xml-block",
            MARKDOWN,
            "<rss><channel><title>Crêpes</title></channel></rss>\n".encode(),
        ),
    ],
)
def test_extracts_are_cut_from_their_upstream_file_and_verified(
    tmp_path: Path, kind: str, upstream: str, expected: bytes
) -> None:
    root = tmp_path / "origin"
    (root / "o/r/abc").mkdir(parents=True)
    (root / "o/r/abc/up.txt").write_bytes(upstream.encode())
    entry = Entry(
        path="ics/x.ics",
        size=len(expected),
        sha256=hashlib.sha256(expected).hexdigest(),
        repo="o/r",
        commit="abc",
        source_path="up.txt",
        extract=kind,
    )
    with LoopbackServer(root=root) as server:
        assert fill_cache(origin=server.base_url, cache=tmp_path / "c", entries=[entry]) == (0, 1)
        assert (tmp_path / "c/ics/x.ics").read_bytes() == expected
        wrong = Entry(**{**entry.__dict__, "sha256": "0" * 64})
        with pytest.raises(CorpusError, match="extract's hash does not match"):
            fill_cache(origin=server.base_url, cache=tmp_path / "d", entries=[wrong])


def run_pytest(tmp_path: Path, *, ci: bool, corpus_tests: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_XDIST_WORKER")}
    env["AGGREGATOR_CORPUS"] = str(tmp_path / "no-corpus-here")
    if ci:
        env["CI"] = "true"
    tests = Path(__file__).resolve().parent
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            str(tests / corpus_tests),
            str(tests / "test_corpus_fetch.py")
            + "::test_manifest_describes_every_parser_corpus_file_with_its_origin",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tests.parent,
        timeout=300,
    )


def test_without_the_corpus_its_checks_are_counted_as_not_run(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, ci=False, corpus_tests="test_corpus.py")
    assert result.returncode == 0, result.stdout[-2000:]
    [line] = [ln for ln in result.stdout.splitlines() if "corpus checks did not run" in ln]
    count = int(line.split()[0])
    assert count >= 74 * 2  # the contract and the type detection for each file, at least
    assert "python3 tasks.py corpus" in line
    assert "1 passed" in result.stdout


def test_on_ci_a_missing_corpus_fails(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, ci=True, corpus_tests="test_corpus.py::test_corpus_is_present")
    assert result.returncode == 1
    assert "corpus files missing" in result.stdout or "corpus incomplete" in result.stdout
    assert "did not run" not in result.stdout


def test_tasks_names_missing_system_packages_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    try:
        import tasks
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(
        tasks,
        "SYSTEM_TOOLS",
        [("no-such-node-here", "nodejs"), ("/no/java", "default-jre-headless")],
    )
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit) as info:
        tasks.ensure_system_tools()
    message = str(info.value.code)
    assert message.endswith("nodejs default-jre-headless")
    assert "\n" not in message and "Traceback" not in message
