"""Publishing streams its outputs to temporary files and renames them all at the end (issue 13):
a failure anywhere before leaves every previous file as it was, with no temporary file behind,
and what did not change keeps its inode and modification time."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import publish_helpers as helpers
import pytest

import aggregator.publish
import aggregator.publish.fragments
from aggregator.errors import PublishError
from aggregator.models import Event
from aggregator.publish import publish_all
from aggregator.publish.feeds import plan_feeds, render_feed, render_feed_parts
from aggregator.publish.fragments import Fragments
from aggregator.publish.ical import calendar_parts, render_calendar, render_calendar_parts
from aggregator.publish.json import render_json, render_json_parts
from aggregator.publish.rss import render_rss, render_rss_parts


def publish(out: Path, items: list[Event] | None = None, **kwargs: Any) -> list[Path]:
    return publish_all(
        helpers.lively_events() if items is None else items,
        helpers.CONFIG,
        out,
        helpers.NOW,
        health=helpers.agenda_health(),
        state_path=out.parent / "publish-state.json",
        **kwargs,
    )


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under `folder` (hidden ones too): bytes, inode, modification time."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.is_file()]


@pytest.fixture(params=["here", "children"])
def writers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The per-event files written in this process, or by the two child processes (forced for
    a small agenda)."""
    if request.param == "children":
        if not hasattr(os, "fork"):
            pytest.skip("no fork on this system")
        monkeypatch.setattr(aggregator.publish, "_BACKGROUND_FILES", 1)
    return str(request.param)


def changed_events() -> list[Event]:
    """The agenda with one event retitled: its page, calendar and every list change."""
    return [
        e.with_changes(title="Atelier réparation (complet)") if e.source_uid == "repair" else e
        for e in helpers.lively_events()
    ]


@pytest.mark.parametrize(
    "failing", ["render_json_parts", "render_feed_parts", "render_sitemap", "plan_pages"]
)
def test_a_render_error_midway_leaves_every_previous_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writers: str, failing: str
) -> None:
    out = tmp_path / "output"
    publish(out)
    before = snapshot(out)
    real = getattr(aggregator.publish, failing)
    calls: list[int] = []

    def broken(*args: object, **kwargs: object) -> object:
        # Let a few outputs be rendered (and staged) first.
        calls.append(1)
        # plan_pages fails once the event pages' child is at work (forked before the rest of
        # the publication is planned).
        if len(calls) > 2 or failing != "render_feed_parts":
            raise RuntimeError("renderer crashed")
        return real(*args, **kwargs)

    monkeypatch.setattr(aggregator.publish, failing, broken)
    # In a child process (which renders feed.xml, the .xml feeds and the list pages), the error
    # comes back as a PublishError that tells it with its traceback.
    with pytest.raises((RuntimeError, PublishError), match="renderer crashed"):
        publish(out, changed_events())
    assert snapshot(out) == before  # same bytes, same inodes, nothing left behind
    assert not temporaries(out)


def test_a_child_that_cannot_write_leaves_the_other_files_as_they_were(
    tmp_path: Path, writers: str
) -> None:
    out = tmp_path / "output"
    publish(out)
    # events/ replaced by a file: the per-event calendars cannot be written.
    for path in (out / "events").iterdir():
        path.unlink()
    (out / "events").rmdir()
    (out / "events").write_text("a file where the folder should be", encoding="utf-8")
    before = snapshot(out)

    with pytest.raises(PublishError, match="events"):
        publish(out, changed_events())

    # The changed event's page and the list pages were written to temporary files, but none
    # was put in place: the other writer and this process wait until every file is written.
    assert snapshot(out) == before
    assert not temporaries(out)


def test_unchanged_outputs_keep_their_inode_and_time(tmp_path: Path, writers: str) -> None:
    out = tmp_path / "output"
    publish(out)
    before = snapshot(out)

    publish(out, changed_events())

    after = snapshot(out)
    moved = {name for name in after if before.get(name) != after[name]}
    assert {"calendar.ics", "feed.xml", "events.json", "index.html"} <= moved
    assert "villes/landerneau.ics" in moved
    for name in ("style.css", "robots.txt", "villes/brest.ics", "collectifs/tyfab.xml"):
        assert name not in moved
        assert after[name] == before[name]
    assert not temporaries(out)
    # What was rewritten is what a publication into an empty folder writes.
    fresh = tmp_path / "fresh" / "output"
    publish(fresh, changed_events())
    assert {n: v[0] for n, v in after.items()} == {n: v[0] for n, v in snapshot(fresh).items()}


def test_children_write_what_this_process_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this system")
    here = tmp_path / "here" / "output"
    publish(here)
    monkeypatch.setattr(aggregator.publish, "_BACKGROUND_FILES", 1)
    children = tmp_path / "children" / "output"
    paths = publish(children)
    assert {n: v[0] for n, v in snapshot(children).items()} == {
        n: v[0] for n, v in snapshot(here).items()
    }
    assert [p.relative_to(children.parent) for p in paths] == [
        p.relative_to(here.parent) for p in publish(here)
    ]


def rendered_pieces(caplog: pytest.LogCaptureFixture) -> list[int]:
    """The pieces each publication rendered, as its last log line says."""
    return [
        int(r.getMessage().rpartition("(")[2].split()[0])
        for r in caplog.records
        if r.getMessage().startswith("rendered ") and "pieces rendered" in r.getMessage()
    ]


@pytest.mark.parametrize("spooled", [False, True])
def test_pieces_a_child_renders_are_kept_for_the_next_publication(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, spooled: bool
) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this system")
    if spooled:  # every piece a child makes waits in its file, none in memory
        monkeypatch.setattr(aggregator.publish.fragments, "_WRITE_BYTES", 1)
    caplog.set_level(logging.INFO, logger="aggregator.publish")
    counts = {}
    for name, threshold in (("here", 10**9), ("children", 1)):
        monkeypatch.setattr(aggregator.publish, "_BACKGROUND_FILES", threshold)
        cache = tmp_path / name / "cache"
        cache.mkdir(parents=True)
        out = tmp_path / name / "output"
        caplog.clear()
        publish(out, cache_dir=cache)
        publish(out, changed_events(), cache_dir=cache)
        counts[name] = rendered_pieces(caplog)
    # The RSS items and JSON lines rendered in a child the first time are read from the cache
    # the second time, as when this process renders them: only the retitled event's pieces
    # (and the cards that show it) are rendered again.
    first, second = counts["children"]
    assert counts["children"] == counts["here"]
    assert 0 < second < first / 4


def test_same_size_different_bytes_is_rewritten(tmp_path: Path) -> None:
    out = tmp_path / "output"
    publish(out)
    expected = (out / "calendar.ics").read_bytes()
    (out / "calendar.ics").write_bytes(b"x" * len(expected))

    publish(out)

    assert (out / "calendar.ics").read_bytes() == expected


def test_outputs_written_in_parts_are_the_joined_bytes() -> None:
    events = helpers.lively_events()
    config = helpers.CONFIG
    fragments = Fragments(config)
    calendar = render_calendar_parts(events, config, helpers.NOW, fragments=fragments)
    assert b"".join(calendar) == render_calendar(events, config, helpers.NOW)
    feed = render_rss_parts(events, config, fragments=fragments)
    assert b"".join(feed) == render_rss(events, config)
    listing = render_json_parts(events, config, fragments=fragments)
    assert b"".join(listing) == render_json(events, config)
    assert render_json_parts([], config) == [render_json([], config)]
    head = calendar_parts(events, config, helpers.NOW)
    for feed in plan_feeds(events, config):
        for path in (feed.link.ics, feed.link.rss):
            parts = render_feed_parts(feed, config, head, fragments, path)
            assert b"".join(parts) == render_feed(feed, config, head, fragments, path)


def test_temporaries_a_dead_publication_left_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "output"
    publish(out)
    hour_and_more = time.time() - 3700
    left = [out / ".index.html.4242.tmp", out / "events" / ".x.ics.abcd1234.tmp"]
    left.append(next((out / "mois").iterdir()).with_name(".2026-05.html.77.tmp"))
    for path in left:
        path.write_bytes(b"half a file")
        os.utime(path, (hour_and_more, hour_and_more))
    # One just written: a publication may still be running (never removed).
    recent = out / "evenements" / ".page.html.99.tmp"
    recent.write_bytes(b"being written")

    publish(out)

    assert not any(path.exists() for path in left)
    assert recent.exists()
