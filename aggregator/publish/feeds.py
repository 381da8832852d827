"""Per-city, per-tag and per-collective feeds: `villes/<slug>.ics|.xml`, `themes/…`,
`collectifs/<source id>.ics|.xml`, and `feeds.json` listing them all.

Paths are stable: a city or tag is slugged from its name (accents and case folded, so "Plouzané"
and "plouzane" are one feed), a collective uses its `id` from sources.yaml, which never changes.
Every registered collective, and every city and tag named in sources.yaml, has a feed even while it
has no upcoming event, so a subscription made today keeps working.

The .ics feeds reuse calendar.ics as rendered by `render_calendar`: its VEVENT blocks are cut out
once (`split_calendar`) and each feed is the calendar's header and time zone plus its own blocks.
Every event is thus serialized once, whatever the number of feeds it belongs to, and every feed
carries exactly the same bytes for an event as the main calendar.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from icalendar import Calendar

from aggregator.config import Config
from aggregator.errors import PublishError
from aggregator.models import Event
from aggregator.publish.atomic import remove_stale
from aggregator.publish.fragments import Fragments
from aggregator.publish.html import (
    FEED_KINDS,
    FeedLink,
    public_uid,
    public_url,
    slugify,
    sort_events,
    webcal_url,
)
from aggregator.publish.ical import (
    calendar_parts,
    published_events,
    render_calendar,
    split_calendar,
    vevents,
)
from aggregator.publish.rss import channel_for, channel_parts, render_channel, render_item
from aggregator.publish.rss import items as rss_items

log = logging.getLogger(__name__)

FEEDS_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class PlannedFeed:
    """A feed to publish: how the pages list it and the events it carries (sorted)."""

    link: FeedLink
    events: tuple[Event, ...]

    @property
    def title(self) -> str:
        kind = self.link.kind
        if kind == "ville":
            return f"Agenda numérique – {self.link.label}"
        if kind == "theme":
            return f"Agenda numérique – thème « {self.link.label} »"
        return f"Agenda numérique – {self.link.label}"


def _label(spellings: Counter[str]) -> str:
    """The most used spelling of a name; ties go to the alphabetically first, for stability."""
    return min(spellings, key=lambda s: (-spellings[s], s))


def plan_feeds(events: Sequence[Event], config: Config) -> list[PlannedFeed]:
    """Every per-filter feed, in a fixed order: cities, tags, collectives, each by slug."""
    ordered = sort_events(events)
    groups: dict[str, dict[str, list[Event]]] = {kind: {} for kind in FEED_KINDS}
    names: dict[str, dict[str, Counter[str]]] = {kind: {} for kind in FEED_KINDS}

    def add(kind: str, key: str, name: str, event: Event | None) -> None:
        names[kind].setdefault(key, Counter())[name] += 1 if event is not None else 0
        bucket = groups[kind].setdefault(key, [])
        if event is not None and (not bucket or bucket[-1] is not event):
            bucket.append(event)

    for source in config.sources:
        if not source.enabled:
            continue
        add("collectif", source.id, source.name, None)
        if source.city:
            add("ville", slugify(source.city), source.city, None)
        for tag in source.tags:
            add("theme", slugify(tag), tag, None)
    for event in ordered:
        if event.location.city:
            add("ville", slugify(event.location.city), event.location.city, event)
        for category in event.categories:
            add("theme", slugify(category), category, event)
        for ref in event.sources:
            add("collectif", ref.id, ref.name, event)
    # A source's configured name wins over the names events carry.
    configured = {s.id: s.name for s in config.sources}

    planned: list[PlannedFeed] = []
    for kind, (folder, _) in FEED_KINDS.items():
        for key in sorted(groups[kind]):
            label = configured.get(key) if kind == "collectif" else None
            spellings = names[kind][key]
            if label is None:
                counted = Counter({s: n for s, n in spellings.items() if n}) or spellings
                label = " ".join(_label(counted).split())
            feed_events = tuple(groups[kind][key])
            link = FeedLink(
                kind=kind,
                slug=key,
                label=label,
                ics=f"{folder}/{key}.ics",
                rss=f"{folder}/{key}.xml",
                count=len(feed_events),
            )
            planned.append(PlannedFeed(link, feed_events))
    return planned


# --- .ics feeds cut out of calendar.ics -----------------------------------------------------


def _named_header(header: list[bytes], name: str, description: str) -> list[bytes]:
    """The calendar header with X-WR-CALNAME / X-WR-CALDESC replaced, folded by icalendar."""
    named = Calendar()
    # Names are one line; a line break from a source would be refused by icalendar.
    named.add("x-wr-calname", " ".join(name.split()))
    named.add("x-wr-caldesc", " ".join(description.split()))
    replacement = named.to_ical().split(b"\r\n")[1:-2]
    result: list[bytes] = []
    skipping = False
    inserted = False
    for line in header:
        if line.startswith((b" ", b"\t")) and skipping:
            continue
        skipping = line.startswith((b"X-WR-CALNAME", b"X-WR-CALDESC"))
        if skipping:
            if not inserted:
                result.extend(replacement)
                inserted = True
            continue
        result.append(line)
    if not inserted:
        result[1:1] = replacement
    return result


def render_feeds(
    planned: Sequence[PlannedFeed],
    events: Sequence[Event],
    config: Config,
    calendar: bytes | None = None,
    now: datetime | None = None,
    *,
    fragments: Fragments | None = None,
) -> dict[str, bytes]:
    """Every per-filter .ics and .xml, by path relative to the output folder.

    Each VEVENT comes from `fragments` (the bytes calendar.ics holds), or else from `calendar`,
    calendar.ics as already rendered for `events` (rendered here if neither is given).
    """
    if fragments is not None:
        head = calendar_parts(published_events(events, config.agenda), config, now)
        outputs: dict[str, bytes] = {}
        for feed in planned:
            outputs[feed.link.ics] = render_feed(feed, config, head, fragments, feed.link.ics)
            outputs[feed.link.rss] = render_feed(feed, config, head, fragments, feed.link.rss)
        return outputs
    outputs = {}
    agenda = config.agenda
    if calendar is None:
        calendar = render_calendar(events, config, now)
    split = split_calendar(calendar)
    if split is not None and not split.holds(events):
        log.warning("calendar.ics does not hold one VEVENT per event; rendering feeds one by one")
        split = None
    items = {id(e): render_item(e, config) for e in events}
    for feed in planned:
        link = feed.link
        name = f"{link.label} – {agenda.title}"
        description = _feed_description(link)
        if split is not None:
            blocks = [split.events[public_uid(e)] for e in feed.events]
            header = b"\r\n".join(_named_header(split.header, name, description)) + b"\r\n"
            outputs[link.ics] = b"".join([header, *split.others, *blocks, b"END:VCALENDAR\r\n"])
        else:
            named = config.model_copy(
                update={
                    "agenda": agenda.model_copy(update={"title": name, "description": description})
                }
            )
            outputs[link.ics] = render_calendar(list(feed.events), named, now)
        channel = channel_for(config, link.rss, feed.title, description, feed.events)
        outputs[link.rss] = render_channel(
            channel,
            (items.get(id(e)) or render_item(e, config) for e in feed.events),
        )
    return outputs


def render_feed_parts(
    feed: PlannedFeed,
    config: Config,
    head: tuple[bytes, bytes],
    fragments: Fragments,
    path: str,
) -> list[bytes]:
    """One per-filter file, `path` being the feed's .ics or .xml, made of the events' pieces, as
    parts in order (see `ical.render_calendar_parts`); `head` is calendar.ics's header and VTIMEZONE
    (`ical.calendar_parts`), which each .ics takes with its own name."""
    link = feed.link
    description = _feed_description(link)
    if path == link.ics:
        header, vtimezone = head
        name = f"{link.label} – {config.agenda.title}"
        lines = _named_header(header.split(b"\r\n")[:-1], name, description)
        blocks = vevents(feed.events, config, fragments)
        parts = [b"\r\n".join(lines), b"\r\n", vtimezone, *blocks, b"END:VCALENDAR\r\n"]
    elif path == link.rss:
        channel = channel_for(config, link.rss, feed.title, description, feed.events)
        parts = channel_parts(channel, rss_items(feed.events, config, fragments))
    else:
        raise ValueError(f"{path} is not a file of the feed {link.slug}")
    return parts


def render_feed(
    feed: PlannedFeed,
    config: Config,
    head: tuple[bytes, bytes],
    fragments: Fragments,
    path: str,
) -> bytes:
    """`render_feed_parts` joined."""
    return b"".join(render_feed_parts(feed, config, head, fragments, path))


def _feed_description(link: FeedLink) -> str:
    if link.kind == "ville":
        return f"Les rendez-vous numériques à {link.label}"
    if link.kind == "theme":
        return f"Les rendez-vous numériques sur le thème « {link.label} »"
    return f"Les rendez-vous annoncés par {link.label}"


def render_feeds_json(planned: Sequence[PlannedFeed], config: Config) -> bytes:
    """feeds.json: every per-filter feed with its label, event count and addresses.

    events.json stays the plain list of events it always was; the feeds are listed here.
    Addresses are relative to the output folder, plus absolute and webcal:// ones when
    agenda.base_url is set.
    """
    base = config.agenda.base_url
    records = []
    for feed in planned:
        link = feed.link
        record: dict[str, object] = {
            "kind": link.kind,
            "slug": link.slug,
            "label": link.label,
            "events": link.count,
            "ics": link.ics,
            "rss": link.rss,
        }
        if base:
            record |= {
                "ics_url": public_url(base, link.ics),
                "rss_url": public_url(base, link.rss),
                "webcal_url": webcal_url(base, link.ics),
            }
        records.append(record)
    document = {"version": FEEDS_SCHEMA_VERSION, "feeds": records}
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def make_folders(out_dir: Path, folders: Sequence[str]) -> None:
    """Create `folders` under `out_dir` (the per-filter feeds', the pages by month and span)."""
    for folder in folders:
        try:
            (Path(out_dir) / folder).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PublishError(f"cannot create output directory {out_dir / folder}: {exc}") from exc


def remove_stale_files(out_dir: Path, folders: Sequence[str], keep: Iterable[str]) -> list[Path]:
    """Remove the files with our extensions in `folders` that are not in `keep` (paths relative
    to `out_dir`: the files published, written now or already as they should be); return the
    paths of `keep`, sorted.

    Files left by an earlier publication (a city with no more feed, a past month) go, so nobody
    keeps reading a feed we no longer update.
    """
    out_dir = Path(out_dir)
    wanted = set(keep)
    for folder in folders:
        here = {n.rpartition("/")[2] for n in wanted if n.rpartition("/")[0] == folder}
        remove_stale(out_dir / folder, (".ics", ".xml", ".html"), here)
    return [out_dir / name for name in sorted(wanted)]
