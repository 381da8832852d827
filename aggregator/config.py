"""Read `sources.yaml` into validated, frozen models.

Every problem in the file is gathered and reported at once in one `ConfigError`, each with the
file, the line, the field and a hint, so a collective's pull request can be fixed in one pass.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from aggregator.errors import ConfigError, ConfigProblem

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
DEFAULT_TIMEZONE = "Europe/Paris"


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def _check_http_url(value: str) -> str:
    value = value.strip()
    match = re.match(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[^/?#\s]+)", value)
    if not match:
        raise ValueError(f"{value!r} is not a full web address")
    if match["scheme"].lower() not in ("http", "https"):
        raise ValueError(
            f"only http:// and https:// addresses are supported, not {match['scheme']}://"
        )
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{value!r} contains spaces")
    return value


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Agenda(_Strict):
    """The merged agenda's own settings (`agenda:` in sources.yaml)."""

    title: str = "Agenda du numérique en Bretagne"
    description: str = "Les rendez-vous des collectifs numériques de Bretagne"
    timezone: TimeZoneName = DEFAULT_TIMEZONE
    base_url: HttpUrl | None = None
    past_days: int = Field(default=1, ge=0, le=3650)
    future_days: int = Field(default=365, ge=1, le=3650)
    # What subscribers see of a cancelled upcoming event (see aggregator/publish/ical.py).
    cancelled: Literal["mark", "keep", "hide"] = "mark"
    # Score (0–1) from which two sources' records are one event; see aggregator/dedupe.py.
    dedupe_threshold: float = Field(default=0.75, ge=0.5, le=1.0)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _check_selector(value: str) -> str:
    """A CSS selector, optionally ending in `@attribute` (read the attribute, not the text)."""
    css, attribute = split_selector(value)
    if not css:
        raise ValueError(f"{value!r} has no CSS selector before '@'")
    if attribute is not None and not re.fullmatch(r"[A-Za-z_:][\w:.-]*", attribute):
        raise ValueError(f"{attribute!r} is not an attribute name")
    from cssselect import GenericTranslator, SelectorError

    try:
        GenericTranslator().css_to_xpath(css)
    except SelectorError as exc:
        raise ValueError(f"{css!r} is not a valid CSS selector ({exc})") from exc
    return value


def split_selector(value: str) -> tuple[str, str | None]:
    """'time@datetime' → ('time', 'datetime'); 'h2' → ('h2', None)."""
    css, at, attribute = value.rpartition("@")
    if not at or "]" in attribute or " " in attribute.strip():
        return value.strip(), None
    return css.strip(), attribute.strip()


Selector = Annotated[str, AfterValidator(_check_selector)]


class Selectors(_Strict):
    """CSS selectors reading events from a page without event markup (`selectors:`)."""

    event: Selector
    title: Selector | None = None
    start: Selector
    end: Selector | None = None
    location: Selector | None = None
    link: Selector | None = None
    description: Selector | None = None


class Source(_Strict):
    """One registered source (an entry of `sources:` in sources.yaml)."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1)
    url: HttpUrl
    type: Literal["ical", "feed", "html"] | None = None
    city: str | None = None
    tags: tuple[str, ...] = ()
    timezone: TimeZoneName | None = None
    website: HttpUrl | None = None
    enabled: bool = True
    # Pages only: events listed as plain HTML, and the linked feeds/calendars to read as well.
    selectors: Selectors | None = None
    follow: tuple[Literal["feeds", "ical"], ...] = ()

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG_RE.match(value):
            raise ValueError(f"{value!r} is not a slug")
        return value

    @model_validator(mode="after")
    def _page_options(self) -> Source:
        if self.type in ("ical", "feed") and (self.selectors is not None or self.follow):
            raise ValueError(
                "'selectors' and 'follow' apply to web pages only: remove them or set 'type: html'"
            )
        return self

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        return value


class Config(_Strict):
    """The whole configuration file."""

    agenda: Agenda = Agenda()
    sources: tuple[Source, ...] = ()

    def source(self, source_id: str) -> Source:
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(source_id)

    def source_timezone(self, source: Source) -> ZoneInfo:
        """The zone in which a source's floating times are read."""
        return ZoneInfo(source.timezone or self.agenda.timezone)


_AGENDA_KEYS = sorted(Agenda.model_fields)
_SOURCE_KEYS = sorted(Source.model_fields)
_SELECTOR_KEYS = sorted(Selectors.model_fields)

_HINTS = {
    "id": "use a short lowercase slug such as 'vilaine-bidouille' (letters, digits, hyphens)",
    "url": "use the full address of the feed, calendar or page, starting with https://",
    "website": "use the full address of the collective's site, starting with https://",
    "base_url": "use the public address where output/ is published, starting with https://",
    "type": "use one of: ical, feed, html (or leave it out to detect it from the response)",
    "timezone": "use an IANA zone name such as Europe/Paris",
    "tags": "write tags as a list, e.g. tags: [fablab, repair-café]",
    "name": "give the collective's name as residents know it",
    "selectors": (
        "give CSS selectors, e.g. {event: 'article.event', title: 'h2', start: 'time@datetime'}; "
        "'@attr' reads an attribute"
    ),
    "event": "a CSS selector matching each event's block, e.g. 'article.event'",
    "start": "a CSS selector for the start date, e.g. 'time@datetime' or '.date'",
    "end": "a CSS selector for the end date, e.g. 'time.fin@datetime'",
    "location": "a CSS selector for the place, e.g. '.lieu'",
    "link": "a CSS selector for the event's link, e.g. 'a@href'",
    "description": "a CSS selector for the description, e.g. '.resume'",
    "follow": "use a list of: feeds, ical (the page's linked feeds and .ics files to read too)",
    "cancelled": "use one of: mark (default), keep, hide",
}


def _line_index(node: yaml.Node, path: tuple[Any, ...], index: dict[tuple[Any, ...], int]) -> None:
    """Map each path in the YAML tree (keys and list positions) to its 1-based line."""
    index.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            index[(*path, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*path, key), index)
            index[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _line_index(item, (*path, position), index)


def _nearest_line(index: dict[tuple[Any, ...], int], loc: Sequence[Any]) -> int | None:
    path = tuple(loc)
    while path:
        if path in index:
            return index[path]
        path = path[:-1]
    return index.get(())


def _field_name(loc: Sequence[Any], data: Any) -> str:
    """A readable field name: sources[2] (id 'foo').url."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                ident = node[item].get("id")
                if ident:
                    label = f"[{item}] (id {ident!r})"
            parts.append(label)
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(f".{item}" if parts else str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(file)"


def _problem_from_error(
    error: Any, file: str, index: dict[tuple[Any, ...], int], data: Any
) -> ConfigProblem:
    loc = [part for part in error["loc"] if not (isinstance(part, str) and "[" in part)]
    kind = error["type"]
    last = next((p for p in reversed(loc) if isinstance(p, str)), "")
    message = error["msg"].removeprefix("Value error, ")
    hint = _HINTS.get(last, "")
    if kind == "extra_forbidden":
        allowed = _SOURCE_KEYS if loc and loc[0] == "sources" else _AGENDA_KEYS
        if "selectors" in loc:
            allowed = _SELECTOR_KEYS
        if len(loc) == 1:
            allowed = ["agenda", "sources"]
        close = difflib.get_close_matches(str(last), allowed, n=1)
        message = f"unknown key {last!r}"
        hint = (
            (f"did you mean {close[0]!r}? " if close else "")
            + "allowed keys: "
            + ", ".join(allowed)
        )
    elif kind == "missing":
        message = f"required field {last!r} is missing"
        hint = hint or "add it"
    elif kind == "literal_error" and last == "type":
        message = f"unknown source type {error.get('input')!r}"
    return ConfigProblem(file, _nearest_line(index, loc), _field_name(loc, data), message, hint)


def parse_config(text: str, file: str = "sources.yaml") -> Config:
    """Validate the text of a configuration file; raise `ConfigError` listing every problem."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [
                ConfigProblem(
                    file,
                    line,
                    "(syntax)",
                    f"not valid YAML: {problem}",
                    "check the indentation and that values containing ':' or '#' are quoted",
                )
            ]
        ) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            [
                ConfigProblem(
                    file, 1, "(file)", "the file must be a mapping", "start with 'sources:'"
                )
            ]
        )
    index: dict[tuple[Any, ...], int] = {}
    if root is not None:
        _line_index(root, (), index)

    problems: list[ConfigProblem] = []
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problem_from_error(err, file, index, data) for err in exc.errors())

    raw_sources = data.get("sources")
    if isinstance(raw_sources, list):
        seen: dict[str, int] = {}
        for position, raw in enumerate(raw_sources):
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                continue
            ident = raw["id"]
            if ident in seen:
                first_line = _nearest_line(index, ("sources", seen[ident]))
                problems.append(
                    ConfigProblem(
                        file,
                        _nearest_line(index, ("sources", position, "id")),
                        _field_name(("sources", position, "id"), data),
                        f"duplicate id {ident!r} (already used at line {first_line})",
                        "each source needs its own id; rename one of them",
                    )
                )
            else:
                seen[ident] = position
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.field))
        raise ConfigError(problems)
    assert config is not None
    return config


def load_config(path: str | Path) -> Config:
    """Read and validate a configuration file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    None,
                    "(file)",
                    "file not found",
                    "pass --config with the path to your sources.yaml",
                )
            ]
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    str(path), None, "(file)", f"cannot read the file: {exc}", "save it as UTF-8"
                )
            ]
        ) from exc
    return parse_config(text, str(path))


def timezone_names() -> set[str]:
    return available_timezones()
