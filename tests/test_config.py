"""sources.yaml validation: every problem reported at once, with file, line, field and hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.config import load_config, parse_config
from aggregator.errors import ConfigError

VALID = """\
agenda: {title: "Agenda du numérique en Bretagne", timezone: Europe/Paris}
sources:
  - id: vilaine-bidouille
    name: La Vilaine Bidouille
    url: https://bidouille.example.org/agenda.ics
    type: ical
    city: Redon
    tags: [fablab, repair-café]
  - id: creach-gwen
    name: Les Libristes de Creac'h Gwen
    url: http://libristes.example.org/feed.xml
    city: Quimper
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "sources.yaml")
    return [str(p) for p in info.value.problems]


def test_valid_config_round_trips_unicode() -> None:
    config = parse_config(VALID)
    assert [s.id for s in config.sources] == ["vilaine-bidouille", "creach-gwen"]
    first, second = config.sources
    assert first.type == "ical"
    assert first.tags == ("fablab", "repair-café")
    assert second.type is None
    assert second.name == "Les Libristes de Creac'h Gwen"
    assert config.agenda.timezone == "Europe/Paris"
    assert config.source_timezone(second).key == "Europe/Paris"


def test_unknown_key_is_reported_with_line_and_suggestion() -> None:
    text = VALID.replace("    city: Redon\n", "    ctiy: Redon\n")
    [problem] = problems_of(text)
    assert problem.startswith("sources.yaml:7: sources[0] (id 'vilaine-bidouille').ctiy")
    assert "unknown key 'ctiy'" in problem
    assert "did you mean 'city'?" in problem


def test_all_problems_are_gathered() -> None:
    text = """\
agenda: {timezone: Europe/Pariss}
sources:
  - id: Bad Id
    name: A
    url: ftp://example.org/x
    type: rss
  - id: ok
    url: https://example.org/
  - id: ok
    name: Twice
    url: https://example.org/b
"""
    found = problems_of(text)
    joined = "\n".join(found)
    assert "sources.yaml:1: agenda.timezone: unknown time zone 'Europe/Pariss'" in joined
    assert "sources.yaml:3:" in joined and "is not a slug" in joined
    assert "sources.yaml:5:" in joined and "only http:// and https://" in joined
    assert "sources.yaml:6:" in joined and "unknown source type 'rss'" in joined
    assert "sources.yaml:7:" in joined and "required field 'name' is missing" in joined
    assert "sources.yaml:9:" in joined and "duplicate id 'ok' (already used at line 7)" in joined
    assert len(found) == 6
    assert all("hint:" in p for p in found)


def test_yaml_syntax_error_has_line() -> None:
    [problem] = problems_of("sources:\n  - id: a\n   name: b\n  url: [\n")
    assert problem.startswith("sources.yaml:")
    assert "not valid YAML" in problem
    assert "hint:" in problem


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "agenda.ics", "https://exa mple.org/", "file:///etc/passwd"],
)
def test_bad_urls_are_rejected(url: str) -> None:
    text = f"sources:\n  - id: a\n    name: A\n    url: '{url}'\n"
    [problem] = problems_of(text)
    assert problem.startswith("sources.yaml:4: sources[0] (id 'a').url")


def test_bad_source_timezone_rejected() -> None:
    text = "sources:\n  - id: a\n    name: A\n    url: https://a.example/\n    timezone: Paris\n"
    [problem] = problems_of(text)
    assert "sources.yaml:5" in problem and "unknown time zone 'Paris'" in problem


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "file not found" in str(info.value)


def test_empty_file_is_an_empty_config() -> None:
    assert parse_config("").sources == ()


def test_repository_sources_yaml_is_valid() -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "sources.yaml")
    assert config.sources, "the regional registry should list at least one source"
    assert all(s.url.startswith(("http://", "https://")) for s in config.sources)
