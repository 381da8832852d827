"""Per-event files written by a child process while the parent renders: commit, abort, failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from publish_helpers import write_event_files

from aggregator.errors import PublishError
from aggregator.publish.atomic import write_in_background

FILES = {"events/a.ics": b"BEGIN:VCALENDAR\r\nA\r\n", "events/b.ics": "Plouzané".encode()}


def test_commit_writes_every_file(tmp_path: Path) -> None:
    finish = write_in_background(write_event_files, FILES, tmp_path)
    paths = finish(True)
    assert paths == [tmp_path / "events/a.ics", tmp_path / "events/b.ics"]
    assert (tmp_path / "events/b.ics").read_text(encoding="utf-8") == "Plouzané"
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == ["a.ics", "b.ics"]


def test_abort_leaves_the_previous_files_and_no_temporary(tmp_path: Path) -> None:
    write_event_files({"events/old.ics": b"old"}, tmp_path)
    finish = write_in_background(write_event_files, FILES, tmp_path)
    assert finish(False) == []
    # The stale file is not removed and the new ones never appear; no temporary is left.
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == ["old.ics"]


def test_a_failing_child_reports_its_error(tmp_path: Path) -> None:
    (tmp_path / "events").write_text("a file where the folder should be")
    finish = write_in_background(write_event_files, FILES, tmp_path)
    with pytest.raises(PublishError, match="events"):
        finish(True)
