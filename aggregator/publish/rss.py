"""feed.xml: the upcoming events as an RSS 2.0 feed (feedgen), one item per event.

Item titles start with the French date so a feed reader's list reads like an agenda:
"samedi 16 mai 2026, 18 h 30 – Apéro numérique". The GUID is the event's public UID (not a
permalink), so an event that changes is updated in readers rather than shown twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from feedgen.feed import FeedGenerator

from aggregator.config import Config
from aggregator.models import CANCELLED, Event
from aggregator.publish.atomic import write_if_changed
from aggregator.publish.html import (
    FEED_FILE,
    event_link,
    headline_when,
    public_uid,
    public_url,
    sort_events,
)

# Matches the calendar's REFRESH-INTERVAL (minutes).
TTL_MINUTES = 360
CANCELLED_PREFIX = "ANNULÉ – "


def item_title(event: Event, config: Config) -> str:
    """Date, time and title: "samedi 16 mai 2026, 18 h 30 – Apéro", "ANNULÉ – …" if cancelled."""
    title = f"{headline_when(event, config.agenda.tz)} – {event.title}"
    return CANCELLED_PREFIX + title if event.status == CANCELLED else title


def item_description(event: Event) -> str:
    """Where, then what: the place on its own line before the description."""
    place = event.location.one_line()
    return "\n\n".join(part for part in (place, event.description.strip()) if part)


def render_rss(events: Sequence[Event], config: Config, now: datetime) -> bytes:
    """The feed as UTF-8 XML bytes.

    lastBuildDate is the latest `last_modified` among the events (`now` only when none has one),
    so an unchanged agenda gives byte-identical feeds and readers see no spurious update.
    """
    agenda = config.agenda
    ordered = sort_events(events)
    feed = FeedGenerator()
    feed.title(agenda.title)
    feed.description(agenda.description)
    feed.language("fr")
    if agenda.base_url:
        feed.link(
            href=public_url(agenda.base_url, FEED_FILE), rel="self", type="application/rss+xml"
        )
    # feedgen takes the channel <link> from the last link given, so this one comes last. RSS
    # requires it; without base_url the best honest value is the page published next to the feed.
    feed.link(href=public_url(agenda.base_url, "") if agenda.base_url else "./", rel="alternate")
    feed.generator("aggregator")
    feed.ttl(TTL_MINUTES)
    stamps = [e.last_modified for e in ordered if e.last_modified is not None]
    feed.lastBuildDate(max(stamps) if stamps else now)

    for event in ordered:
        entry = feed.add_entry(order="append")
        entry.title(item_title(event, config))
        entry.guid(public_uid(event), permalink=False)
        link = event_link(event)
        if link:
            entry.link(href=link)
        description = item_description(event)
        if description:
            entry.description(description)
        if event.last_modified is not None:
            entry.pubDate(event.last_modified)
        for category in event.categories:
            entry.category(term=category)
    return feed.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)


def write_rss(events: Sequence[Event], config: Config, path: Path, now: datetime) -> Path:
    """Render the feed and write it atomically to `path`; return `path`."""
    write_if_changed(path, render_rss(events, config, now))
    return path
