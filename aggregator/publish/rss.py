"""feed.xml and every RSS feed we publish: RSS 2.0 with an Atom self link, one item per event.

Item titles start with the French date so a feed reader's list reads like an agenda:
"samedi 16 mai 2026, 18 h 30 – Apéro numérique". The GUID is the event's public UID (not a
permalink), so an event that changes is updated in readers rather than shown twice.

The XML is written directly rather than through feedgen: each event's <item> is rendered once and
reused by feed.xml and by every per-city / per-tag / per-collective feed it belongs to, which keeps
publishing 20,000 events (and four times as many feed items) within a few seconds. Every text goes
through `xml_text`, which escapes markup and drops the characters XML 1.0 forbids, so a source
cannot break the document or inject elements.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from aggregator.config import Config
from aggregator.models import CANCELLED, Event
from aggregator.publish.atomic import write_if_changed
from aggregator.publish.fragments import Fragments
from aggregator.publish.html import (
    FEED_FILE,
    HTML_FILE,
    event_link,
    headline_when,
    place_line,
    public_uid,
    public_url,
    sort_events,
)

# Matches the calendar's REFRESH-INTERVAL (minutes).
TTL_MINUTES = 360
CANCELLED_PREFIX = "ANNULÉ – "
RSS_DOCS = "https://www.rssboard.org/rss-specification"
# Characters XML 1.0 does not allow, even escaped (C0 controls but tab/LF/CR, surrogates, FFFE/F).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# The output folder as a file: URI, for feeds published without agenda.base_url (publish_all
# sets it while it renders); unset, the current directory's output/ folder is assumed.
LOCAL_ROOT: ContextVar[str | None] = ContextVar("LOCAL_ROOT", default=None)


def xml_text(value: str) -> str:
    """`value` as XML character data or attribute value (double-quoted)."""
    value = _INVALID_XML.sub("", value)
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
    )


def rss_date(moment: datetime) -> str:
    """RFC 822 date as RSS wants it: "Fri, 20 Feb 2026 17:45:00 +0000"."""
    return format_datetime(moment.astimezone(UTC))


def item_title(event: Event, config: Config) -> str:
    """Date, time and title: "samedi 16 mai 2026, 18 h 30 – Apéro", "ANNULÉ – …" if cancelled."""
    title = f"{headline_when(event, config.agenda.tz)} – {event.title}"
    return CANCELLED_PREFIX + title if event.status == CANCELLED else title


def item_description(event: Event) -> str:
    """Where, then what: the place on its own line before the description."""
    place = place_line(event.location)
    return "\n\n".join(part for part in (place, event.description.strip()) if part)


def render_item(event: Event, config: Config) -> bytes:
    """One <item>, indented for a channel."""
    lines = [
        "    <item>",
        f"      <title>{xml_text(item_title(event, config))}</title>",
    ]
    link = event_link(event, config)
    if link:
        lines.append(f"      <link>{xml_text(link)}</link>")
    description = item_description(event)
    if description:
        lines.append(f"      <description>{xml_text(description)}</description>")
    lines.append(f'      <guid isPermaLink="false">{xml_text(public_uid(event))}</guid>')
    lines.extend(f"      <category>{xml_text(c)}</category>" for c in event.categories)
    if event.last_modified is not None:
        lines.append(f"      <pubDate>{rss_date(event.last_modified)}</pubDate>")
    lines.append("    </item>\n")
    return "\n".join(lines).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Channel:
    """What describes one feed: its title, subtitle, own address and the page it belongs to."""

    title: str
    description: str
    self_url: str | None  # absolute, or None (no Atom self link without agenda.base_url)
    link: str
    build_date: datetime | None


def render_channel(channel: Channel, items: Iterable[bytes]) -> bytes:
    """A complete RSS 2.0 document around already rendered items."""
    return b"".join(channel_parts(channel, items))


def channel_parts(channel: Channel, items: Iterable[bytes]) -> list[bytes]:
    """`render_channel`'s document in parts: its head, the items, its end."""
    head = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<rss xmlns:atom="http://www.w3.org/2005/Atom" version="2.0">',
        "  <channel>",
        f"    <title>{xml_text(channel.title)}</title>",
        f"    <link>{xml_text(channel.link)}</link>",
        f"    <description>{xml_text(channel.description)}</description>",
    ]
    if channel.self_url:
        head.append(
            f'    <atom:link href="{xml_text(channel.self_url)}" rel="self"'
            ' type="application/rss+xml"/>'
        )
    head += [
        f"    <docs>{RSS_DOCS}</docs>",
        "    <generator>aggregator</generator>",
        "    <language>fr</language>",
    ]
    if channel.build_date is not None:
        head.append(f"    <lastBuildDate>{rss_date(channel.build_date)}</lastBuildDate>")
    head.append(f"    <ttl>{TTL_MINUTES}</ttl>\n")
    return ["\n".join(head).encode("utf-8"), *items, b"  </channel>\n</rss>\n"]


def channel_for(
    config: Config, path: str, title: str, description: str, events: Sequence[Event]
) -> Channel:
    """The channel of the feed published at `path` (relative to the output folder).

    lastBuildDate is the latest `last_modified` among the events, so an unchanged agenda gives
    byte-identical feeds; a feed whose events carry no date has none (it is optional).
    """
    base = config.agenda.base_url
    return Channel(
        title=title,
        description=description,
        self_url=public_url(base, path) if base else None,
        link=home_url(config),
        build_date=_build_date(events),
    )


def home_url(config: Config) -> str:
    """The agenda page's absolute address, which RSS requires as the channel's <link>.

    Without agenda.base_url the site has no public address yet: the page is then the one in the
    output folder, as a file: URI (absolute, so the feed stays valid RSS, and true where the
    files are read); a relative link is not allowed in RSS.
    """
    base = config.agenda.base_url
    if base:
        return public_url(base, "")
    root = LOCAL_ROOT.get() or (Path.cwd() / "output").resolve().as_uri() + "/"
    return root + HTML_FILE


def _build_date(events: Sequence[Event]) -> datetime | None:
    stamps = [e.last_modified for e in events if e.last_modified is not None]
    return max(stamps) if stamps else None


def items(
    events: Iterable[Event], config: Config, fragments: Fragments | None = None
) -> list[bytes]:
    """Each event's <item>, in the order given; from `fragments` when at hand (rendered once for
    feed.xml and every per-filter feed)."""
    if fragments is None:
        return [render_item(e, config) for e in events]
    return [fragments.piece("rss", e, functools.partial(render_item, e, config)) for e in events]


def render_rss(
    events: Sequence[Event],
    config: Config,
    now: datetime | None = None,
    *,
    fragments: Fragments | None = None,
) -> bytes:
    """feed.xml as UTF-8 XML bytes: every upcoming event, in publication order.

    `now` is accepted for compatibility and no longer used: the build date follows the events.
    """
    return b"".join(render_rss_parts(events, config, fragments=fragments))


def render_rss_parts(
    events: Sequence[Event], config: Config, *, fragments: Fragments | None = None
) -> list[bytes]:
    """`render_rss`'s bytes as parts, in order (see `ical.render_calendar_parts`)."""
    agenda = config.agenda
    ordered = sort_events(events)
    channel = channel_for(config, FEED_FILE, agenda.title, agenda.description, ordered)
    return channel_parts(channel, items(ordered, config, fragments))


def write_rss(events: Sequence[Event], config: Config, path: Path, now: datetime) -> Path:
    """Render the feed and write it atomically to `path`; return `path`."""
    write_if_changed(path, render_rss(events, config, now))
    return path
