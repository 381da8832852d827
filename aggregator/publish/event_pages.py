"""One static page per event, `evenements/<title>-<hash>.html`: the address to share.

Each page says what, when and where (with an OpenStreetMap search link, no map tiles), shows the
whole description, every collective that announced the event, « Ajouter à mon agenda » (unless it
is cancelled), the other dates of its series, schema.org JSON-LD and, with `agenda.base_url`, its
canonical address. The list pages link every card to it.

There is one page per event (tens of thousands), so the page around the event (head, header,
footer: the same for all) is rendered from event.html.j2 once, with placeholders (`_Shell`), and
the article is written by `_article` with `_esc` (markupsafe's escaping) on every value: Jinja's
own cost per render was 2.4 s of the 4 s that 20,000 pages took. Tag labels and series are
computed once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from markupsafe import Markup

from aggregator.config import Config
from aggregator.models import CANCELLED, Event
from aggregator.publish.fragments import Fragments
from aggregator.publish.html import (
    EVENTS_PAGES_DIR,
    HTML_FILE,
    Planned,
    _esc,
    _Link,
    collective_link,
    common_context,
    day_heading,
    description_html,
    event_link,
    event_page_path,
    french_date,
    joined,
    jsonld_piece,
    osm_url,
    place_line,
    public_url,
    render_template,
    slugify,
    sort_events,
    tag_labels,
    when_text,
)
from aggregator.publish.views import Series, event_days, find_series

__all__ = ["EVENTS_PAGES_DIR", "event_page_path", "render_event_pages"]

# The event's page shows the whole description, within reason.
PAGE_DESCRIPTION_CHARS = 20_000
OTHER_DATES = 12
META_DESCRIPTION_CHARS = 160


def _meta_description(event: Event, when: str) -> str:
    text = " ".join(event.description.split())
    if len(text) > META_DESCRIPTION_CHARS:
        text = text[: META_DESCRIPTION_CHARS - 1].rsplit(" ", 1)[0] + "…"
    place = place_line(event.location)
    return " – ".join(part for part in (when, place, text) if part)


@dataclass(frozen=True, slots=True)
class _Shell:
    """event.html.j2 rendered once with placeholders, cut around them: page = parts joined with
    the event's values (each already escaped) in `FIELDS` order."""

    parts: tuple[str, ...]
    fields: tuple[str, ...]

    def fill(self, values: dict[str, str]) -> str:
        pieces = [self.parts[0]]
        for name, part in zip(self.fields, self.parts[1:], strict=True):
            pieces.append(values[name])
            pieces.append(part)
        return "".join(pieces)


_MARK = "\x00"
_PLACEHOLDER = re.compile(f"{_MARK}([a-z_]+){_MARK}")


def _shell(config: Config, root: str) -> _Shell:
    base = config.agenda.base_url

    def mark(name: str) -> Markup:
        return Markup(f"{_MARK}{name}{_MARK}")

    context = common_context(config, root)
    text = render_template(
        "event.html.j2",
        "the event page",
        **context,
        page_title=mark("page_title"),
        page_description=mark("page_description"),
        canonical=mark("canonical") if base else None,
        body=mark("body"),
        jsonld=mark("jsonld"),
    ).decode("utf-8")
    pieces = _PLACEHOLDER.split(text)
    # split() alternates text and captured names: text, name, text, name, ..., text.
    return _Shell(tuple(pieces[0::2]), tuple(pieces[1::2]))


def _link(href: str | None, text: str, rel: str = "noopener nofollow") -> str:
    if not href:
        return str(_esc(text))
    return f'<a href="{_esc(href)}" rel="{rel}">{_esc(text)}</a>'


def _article(
    *,
    title: str,
    cancelled: bool,
    when: str,
    start_iso: str,
    rule: str | None,
    place: str,
    osm: str | None,
    sources: Sequence[_Link],
    tags: Sequence[str],
    description: Markup | None,
    ics: str | None,
    link: str | None,
    other_dates: Sequence[_Link],
    home: str,
) -> str:
    """The event's <article>: every value from a source goes through `_esc` (or is Markup
    that nh3 cleaned: the description)."""
    out = [
        f'<article class="event-page{" cancelled" if cancelled else ""}">',
        f'<p class="back"><a href="{_esc(home)}">← Tout l’agenda</a></p>',
        f'<h1><del>{_esc(title)}</del> <strong class="status">annulé</strong></h1>'
        if cancelled
        else f"<h1>{_esc(title)}</h1>",
        '<dl class="facts">',
        "<dt>Quand</dt>",
        f'<dd><time datetime="{_esc(start_iso)}">{_esc(when)}</time>'
        + (f" · {_esc(rule)}" if rule else "")
        + "</dd>",
    ]
    if place:
        map_link = (
            f'<br><a href="{_esc(osm)}" rel="noopener">Voir sur OpenStreetMap</a>' if osm else ""
        )
        out += ["<dt>Où</dt>", f"<dd>{_esc(place)}{map_link}</dd>"]
    if sources:
        names = ", ".join(_link(s.href, s.text) for s in sources)
        out += ["<dt>Annoncé par</dt>", f"<dd>{names}</dd>"]
    if tags:
        items = "".join(f"<li>{_esc(tag)}</li>" for tag in tags)
        out += ["<dt>Thèmes</dt>", f'<dd><ul class="tags">{items}</ul></dd>']
    out.append("</dl>")
    if cancelled:
        out.append('<p class="notice">Cet événement est annulé.</p>')
    if description:
        out.append(f'<div class="description">{description}</div>')
    actions = []
    if ics:
        actions.append(
            f'<a class="button primary" href="{_esc(ics)}" type="text/calendar">'
            "Ajouter à mon agenda</a>"
        )
    if link:
        actions.append(
            f'<a class="button" href="{_esc(link)}" rel="noopener nofollow">Page de l’événement</a>'
        )
    if actions:
        out.append(f'<p class="actions">{" ".join(actions)}</p>')
    if other_dates:
        out += ["<h2>Autres dates</h2>", '<ul class="other-dates">']
        out += [f'<li><a href="{_esc(d.href or "")}">{_esc(d.text)}</a></li>' for d in other_dates]
        out.append("</ul>")
    out.append("</article>")
    return "\n".join(out)


def plan_event_pages(
    events: Sequence[Event],
    config: Config,
    now: datetime,
    *,
    ics_href: Callable[[Event], str | None] | None = None,
    fragments: Fragments | None = None,
    series: dict[int, Series] | None = None,
    labels: dict[str, str] | None = None,
) -> list[Planned]:
    """Every event's page, with its key, not rendered yet (sorted by publication order).

    A page's key is its event's, plus what else it shows: the year (the other dates omit the
    current one), the tags' display forms, its calendar file, its series' rule and other dates.
    """
    fragments = fragments if fragments is not None else Fragments(config)
    agenda = config.agenda
    tz = agenda.tz
    today = now.astimezone(tz).date()
    ordered = sort_events(events)
    if series is None:
        series = find_series(ordered, tz, today)
    if labels is None:
        labels = tag_labels(ordered)
    root = "../"
    shell: list[_Shell] = []

    def render(event: Event, others: list[Event], tags: list[str], ics: str | None) -> bytes:
        if not shell:
            shell.append(_shell(config, root))
        own = series.get(id(event))
        return _render_page(
            event, config, shell[0], today, others, own.rule if own else None, tags, ics, fragments
        )

    planned: list[Planned] = []
    for event in ordered:
        own = series.get(id(event))
        others = [e for e in own.events if e is not event][:OTHER_DATES] if own else []
        tags = list(dict.fromkeys(labels.get(slugify(c), c) for c in event.categories))
        cancelled = event.status == CANCELLED
        ics = ics_href(event) if ics_href is not None and not cancelled else None
        key = None
        if fragments.keyed:
            key = fragments.piece_key(
                "event-page",
                event,
                today.year,
                "\0".join(tags),
                ics,
                own.rule if own else None,
                *(fragments.key(e) for e in others),
            )
        planned.append(
            Planned(
                event_page_path(event),
                key,
                functools.partial(render, event, others, tags, ics),
                ("jsonld",),
            )
        )
    return planned


def _render_page(
    event: Event,
    config: Config,
    shell: _Shell,
    today: date,
    others: list[Event],
    rule: str | None,
    tags: list[str],
    ics: str | None,
    fragments: Fragments,
) -> bytes:
    agenda = config.agenda
    tz = agenda.tz
    base = agenda.base_url
    root = "../"
    path = event_page_path(event)
    cancelled = event.status == CANCELLED
    first, last = event_days(event, tz)
    when = when_text(event, tz)
    if first == last:
        when = f"{french_date(first)}, {when}"
    article = _article(
        title=event.title,
        cancelled=cancelled,
        when=when,
        start_iso=event.start.astimezone(tz).isoformat(),
        rule=rule,
        place=place_line(event.location),
        osm=osm_url(event),
        sources=[_Link(s.name, collective_link(s, config)) for s in event.sources],
        tags=tags,
        description=description_html(event.description, PAGE_DESCRIPTION_CHARS)
        if event.description
        else None,
        ics=root + ics if ics else None,
        link=event_link(event, config),
        other_dates=[
            _Link(day_heading(e.start.astimezone(tz).date(), today), root + event_page_path(e))
            for e in others
        ],
        home=root + HTML_FILE,
    )
    page = shell.fill(
        {
            "page_title": _esc(f"{event.title} – {french_date(first)} – {agenda.title}"),
            "page_description": _esc(_meta_description(event, when)),
            "canonical": _esc(public_url(base, path)) if base else "",
            "body": article,
            "jsonld": jsonld_piece(event, config, fragments),
        }
    )
    return page.encode("utf-8")


def render_event_pages(
    events: Sequence[Event],
    config: Config,
    now: datetime,
    *,
    ics_href: Callable[[Event], str | None] | None = None,
    fragments: Fragments | None = None,
) -> dict[str, bytes]:
    """Every event's page as UTF-8 bytes, by path relative to the output folder."""
    planned = plan_event_pages(events, config, now, ics_href=ics_href, fragments=fragments)
    return {page.path: joined(page.render()) for page in planned}
