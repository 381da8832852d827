"""Staging: files written one by one to temporary files, put in place together or not at all."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from publish_helpers import write_event_files

import aggregator.publish.atomic as atomic
from aggregator.errors import PublishError
from aggregator.publish.atomic import Staging, write_in_background


def listing(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        p.name: (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
    }


def test_nothing_is_replaced_before_commit(tmp_path: Path) -> None:
    (tmp_path / "a.ics").write_bytes(b"old a")
    with Staging() as staging:
        assert staging.add(tmp_path / "a.ics", b"new a")
        assert staging.add(str(tmp_path / "b.ics"), [b"new ", b"b"])
        assert (tmp_path / "a.ics").read_bytes() == b"old a"
        assert not (tmp_path / "b.ics").exists()
        assert len(staging) == 2
        written = staging.commit()
    assert written == [str(tmp_path / "a.ics"), str(tmp_path / "b.ics")]
    assert (tmp_path / "a.ics").read_bytes() == b"new a"
    assert (tmp_path / "b.ics").read_bytes() == b"new b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ics", "b.ics"]
    assert stat.S_IMODE((tmp_path / "b.ics").stat().st_mode) == 0o644


def test_leaving_without_commit_removes_every_temporary(tmp_path: Path) -> None:
    (tmp_path / "a.ics").write_bytes(b"old a")
    before = listing(tmp_path)
    with pytest.raises(RuntimeError), Staging() as staging:
        staging.add(tmp_path / "a.ics", b"new a")
        staging.add(tmp_path / "b.ics", b"new b")
        raise RuntimeError("rendering failed")
    assert listing(tmp_path) == before


def test_identical_files_are_not_touched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Compared a block at a time: a file of several blocks, parts of every size.
    monkeypatch.setattr(atomic, "_CHUNK", 64)
    data = bytes(range(256)) * 3
    parts = [data[:10], data[10:300], b"", data[300:]]
    (tmp_path / "same.ics").write_bytes(data)
    (tmp_path / "parts.ics").write_bytes(data)
    before = listing(tmp_path)
    with Staging() as staging:
        assert not staging.add(tmp_path / "same.ics", data)
        assert not staging.add(tmp_path / "parts.ics", parts)
        assert staging.commit() == []
    assert listing(tmp_path) == before


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_difference_anywhere_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setattr(atomic, "_CHUNK", 64)
    data = bytes(range(256)) * 3
    at = {"first": 0, "middle": 400, "last": len(data) - 1}[where]
    old = data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]  # same size, one byte differs
    for name in ("bytes.ics", "parts.ics"):
        (tmp_path / name).write_bytes(old)
    with Staging() as staging:
        assert staging.add(tmp_path / "bytes.ics", data)
        assert staging.add(tmp_path / "parts.ics", [data[:100], data[100:]])
        staging.commit()
    assert (tmp_path / "bytes.ics").read_bytes() == data
    assert (tmp_path / "parts.ics").read_bytes() == data


def test_a_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "calendar.ics"
    target.write_bytes(b"old")
    target.chmod(0o600)
    with Staging() as staging:
        staging.add(target, b"new", sync=True)
        staging.commit()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == b"new"


def test_a_file_that_cannot_be_written_is_a_publish_error(tmp_path: Path) -> None:
    with Staging() as staging:
        staging.add(tmp_path / "a.ics", b"a")
        with pytest.raises(PublishError, match="missing"):
            staging.add(tmp_path / "missing" / "b.ics", b"b")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_removes_the_files_not_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.replace
    renamed: list[str] = []

    def replace(source: str, target: str) -> None:
        if renamed:
            raise OSError(28, "No space left on device")
        renamed.append(target)
        real(source, target)

    with Staging() as staging:
        for name in ("a", "b", "c"):
            staging.add(tmp_path / f"{name}.ics", name.encode())
        monkeypatch.setattr(atomic.os, "replace", replace)
        with pytest.raises(PublishError, match="No space left"):
            staging.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ics"]


FILES = {"events/a.ics": b"BEGIN:VCALENDAR\r\nA\r\n", "events/b.ics": b"B"}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")
def test_a_child_says_when_its_files_are_written(tmp_path: Path) -> None:
    child = write_in_background(write_event_files, FILES, tmp_path)
    child.ready()
    # Every temporary file is there, none in place yet.
    names = sorted(p.name for p in (tmp_path / "events").iterdir())
    assert len(names) == 2 and all(n.startswith(".") and n.endswith(".tmp") for n in names)
    assert child(True) == [tmp_path / "events/a.ics", tmp_path / "events/b.ics"]
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == ["a.ics", "b.ics"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")
def test_what_a_ready_child_says_reaches_the_parent_chunk_by_chunk(tmp_path: Path) -> None:
    # Bigger than a pipe's buffer: the child waits until the parent reads.
    said = [b"first", b"x" * 300_000, b"", "dernière étape".encode()]

    def write(
        files: Mapping[str, bytes], out_dir: Path, *, proceed: Callable[..., bool]
    ) -> list[Path]:
        (out_dir / "done").write_text("yes" if proceed(iter(said)) else "no", encoding="utf-8")
        return []

    child = write_in_background(write, {}, tmp_path)
    heard: list[bytes] = []
    child.ready(heard.append)
    assert heard == [chunk for chunk in said if chunk]
    child(True)
    assert (tmp_path / "done").read_text(encoding="utf-8") == "yes"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")
def test_a_bug_in_a_child_is_told_with_its_traceback(tmp_path: Path) -> None:
    def write(files: Mapping[str, bytes], out_dir: Path, **_: object) -> list[Path]:
        raise KeyError("no such piece")

    child = write_in_background(write, {}, tmp_path)
    with pytest.raises(PublishError, match=r"(?s)Traceback.*in write.*KeyError: 'no such piece'"):
        child.ready()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")
def test_a_child_that_failed_is_known_before_anything_is_committed(tmp_path: Path) -> None:
    (tmp_path / "events").write_text("a file where the folder should be", encoding="utf-8")
    child = write_in_background(write_event_files, FILES, tmp_path)
    with pytest.raises(PublishError, match="events"):
        child.ready()
    with pytest.raises(PublishError, match="events"):  # told to abort: the same error
        child(False)
