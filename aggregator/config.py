"""Read `sources.yaml` into validated, frozen models.

Every problem in the file is gathered and reported at once in one `ConfigError`, each with the
file, the line, the field and a hint, so a collective's pull request can be fixed in one pass.
"""

from __future__ import annotations

import difflib
import functools
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

_SPACE_RE = re.compile(r"\s")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
DEFAULT_TIMEZONE = "Europe/Paris"


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class _Hinted(ValueError):
    """A validation error that knows how the user fixes it (read back in `_problem_from_error`)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def _check_http_url(value: str) -> str:
    value = value.strip()
    match = re.match(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[^/?#\s]+)", value)
    if not match:
        raise ValueError(f"{value!r} is not a full web address")
    if match["scheme"].lower() not in ("http", "https"):
        raise ValueError(
            f"only http:// and https:// addresses are supported, not {match['scheme']}://"
        )
    if _SPACE_RE.search(value):
        raise ValueError(f"{value!r} contains spaces")
    if "@" in match["host"]:
        # Source addresses are published (feeds, pages, events.json): a password would be too.
        raise _Hinted(
            "the address contains a user name or password before '@', which would be published",
            "register only public calendars and feeds: remove 'user:password@' from the address",
        )
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
    # Match probability (0–1) from which two records are one event; see aggregator/dedupe/model.py.
    dedupe_threshold: float = Field(default=0.75, ge=0.5, le=1.0)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@functools.lru_cache(maxsize=4096)
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
            # "fablab, repair" would silently become one tag with a comma in it.
            items = [item.strip() for item in value.split(",") if item.strip()] or ["fablab"]
            raise _Hinted(
                f"tags must be a list, not the text {value!r}",
                f"write tags: [{', '.join(items)}]",
            )
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


# PyYAML's C loader when it is built (20× faster on a large registry), the pure one otherwise.
_FastLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _node_at(root: yaml.Node | None, loc: Sequence[Any]) -> yaml.Node | None:
    """The deepest YAML node along a validation path (keys and list positions)."""
    node = root
    found = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == part), None)
            if match is None:
                break
            found, node = match[0], match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            found = node = node.value[part]
        else:
            break
    return found


def _line_of(root: yaml.Node | None, loc: Sequence[Any]) -> int | None:
    node = _node_at(root, loc)
    return node.start_mark.line + 1 if node is not None else None


def _check_structure(root: yaml.Node, file: str) -> list[ConfigProblem]:
    """Refuse aliases (a few bytes can expand to gigabytes) and report duplicate keys.

    PyYAML keeps the last of two equal keys without a word; in a registry that silently drops a
    collective's setting, so both lines are named.
    """
    problems: list[ConfigProblem] = []
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            # The composer returns the anchored node itself for every alias.
            return [
                ConfigProblem(
                    file,
                    node.start_mark.line + 1,
                    "(syntax)",
                    "YAML anchors and aliases (&name, *name, <<: *name) are not supported here",
                    "write each source's fields out in full; the registry needs no anchors",
                )
            ]
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                line = key_node.start_mark.line + 1
                field = f"{path}.{key}" if path else str(key)
                if key is not None and key in first:
                    problems.append(
                        ConfigProblem(
                            file,
                            line,
                            field,
                            f"duplicate key {key!r} (also at line {first[key]}); "
                            "YAML would keep only the last one",
                            "keep one of the two lines",
                        )
                    )
                elif key is not None:
                    first[key] = line
                stack.append((key_node, path))
                stack.append((value_node, field))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
    return problems


def _syntax_problem(exc: yaml.YAMLError, text: str, file: str) -> ConfigProblem:
    """Say in plain words what is wrong with the YAML, on the line where the user must look."""
    mark = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = str(getattr(exc, "problem", "") or exc)
    context_text = str(getattr(exc, "context", "") or "")
    lines = text.splitlines()
    if line and 0 < line <= len(lines) and "\t" in lines[line - 1][: mark.column + 1]:
        message = "a tab is used for indentation; YAML indents with spaces only"
        hint = f"replace the tab at the start of line {line} with spaces (2 per level)"
    elif "quoted scalar" in context_text and context is not None:
        line = context.line + 1
        message = "a quote opened on this line is never closed"
        hint = "close the quote at the end of the value (\" or ') or remove it"
    elif "could not find expected ':'" in problem and context is not None:
        line = context.line + 1
        message = "this line is not of the form 'key: value'"
        hint = "add ':' after the key, or join it to the previous line's value"
    elif "mapping values are not allowed" in problem:
        message = "unexpected ':' — this line is indented too far, or a value contains ': '"
        hint = 'indent it like the other keys of the entry, or quote the value: name: "A: B"'
    elif "expected <block end>" in problem or "expected key" in problem or "'-'" in problem:
        message = "wrong indentation: this line does not line up with the lines above it"
        hint = "indent every key of one entry by the same spaces, and every '- ' at one column"
    else:
        message = f"not valid YAML: {problem}"
        hint = "check the indentation and that values containing ':' or '#' are quoted"
    return ConfigProblem(file, line, "(syntax)", message, hint)


def _compose(text: str, file: str) -> Any:
    """Parse the text into plain data, refusing aliases and duplicate keys.

    The node tree is dropped once the data is built (it is most of the memory of a large
    registry); `_nodes` composes it again only when a problem needs its line.
    """
    loader = _FastLoader(text)
    failure: yaml.YAMLError | None = None
    try:
        root = loader.get_single_node()
        if root is not None and (problems := _check_structure(root, file)):
            raise ConfigError(problems)
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        failure = exc
    finally:
        loader.dispose()
    if failure is not None:
        # The pure-Python parser's messages are the more precise ones; only errors pay for it.
        try:
            yaml.safe_load(text)
        except yaml.YAMLError as precise:
            failure = precise
        raise ConfigError([_syntax_problem(failure, text, file)]) from failure
    return data


def _nodes(text: str) -> yaml.Node | None:
    return yaml.compose(text, Loader=_FastLoader)


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


_SOURCES_EXAMPLE = "write each source as a list item: sources: then '  - id: …', '    name: …'"


def _plain_message(error: Any, last: str) -> tuple[str, str] | None:
    """Pydantic's wording for the error types a collective can meet, in plain words + a hint."""
    kind = error["type"]
    value = error.get("input")
    if kind == "bool_parsing":
        return (f"{value!r} is not true or false", f"write {last}: true or {last}: false")
    if kind in ("tuple_type", "list_type") and last == "sources":
        return ("'sources' must be a list of entries, not a mapping", _SOURCES_EXAMPLE)
    if kind in ("tuple_type", "list_type"):
        return (f"{last!r} must be a list", _HINTS.get(last, f"write {last}: [a, b]"))
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        if last == "sources" or isinstance(last, int):
            return ("each source must be a set of 'key: value' fields", _SOURCES_EXAMPLE)
        return (f"{last!r} must be a set of 'key: value' fields", _HINTS.get(last, ""))
    if kind == "string_type":
        return (f"{last!r} must be text, not {value!r}", "put the value in quotes")
    if kind in ("int_parsing", "int_type", "float_parsing", "float_type", "int_from_float"):
        return (f"{value!r} is not a number", _HINTS.get(last, f"write {last}: 30"))
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        limit = next(iter((error.get("ctx") or {}).values()), "")
        word = "at least" if kind.startswith("greater") else "at most"
        return (f"{value!r} is out of range", f"use a value {word} {limit}")
    if kind in ("string_too_short", "too_short"):
        return (f"{last!r} must not be empty", _HINTS.get(last, "give a value"))
    if kind == "string_too_long":
        limit = (error.get("ctx") or {}).get("max_length", "")
        return (f"{last!r} is too long", f"use at most {limit} characters")
    return None


def _problem_from_error(error: Any, file: str, root: yaml.Node | None, data: Any) -> ConfigProblem:
    loc = [part for part in error["loc"] if not (isinstance(part, str) and "[" in part)]
    kind = error["type"]
    last = next((p for p in reversed(loc) if isinstance(p, str)), "")
    message = error["msg"].removeprefix("Value error, ")
    hint = _HINTS.get(last, "")
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, _Hinted):
        hint = cause.hint
    elif kind == "extra_forbidden":
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
    elif plain := _plain_message(error, last if loc and loc[-1] == last else loc[-1]):
        message, hint = plain[0], plain[1] or hint
    return ConfigProblem(file, _line_of(root, loc), _field_name(loc, data), message, hint)


def parse_config(text: str, file: str = "sources.yaml") -> Config:
    """Validate the text of a configuration file; raise `ConfigError` listing every problem."""
    data = _compose(text, file)
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

    problems: list[ConfigProblem] = []
    config: Config | None = None
    root: yaml.Node | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        root = _nodes(text)
        problems.extend(_problem_from_error(err, file, root, data) for err in exc.errors())

    raw_sources = data.get("sources")
    if isinstance(raw_sources, list):
        seen: dict[str, int] = {}
        for position, raw in enumerate(raw_sources):
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                continue
            ident = raw["id"]
            if ident in seen:
                root = root or _nodes(text)
                first_line = _line_of(root, ("sources", seen[ident]))
                problems.append(
                    ConfigProblem(
                        file,
                        _line_of(root, ("sources", position, "id")),
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


def config_warnings(config: Config) -> list[str]:
    """Problems that do not stop a run but that the operator should hear about."""
    if not config.sources:
        return [
            "the registry lists no source, so the agenda will be empty: add entries under "
            "'sources:' (see README, 'Adding your collective')"
        ]
    if not any(source.enabled for source in config.sources):
        return ["every source is disabled (enabled: false), so the agenda will be empty"]
    return []


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
