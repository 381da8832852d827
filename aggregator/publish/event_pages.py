"""One static page per event, `evenements/<title>-<hash>.html`: the address to share.

Each page says what, when and where (with an OpenStreetMap search link, no map tiles), shows the
whole description, every collective that announced the event, « Ajouter à mon agenda » (unless it
is cancelled), the other dates of its series, schema.org JSON-LD and, with `agenda.base_url`, its
canonical address. The list pages link every card to it.

There is one page per event (tens of thousands), so rendering is kept to one compiled template
and values computed once per publication (`common_context`, tag labels, series).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import jinja2
from markupsafe import Markup

from aggregator.config import Config
from aggregator.errors import PublishError
from aggregator.models import CANCELLED, Event
from aggregator.publish.html import (
    EVENTS_PAGES_DIR,
    _environment,
    _Link,
    collective_link,
    common_context,
    day_heading,
    description_html,
    event_jsonld,
    event_link,
    event_page_path,
    french_date,
    json_for_script,
    osm_url,
    public_url,
    slugify,
    sort_events,
    tag_labels,
    when_text,
)
from aggregator.publish.views import event_days, find_series

__all__ = ["EVENTS_PAGES_DIR", "event_page_path", "render_event_pages"]

# The event's page shows the whole description, within reason.
PAGE_DESCRIPTION_CHARS = 20_000
OTHER_DATES = 12
META_DESCRIPTION_CHARS = 160


def _meta_description(event: Event, when: str) -> str:
    text = " ".join(event.description.split())
    if len(text) > META_DESCRIPTION_CHARS:
        text = text[: META_DESCRIPTION_CHARS - 1].rsplit(" ", 1)[0] + "…"
    place = event.location.one_line()
    return " – ".join(part for part in (when, place, text) if part)


def render_event_pages(
    events: Sequence[Event],
    config: Config,
    now: datetime,
    *,
    ics_href: Callable[[Event], str | None] | None = None,
) -> dict[str, bytes]:
    """Every event's page as UTF-8 bytes, by path relative to the output folder."""
    agenda = config.agenda
    tz = agenda.tz
    base = agenda.base_url
    today = now.astimezone(tz).date()
    ordered = sort_events(events)
    series = find_series(ordered, tz, today)
    labels = tag_labels(ordered)
    root = "../"
    common = common_context(config, now, root)
    try:
        template = _environment().get_template("event.html.j2")
    except (jinja2.TemplateError, OSError) as exc:
        raise PublishError(f"cannot load the event page template: {exc}") from exc
    outputs: dict[str, bytes] = {}
    for event in ordered:
        path = event_page_path(event)
        cancelled = event.status == CANCELLED
        first, last = event_days(event, tz)
        when = when_text(event, tz)
        if first == last:
            when = f"{french_date(first)}, {when}"
        own = series.get(id(event))
        others = [e for e in own.events if e is not event] if own is not None else []
        ics = ics_href(event) if ics_href is not None and not cancelled else None
        try:
            text = template.render(
                common,
                page_title=f"{event.title} – {french_date(first)} – {agenda.title}",
                page_description=_meta_description(event, when),
                canonical=public_url(base, path) if base else None,
                title=event.title,
                cancelled=cancelled,
                when=when,
                start_iso=event.start.astimezone(tz).isoformat(),
                rule=own.rule if own is not None else None,
                place=event.location.one_line(),
                osm=osm_url(event),
                sources=[_Link(s.name, collective_link(s, config)) for s in event.sources],
                tags=list(dict.fromkeys(labels.get(slugify(c), c) for c in event.categories)),
                description=description_html(event.description, PAGE_DESCRIPTION_CHARS)
                if event.description
                else Markup(""),
                ics=root + ics if ics else None,
                link=event_link(event, config),
                other_dates=[
                    _Link(
                        day_heading(e.start.astimezone(tz).date(), today), root + event_page_path(e)
                    )
                    for e in others[:OTHER_DATES]
                ],
                jsonld=json_for_script(event_jsonld(event, tz, config)),
            )
        except jinja2.TemplateError as exc:  # name the event it failed on
            raise PublishError(f"cannot render {path}: {exc}") from exc
        outputs[path] = text.encode("utf-8")
    return outputs
