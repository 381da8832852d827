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
    assert "wrong indentation" in problem
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


ONE = "sources:\n  - id: a\n    name: A\n    url: https://a.example/\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("sources:\n  - id: a\n\tname: b\n", 3, "a tab is used for indentation"),
        ("sources:\n  - id: a\n    name: 'La Vilaine\n  - id: b\n", 3, "never closed"),
        ("sources:\n  - id: a\n    name: \"Creac'h Gwen\n", 3, "never closed"),
        ("sources:\n  - id: a\n     name: b\n", 3, "indented too far"),
        ("sources:\n  - id: a\n - id: b\n", 3, "wrong indentation"),
        ("sources:\n  - id: a\n    name\n    url: x\n", 3, "not of the form 'key: value'"),
    ],
)
def test_yaml_syntax_problems_in_plain_words(text: str, line: int, words: str) -> None:
    [problem] = problems_of(text)
    assert problem.startswith(f"sources.yaml:{line}: (syntax): ")
    assert words in problem
    assert "hint:" in problem
    assert "YAMLError" not in problem and "scanner" not in problem


def test_duplicate_keys_name_both_lines() -> None:
    [problem] = problems_of(ONE + "    city: Redon\n    tags: [a]\n    city: Rennes\n")
    assert problem.startswith("sources.yaml:7: sources[0].city: duplicate key 'city'")
    assert "also at line 5" in problem


@pytest.mark.parametrize(
    "text",
    [
        "x: &a {id: a, name: A, url: 'https://a.example/'}\nsources:\n  - *a\n",
        "base: &b {city: Redon}\nsources:\n  - <<: *b\n    id: a\n    name: A\n"
        "    url: https://a.example/\n",
        # 9 levels of 9 aliases: ~400 bytes that PyYAML would expand to 387 million items.
        "".join(
            f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}" if i else "lol"] * 9) + "]\n"
            for i in range(9)
        ),
    ],
)
def test_anchors_and_aliases_are_refused(text: str) -> None:
    [problem] = problems_of(text)
    assert "anchors and aliases" in problem and "hint:" in problem


def test_sources_written_as_a_mapping_gets_a_hint() -> None:
    [problem] = problems_of("sources:\n  fablab:\n    name: A\n    url: https://a.example/\n")
    assert "sources.yaml:1: sources: 'sources' must be a list of entries" in problem
    assert "- id:" in problem


def test_enabled_oui_gets_a_hint() -> None:
    [problem] = problems_of(ONE + "    enabled: oui\n")
    assert "sources.yaml:5: sources[0] (id 'a').enabled: 'oui' is not true or false" in problem
    assert "hint: write enabled: true or enabled: false" in problem


def test_tags_as_text_gets_the_list_to_write() -> None:
    [problem] = problems_of(ONE + "    tags: fablab, repair-café\n")
    assert "tags must be a list" in problem
    assert "hint: write tags: [fablab, repair-café]" in problem


@pytest.mark.parametrize("field", ["url", "website"])
def test_credentials_in_addresses_are_refused(field: str) -> None:
    text = ONE + f"    {field}: https://bob:s3cret@private.example/cal.ics\n"
    if field == "url":
        text = ONE.replace("https://a.example/", "https://bob:s3cret@private.example/cal.ics")
    [problem] = problems_of(text)
    assert f".{field}: the address contains a user name or password" in problem
    assert "remove 'user:password@'" in problem


def test_empty_registry_is_a_warning_not_an_error() -> None:
    from aggregator.config import config_warnings

    assert config_warnings(parse_config("")) and config_warnings(parse_config("sources: []\n"))
    disabled = parse_config(ONE + "    enabled: false\n")
    assert "disabled" in config_warnings(disabled)[0]
    assert config_warnings(parse_config(ONE)) == []
