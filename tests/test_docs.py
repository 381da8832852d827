"""Docs that cannot rot: commands have help and README entries; config fields are documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from aggregator.cli import app
from aggregator.config import Agenda, Source

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> list[tuple[str, Any]]:
    # Typer vendors its own click; duck-type groups rather than importing click's classes.
    root: Any = typer.main.get_command(app)
    found: list[tuple[str, Any]] = []
    for name, command in root.commands.items():
        if hasattr(command, "commands"):
            found += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
        else:
            found.append((name, command))
    return found


@pytest.mark.parametrize("name,command", _commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_has_help_and_is_in_the_readme(name: str, command: Any) -> None:
    assert command.help, f"`aggregator {name}` has no help text"
    assert f"`aggregator {name}`" in README, f"README does not document `aggregator {name}`"


@pytest.mark.parametrize("field", sorted(Source.model_fields))
def test_every_source_field_is_documented(field: str) -> None:
    assert re.search(rf"^\| `{field}` \|", README, re.M), f"sources field {field!r} not in README"


@pytest.mark.parametrize("field", sorted(Agenda.model_fields))
def test_every_agenda_field_is_documented(field: str) -> None:
    assert re.search(rf"^\| `{field}` \|", README, re.M), f"agenda field {field!r} not in README"


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_commands = [
        line.strip()
        for line in ci.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "set ", "cd "))
    ]
    assert ci_commands == [commands[1]]


def test_sources_yaml_tells_collectives_to_run_the_check_command() -> None:
    header = (ROOT / "sources.yaml").read_text(encoding="utf-8").split("\nsources:", 1)[0]
    assert "aggregator sources check" in header
    assert "python -c" not in header and "python3 -c" not in header
